//! Figures made of image panels: the top eigenvectors of one output
//! ([`eigenvector_grid`]) and the top eigenvector of every output ([`overview`]).

use std::path::Path;

use bilens_decomp::Real;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayView3};
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, DrawingBackend, Text};
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::chart;
use crate::colorbar::{self, ColorBar};
use crate::colormap::{ColorScale, Colormap};
use crate::error::PlotError;
use crate::font::{self, size};
use crate::format;
use crate::panel::{self, ImageParams, Panel, PanelScale};
use crate::save::{self, DrawError, Figure, RasterSink, SavedFigure};
use bilens_decomp::{Sign, top_by_sign};

/// What [`eigenvector_grid`] draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridParams {
    /// How vectors become pictures.
    pub images: ImageParams,
    /// Panels in the first row: the components with the largest positive eigenvalues.
    pub n_positive: usize,
    /// Panels in the second row: the components with the most negative eigenvalues.
    pub n_negative: usize,
}

impl Default for GridParams {
    /// Six of each sign, as 28 × 28 images.
    fn default() -> Self {
        Self {
            images: ImageParams::default(),
            n_positive: 6,
            n_negative: 6,
        }
    }
}

/// What [`overview`] draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverviewParams {
    /// How vectors become pictures.
    pub images: ImageParams,
    /// Which component of each output: the largest positive or the most negative eigenvalue.
    pub sign: Sign,
    /// Panels per row before wrapping to the next row.
    pub max_columns: usize,
}

impl Default for OverviewParams {
    /// The top positive component, ten panels per row (one row for ten digit classes).
    fn default() -> Self {
        Self {
            images: ImageParams::default(),
            sign: Sign::Positive,
            max_columns: 10,
        }
    }
}

/// Draws the top positive eigenvectors of one output in the first row and the top negative
/// ones in the second, each panel titled `λ = …`, and writes `<stem>.png` and `<stem>.svg`.
///
/// - `eigenvalues`: `[k]`, in any order (the components are selected and ordered here:
///   positive by decreasing `λ`, negative by increasing `λ`, i.e. strongest first).
/// - `eigenvectors`: `[k, d]`, row `i` belongs to `eigenvalues[i]` (bilens' convention);
///   `d` must be `params.images.shape.len()`. Row-major pixels, see
///   [`ImageShape`](crate::ImageShape).
///
/// A sign with fewer components than asked for draws those it has (an empty row says so).
/// Components whose eigenvalue is zero or not finite are never selected; non-finite entries
/// of a selected eigenvector are drawn grey.
///
/// # Panics
/// If `k == 0`, the row count of `eigenvectors` is not `k`, `d` does not match the image
/// shape, `pixel_size == 0`, or both counts are zero.
#[track_caller]
pub fn eigenvector_grid<T: Real>(
    stem: &Path,
    title: &str,
    eigenvalues: ArrayView1<'_, T>,
    eigenvectors: ArrayView2<'_, T>,
    params: &GridParams,
) -> Result<SavedFigure, PlotError> {
    let k = eigenvalues.len();
    assert!(k > 0, "eigenvector_grid needs at least one component");
    assert_eq!(
        eigenvectors.nrows(),
        k,
        "{k} eigenvalues but {} eigenvectors",
        eigenvectors.nrows()
    );
    params.images.check(eigenvectors.ncols());
    assert!(
        params.n_positive + params.n_negative > 0,
        "eigenvector_grid asked for no panels"
    );

    let mut rows = Vec::new();
    for (sign, n, label, none) in [
        (Sign::Positive, params.n_positive, "positive", "no λ > 0"),
        (Sign::Negative, params.n_negative, "negative", "no λ < 0"),
    ] {
        if n == 0 {
            continue;
        }
        let cells = top_by_sign(eigenvalues, sign, n)
            .into_iter()
            .map(|i| {
                Cell::image(
                    &params.images,
                    eigenvectors.row(i),
                    format!("λ = {}", format::number(eigenvalues[i].as_f64())),
                    None,
                )
            })
            .collect::<Vec<_>>();
        let cells = if cells.is_empty() {
            vec![Cell {
                note: Some(none.into()),
                ..Cell::default()
            }]
        } else {
            cells
        };
        rows.push((label.to_owned(), cells));
    }
    let figure = PanelFigure::new(title, &params.images, rows, false, true);
    save::save(stem, &figure)
}

/// Draws one component of every output side by side, each panel titled with the output's
/// label and its eigenvalue, and writes `<stem>.png` and `<stem>.svg`.
///
/// - `labels`: `[n_out]` names of the outputs (e.g. `"0"` … `"9"` for digit classes).
/// - `eigenvalues`: `[n_out, k]`, any order within a row.
/// - `eigenvectors`: `[n_out, k, d]`, `d = params.images.shape.len()`.
///
/// For each output the component of the chosen [`Sign`] with the largest `|λ|` is drawn; an
/// output with no component of that sign gets an empty, labelled panel.
///
/// # Panics
/// If there are no outputs or no components, the three arguments disagree on `n_out` or `k`,
/// `d` does not match the image shape, `pixel_size == 0` or `max_columns == 0`.
#[track_caller]
pub fn overview<T: Real, S: AsRef<str>>(
    stem: &Path,
    title: &str,
    labels: &[S],
    eigenvalues: ArrayView2<'_, T>,
    eigenvectors: ArrayView3<'_, T>,
    params: &OverviewParams,
) -> Result<SavedFigure, PlotError> {
    let (n_out, k) = eigenvalues.dim();
    assert!(
        n_out > 0 && k > 0,
        "overview needs at least one output and one component"
    );
    assert_eq!(
        labels.len(),
        n_out,
        "{} labels for {n_out} outputs",
        labels.len()
    );
    let (n_out_v, k_v, d) = eigenvectors.dim();
    assert_eq!(
        (n_out_v, k_v),
        (n_out, k),
        "eigenvalues are [{n_out}, {k}] but eigenvectors are [{n_out_v}, {k_v}, {d}]"
    );
    params.images.check(d);
    assert!(params.max_columns > 0, "max_columns must be at least 1");

    let none = match params.sign {
        Sign::Positive => "no λ > 0",
        Sign::Negative => "no λ < 0",
    };
    let cells: Vec<Cell> = (0..n_out)
        .map(|o| {
            let label = labels[o].as_ref().to_owned();
            match top_by_sign(eigenvalues.row(o), params.sign, 1).first() {
                Some(&i) => {
                    let lambda = format!("λ = {}", format::number(eigenvalues[[o, i]].as_f64()));
                    Cell::image(
                        &params.images,
                        eigenvectors.slice(ndarray::s![o, i, ..]),
                        label,
                        Some(lambda),
                    )
                }
                None => Cell {
                    title: Some(label),
                    subtitle: Some(none.into()),
                    ..Cell::default()
                },
            }
        })
        .collect();
    let rows = cells
        .chunks(params.max_columns)
        .map(|chunk| (String::new(), chunk.to_vec()))
        .collect();
    let figure = PanelFigure::new(title, &params.images, rows, true, false);
    save::save(stem, &figure)
}

/// One slot of a panel figure: a picture, or an empty frame saying why there is none.
#[derive(Clone, Default)]
pub(crate) struct Cell {
    /// `[rows, cols]`; `None` draws an empty frame.
    values: Option<Array2<f64>>,
    title: Option<String>,
    subtitle: Option<String>,
    /// Text inside an empty frame.
    note: Option<String>,
}

impl Cell {
    pub(crate) fn image<T: Real>(
        images: &ImageParams,
        vector: ArrayView1<'_, T>,
        title: String,
        subtitle: Option<String>,
    ) -> Self {
        let (rows, cols) = (images.shape.rows, images.shape.cols);
        let values = Array2::from_shape_fn((rows, cols), |(r, c)| vector[r * cols + c].as_f64());
        Cell {
            values: Some(values),
            title: Some(title),
            subtitle,
            note: None,
        }
    }
}

/// Rows of panels under a title, with optional row labels and a colour key on the right.
pub(crate) struct PanelFigure {
    title: String,
    rows: Vec<(String, Vec<Cell>)>,
    raster: (u32, u32),
    band: u32,
    scales: Vec<Vec<ColorScale>>,
    key: ColorBar,
    row_labels: bool,
    columns: usize,
}

/// Horizontal gap between panels, in pixels.
const HGAP: u32 = 18;
/// Vertical gap between rows of panels (below a picture, above the next titles).
const VGAP: u32 = 16;
/// Width of the column of rotated row labels.
const ROW_LABEL: u32 = 40;
/// Space kept free around the figure.
const MARGIN: u32 = 20;

impl PanelFigure {
    pub(crate) fn new(
        title: &str,
        images: &ImageParams,
        rows: Vec<(String, Vec<Cell>)>,
        two_line_titles: bool,
        row_labels: bool,
    ) -> Self {
        let fit =
            |values: &Array2<f64>| ColorScale::fit(Colormap::Diverging, values.iter().copied());
        let shared = ColorScale::fit(
            Colormap::Diverging,
            rows.iter()
                .flat_map(|(_, cells)| cells)
                .filter_map(|c| c.values.as_ref())
                .flatten()
                .copied(),
        );
        let scales = rows
            .iter()
            .map(|(_, cells)| {
                cells
                    .iter()
                    .map(|c| match (&c.values, images.scale) {
                        (Some(values), PanelScale::PerPanel) => fit(values),
                        _ => shared,
                    })
                    .collect()
            })
            .collect();
        let key = match images.scale {
            PanelScale::PerPanel => ColorBar::relative("scaled per panel"),
            PanelScale::Shared => ColorBar::numeric(shared, Some("eigenvector entry".into())),
        };
        let columns = rows.iter().map(|(_, c)| c.len()).max().unwrap_or(1).max(1);
        Self {
            title: title.to_owned(),
            rows,
            raster: images.raster_size(),
            band: panel::title_band(two_line_titles),
            scales,
            key,
            row_labels,
            columns,
        }
    }

    /// Width of the grid, its colour key and the margins, before any widening for the title.
    fn natural_width(&self) -> u32 {
        let n_cols = self.columns as u32;
        let labels = if self.row_labels { ROW_LABEL } else { 0 };
        let grid = n_cols * self.raster.0 + (n_cols - 1) * HGAP;
        MARGIN + labels + grid + 2 * HGAP + colorbar::WIDTH + MARGIN
    }

    /// Left edge of the first panel: after the margin and row labels, shifted right to
    /// centre the content when a long title makes the figure wider than the grid.
    fn left(&self) -> u32 {
        let (width, _) = self.size();
        let labels = if self.row_labels { ROW_LABEL } else { 0 };
        (width - self.natural_width()) / 2 + MARGIN + labels
    }

    fn row_height(&self) -> u32 {
        self.band + self.raster.1
    }

    /// Top-left corner of the title band of panel `(row, col)`.
    fn cell_at(&self, row: usize, col: usize) -> (i32, i32) {
        let x = self.left() + col as u32 * (self.raster.0 + HGAP);
        let y = chart::TITLE_BAND + row as u32 * (self.row_height() + VGAP);
        (x as i32, y as i32)
    }
}

impl Figure for PanelFigure {
    fn size(&self) -> (u32, u32) {
        let n_rows = self.rows.len() as u32;
        let grid_h = n_rows * self.row_height() + n_rows.saturating_sub(1) * VGAP;
        let title = font::width(&self.title, size::TITLE) + 2 * MARGIN;
        let width = self.natural_width().max(title);
        (width, chart::TITLE_BAND + grid_h + MARGIN)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        sink: &RasterSink,
    ) -> Result<(), DrawError> {
        chart::title(root, &self.title)?;

        for (r, (label, cells)) in self.rows.iter().enumerate() {
            for (c, cell) in cells.iter().enumerate() {
                let at = self.cell_at(r, c);
                let panel = Panel {
                    picture: cell.values.as_ref().map(|v| (v.view(), self.scales[r][c])),
                    title: cell.title.as_deref(),
                    subtitle: cell.subtitle.as_deref(),
                    note: cell.note.as_deref(),
                };
                panel::draw_panel(root, sink, at, self.raster, self.band, &panel)?;
            }
            if self.row_labels && !label.is_empty() {
                let (_, y) = self.cell_at(r, 0);
                let centre_y = y + (self.band + self.raster.1 / 2) as i32;
                let style = font::text(size::LABEL)
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let x = (self.left() - ROW_LABEL / 2) as i32;
                root.draw(&Text::new(label.clone(), (x, centre_y), style))?;
            }
        }

        let (grid_right, top) = self.cell_at(0, self.columns);
        let top = top + self.band as i32;
        let (_, last) = self.cell_at(self.rows.len() - 1, 0);
        let bottom = last + self.row_height() as i32;
        let key_x = grid_right + HGAP as i32;
        self.key
            .draw(root, sink, (key_x, top), (bottom - top) as u32)?;
        Ok(())
    }
}
