//! The raster backend: plotters' bitmap backend with text set properly.
//!
//! plotters 0.3.7 draws `ab_glyph` text without each glyph's left side bearing and at whole
//! pixel pen positions, so glyphs with a wide bearing (`.`, `=`, `1`) sit too far left and
//! spacing looks uneven (`λ= 1`, a squeezed `3.21`). This wrapper
//! delegates every shape to [`BitMapBackend`] and sets text itself: glyphs at their
//! sub-pixel pen positions with kerning, the same em size and the same anchor rules as the
//! SVG backend (`font-size = size / 1.24`, baseline `0.76 em` below a top anchor, `0.5 ex`
//! below a centre anchor and above a bottom anchor), so PNG and SVG lay out alike.

use ab_glyph::{Font, FontRef};
use plotters::prelude::{BitMapBackend, DrawingBackend};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use crate::font;

/// Baseline below a top anchor, in em (the SVG backend's `dy="0.76em"`).
const TOP_TO_BASELINE: f32 = 0.76;
/// Half the x-height of DejaVu Sans (1120 / 2048 em): the SVG backend's `0.5ex`.
const HALF_EX: f32 = 0.5 * 1120.0 / 2048.0;

/// [`BitMapBackend`] with this crate's text renderer.
pub(crate) struct PngCanvas<'a> {
    inner: BitMapBackend<'a>,
    face: &'static FontRef<'static>,
}

impl<'a> PngCanvas<'a> {
    /// Draws into `rgb` (`3 * w * h` bytes) with the bundled font.
    pub(crate) fn new(
        rgb: &'a mut [u8],
        size: (u32, u32),
        face: &'static FontRef<'static>,
    ) -> Self {
        Self {
            inner: BitMapBackend::with_buffer(rgb, size),
            face,
        }
    }
}

type Error = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

impl DrawingBackend for PngCanvas<'_> {
    type ErrorType = Error;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Error>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Error>> {
        let height = (style.size() / font::SIZE_PER_EM).ceil() as u32;
        Ok((font::width(text, style.size()), height))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Error>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, width) = font::layout(self.face, text, style.size());
        let em = (style.size() / font::SIZE_PER_EM) as f32;
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let baseline = match anchor.v_pos {
            VPos::Top => TOP_TO_BASELINE * em,
            VPos::Center => HALF_EX * em,
            VPos::Bottom => -HALF_EX * em,
        };
        let transform = style.transform();
        let mut result = Ok(());
        for mut glyph in glyphs {
            glyph.position.x += dx;
            glyph.position.y += baseline;
            let Some(outline) = self.face.outline_glyph(glyph) else {
                continue; // spaces have no outline
            };
            let bounds = outline.px_bounds();
            let inner = &mut self.inner;
            outline.draw(|x, y, coverage| {
                let (x, y) = transform.transform(
                    bounds.min.x as i32 + x as i32,
                    bounds.min.y as i32 + y as i32,
                );
                let drawn =
                    inner.draw_pixel((pos.0 + x, pos.1 + y), color.mix(f64::from(coverage)));
                if result.is_ok() {
                    result = drawn;
                }
            });
        }
        result
    }
}
