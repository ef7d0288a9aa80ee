//! Figures from a results directory alone: a spectrum per output, a grid of the strongest
//! eigenvectors of each sign where they are images, and an overview of every output's top
//! positive eigenvector. Results are the only input, so figures can be redrawn without
//! recomputing.

use std::path::{Path, PathBuf};

use bilens_explore::ImageShape as PictureShape;
use bilens_io::{Layout, OutputSummary, ResultsFile, names};
use bilens_plot::{
    ChannelGrid, GridParams, ImageParams, ImageShape, OverviewParams, SingularValueParams,
    SpectrumParams, eigenvector_grid, overview, singular_values, spectrum,
};
use ndarray::{Array1, Array2, Axis, Ix1};

use crate::error::{Arg, Error, Result};
use crate::progress::Progress;

/// Outputs drawn one figure each; beyond this only the first ones are drawn (a results
/// directory can hold thousands of SAE features).
pub const MAX_OUTPUT_FIGURES: usize = 64;

/// What to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FigureOptions {
    /// Eigenvectors of each sign drawn per output.
    pub per_sign: usize,
    /// Draw every eigenvector as a picture of this shape (the explorer's `CxHxW`), its
    /// channels side by side; `None` draws square single-channel pictures where the length
    /// is a square, spectra only otherwise.
    pub image_shape: Option<PictureShape>,
}

impl Default for FigureOptions {
    fn default() -> Self {
        Self {
            per_sign: 6,
            image_shape: None,
        }
    }
}

/// Draws every figure `results` supports into `out` (PNG and SVG); returns the PNG paths.
///
/// Per output (up to [`MAX_OUTPUT_FIGURES`]): its eigenvalue spectrum and, when the
/// eigenvectors are images (mapped to the model's input, or of square length), a grid of the
/// top positive and negative eigenvectors; then one overview of every output's top positive
/// eigenvector, and the singular values of a HOSVD.
pub fn draw_results(
    results: &ResultsFile,
    out: &Path,
    options: &FigureOptions,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>> {
    if options.per_sign == 0 {
        return Err(Error::argument(
            Arg::PerSign,
            "0",
            "must be at least 1",
            "draw at least one eigenvector of each sign, e.g. 6",
        ));
    }
    let shape = results.shape();
    let eigenvalues = results.eigenvalues::<f32>()?;
    let summaries = &results.summary().outputs;
    let labels: Vec<String> = summaries.iter().map(|o| o.label.clone()).collect();
    let noun = results
        .meta()
        .meta
        .outputs
        .as_ref()
        .map_or("output", |o| o.noun());
    let mut written = Vec::new();
    if let Some(sv) = results.tensor::<f32>(names::SINGULAR_VALUES)? {
        let sv = sv
            .into_dimensionality::<Ix1>()
            .expect("the results reader checked the singular values are a vector");
        let fig = singular_values(
            &out.join("singular_values"),
            "HOSVD: singular values of the interaction tensor",
            sv.view(),
            &SingularValueParams::default(),
        )?;
        written.push(fig.png);
    }
    let shown = shape.n_out.min(MAX_OUTPUT_FIGURES);
    if shown < shape.n_out {
        progress.note(&format!(
            "drawing the first {shown} of {} outputs one by one",
            shape.n_out
        ));
    }
    // Images: the eigenvectors mapped to the model input when there is an embedding.
    let image_len = shape.d_input.unwrap_or(shape.d_in);
    // A deep image model's block past the first reads the hidden stream: its eigenvectors
    // have no picture, whatever their length (a square width would draw noise as an image).
    let meta = &results.meta().meta;
    let hidden_block = meta
        .layer
        .filter(|&l| meta.layout == Layout::Image && l > 0 && shape.d_input.is_none());
    // A shape given is drawn whatever the layer (a bilinear head over conv features reads a
    // C×H×W map); otherwise only square pixel spaces are.
    let channels = match options.image_shape {
        Some(s) if s.len() != image_len => {
            return Err(Error::argument(
                Arg::ImageShape,
                format!("{}x{}x{}", s.channels, s.height, s.width),
                format!(
                    "holds {} values, but the eigenvectors have {image_len}",
                    s.len()
                ),
                format!("give channels × height × width = {image_len}, or no image shape"),
            ));
        }
        Some(s) => Some(ChannelGrid {
            channels: s.channels,
            height: s.height,
            width: s.width,
        }),
        None => ImageShape::square(image_len)
            .filter(|_| hidden_block.is_none())
            .map(|s| ChannelGrid {
                channels: 1,
                height: s.rows,
                width: s.cols,
            }),
    };
    let image = channels
        .map(|g| g.tiled_shape())
        .filter(|_| shape.eigenvectors);
    // Several channels are tiled into one picture; one channel is drawn as it is.
    let tile = |vecs: Array2<f32>| match channels {
        Some(g) if g.channels > 1 => g.tile(vecs.view()),
        _ => vecs,
    };
    if let (None, Some(l)) = (options.image_shape, hidden_block) {
        progress.note(&format!(
            "block {l} reads the hidden stream, not pixels: its eigenvectors have no picture, \
             drawing spectra only (`bilens eval top-inputs` shows the images that activate \
             each component)"
        ));
    } else if image.is_none() {
        progress.note(&format!(
            "eigenvectors of length {image_len} are not square images: drawing spectra only"
        ));
    }
    let stems = file_stems(&labels[..shown]);
    let task = progress.task("plot", shown as u64);
    // The overview needs only each output's top positive component.
    let mut tops: Vec<Array1<f32>> = Vec::new();
    let mut top_values: Vec<f32> = Vec::new();
    for (o, label) in labels.iter().enumerate().take(shown) {
        let fig = spectrum(
            &out.join(format!("spectrum_{}", stems[o])),
            &spectrum_title(noun, label, &summaries[o]),
            eigenvalues.row(o),
            &SpectrumParams::default(),
        )?;
        written.push(fig.png);
        let vecs = match (image, shape.d_input) {
            (None, _) => None,
            (Some(_), Some(_)) => results.input_eigenvectors::<f32>(o..o + 1)?,
            (Some(_), None) => results.eigenvectors::<f32>(o..o + 1)?,
        };
        if let (Some(image), Some(vecs)) = (image, vecs) {
            let vecs = tile(vecs.index_axis_move(Axis(0), 0));
            let fig = eigenvector_grid(
                &out.join(format!("eigenvectors_{}", stems[o])),
                &format!("{noun} {label}: top eigenvectors"),
                eigenvalues.row(o),
                vecs.view(),
                &GridParams {
                    images: image_params(image),
                    n_positive: options.per_sign,
                    n_negative: options.per_sign,
                },
            )?;
            written.push(fig.png);
            let row = eigenvalues.row(o);
            let best = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            tops.push(vecs.row(best).to_owned());
            top_values.push(row[best]);
        }
        task.advance(1);
    }
    drop(task);
    if let (Some(image), false) = (image, tops.is_empty()) {
        let views: Vec<_> = tops.iter().map(|t| t.view()).collect();
        let stacked = ndarray::stack(Axis(0), &views)
            .expect("every top eigenvector has the image's length")
            .insert_axis(Axis(1));
        let values = Array2::from_shape_vec((top_values.len(), 1), top_values)
            .expect("one top eigenvalue per output");
        let fig = overview(
            &out.join("overview"),
            &format!("top positive eigenvector of each {noun}"),
            &labels[..shown],
            values.view(),
            stacked.view(),
            &OverviewParams {
                images: image_params(image),
                ..OverviewParams::default()
            },
        )?;
        written.push(fig.png);
    }
    Ok(written)
}

/// Screen pixels per image pixel: the default (5), or more for small pictures (a 5×5
/// eigenfilter) so that every panel is at least 100 pixels wide and its title fits.
fn image_params(shape: ImageShape) -> ImageParams {
    let default = ImageParams::default();
    let side = shape.rows.max(shape.cols).max(1);
    let side = u32::try_from(side).unwrap_or(u32::MAX);
    ImageParams {
        shape,
        pixel_size: default.pixel_size.max(100_u32.div_ceil(side)),
        ..default
    }
}

/// The spectrum's title; for a language model labelled by tokens, the tokens at both ends of
/// the strongest component too (`λ₁ ⟷ ' the', ' a' | ' sat', ' ran'`).
fn spectrum_title(noun: &str, label: &str, summary: &OutputSummary) -> String {
    let mut title = if noun == "token" {
        format!("{noun} '{label}': eigenvalue spectrum")
    } else {
        format!("{noun} {label}: eigenvalue spectrum")
    };
    if let Some(first) = summary.component_tokens.as_ref().and_then(|c| c.first()) {
        let ends = |t: &[bilens_io::TokenScore]| {
            t.iter()
                .take(2)
                .map(|t| format!("'{}'", t.token))
                .collect::<Vec<_>>()
                .join(", ")
        };
        title.push_str(&format!(
            "; λ₁ ⟷ {} | {}",
            ends(&first.top),
            ends(&first.bottom)
        ));
    }
    title
}

/// A file name stem per label: the label made safe, with the output index appended where two
/// labels would give the same name (token strings such as ` the` and `.the` both become
/// `_the`).
pub fn file_stems(labels: &[String]) -> Vec<String> {
    let safe: Vec<String> = labels.iter().map(|l| file_safe(l)).collect();
    safe.iter()
        .enumerate()
        .map(|(o, s)| {
            if safe.iter().filter(|t| *t == s).count() > 1 {
                format!("{s}_{o}")
            } else {
                s.clone()
            }
        })
        .collect()
}

/// A label made safe for a file name.
fn file_safe(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
