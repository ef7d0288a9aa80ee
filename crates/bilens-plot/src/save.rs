//! Writing a figure as `<stem>.png` and `<stem>.svg`: the one place that touches files.
//!
//! A figure is drawn twice from the same code, once on plotters' bitmap backend (with this
//! crate's text renderer, [`PngCanvas`]) and once on its SVG backend, both into memory; only when both renderings succeeded are the files
//! written, each to a temporary name in the target directory and then renamed over the
//! final name. A failure therefore leaves the previous figure or none, never half a file
//! (each of the two files is replaced atomically; a crash between the two renames can leave
//! a new PNG beside an old SVG).
//!
//! Images (eigenvector panels, heatmaps) are rasters. On the bitmap backend they are blitted;
//! plotters' SVG backend would draw them as one `<rect>` per pixel (hundreds of megabytes for
//! a large heatmap), so in SVG they become one embedded PNG `<image>` each: the drawing code
//! leaves a marker `<text>` where the image goes ([`RasterSink`]) and [`save`] swaps it for
//! the image after rendering, keeping the drawing order (frames and axes stay on top).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::{DrawingArea, DrawingBackend, IntoDrawingArea, SVGBackend};

use crate::bitmap::PngCanvas;
use crate::error::PlotError;
use crate::font;

/// The two files a figure function wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedFigure {
    /// `<stem>.png`: the raster version, for viewing and slides.
    pub png: PathBuf,
    /// `<stem>.svg`: the vector version, for papers (text stays text).
    pub svg: PathBuf,
}

/// A failure inside a drawing routine, before the file it belongs to is known.
#[derive(Debug)]
pub(crate) struct DrawError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

/// Something [`save`] can draw: a fixed pixel size and a drawing routine that works on any
/// plotters backend.
pub(crate) trait Figure {
    /// Width and height in pixels (the SVG uses the same numbers as user units).
    fn size(&self) -> (u32, u32);

    /// Draws the whole figure onto `root`, routing rasters through `sink`.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        sink: &RasterSink,
    ) -> Result<(), DrawError>;
}

/// Where rasters go: blitted on the bitmap backend, collected for embedding in SVG.
#[derive(Debug)]
pub(crate) enum RasterSink {
    /// Blit the pixels (bitmap backend).
    Blit,
    /// Leave a marker and keep the `<image>` element that replaces it (SVG backend).
    Embed(std::cell::RefCell<Vec<String>>),
}

/// Starts and ends every raster marker; a private-use character cannot clash with labels.
const MARKER: char = '\u{E000}';

impl RasterSink {
    /// Draws an RGB raster of `size` pixels with its top-left corner at `at` (pixels,
    /// relative to `area`).
    ///
    /// # Panics
    /// If `rgb` does not hold `3 * width * height` bytes (a bug in this crate).
    pub(crate) fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        at: (i32, i32),
        size: (u32, u32),
        rgb: Vec<u8>,
    ) -> Result<(), DrawError> {
        assert_eq!(
            rgb.len(),
            3 * size.0 as usize * size.1 as usize,
            "raster size"
        );
        match self {
            RasterSink::Blit => {
                let bitmap = plotters::element::BitMapElement::with_owned_buffer(at, size, rgb)
                    .ok_or_else(|| DrawError("raster buffer has the wrong size".into()))?;
                area.draw(&bitmap)?;
            }
            RasterSink::Embed(images) => {
                let png = encode_png(&rgb, size).map_err(DrawError)?;
                let (base_x, base_y) = area.get_base_pixel();
                let (x, y) = (base_x + at.0, base_y + at.1);
                let (w, h) = size;
                let mut images = images.borrow_mut();
                images.push(format!(
                    "<image x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" \
                     preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" \
                     href=\"data:image/png;base64,{}\"/>\n",
                    base64(&png)
                ));
                let marker = format!("{MARKER}{}{MARKER}", images.len() - 1);
                area.draw_text(&marker, &font::text(1.0), at)?;
            }
        }
        Ok(())
    }
}

/// Draws `figure` and writes `<stem>.png` and `<stem>.svg`, creating the parent directory.
///
/// The extensions are appended, not substituted: `figs/class.3` gives `figs/class.3.png`.
#[track_caller]
pub(crate) fn save(stem: &Path, figure: &impl Figure) -> Result<SavedFigure, PlotError> {
    assert!(
        stem.file_name().is_some(),
        "figure stem {} has no file name",
        stem.display()
    );
    let png_path = with_suffix(stem, ".png");
    let svg_path = with_suffix(stem, ".svg");
    if !font::ensure_registered() || font::face().is_none() {
        return Err(PlotError::Font { path: png_path });
    }
    let png = render_png(figure).map_err(|DrawError(message)| PlotError::Draw {
        path: png_path.clone(),
        message,
    })?;
    let svg = render_svg(figure).map_err(|DrawError(message)| PlotError::Draw {
        path: svg_path.clone(),
        message,
    })?;
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|source| PlotError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    write_atomic(&png_path, &png)?;
    write_atomic(&svg_path, svg.as_bytes())?;
    Ok(SavedFigure {
        png: png_path,
        svg: svg_path,
    })
}

fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut name = stem.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn render_png(figure: &impl Figure) -> Result<Vec<u8>, DrawError> {
    let (w, h) = figure.size();
    let face = font::face().ok_or_else(|| DrawError("the bundled font does not parse".into()))?;
    let mut rgb = vec![0u8; 3 * w as usize * h as usize];
    {
        let root = PngCanvas::new(&mut rgb, (w, h), face).into_drawing_area();
        figure.draw(&root, &RasterSink::Blit)?;
        root.present()?;
    }
    encode_png(&rgb, (w, h)).map_err(DrawError)
}

fn render_svg(figure: &impl Figure) -> Result<String, DrawError> {
    let mut svg = String::new();
    let sink = RasterSink::Embed(Default::default());
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        figure.draw(&root, &sink)?;
        root.present()?;
    }
    let RasterSink::Embed(images) = sink else {
        unreachable!("the sink was built as Embed")
    };
    replace_markers(&svg, &images.into_inner())
}

/// Replaces the marker `<text>` element of raster `i` by `images[i]`, in document order.
fn replace_markers(svg: &str, images: &[String]) -> Result<String, DrawError> {
    let mut out = String::with_capacity(svg.len() + images.iter().map(String::len).sum::<usize>());
    let mut rest = svg;
    for (i, image) in images.iter().enumerate() {
        let marker = format!("{MARKER}{i}{MARKER}");
        let missing = || DrawError(format!("SVG raster marker {i} not found"));
        let at = rest.find(&marker).ok_or_else(missing)?;
        let start = rest[..at].rfind("<text").ok_or_else(missing)?;
        let end = at + rest[at..].find("</text>").ok_or_else(missing)? + "</text>".len();
        out.push_str(&rest[..start]);
        out.push_str(image);
        rest = rest[end..].strip_prefix('\n').unwrap_or(&rest[end..]);
    }
    out.push_str(rest);
    Ok(out)
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(rgb, w, h, image::ColorType::Rgb8)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(png)
}

/// Standard base64 with padding (RFC 4648), for `data:` URIs.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        PlotError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn markers_are_replaced_in_order_and_missing_ones_reported() {
        let svg = format!(
            "<svg>\n<text x=\"1\">{MARKER}0{MARKER}\n</text>\n<rect/>\n<text>{MARKER}1{MARKER}\n</text>\n</svg>\n"
        );
        let out = replace_markers(&svg, &["<A/>\n".into(), "<B/>\n".into()]).unwrap();
        assert_eq!(out, "<svg>\n<A/>\n<rect/>\n<B/>\n</svg>\n");
        assert!(replace_markers(&svg, &["a".into(), "b".into(), "c".into()]).is_err());
    }

    #[test]
    fn suffix_is_appended_not_substituted() {
        assert_eq!(
            with_suffix(Path::new("figs/class.3"), ".png"),
            PathBuf::from("figs/class.3.png")
        );
    }
}
