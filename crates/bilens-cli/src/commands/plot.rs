//! `bilens plot RESULTS --out DIR`: figures from a results directory alone.

use std::path::{Path, PathBuf};

use anyhow::Context;
use bilens_io::ResultsFile;
use bilens_plot::{
    GridParams, ImageParams, ImageShape, OverviewParams, SingularValueParams, SpectrumParams,
    eigenvector_grid, overview, singular_values, spectrum,
};
use ndarray::{Array1, Array2, Array3, Axis};

use crate::args::PlotArgs;
use crate::error::BadInput;
use crate::printer::Printer;

/// Outputs drawn one figure each; beyond this only the overview and spectra of the first
/// ones are drawn (a results directory can hold thousands of SAE features).
const MAX_OUTPUT_FIGURES: usize = 64;

pub fn run(args: &PlotArgs, printer: &Printer) -> anyhow::Result<()> {
    let results = ResultsFile::open(&args.results)
        .with_context(|| format!("cannot read results in {}", args.results.display()))?;
    let figures = plot_results(&results, &args.out, args.per_sign, printer)?;
    printer.data(format!(
        "wrote {} figures (PNG and SVG) into {}",
        figures.len(),
        args.out.display()
    ));
    Ok(())
}

/// Draws every figure a results directory supports into `out`; returns the PNG paths.
///
/// Per output (up to [`MAX_OUTPUT_FIGURES`]): its eigenvalue spectrum and, when the
/// eigenvectors are images (mapped to a 784-pixel input, or of square length), a grid of the
/// top positive and negative eigenvectors. Then one overview of every output's top positive
/// eigenvector.
pub fn plot_results(
    results: &ResultsFile,
    out: &Path,
    per_sign: usize,
    printer: &Printer,
) -> anyhow::Result<Vec<PathBuf>> {
    if per_sign == 0 {
        return Err(BadInput::new("--per-sign must be at least 1", "e.g. --per-sign 6").into());
    }
    let shape = results.shape();
    let eigenvalues = results.eigenvalues::<f32>()?;
    let labels: Vec<String> = results
        .summary()
        .outputs
        .iter()
        .map(|o| o.label.clone())
        .collect();
    // "class 3" for class outputs, "output 3" for any other direction.
    let noun = match results.metadata().get("outputs").map(String::as_str) {
        Some("classes") => "class",
        Some(kind) if kind.starts_with("hosvd") => "component",
        Some(kind) if kind.starts_with("tokens:") => "token",
        _ => "output",
    };
    let mut written = Vec::new();
    if let Some(sv) = results.tensor::<f32>(bilens_io::names::SINGULAR_VALUES)? {
        let sv = sv
            .into_dimensionality::<ndarray::Ix1>()
            .context("singular values are a vector")?;
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
        printer.note(format!(
            "drawing the first {shown} of {} outputs one by one",
            shape.n_out
        ));
    }
    // Images: the eigenvectors mapped to the model input when there is an embedding.
    let read = |range: std::ops::Range<usize>| -> anyhow::Result<Option<Array3<f32>>> {
        Ok(match shape.d_input {
            Some(_) => results.input_eigenvectors::<f32>(range)?,
            None => results.eigenvectors::<f32>(range)?,
        })
    };
    let image_len = shape.d_input.unwrap_or(shape.d_in);
    let image = ImageShape::square(image_len).filter(|_| shape.eigenvectors);
    if image.is_none() {
        printer.note(format!(
            "eigenvectors of length {image_len} are not square images: drawing spectra only"
        ));
    }
    let stems = file_stems(&labels[..shown]);
    let bar = printer.bar(shown as u64, "plot");
    // The overview needs only each output's top positive component.
    let mut tops: Vec<Array1<f32>> = Vec::new();
    let mut top_values: Vec<f32> = Vec::new();
    for (o, label) in labels.iter().enumerate().take(shown) {
        let fig = spectrum(
            &out.join(format!("spectrum_{}", stems[o])),
            &spectrum_title(noun, label, &results.summary().outputs[o]),
            eigenvalues.row(o),
            &SpectrumParams::default(),
        )?;
        written.push(fig.png);
        if let (Some(image), Some(vecs)) = (image, read(o..o + 1)?) {
            let vecs = vecs.index_axis_move(Axis(0), 0);
            let fig = eigenvector_grid(
                &out.join(format!("eigenvectors_{}", stems[o])),
                &format!("{noun} {label}: top eigenvectors"),
                eigenvalues.row(o),
                vecs.view(),
                &GridParams {
                    images: ImageParams {
                        shape: image,
                        ..ImageParams::default()
                    },
                    n_positive: per_sign,
                    n_negative: per_sign,
                },
            )?;
            written.push(fig.png);
            let row = eigenvalues.row(o);
            let best = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            tops.push(vecs.row(best).to_owned());
            top_values.push(row[best]);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(image) = image {
        let stacked = ndarray::stack(Axis(0), &tops.iter().map(|t| t.view()).collect::<Vec<_>>())
            .context("stacking eigenvectors for the overview")?
            .insert_axis(Axis(1));
        let values = Array2::from_shape_vec((top_values.len(), 1), top_values)
            .context("one top eigenvalue per output")?;
        let fig = overview(
            &out.join("overview"),
            &format!("top positive eigenvector of each {noun}"),
            &labels[..shown],
            values.view(),
            stacked.view(),
            &OverviewParams {
                images: ImageParams {
                    shape: image,
                    ..ImageParams::default()
                },
                ..OverviewParams::default()
            },
        )?;
        written.push(fig.png);
    }
    Ok(written)
}

/// The spectrum's title; for a language model labelled by tokens, the tokens at both ends of
/// the strongest component too (`λ₁ ⟷ ' the', ' a' | ' sat', ' ran'`).
fn spectrum_title(noun: &str, label: &str, summary: &bilens_io::OutputSummary) -> String {
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
fn file_stems(labels: &[String]) -> Vec<String> {
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
