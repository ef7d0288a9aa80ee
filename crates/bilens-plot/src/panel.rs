//! The image panel: one vector drawn as a titled, framed picture. The eigenvector grid and
//! the overview are both rows of these.

use ndarray::ArrayView2;
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, DrawingBackend, Rectangle, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, RGBColor};

use crate::colormap::ColorScale;
use crate::font::{self, size};
use crate::raster::colorize;
use crate::save::{DrawError, RasterSink};

/// The shape of the picture an input vector is: `rows × cols` pixels, row-major (entry
/// `r * cols + c` is pixel `(r, c)`, as a flattened 28×28 MNIST digit or PyTorch's
/// `view(-1)` lays it out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Pixel rows (image height).
    pub rows: usize,
    /// Pixel columns (image width).
    pub cols: usize,
}

impl ImageShape {
    /// 28 × 28, the MNIST and Fashion-MNIST digit size.
    pub const MNIST: Self = Self::new(28, 28);

    /// An image of `rows × cols` pixels.
    pub const fn new(rows: usize, cols: usize) -> Self {
        Self { rows, cols }
    }

    /// The square shape with `len` pixels, if `len` is a perfect square (784 gives 28 × 28).
    /// For callers that learn `d` from a file: check here, because a vector that does not
    /// fit the shape is a contract violation for the figure functions.
    pub fn square(len: usize) -> Option<Self> {
        let side = (len as f64).sqrt().round() as usize;
        (side > 0 && side * side == len).then_some(Self::new(side, side))
    }

    /// The length a vector must have to be drawn in this shape: `rows * cols`.
    pub const fn len(self) -> usize {
        self.rows * self.cols
    }

    /// Whether the shape has no pixels.
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// How the colour limits of image panels are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelScale {
    /// Each panel spans its own `±max|v|`: every component's pattern is fully visible,
    /// whatever its magnitude (the papers' convention). Colours are then comparable within a
    /// panel, not across panels.
    PerPanel,
    /// All panels of the figure share the largest `±max|v|`: colours compare across panels.
    Shared,
}

/// How input vectors are drawn as pictures; shared by every figure made of image panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageParams {
    /// The picture each vector is.
    pub shape: ImageShape,
    /// Screen pixels per image pixel (an integer, so every image pixel is a crisp square).
    pub pixel_size: u32,
    /// How colour limits are chosen.
    pub scale: PanelScale,
}

impl Default for ImageParams {
    /// MNIST digits, 5 screen pixels per image pixel (140 px panels), per-panel limits.
    fn default() -> Self {
        Self {
            shape: ImageShape::MNIST,
            pixel_size: 5,
            scale: PanelScale::PerPanel,
        }
    }
}

impl ImageParams {
    /// The raster size of one panel in screen pixels.
    pub(crate) fn raster_size(&self) -> (u32, u32) {
        let px = |n: usize| {
            u32::try_from(n)
                .unwrap_or(u32::MAX)
                .saturating_mul(self.pixel_size)
        };
        (px(self.shape.cols), px(self.shape.rows))
    }

    /// Checks the contract shared by every image figure.
    #[track_caller]
    pub(crate) fn check(&self, vector_len: usize) {
        assert!(
            !self.shape.is_empty(),
            "image shape {}x{} has no pixels",
            self.shape.rows,
            self.shape.cols
        );
        assert!(self.pixel_size > 0, "pixel_size must be at least 1");
        assert_eq!(
            vector_len,
            self.shape.len(),
            "vectors of length {vector_len} cannot be drawn as {}x{} images (need {})",
            self.shape.rows,
            self.shape.cols,
            self.shape.len()
        );
    }
}

/// One panel's content: a picture (or an empty frame) and up to two lines above it.
pub(crate) struct Panel<'a> {
    /// `[rows, cols]` values and their colour limits; `None` draws an empty frame, for an
    /// output or sign that has no component to show.
    pub picture: Option<(ArrayView2<'a, f64>, ColorScale)>,
    /// First line above the picture.
    pub title: Option<&'a str>,
    /// Second line, smaller and grey.
    pub subtitle: Option<&'a str>,
    /// Grey text centred in the frame (for empty panels).
    pub note: Option<&'a str>,
}

/// Light grey for frames and placeholders: visible around a mostly white picture, quieter
/// than the data.
pub(crate) const FRAME: RGBColor = RGBColor(190, 190, 190);
/// Grey for secondary text.
pub(crate) const MUTED: RGBColor = RGBColor(110, 110, 110);

/// Height of the title band above a panel's picture, for one or two lines.
pub(crate) fn title_band(two_lines: bool) -> u32 {
    if two_lines { 50 } else { 28 }
}

/// Draws `panel` with the top-left of its title band at `at`; the picture starts `band`
/// pixels lower and has size `raster`, framed by a thin grey line.
pub(crate) fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sink: &RasterSink,
    at: (i32, i32),
    raster: (u32, u32),
    band: u32,
    panel: &Panel<'_>,
) -> Result<(), DrawError> {
    let centre = at.0 + raster.0 as i32 / 2;
    let bottom_of_band = at.1 + band as i32 - 7;
    match (panel.title, panel.subtitle) {
        (Some(title), None) => {
            draw_line_of_text(
                area,
                title,
                (centre, bottom_of_band),
                size::LABEL,
                font::INK,
            )?;
        }
        (title, Some(sub)) => {
            let first = (centre, bottom_of_band - 22);
            draw_line_of_text(area, title.unwrap_or(""), first, size::LABEL, font::INK)?;
            draw_line_of_text(area, sub, (centre, bottom_of_band), size::TICK, MUTED)?;
        }
        (None, None) => {}
    }
    let top = at.1 + band as i32;
    if let Some((values, scale)) = panel.picture {
        sink.draw(area, (at.0, top), raster, colorize(values, &scale, raster))?;
    }
    if let Some(note) = panel.note {
        let style = font::text(size::TICK)
            .color(&MUTED)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let middle = (centre, top + raster.1 as i32 / 2);
        area.draw(&Text::new(note.to_owned(), middle, style))?;
    }
    frame(area, (at.0, top), raster)
}

/// One line of centred text whose bottom is at `bottom`.
fn draw_line_of_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    (centre, bottom): (i32, i32),
    size: f64,
    color: RGBColor,
) -> Result<(), DrawError> {
    let style = font::text(size)
        .color(&color)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    area.draw(&Text::new(text.to_owned(), (centre, bottom), style))?;
    Ok(())
}

/// A one-pixel frame just outside the picture at `at` of size `raster`.
fn frame<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    raster: (u32, u32),
) -> Result<(), DrawError> {
    let (x0, y0) = (at.0 - 1, at.1 - 1);
    let (x1, y1) = (at.0 + raster.0 as i32, at.1 + raster.1 as i32);
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], FRAME.stroke_width(1)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_shapes_are_found_only_for_perfect_squares() {
        assert_eq!(ImageShape::square(784), Some(ImageShape::MNIST));
        assert_eq!(ImageShape::square(1), Some(ImageShape::new(1, 1)));
        assert_eq!(ImageShape::square(785), None);
        assert_eq!(ImageShape::square(0), None);
    }
}
