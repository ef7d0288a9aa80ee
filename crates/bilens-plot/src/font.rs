//! The bundled font and the text styles every figure uses.
//!
//! plotters' `ab_glyph` backend reads no system fonts, so text renders identically on a
//! headless CI machine and a laptop, but only once a font has been registered. This module
//! owns that registration: the DejaVu Sans file is compiled into the crate and registered on
//! first use, under both the family name the figures ask for and plotters' own default
//! `"sans-serif"` (so that a label that forgets to name a font still renders).
//!
//! SVG output does not embed the font: `<text>` elements name the CSS family list
//! [`FAMILY`], which picks DejaVu Sans where installed and the viewer's sans-serif otherwise.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};

use plotters::style::{FontStyle, IntoFont, RGBColor, TextStyle, register_font};

/// DejaVu Sans 2.37, unmodified; provenance and licence in `fonts/README.md`.
static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The font family every text element names.
///
/// It doubles as a CSS font list in the SVG output (`font-family="DejaVu Sans, sans-serif"`);
/// for the raster backend it is only the key under which the bundled font is registered.
pub(crate) const FAMILY: &str = "DejaVu Sans, sans-serif";

/// Near-black for text and axes: softer than pure black, as in most journal figures.
pub(crate) const INK: RGBColor = RGBColor(34, 34, 34);

/// Font sizes in plotters units: the em (the SVG `font-size`) is `size / 1.24` pixels.
pub(crate) mod size {
    /// Figure titles (21 px em).
    pub(crate) const TITLE: f64 = 26.0;
    /// Panel titles, axis labels, legends (16 px em).
    pub(crate) const LABEL: f64 = 20.0;
    /// Tick labels, secondary text (13.7 px em).
    pub(crate) const TICK: f64 = 17.0;
}

/// The bundled font parsed for this crate's own PNG text renderer ([`crate::bitmap`]), or
/// `None` if the embedded file does not parse (ruled out by the tests).
pub(crate) fn face() -> Option<&'static FontRef<'static>> {
    static FACE: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
}

/// Registers the bundled font with plotters once per process (plotters measures text with
/// it to lay out charts); returns whether it is usable.
///
/// Registration can only fail if the embedded file is not a font, which the crate's tests
/// rule out; the caller still turns `false` into an error rather than panicking.
pub(crate) fn ensure_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
            && register_font("sans-serif", FontStyle::Normal, DEJAVU_SANS).is_ok()
    })
}

/// A text style in the bundled font at `size`, in [`INK`].
pub(crate) fn text(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&INK)
}

/// plotters' ratio between a text style's size and the CSS `font-size` the SVG backend
/// writes for it; the PNG renderer uses the same em so that both files lay out alike.
pub(crate) const SIZE_PER_EM: f64 = 1.24;

/// The ab_glyph scale (ascent-to-descent height in pixels) whose em is `size / 1.24` px.
fn scale(face: &FontRef<'_>, size: f64) -> PxScale {
    let em = (size / SIZE_PER_EM) as f32;
    PxScale::from(em * face.height_unscaled() / face.units_per_em().unwrap_or(2048.0))
}

/// The glyphs of `text` at `size`, positioned with kerning from a pen at the origin on the
/// baseline, and the total advance width in pixels.
pub(crate) fn layout(face: &FontRef<'_>, text: &str, size: f64) -> (Vec<Glyph>, f32) {
    let scale = scale(face, size);
    let scaled = face.as_scaled(scale);
    let mut glyphs = Vec::with_capacity(text.len());
    let mut pen = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            pen += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(scale, point(pen, 0.0)));
        pen += scaled.h_advance(id);
        previous = Some(id);
    }
    (glyphs, pen)
}

/// The width in pixels of `text` at `size` as the PNG renderer sets it, for sizing label
/// areas before anything is drawn. (SVG viewers use their own metrics; the same numbers
/// leave enough room there too.)
pub(crate) fn width(text: &str, size: f64) -> u32 {
    match face() {
        Some(face) => layout(face, text, size).1.ceil() as u32,
        None => (0.6 * size * text.chars().count() as f64).ceil() as u32, // a generous guess
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_loads_and_has_the_glyphs_figures_use() {
        assert!(ensure_registered());
        let face = face().expect("DejaVu Sans parses");
        for c in ['λ', 'σ', '−', '±', '|', 'A', '0'] {
            assert_ne!(face.glyph_id(c).0, 0, "no glyph for {c:?}");
        }
        assert!(width("λ = −1.50", size::LABEL) > width("λ", size::LABEL));
        assert_eq!(width("", size::LABEL), 0);
    }
}
