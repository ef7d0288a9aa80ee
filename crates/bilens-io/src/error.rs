//! The one error type of the I/O crate. Every variant names the file (and tensor, shape or
//! option) at fault, and its message says what to do.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing bilens files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Os {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An IDX dataset file is malformed.
    #[error("{path}: not a valid IDX file: {reason}")]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A dataset directory lacks one of the expected files.
    #[error(
        "{dir}: no {name} (or {name}.gz) in this directory; expected the four MNIST IDX files \
             (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)"
    )]
    MissingDatasetFile {
        /// The dataset directory.
        dir: PathBuf,
        /// The file name that was looked for.
        name: String,
    },
    /// A tensor written to a results file does not match what was declared.
    #[error("{path}: tensor '{tensor}': {reason}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// What went wrong.
        reason: String,
    },
}

impl IoError {
    pub(crate) fn os(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError::Os {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
