//! A matrix as a heatmap with labelled axes and a colour bar: interaction matrices,
//! similarity between outputs' components, anything indexed by two axes.

use std::path::Path;

use bilens_decomp::Real;
use ndarray::{Array2, ArrayView2};
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, DrawingBackend, Rectangle};
use plotters::style::Color;

use crate::chart::{self, Axis};
use crate::colorbar::{self, ColorBar};
use crate::colormap::{ColorScale, Colormap};
use crate::error::PlotError;
use crate::format;
use crate::panel::FRAME;
use crate::raster::colorize;
use crate::save::{self, DrawError, Figure, RasterSink, SavedFigure};

/// How a heatmap's colour limits are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HeatmapScale {
    /// Fit the colormap to the data: `±max|a|` for [`Colormap::Diverging`] (zero stays
    /// white), `[min, max]` for [`Colormap::Sequential`].
    Fit(Colormap),
    /// Use these limits, e.g. to compare several heatmaps on one scale.
    Fixed(ColorScale),
}

/// What [`heatmap`] draws besides the matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatmapParams {
    /// Colour limits.
    pub scale: HeatmapScale,
    /// x-axis (column) label.
    pub x_label: String,
    /// y-axis (row) label.
    pub y_label: String,
    /// Names of the rows, top to bottom; empty: row indices from 0.
    pub row_labels: Vec<String>,
    /// Names of the columns, left to right; empty: column indices from 0.
    pub col_labels: Vec<String>,
    /// Caption of the colour bar (what the colour measures).
    pub colorbar_label: String,
    /// Largest side of the plot in pixels. Cells are square, at most 48 px; a matrix with
    /// more rows or columns than this is sampled (nearest cell), not averaged.
    pub max_plot_px: u32,
}

impl Default for HeatmapParams {
    /// Diverging colours fitted to the data, index labels, at most 720 px.
    fn default() -> Self {
        Self {
            scale: HeatmapScale::Fit(Colormap::Diverging),
            x_label: "column".into(),
            y_label: "row".into(),
            row_labels: Vec::new(),
            col_labels: Vec::new(),
            colorbar_label: "value".into(),
            max_plot_px: 720,
        }
    }
}

/// Draws `matrix` (`[rows, cols]`, row 0 at the top as in a printed matrix) as a heatmap
/// and writes `<stem>.png` and `<stem>.svg`. Non-finite entries are drawn grey
/// ([`MISSING`](crate::MISSING)) and do not affect fitted limits.
///
/// # Panics
/// If the matrix is empty, a non-empty label list does not match its dimension, or
/// `max_plot_px == 0`.
#[track_caller]
pub fn heatmap<T: Real>(
    stem: &Path,
    title: &str,
    matrix: ArrayView2<'_, T>,
    params: &HeatmapParams,
) -> Result<SavedFigure, PlotError> {
    let (rows, cols) = matrix.dim();
    assert!(
        rows > 0 && cols > 0,
        "heatmap of an empty {rows}x{cols} matrix"
    );
    for (labels, n, what) in [
        (&params.row_labels, rows, "row"),
        (&params.col_labels, cols, "column"),
    ] {
        assert!(
            labels.is_empty() || labels.len() == n,
            "{} {what} labels for {n} {what}s",
            labels.len()
        );
    }
    assert!(params.max_plot_px > 0, "max_plot_px must be at least 1");
    let values = matrix.mapv(|v| v.as_f64());
    let scale = match params.scale {
        HeatmapScale::Fit(colormap) => ColorScale::fit(colormap, values.iter().copied()),
        HeatmapScale::Fixed(scale) => scale,
    };
    let longest = rows.max(cols) as u64;
    let max_px = u64::from(params.max_plot_px);
    let plot = if longest > max_px {
        let side = |n: usize| ((n as u64 * max_px / longest) as u32).max(1);
        (side(cols), side(rows))
    } else {
        let cell = (max_px / longest).clamp(1, 48) as u32;
        (cols as u32 * cell, rows as u32 * cell)
    };
    let axis = |n: usize, flip: bool, labels: &[String]| {
        let ticks = cell_ticks(n, flip)
            .into_iter()
            .map(|t| {
                let i = cell_of(t, n, flip);
                (t, labels.get(i).cloned().unwrap_or_else(|| i.to_string()))
            })
            .collect();
        Axis::labelled(0.0, n as f64, ticks)
    };
    let figure = HeatmapFigure {
        title: title.to_owned(),
        values,
        scale,
        x: axis(cols, false, &params.col_labels),
        y: axis(rows, true, &params.row_labels),
        params: params.clone(),
        plot,
    };
    save::save(stem, &figure)
}

struct HeatmapFigure {
    title: String,
    values: Array2<f64>,
    scale: ColorScale,
    /// Column axis: ticks at cell centres, named by the column labels.
    x: Axis,
    /// Row axis, row 0 at the top.
    y: Axis,
    params: HeatmapParams,
    /// Plot area in pixels.
    plot: (u32, u32),
}

/// Room right of the plot for the colour bar.
const KEY: u32 = colorbar::WIDTH + 20;
/// The colour bar is never shorter than this, even for a one-row matrix.
const MIN_KEY_HEIGHT: u32 = 180;

/// Tick positions (cell centres) for an axis of `n` cells: every cell up to 30, else about
/// 15 evenly spaced; with `flip`, cell 0 is at the top (largest coordinate).
fn cell_ticks(n: usize, flip: bool) -> Vec<f64> {
    let step = if n <= 30 { 1 } else { n.div_ceil(15) };
    let step = if step > 1 {
        // Round the step to a nice number so that indices read 0, 50, 100...
        format::nice_ticks(0.0, n as f64, 15)
            .get(1)
            .map_or(step, |s| *s as usize)
            .max(1)
    } else {
        1
    };
    (0..n)
        .step_by(step)
        .map(|i| {
            if flip {
                (n - i) as f64 - 0.5
            } else {
                i as f64 + 0.5
            }
        })
        .collect()
}

/// The cell a tick at coordinate `v` names (inverse of [`cell_ticks`]).
fn cell_of(v: f64, n: usize, flip: bool) -> usize {
    let i = (v.floor().max(0.0) as usize).min(n - 1);
    if flip { n - 1 - i } else { i }
}

impl Figure for HeatmapFigure {
    fn size(&self) -> (u32, u32) {
        let (w, h) = chart::size_for_plot(self.plot, &self.y, KEY);
        let extra = MIN_KEY_HEIGHT.saturating_sub(self.plot.1);
        (w, h + extra)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        sink: &RasterSink,
    ) -> Result<(), DrawError> {
        chart::title(root, &self.title)?;
        let extra = MIN_KEY_HEIGHT.saturating_sub(self.plot.1);
        let body = chart::body(root, KEY).margin(0, extra, 0, 0);
        let mut chart = chart::cartesian(&body, self.x.clone(), self.y.clone())?;

        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let size = ((xs.end - xs.start) as u32, (ys.end - ys.start) as u32);
        if size.0 > 0 && size.1 > 0 {
            let rgb = colorize(self.values.view(), &self.scale, size);
            sink.draw(root, (xs.start, ys.start), size, rgb)?;
        }
        root.draw(&Rectangle::new(
            [(xs.start - 1, ys.start - 1), (xs.end, ys.end)],
            FRAME.stroke_width(1),
        ))?;

        let (x_label, y_label) = (&self.params.x_label, &self.params.y_label);
        chart::mesh(&mut chart, x_label, y_label, false)?;

        let key = ColorBar::numeric(self.scale, Some(self.params.colorbar_label.clone()));
        let height = (ys.end - ys.start).max(MIN_KEY_HEIGHT as i32) as u32;
        key.draw(root, sink, (xs.end + 20, ys.start), height)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_sit_on_cell_centres_and_name_their_cell() {
        assert_eq!(cell_ticks(3, false), vec![0.5, 1.5, 2.5]);
        assert_eq!(cell_ticks(3, true), vec![2.5, 1.5, 0.5]);
        for flip in [false, true] {
            for (i, t) in cell_ticks(3, flip).into_iter().enumerate() {
                assert_eq!(cell_of(t, 3, flip), i);
            }
        }
        let many = cell_ticks(784, false);
        assert!(many.len() <= 17 && many.len() >= 8, "{}", many.len());
        assert_eq!(cell_of(many[1], 784, false), 100);
    }
}
