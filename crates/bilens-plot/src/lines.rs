//! Curves: several named series against a shared x axis, with an optional horizontal
//! reference line. Built for truncation curves (accuracy against the number of components
//! kept, with the full model as reference) but not specific to them.

use std::path::Path;

use bilens_decomp::Real;
use ndarray::ArrayView1;
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, DashedLineSeries, DrawingArea, DrawingBackend, EmptyElement, LineSeries, PathElement,
};
use plotters::style::Color;

use crate::chart::{self, Axis, LegendPosition};
use crate::colormap;
use crate::error::PlotError;
use crate::font;
use crate::format;
use crate::save::{self, DrawError, Figure, RasterSink, SavedFigure};

/// One named curve: `y[i]` at `x[i]`, drawn in the given order.
#[derive(Clone, Debug)]
pub struct Series<'a, T> {
    /// Legend entry.
    pub name: &'a str,
    /// `[n]` positions.
    pub x: ArrayView1<'a, T>,
    /// `[n]` values.
    pub y: ArrayView1<'a, T>,
}

/// A horizontal line marking a reference value, e.g. the full model's accuracy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reference<'a> {
    /// Legend entry.
    pub name: &'a str,
    /// Height of the line.
    pub y: f64,
}

/// A line chart: what to draw and how to label it. Build with [`LineChart::new`] and adjust
/// the public fields.
#[derive(Clone, Debug)]
pub struct LineChart<'a, T> {
    /// Figure title.
    pub title: &'a str,
    /// x-axis label.
    pub x_label: &'a str,
    /// y-axis label.
    pub y_label: &'a str,
    /// The curves, coloured in order from a fixed palette.
    pub series: &'a [Series<'a, T>],
    /// Optional dashed reference line.
    pub reference: Option<Reference<'a>>,
    /// Fixed y range (e.g. `(0.0, 1.0)` for accuracy); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// Where the legend goes.
    pub legend: LegendPosition,
    /// Whether to mark each data point with a dot (lines alone read better past ~40
    /// points).
    pub markers: bool,
    /// Figure size in pixels.
    pub size: (u32, u32),
}

impl<'a, T: Real> LineChart<'a, T> {
    /// A chart of `series` with no reference line, a y range fitted to the data, the legend
    /// at the lower right, markers when every series has at most 40 points, 900 × 560.
    pub fn new(
        title: &'a str,
        x_label: &'a str,
        y_label: &'a str,
        series: &'a [Series<'a, T>],
    ) -> Self {
        Self {
            title,
            x_label,
            y_label,
            series,
            reference: None,
            y_range: None,
            legend: LegendPosition::LowerRight,
            markers: series.iter().all(|s| s.x.len() <= 40),
            size: chart::DEFAULT_SIZE,
        }
    }
}

/// Draws `chart` and writes `<stem>.png` and `<stem>.svg`.
///
/// Points whose `x` or `y` is not finite are not drawn and break the line there, so a gap
/// in the data shows as a gap.
///
/// # Panics
/// If there is no series, a series' `x` and `y` differ in length, or `y_range` is not a
/// finite range with `lo < hi`.
#[track_caller]
pub fn line_chart<T: Real>(
    stem: &Path,
    chart: &LineChart<'_, T>,
) -> Result<SavedFigure, PlotError> {
    assert!(
        !chart.series.is_empty(),
        "line_chart needs at least one series"
    );
    for s in chart.series {
        assert_eq!(
            s.x.len(),
            s.y.len(),
            "series {:?}: {} x values but {} y values",
            s.name,
            s.x.len(),
            s.y.len()
        );
    }
    if let Some((lo, hi)) = chart.y_range {
        assert!(
            lo.is_finite() && hi.is_finite() && lo < hi,
            "y_range must be finite with lo < hi, got ({lo}, {hi})"
        );
    }
    let figure = LineFigure {
        title: chart.title.to_owned(),
        x_label: chart.x_label.to_owned(),
        y_label: chart.y_label.to_owned(),
        series: chart
            .series
            .iter()
            .map(|s| {
                let points =
                    s.x.iter()
                        .zip(&s.y)
                        .map(|(x, y)| (x.as_f64(), y.as_f64()))
                        .collect();
                (s.name.to_owned(), points)
            })
            .collect(),
        reference: chart.reference.map(|r| (r.name.to_owned(), r.y)),
        y_range: chart.y_range,
        legend: chart.legend,
        markers: chart.markers,
        size: chart.size,
    };
    save::save(stem, &figure)
}

struct LineFigure {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<(String, Vec<(f64, f64)>)>,
    reference: Option<(String, f64)>,
    y_range: Option<(f64, f64)>,
    legend: LegendPosition,
    markers: bool,
    size: (u32, u32),
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// Runs of consecutive finite points: the pieces a line is drawn in.
fn segments(points: &[(f64, f64)]) -> impl Iterator<Item = &[(f64, f64)]> {
    points.split(|p| !finite(p)).filter(|s| !s.is_empty())
}

impl Figure for LineFigure {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        _: &RasterSink,
    ) -> Result<(), DrawError> {
        chart::title(root, &self.title)?;
        let body = chart::body(root, 0);
        let all = || {
            self.series
                .iter()
                .flat_map(|(_, p)| p.iter())
                .filter(|p| finite(p))
        };
        let bounds = |f: fn(&(f64, f64)) -> f64| {
            all()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                })
        };
        let (x_lo, x_hi) = bounds(|p| p.0);
        let (x_lo, x_hi) = if x_lo < x_hi {
            (x_lo, x_hi)
        } else {
            chart::padded(x_lo, x_hi, 0.0)
        };
        let (y_lo, y_hi) = match self.y_range {
            Some(range) => range,
            None => {
                let (mut lo, mut hi) = bounds(|p| p.1);
                if let Some((_, r)) = self.reference.as_ref().filter(|(_, r)| r.is_finite()) {
                    (lo, hi) = (lo.min(*r), hi.max(*r));
                }
                chart::padded(lo, hi, 0.06)
            }
        };
        let x = Axis::linear(x_lo, x_hi, format::nice_ticks(x_lo, x_hi, 8));
        let y = Axis::linear(y_lo, y_hi, format::nice_ticks(y_lo, y_hi, 6));
        let mut chart = chart::cartesian(&body, x, y)?;
        chart::mesh(&mut chart, &self.x_label, &self.y_label, true)?;

        if let Some((name, r)) = self.reference.as_ref().filter(|(_, r)| r.is_finite()) {
            let style = font::INK.mix(0.75).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x_lo, *r), (x_hi, *r)],
                    8,
                    5,
                    style,
                ))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (7, 0)], style)
                        + PathElement::new(vec![(12, 0), (20, 0)], style)
                });
        }
        for (i, (name, points)) in self.series.iter().enumerate() {
            let color = colormap::categorical(i);
            let style = color.stroke_width(2);
            let mut first = true;
            for segment in segments(points) {
                let drawn = chart.draw_series(LineSeries::new(segment.iter().copied(), style))?;
                if first {
                    drawn
                        .label(name.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                    first = false;
                }
            }
            if self.markers {
                chart.draw_series(
                    points
                        .iter()
                        .filter(|p| finite(p))
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )?;
            }
        }
        chart::legend(&mut chart, self.legend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_points_split_the_line() {
        let p = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 2.0),
            (3.0, 3.0),
            (f64::INFINITY, 1.0),
        ];
        let pieces: Vec<_> = segments(&p).collect();
        assert_eq!(pieces, vec![&p[0..1], &p[2..4]]);
    }
}
