//! The results a site is made from: opened only when complete, and what their components are
//! (pictures, or vectors shown by their largest entries).

use std::path::Path;

use bilens_io::{IoError, Layout, PARTIAL_FILE, RESUME_FILE, ResultsFile};
use serde::Serialize;

use crate::error::{ExploreError, Result};

/// The shape of a picture: `channels` panels of `height × width`, row-major (entry
/// `(c * height + r) * width + x` is channel c, row r, column x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ImageShape {
    /// Channels (1 for a greyscale image such as MNIST).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl std::str::FromStr for ImageShape {
    type Err = String;

    /// `CxHxW` or `HxW` (`x`, `X` or `×` between the numbers), every size at least 1.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("'{text}' is not CxHxW or HxW (e.g. 3x32x32 or 28x28)");
        let parts: Vec<usize> = text
            .split(['x', 'X', '×'])
            .map(|p| p.trim().parse::<usize>().map_err(|_| bad()))
            .collect::<std::result::Result<_, _>>()?;
        let (channels, height, width) = match parts[..] {
            [h, w] => (1, h, w),
            [c, h, w] => (c, h, w),
            _ => return Err(bad()),
        };
        if channels == 0 || height == 0 || width == 0 {
            return Err(bad());
        }
        Ok(Self {
            channels,
            height,
            width,
        })
    }
}

impl ImageShape {
    /// A single-channel square of `len` pixels, if `len` is a square number.
    pub fn square(len: usize) -> Option<Self> {
        let side = len.isqrt();
        (side > 0 && side * side == len).then_some(Self {
            channels: 1,
            height: side,
            width: side,
        })
    }

    /// Values in one picture.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the picture holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How an output page shows components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentView {
    /// As pictures of this shape.
    Image(ImageShape),
    /// As their largest entries: feature indices for results in a feature basis, else
    /// coordinates of the vector (with token lists where the results label components by
    /// tokens).
    Entries,
    /// Not at all: the results hold eigenvalues only.
    SpectraOnly,
}

/// The space the shown component vectors live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Space {
    /// The model's input (`input_eigenvectors`, e.g. pixels).
    Input,
    /// The bilinear layer's input (`eigenvectors`).
    Layer,
    /// A feature basis of the layer's input (`eigenvectors` of results with `input_basis`).
    Features,
}

/// Smallest square auto-detected as an image (8 × 8): smaller square layers (a 16-wide toy
/// layer) are vectors, not pictures.
const MIN_AUTO_IMAGE: usize = 64;

/// Opens `dir` as `bilens plot` does, refusing it as well while an interrupted decomposition
/// has left its resume state there (whatever complete files are beside it belong to an
/// earlier job that is being replaced).
pub(crate) fn open_complete(dir: &Path) -> Result<ResultsFile> {
    for file in [RESUME_FILE, PARTIAL_FILE] {
        let path = dir.join(file);
        if path.exists() {
            return Err(ExploreError::Results(IoError::Results {
                path,
                reason: "an interrupted decomposition left this here: the results are not \
                         complete (running the same decomposition again finishes them)"
                    .into(),
            }));
        }
    }
    ResultsFile::open(dir).map_err(ExploreError::Results)
}

/// The view of the components and the space of the vectors it shows: pictures when `image`
/// is given (it must fit), or when the vectors are in the model's input space (an embedding)
/// or the layer's own and of square length at least 8 × 8 (not for transformer layers, a deep
/// image model's blocks past the first, or a feature basis); their largest entries otherwise.
pub(crate) fn component_view(
    results: &ResultsFile,
    image: Option<ImageShape>,
) -> Result<(ComponentView, Space)> {
    let shape = results.shape();
    let meta = &results.meta().meta;
    let space = if shape.d_input.is_some() {
        Space::Input
    } else if meta.input_basis.is_some() {
        Space::Features
    } else {
        Space::Layer
    };
    if !shape.eigenvectors {
        return match image {
            Some(_) => Err(ExploreError::NoEigenvectors),
            None => Ok((ComponentView::SpectraOnly, space)),
        };
    }
    let length = shape.d_input.unwrap_or(shape.d_in);
    if let Some(s) = image {
        if s.len() != length {
            return Err(ExploreError::ImageShape {
                channels: s.channels,
                height: s.height,
                width: s.width,
                length,
            });
        }
        return Ok((ComponentView::Image(s), space));
    }
    let layered = matches!(meta.layout, Layout::Lm | Layout::Gated | Layout::Tl);
    // A deep image model's block past the first reads the hidden stream, not pixels (as
    // `bilens plot` decides).
    let hidden_block = meta.layout == Layout::Image && meta.layer.is_some_and(|l| l > 0);
    let pictured = match space {
        Space::Input => true,
        Space::Layer => !layered && !hidden_block && length >= MIN_AUTO_IMAGE,
        Space::Features => false,
    };
    Ok(match ImageShape::square(length).filter(|_| pictured) {
        Some(s) => (ComponentView::Image(s), space),
        None => (ComponentView::Entries, space),
    })
}
