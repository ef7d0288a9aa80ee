//! Spectra as stem charts: the signed eigenvalues of one output ([`spectrum`]) and a
//! singular-value spectrum ([`singular_values`]), both value against rank.

use std::path::Path;

use bilens_decomp::Real;
use ndarray::ArrayView1;
use plotters::coord::Shift;
use plotters::prelude::{Circle, DrawingArea, DrawingBackend, PathElement};
use plotters::style::{Color, RGBColor};

use crate::chart::{self, Axis, LegendPosition};
use crate::colormap::{self, NEGATIVE, POSITIVE};
use crate::error::PlotError;
use crate::font;
use crate::format;
use crate::save::{self, DrawError, Figure, RasterSink, SavedFigure};
use bilens_decomp::{Sign, top_by_sign};

/// How a value axis is scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YScale {
    /// Linear, including zero.
    Linear,
    /// Logarithmic, for spectra that span orders of magnitude; values that are not positive
    /// cannot be placed and are left out.
    Log,
}

/// What [`spectrum`] draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpectrumParams {
    /// Components of each sign to show.
    pub top: usize,
    /// Figure size in pixels.
    pub size: (u32, u32),
}

impl Default for SpectrumParams {
    /// The top 20 of each sign, 900 × 560.
    fn default() -> Self {
        Self {
            top: 20,
            size: chart::DEFAULT_SIZE,
        }
    }
}

/// What [`singular_values`] draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SingularValueParams {
    /// Show only the first `top` values (`None`: all).
    pub top: Option<usize>,
    /// Linear or logarithmic value axis.
    pub y_scale: YScale,
    /// Figure size in pixels.
    pub size: (u32, u32),
}

impl Default for SingularValueParams {
    /// All values, linear axis, 900 × 560.
    fn default() -> Self {
        Self {
            top: None,
            y_scale: YScale::Linear,
            size: chart::DEFAULT_SIZE,
        }
    }
}

/// Draws the eigenvalue spectrum of one output: the `top` largest positive eigenvalues (red)
/// and the `top` most negative (blue) against their rank within their sign, as stems from
/// zero, and writes `<stem>.png` and `<stem>.svg`.
///
/// `eigenvalues` is `[k]` in any order. Zero and non-finite values are left out (a zero has
/// no sign; see [`eigenvector_grid`](crate::eigenvector_grid) for the same rule).
///
/// # Panics
/// If `eigenvalues` is empty or `top == 0`.
#[track_caller]
pub fn spectrum<T: Real>(
    stem: &Path,
    title: &str,
    eigenvalues: ArrayView1<'_, T>,
    params: &SpectrumParams,
) -> Result<SavedFigure, PlotError> {
    assert!(
        !eigenvalues.is_empty(),
        "spectrum needs at least one eigenvalue"
    );
    assert!(params.top > 0, "spectrum: top must be at least 1");
    let group = |sign, name: &str, color| {
        let points = top_by_sign(eigenvalues, sign, params.top)
            .into_iter()
            .enumerate()
            .map(|(rank, i)| ((rank + 1) as f64, eigenvalues[i].as_f64()))
            .collect();
        StemGroup {
            name: name.to_owned(),
            color,
            points,
        }
    };
    let figure = StemFigure {
        title: title.to_owned(),
        x_label: "rank within sign".into(),
        y_label: "eigenvalue λ".into(),
        groups: vec![
            group(Sign::Positive, "λ > 0", POSITIVE),
            group(Sign::Negative, "λ < 0", NEGATIVE),
        ],
        n: params.top,
        y_scale: YScale::Linear,
        size: params.size,
        legend: Some(LegendPosition::UpperRight),
    };
    save::save(stem, &figure)
}

/// Draws a singular-value spectrum (e.g. of the HOSVD of an interaction tensor) as stems
/// against the 1-based index, in the given order, and writes `<stem>.png` and `<stem>.svg`.
///
/// `values` is `[n]`. Non-finite values are left out, and so are values that are not
/// positive on a [`YScale::Log`] axis.
///
/// # Panics
/// If `values` is empty or `top == Some(0)`.
#[track_caller]
pub fn singular_values<T: Real>(
    stem: &Path,
    title: &str,
    values: ArrayView1<'_, T>,
    params: &SingularValueParams,
) -> Result<SavedFigure, PlotError> {
    assert!(
        !values.is_empty(),
        "singular_values needs at least one value"
    );
    assert!(
        params.top != Some(0),
        "singular_values: top must be at least 1"
    );
    let n = params.top.unwrap_or(usize::MAX).min(values.len());
    let points = values
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, v)| ((i + 1) as f64, v.as_f64()))
        .collect();
    let figure = StemFigure {
        title: title.to_owned(),
        x_label: "index".into(),
        y_label: "singular value σ".into(),
        groups: vec![StemGroup {
            name: "σ".into(),
            color: colormap::categorical(0),
            points,
        }],
        n,
        y_scale: params.y_scale,
        size: params.size,
        legend: None,
    };
    save::save(stem, &figure)
}

/// One colour of stems.
struct StemGroup {
    name: String,
    color: RGBColor,
    /// `(rank, value)`; non-finite values are skipped when drawing.
    points: Vec<(f64, f64)>,
}

/// Values against rank `1..=n` as stems with a dot at the tip.
struct StemFigure {
    title: String,
    x_label: String,
    y_label: String,
    groups: Vec<StemGroup>,
    n: usize,
    y_scale: YScale,
    size: (u32, u32),
    legend: Option<LegendPosition>,
}

impl StemFigure {
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.groups
            .iter()
            .flat_map(|g| g.points.iter().map(|p| p.1))
            .filter(|v| v.is_finite() && (self.y_scale == YScale::Linear || *v > 0.0))
    }

    /// Draws on the value axis `y`, with stems starting at `baseline`.
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        y: Axis,
        baseline: f64,
    ) -> Result<(), DrawError> {
        chart::title(root, &self.title)?;
        let body = chart::body(root, 0);
        let n = self.n.max(1) as f64;
        // Every rank up to 12, else round ranks and the first.
        let x_ticks: Vec<f64> = if self.n <= 12 {
            (1..=self.n.max(1)).map(|r| r as f64).collect()
        } else {
            let nice = format::nice_ticks(1.0, n, 6)
                .into_iter()
                .filter(|t| *t > 1.0);
            std::iter::once(1.0).chain(nice).collect()
        };
        let x = Axis::linear(0.5, n + 0.5, x_ticks);
        let mut chart = chart::cartesian(&body, x, y)?;
        chart::mesh(&mut chart, &self.x_label, &self.y_label, true)?;

        if self.y_scale == YScale::Linear {
            let axis = vec![(0.5, 0.0), (n + 0.5, 0.0)];
            chart.draw_series(std::iter::once(PathElement::new(
                axis,
                font::INK.stroke_width(1),
            )))?;
        }
        // Thinner marks when there are many, so that neighbours stay apart.
        let (radius, stroke) = match self.n {
            0..=30 => (5, 2),
            31..=100 => (3, 1),
            _ => (2, 1),
        };
        for group in &self.groups {
            let finite: Vec<(f64, f64)> = group
                .points
                .iter()
                .copied()
                .filter(|(_, v)| v.is_finite() && (self.y_scale == YScale::Linear || *v > 0.0))
                .collect();
            let color = group.color;
            chart.draw_series(finite.iter().map(|&(r, v)| {
                PathElement::new(vec![(r, baseline), (r, v)], color.stroke_width(stroke))
            }))?;
            let dots = chart.draw_series(
                finite
                    .iter()
                    .map(|&p| Circle::new(p, radius, color.filled())),
            )?;
            if self.legend.is_some() {
                dots.label(group.name.clone())
                    .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
            }
        }
        if let Some(position) = self.legend {
            chart::legend(&mut chart, position)?;
        }
        Ok(())
    }
}

impl Figure for StemFigure {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        _: &RasterSink,
    ) -> Result<(), DrawError> {
        match self.y_scale {
            YScale::Linear => {
                let (lo, hi) = self
                    .values()
                    .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
                let (lo, hi) = chart::padded(lo, hi, 0.06);
                // Keep zero on the axis when all values share a sign.
                let (lo, hi) = (
                    if lo > 0.0 { 0.0 } else { lo },
                    if hi < 0.0 { 0.0 } else { hi },
                );
                let ticks = format::nice_ticks(lo, hi, 6);
                self.draw_on(root, Axis::linear(lo, hi, ticks), 0.0)
            }
            YScale::Log => {
                let (lo, hi) = self.values().fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
                let (lo, hi) = if lo <= hi {
                    (lo / 2.0, hi * 2.0)
                } else {
                    (0.1, 10.0)
                };
                let ticks = log_ticks(lo, hi);
                self.draw_on(root, Axis::log(lo, hi, ticks), lo)
            }
        }
    }
}

/// Powers of ten in `[lo, hi]`, with 2× and 5× steps added when there are fewer than three.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (lo.log10().ceil() as i32)..=(hi.log10().floor() as i32);
    let powers: Vec<f64> = decades.clone().map(|e| 10f64.powi(e)).collect();
    if powers.len() >= 3 {
        return powers;
    }
    let lower = lo.log10().floor() as i32;
    let upper = hi.log10().ceil() as i32;
    (lower..=upper)
        .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_decades_or_1_2_5_steps() {
        assert_eq!(log_ticks(0.05, 2000.0), vec![0.1, 1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(log_ticks(1.5, 30.0), vec![2.0, 5.0, 10.0, 20.0]);
    }
}
