//! The crate's one error type.

use std::path::PathBuf;

/// Why a figure could not be written. Every variant names the file at fault.
///
/// Only the environment and the renderer can fail: bad arguments (a vector whose length is
/// not `rows * cols`, no data at all, mismatched label counts) are contract violations that
/// panic with a message at the caller's line, and values that are not finite are drawn as
/// missing, never reported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The directory that should hold the figure could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Writing or renaming the figure file failed (the temporary file is removed).
    #[error("cannot write figure {path}: {source}")]
    Write {
        /// The figure file that was being written.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The renderer (plotters) failed while drawing, or the PNG could not be encoded.
    #[error("cannot draw figure {path}: {message}")]
    Draw {
        /// The figure file that was being drawn.
        path: PathBuf,
        /// The renderer's message.
        message: String,
    },
    /// The bundled font could not be registered, so no text can be drawn.
    #[error("cannot draw figure {path}: the bundled font failed to load")]
    Font {
        /// The figure file that was being drawn.
        path: PathBuf,
    },
}
