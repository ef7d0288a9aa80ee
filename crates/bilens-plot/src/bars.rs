//! Signed values of named categories as bars from zero: a model's logits for one input, the
//! contributions that make one logit.

use std::path::Path;

use bilens_decomp::Real;
use ndarray::ArrayView1;
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, DrawingBackend, PathElement, Rectangle};
use plotters::style::Color;

use crate::chart::{self, Axis};
use crate::colormap::{NEGATIVE, POSITIVE, categorical};
use crate::error::PlotError;
use crate::font;
use crate::format;
use crate::save::{self, DrawError, Figure, RasterSink, SavedFigure};

/// Draws `values` (`[n]`) as bars from zero, labelled by `labels` along the x axis (named
/// `x_label`), and writes
/// `<stem>.png` and `<stem>.svg`. Bars are red above zero and blue below (the house sign
/// colours); the bar at `highlight`, if any, is drawn green instead (e.g. the predicted
/// class). Non-finite values are left out.
///
/// # Panics
/// If `values` is empty, the label count differs, or `highlight` is out of range.
#[track_caller]
pub fn bar_chart<T: Real, S: AsRef<str>>(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    labels: &[S],
    values: ArrayView1<'_, T>,
    highlight: Option<usize>,
) -> Result<SavedFigure, PlotError> {
    assert!(!values.is_empty(), "bar_chart needs at least one value");
    assert_eq!(labels.len(), values.len(), "one label per value");
    if let Some(h) = highlight {
        assert!(h < values.len(), "highlight {h} out of range");
    }
    let figure = BarFigure {
        title: title.to_owned(),
        x_label: x_label.to_owned(),
        y_label: y_label.to_owned(),
        labels: labels.iter().map(|l| l.as_ref().to_owned()).collect(),
        values: values.iter().map(|v| v.as_f64()).collect(),
        highlight,
    };
    save::save(stem, &figure)
}

struct BarFigure {
    title: String,
    x_label: String,
    y_label: String,
    labels: Vec<String>,
    values: Vec<f64>,
    highlight: Option<usize>,
}

impl Figure for BarFigure {
    fn size(&self) -> (u32, u32) {
        let width = (self.labels.len() as u32 * 70 + 200).clamp(600, 1400);
        (width, 480)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        _: &RasterSink,
    ) -> Result<(), DrawError> {
        chart::title(root, &self.title)?;
        let body = chart::body(root, 0);
        let finite = self.values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = chart::padded(lo, hi, 0.08);
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let n = self.values.len();
        let x_ticks = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, l.clone()))
            .collect();
        let x = Axis::labelled(-0.6, n as f64 - 0.4, x_ticks);
        let y = Axis::linear(lo, hi, format::nice_ticks(lo, hi, 6));
        let mut chart = chart::cartesian(&body, x, y)?;
        chart::mesh(&mut chart, &self.x_label, &self.y_label, true)?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.6, 0.0), (n as f64 - 0.4, 0.0)],
            font::INK.stroke_width(1),
        )))?;
        chart.draw_series(
            self.values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, &v)| {
                    let color = if Some(i) == self.highlight {
                        categorical(2)
                    } else if v >= 0.0 {
                        POSITIVE
                    } else {
                        NEGATIVE
                    };
                    let x = i as f64;
                    Rectangle::new([(x - 0.35, 0.0), (x + 0.35, v)], color.filled())
                }),
        )?;
        Ok(())
    }
}
