//! Rows of arbitrary pictures, each with its own title: an input beside the components that
//! explain it, the adversarial masks of every class, an image before and after a mask.

use std::path::Path;

use bilens_decomp::Real;
use ndarray::ArrayView1;

use crate::error::PlotError;
use crate::grid::{Cell, PanelFigure};
use crate::panel::ImageParams;
use crate::save::{self, SavedFigure};

/// One picture of a [`gallery`]: a vector drawn as an image with one or two lines above it.
#[derive(Clone, Debug)]
pub struct Picture<'a, T> {
    /// `[rows * cols]`, row-major.
    pub vector: ArrayView1<'a, T>,
    /// First line above the picture.
    pub title: String,
    /// Second line, smaller and grey.
    pub subtitle: Option<String>,
}

/// A labelled row of pictures.
#[derive(Clone, Debug)]
pub struct PictureRow<'a, T> {
    /// Written vertically left of the row (empty: none).
    pub label: String,
    /// The pictures, left to right.
    pub pictures: Vec<Picture<'a, T>>,
}

/// Draws rows of pictures under `title` with the house colours (diverging, zero white, limits
/// per `params.scale`) and writes `<stem>.png` and `<stem>.svg`. A row without pictures is
/// drawn as one empty frame.
///
/// # Panics
/// If there are no rows, a vector does not fit `params.images.shape`, or `pixel_size == 0`.
#[track_caller]
pub fn gallery<T: Real>(
    stem: &Path,
    title: &str,
    rows: &[PictureRow<'_, T>],
    params: &ImageParams,
) -> Result<SavedFigure, PlotError> {
    assert!(!rows.is_empty(), "gallery needs at least one row");
    for row in rows {
        for p in &row.pictures {
            params.check(p.vector.len());
        }
    }
    let two_lines = rows
        .iter()
        .flat_map(|r| &r.pictures)
        .any(|p| p.subtitle.is_some());
    let labelled = rows.iter().any(|r| !r.label.is_empty());
    let cells = rows
        .iter()
        .map(|row| {
            let cells: Vec<Cell> = row
                .pictures
                .iter()
                .map(|p| Cell::image(params, p.vector, p.title.clone(), p.subtitle.clone()))
                .collect();
            let cells = if cells.is_empty() {
                vec![Cell::default()]
            } else {
                cells
            };
            (row.label.clone(), cells)
        })
        .collect();
    let figure = PanelFigure::new(title, params, cells, two_lines, labelled);
    save::save(stem, &figure)
}
