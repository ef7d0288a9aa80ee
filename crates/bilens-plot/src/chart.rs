//! The frame every chart shares: title band, axes, ticks, grid lines and legend, in one
//! house style, so that the spectrum, the curves and the heatmap look like one paper's
//! figures.
//!
//! Tick positions and their text are chosen here ([`Axis`]), not by plotters, so that every
//! axis reads `0, 0.2, 0.4` rather than `0.000, 0.200`, and the room left of a plot is
//! measured from its widest tick label.

use std::ops::Range;

use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::{DrawingArea, DrawingBackend, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, RGBColor, WHITE};

use crate::font::{self, size};
use crate::format;
use crate::panel::FRAME;
use crate::save::DrawError;

/// Default pixel size of a chart.
pub(crate) const DEFAULT_SIZE: (u32, u32) = (900, 560);
/// Height of the band that holds a figure's title.
pub(crate) const TITLE_BAND: u32 = 52;
/// Room below the plot for tick labels and the x-axis label.
const X_LABEL_AREA: u32 = 58;
/// Space kept free around the chart.
const MARGIN: u32 = 24;
/// Grid lines: present but quieter than any data.
const GRID: RGBColor = RGBColor(230, 230, 230);

/// Where a chart's legend sits inside the plot area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegendPosition {
    /// Top left corner.
    UpperLeft,
    /// Top right corner.
    UpperRight,
    /// Bottom left corner.
    LowerLeft,
    /// Bottom right corner (free in rising curves such as accuracy against k).
    LowerRight,
}

impl LegendPosition {
    fn to_plotters(self) -> SeriesLabelPosition {
        match self {
            LegendPosition::UpperLeft => SeriesLabelPosition::UpperLeft,
            LegendPosition::UpperRight => SeriesLabelPosition::UpperRight,
            LegendPosition::LowerLeft => SeriesLabelPosition::LowerLeft,
            LegendPosition::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

/// An axis with its ticks and their text: linear or logarithmic.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    /// A linear axis over `[lo, hi]` with numeric ticks at `ticks`.
    pub(crate) fn linear(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        Self::labelled(
            lo,
            hi,
            ticks.into_iter().map(|t| (t, format::tick(t))).collect(),
        )
    }

    /// A logarithmic axis over `[lo, hi]` (both positive) with numeric ticks at `ticks`.
    pub(crate) fn log(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        Self {
            log: true,
            ..Self::linear(lo, hi, ticks)
        }
    }

    /// A linear axis whose ticks carry the given text (category names).
    pub(crate) fn labelled(lo: f64, hi: f64, ticks: Vec<(f64, String)>) -> Self {
        Self {
            lo,
            hi,
            log: false,
            ticks,
        }
    }

    /// The text of the tick nearest to `v` (plotters asks by value).
    fn label_of(&self, v: f64) -> String {
        self.ticks
            .iter()
            .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
            .map(|t| t.1.clone())
            .unwrap_or_default()
    }

    /// Room left of a plot with this as its y axis: tick marks, the widest tick label and
    /// the rotated axis label.
    pub(crate) fn y_label_area(&self) -> u32 {
        let widest = self
            .ticks
            .iter()
            .map(|t| font::width(&t.1, size::TICK))
            .max()
            .unwrap_or(0);
        widest + 52
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.log {
            (value.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (value - self.lo) / (self.hi - self.lo)
        };
        let t = if t.is_finite() {
            t.clamp(-10.0, 10.0)
        } else {
            0.5
        };
        limit.0 + (f64::from(limit.1 - limit.0) * t).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.iter().map(|t| t.0).collect()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// The chart type every figure here draws on.
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// Fills `root` white and draws `title` centred in the title band.
pub(crate) fn title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<(), DrawError> {
    root.fill(&WHITE)?;
    let (width, _) = root.dim_in_pixel();
    let style = font::text(size::TITLE).pos(Pos::new(HPos::Center, VPos::Center));
    let at = (width as i32 / 2, TITLE_BAND as i32 / 2);
    root.draw(&Text::new(title.to_owned(), at, style))?;
    Ok(())
}

/// The area below the title band and inside the margins, with `right` extra pixels kept
/// free on the right (for a colour bar).
pub(crate) fn body<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    right: u32,
) -> DrawingArea<DB, Shift> {
    root.margin(TITLE_BAND, MARGIN, MARGIN, MARGIN + right)
}

/// Pixel size of a figure whose plot area is exactly `plot` pixels, with `y` as its y axis
/// and `right` extra pixels on the right.
pub(crate) fn size_for_plot(plot: (u32, u32), y: &Axis, right: u32) -> (u32, u32) {
    (
        plot.0 + y.y_label_area() + 2 * MARGIN + right,
        plot.1 + X_LABEL_AREA + TITLE_BAND + MARGIN,
    )
}

/// A cartesian chart on `body`; draw its frame with [`mesh`].
pub(crate) fn cartesian<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    x: Axis,
    y: Axis,
) -> Result<Chart<'_, DB>, DrawError> {
    let y_area = y.y_label_area();
    Ok(ChartBuilder::on(body)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x, y)?)
}

/// Draws the axes with their tick labels, the axis labels and, if `grid`, light grid lines
/// at the ticks.
pub(crate) fn mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    x_label: &str,
    y_label: &str,
    grid: bool,
) -> Result<(), DrawError> {
    let spec = chart.as_coord_spec();
    let (x, y) = (spec.x_spec().clone(), spec.y_spec().clone());
    let x_fmt = |v: &f64| x.label_of(*v);
    let y_fmt = |v: &f64| y.label_of(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(font::text(size::TICK))
        .axis_desc_style(font::text(size::LABEL))
        .axis_style(font::INK.stroke_width(1))
        .set_all_tick_mark_size(5)
        .bold_line_style(GRID.stroke_width(1));
    if !grid {
        mesh.disable_mesh();
    }
    mesh.draw()?;
    Ok(())
}

/// Draws the legend of the series that were given labels.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: LegendPosition,
) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .position(position.to_plotters())
        .margin(12)
        .legend_area_size(28)
        .label_font(font::text(size::TICK))
        .background_style(WHITE.mix(0.92))
        .border_style(FRAME)
        .draw()?;
    Ok(())
}

/// Pads a data range by `fraction` of its width on each side (a unit range around a single
/// value), so that marks at the extremes are not cut by the frame.
pub(crate) fn padded(lo: f64, hi: f64, fraction: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return (0.0, 1.0);
    }
    if lo == hi {
        let half = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
        return (lo - half, hi + half);
    }
    let pad = (hi - lo) * fraction;
    (lo - pad, hi + pad)
}
