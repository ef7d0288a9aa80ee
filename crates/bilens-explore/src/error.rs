//! The one error type of the explorer.

use std::path::PathBuf;

use bilens_io::{Hint, IoError};

/// Everything that can stop a site from being written. Nothing is left behind when one is
/// returned: an existing site stays as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExploreError {
    /// The results directory is missing, incomplete (an interrupted decomposition, a missing
    /// `summary.json`, files of two different runs) or malformed; the source says which file
    /// and what, and [`IoError::hint`] what to do. The message holds the source's, as every
    /// library error's does, so front ends that print one message lose nothing.
    #[error("cannot read the results: {0}")]
    Results(IoError),
    /// An evaluation named in [`crate::ExploreOptions::evaluations`] cannot be read or does
    /// not belong to these results.
    #[error("{path}: {reason}")]
    Evaluation {
        /// The evaluation's directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// [`crate::ExploreOptions::image_shape`] does not fit the components.
    #[error(
        "image shape {channels}×{height}×{width} holds {} values, but the components have \
         {length}",
        channels * height * width
    )]
    ImageShape {
        /// Channels asked for.
        channels: usize,
        /// Rows asked for.
        height: usize,
        /// Columns asked for.
        width: usize,
        /// The length of one component (input-space eigenvector when stored, else layer-space).
        length: usize,
    },
    /// The results hold no eigenvectors, so there is nothing to draw as an image.
    #[error("an image shape was given, but the results hold eigenvalues only")]
    NoEigenvectors,
    /// The site directory exists and is neither empty nor a site this crate wrote: it is not
    /// replaced.
    #[error("{path}: exists and is not an explorer site (no data/site.json of bilens-explore)")]
    NotASite {
        /// The site directory.
        path: PathBuf,
    },
    /// The site directory and the results directory overlap (one inside the other): replacing
    /// the site would delete results.
    #[error("{site}: the site directory overlaps the results directory {results}")]
    Overlap {
        /// The site directory.
        site: PathBuf,
        /// The results directory.
        results: PathBuf,
    },
    /// A file or directory of the site could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl ExploreError {
    /// What the user can do about it, in the library's terms (argument names, not flags):
    /// the results' own hint, or advice as text.
    pub fn hint(&self) -> Option<Hint> {
        let text = |t: String| Some(Hint::Text(t));
        match self {
            ExploreError::Results(e) => e.hint(),
            ExploreError::Evaluation { .. } => text(
                "give the output directory of an evaluation of these results (approx.json of \
                 an approximation evaluation, truncation.json of a truncation evaluation of \
                 the same model)"
                    .into(),
            ),
            ExploreError::ImageShape { length, .. } => text(format!(
                "give channels × height × width = {length}, or no image shape"
            )),
            ExploreError::NoEigenvectors => {
                text("decompose again with eigenvectors, or give no image shape".into())
            }
            ExploreError::NotASite { .. } | ExploreError::Overlap { .. } => text(
                "choose a new or empty directory for the site (an existing explorer site is \
                 replaced)"
                    .into(),
            ),
            ExploreError::Write { .. } => None,
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ExploreError::Write {
            path: path.into(),
            source,
        }
    }
}

/// The explorer's results.
pub type Result<T> = std::result::Result<T, ExploreError>;
