//! The colour bar: the key that says which colour is which value. Heatmaps label it with
//! numbers; panel figures with per-panel limits label it with the relative limits.

use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, DrawingBackend, PathElement, Rectangle, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontTransform};

use crate::colormap::ColorScale;
use crate::font::{self, size};
use crate::format;
use crate::panel::FRAME;
use crate::raster::colorize;
use crate::save::{DrawError, RasterSink};

/// Width of the bar itself.
const BAR: u32 = 14;
/// Horizontal room a colour bar needs, from the left of the bar to the end of its caption.
pub(crate) const WIDTH: u32 = 120;

/// A colour bar: the scale it shows and the labelled positions along it.
pub(crate) struct ColorBar {
    scale: ColorScale,
    ticks: Vec<(f64, String)>,
    caption: Option<String>,
}

impl ColorBar {
    /// Ticks at nice round values of the scale's range.
    pub(crate) fn numeric(scale: ColorScale, caption: Option<String>) -> Self {
        let ticks = format::nice_ticks(scale.lo(), scale.hi(), 5)
            .into_iter()
            .map(|v| (v, format::tick(v)))
            .collect();
        Self {
            scale,
            ticks,
            caption,
        }
    }

    /// A diverging bar labelled `+max|v|`, `0`, `−max|v|`, for panels that each use their own
    /// limits: the colours, not the numbers, are what the reader needs.
    pub(crate) fn relative(caption: &str) -> Self {
        Self {
            scale: ColorScale::symmetric(1.0),
            ticks: vec![
                (1.0, "+max|v|".into()),
                (0.0, "0".into()),
                (-1.0, "−max|v|".into()),
            ],
            caption: Some(caption.into()),
        }
    }

    /// Draws the bar with its top-left corner at `at`, `height` pixels tall (high values at
    /// the top), ticks and labels to its right and the caption rotated along the right edge.
    pub(crate) fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        sink: &RasterSink,
        at: (i32, i32),
        height: u32,
    ) -> Result<(), DrawError> {
        let (lo, hi) = (self.scale.lo(), self.scale.hi());
        let h = height.max(2);
        let column = Array2::from_shape_fn((h as usize, 1), |(i, _)| {
            hi - (hi - lo) * (i as f64 + 0.5) / f64::from(h)
        });
        sink.draw(
            area,
            at,
            (BAR, h),
            colorize(column.view(), &self.scale, (BAR, h)),
        )?;
        let right = at.0 + BAR as i32;
        area.draw(&Rectangle::new(
            [(at.0 - 1, at.1 - 1), (right, at.1 + h as i32)],
            FRAME.stroke_width(1),
        ))?;
        let y_of = |v: f64| {
            let t = if hi > lo { (hi - v) / (hi - lo) } else { 0.5 };
            at.1 + (t * f64::from(h - 1)).round() as i32
        };
        let label = font::text(size::TICK).pos(Pos::new(HPos::Left, VPos::Center));
        let mut widest = 0;
        for (value, text) in &self.ticks {
            let y = y_of(*value);
            let tick = vec![(right, y), (right + 4, y)];
            area.draw(&PathElement::new(tick, font::INK))?;
            area.draw(&Text::new(text.clone(), (right + 8, y), label.clone()))?;
            widest = widest.max(area.estimate_text_size(text, &label)?.0 as i32);
        }
        if let Some(caption) = &self.caption {
            // Rotated to read top to bottom, just right of the widest tick label.
            let style = font::text(size::TICK)
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Center, VPos::Top));
            let x = (right + 8 + widest + 26).min(at.0 + WIDTH as i32);
            area.draw(&Text::new(caption.clone(), (x, at.1 + h as i32 / 2), style))?;
        }
        Ok(())
    }
}
