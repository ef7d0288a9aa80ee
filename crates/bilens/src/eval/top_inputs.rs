//! The dataset images that most activate each component of a decomposed image block: the way
//! to read a deep model's components, which live in the hidden stream and have no picture of
//! their own (docs/MATH.md section 10). A component `(λ, v)` of block `i` adds `λ (vᵀx_i)²` to
//! its output direction for an image whose stream before the block is `x_i`; the images with
//! the largest `(vᵀx_i)²` are the ones it responds to, whatever the sign of `λ`.

use std::path::{Path, PathBuf};

use bilens_io::{Layout, LayoutSpec, ResultsFile};
use bilens_plot::{ImageParams, Picture, PictureRow, gallery};
use ndarray::{Array1, Axis, s};
use serde::Serialize;

use super::Evaluated;
use super::files::{ensure_dir, num, write_csv, write_json};
use super::image::{image_shape, load_dataset};
use super::stack::ImageStack;
use crate::checkpoint::ModelFile;
use crate::error::{Arg, Error, Result};
use crate::figures::{MAX_OUTPUT_FIGURES, file_stems};
use crate::progress::Progress;

/// What [`top_inputs`] looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopInputsOptions {
    /// Components of each sign of `λ` per output (the strongest stored ones).
    pub components: usize,
    /// Images per component.
    pub images: usize,
    /// The model file, when it is not where the results say (their `model` entry).
    pub model: Option<PathBuf>,
    /// For a PyTorch checkpoint: the entry holding the state dict, when not the automatic
    /// choice ([`crate::ModelFile::open_key`]).
    pub key: Option<String>,
}

impl Default for TopInputsOptions {
    fn default() -> Self {
        Self {
            components: 3,
            images: 8,
            model: None,
            key: None,
        }
    }
}

/// One image and what a component makes of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopInput {
    /// Index in the test split.
    pub image: usize,
    /// Its label.
    pub label: u8,
    /// `vᵀx_i`.
    pub projection: f64,
    /// `λ (vᵀx_i)²`: what the component adds to the output for this image.
    pub activation: f64,
}

/// One component with the images that activate it most, strongest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComponentInputs {
    /// The output's label in the results.
    pub output: String,
    /// The component's index among the output's stored ones.
    pub component: usize,
    /// Its eigenvalue `λ`.
    pub eigenvalue: f64,
    /// The images, by decreasing `(vᵀx_i)²`.
    pub images: Vec<TopInput>,
}

/// Every output's strongest components and their top images.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopInputs {
    /// The model the stream was computed with.
    pub model: PathBuf,
    /// The block the results decompose (0 for a one-block model).
    pub block: usize,
    /// Images searched (the test split).
    pub searched: usize,
    /// The components, output by output, positive `λ` first.
    pub components: Vec<ComponentInputs>,
}

/// For the components stored in `results` (a decomposition of an image model's block), the
/// test images of the MNIST-style dataset in `data` that activate each most, written to `out`
/// as `top_inputs.csv`, `top_inputs.json` and one image grid per output (up to
/// [`MAX_OUTPUT_FIGURES`]): a row per component, the component itself first when it has a
/// picture (block 0, through the embedding).
///
/// The stream each block reads is computed by running the model's earlier blocks
/// ([`ImageStack`]). Errors name [`Arg::Results`] for results that are not an image block's
/// eigenvectors in its own space, [`Arg::Model`] for a model they do not belong to, and
/// [`Arg::Data`] for images of another size.
pub fn top_inputs(
    results: &Path,
    data: &Path,
    options: &TopInputsOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Evaluated<TopInputs>> {
    let bad_results = |problem: String, hint: &str| {
        Error::argument(Arg::Results, results.display().to_string(), problem, hint)
    };
    if options.components == 0 || options.images == 0 {
        return Err(Error::argument(
            Arg::K,
            "0",
            "must be at least 1",
            "show at least one component of each sign and one image for each, e.g. 3 and 8",
        ));
    }
    let r = ResultsFile::open(results)?;
    let meta = &r.meta().meta;
    if meta.layout != Layout::Image {
        return Err(bad_results(
            format!("they decompose a {} model", meta.layout),
            "top inputs are dataset images: decompose an image model's block",
        ));
    }
    if meta.input_basis.is_some() {
        return Err(bad_results(
            "their components are in a feature basis, not the block's own space".into(),
            "decompose the block without --input-basis",
        ));
    }
    let shape = r.shape();
    let Some(vectors) = r.eigenvectors::<f64>(0..shape.n_out)? else {
        return Err(bad_results(
            "they hold eigenvalues only".into(),
            "decompose again without --eigenvalues-only",
        ));
    };
    let values = r.eigenvalues::<f64>()?;
    let block = meta.layer.unwrap_or(0);
    let model = options
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(&meta.model));
    let spec = LayoutSpec::Image {
        residual: meta.residual,
        layer: None,
    };
    let stack = ModelFile::open_key(&model, options.key.as_deref())
        .and_then(|file| ImageStack::<f64>::open(&file.checkpoint(&spec)?))
        .map_err(|e| e.context(format!("cannot load the model of {}", results.display())))?;
    let set = load_dataset(data)?.test;
    let pixels = set.rows * set.cols;
    if stack.d_input() != pixels {
        return Err(Error::argument(
            Arg::Data,
            data.display().to_string(),
            format!(
                "the model reads {} inputs but the images have {pixels} pixels",
                stack.d_input()
            ),
            "use the dataset the model was trained on",
        ));
    }
    progress.note(&format!(
        "running {} of the {} blocks of {} on {} test images",
        block,
        stack.len(),
        model.display(),
        set.len()
    ));
    let mismatch = |width: String| {
        Error::argument(
            Arg::Model,
            model.display().to_string(),
            format!(
                "the results decompose block {block} with inputs of width {}, but the model \
                 has {} block{}{width}",
                shape.d_in,
                stack.len(),
                if stack.len() == 1 { "" } else { "s" },
            ),
            "pass the model the results were computed from (--model)",
        )
    };
    if block >= stack.len() {
        return Err(mismatch(String::new()));
    }
    let x = stack.stream(set.pixels::<f64>().view(), block);
    if x.ncols() != shape.d_in {
        return Err(mismatch(format!(" on a stream of width {}", x.ncols())));
    }

    let labels: Vec<String> = r
        .summary()
        .outputs
        .iter()
        .map(|o| o.label.clone())
        .collect();
    let mut components = Vec::new();
    for (o, label) in labels.iter().enumerate() {
        let v = vectors.index_axis(Axis(0), o);
        let projections = x.dot(&v.t());
        for j in strongest(values.row(o).to_owned(), options.components) {
            let lambda = values[[o, j]];
            let p = projections.column(j);
            let mut order: Vec<usize> = (0..p.len()).collect();
            order.sort_by(|&a, &b| p[b].abs().total_cmp(&p[a].abs()).then(a.cmp(&b)));
            components.push(ComponentInputs {
                output: label.clone(),
                component: j,
                eigenvalue: lambda,
                images: order
                    .into_iter()
                    .take(options.images)
                    .map(|n| TopInput {
                        image: n,
                        label: set.labels[n],
                        projection: p[n],
                        activation: lambda * p[n] * p[n],
                    })
                    .collect(),
            });
        }
    }
    let report = TopInputs {
        model,
        block,
        searched: set.len(),
        components,
    };

    ensure_dir(out)?;
    let mut files = vec![out.join("top_inputs.csv"), out.join("top_inputs.json")];
    let header: Vec<String> = [
        "output",
        "component",
        "eigenvalue",
        "rank",
        "image",
        "label",
        "projection",
        "activation",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = report
        .components
        .iter()
        .flat_map(|c| {
            c.images.iter().enumerate().map(move |(rank, t)| {
                vec![
                    c.output.clone(),
                    c.component.to_string(),
                    num(c.eigenvalue),
                    rank.to_string(),
                    t.image.to_string(),
                    t.label.to_string(),
                    num(t.projection),
                    num(t.activation),
                ]
            })
        })
        .collect();
    write_csv(&files[0], &header, &rows)?;
    write_json(&files[1], &report)?;

    // Grids: one per output, a row per component, the component's own picture first when it
    // has one (block 0 through the embedding).
    let images = set.pixels::<f64>();
    let pictures = r.input_eigenvectors::<f64>(0..shape.n_out)?;
    let params = ImageParams {
        shape: image_shape(&set),
        ..ImageParams::default()
    };
    let shown = labels.len().min(MAX_OUTPUT_FIGURES);
    let stems = file_stems(&labels[..shown]);
    let where_from = if pictures.is_some() {
        "the component in pixels, then"
    } else {
        "no picture of the component (it reads the hidden stream), only"
    };
    for (o, label) in labels.iter().enumerate().take(shown) {
        let rows: Vec<PictureRow<'_, f64>> = report
            .components
            .iter()
            .filter(|c| &c.output == label)
            .map(|c| {
                let own = pictures.as_ref().map(|p| Picture {
                    vector: p.slice(s![o, c.component, ..]),
                    title: format!("component {}", c.component),
                    subtitle: Some(format!("λ = {:+.4}", c.eigenvalue)),
                });
                PictureRow {
                    label: format!("c{} λ {:+.3}", c.component, c.eigenvalue),
                    pictures: own
                        .into_iter()
                        .chain(c.images.iter().map(|t| Picture {
                            vector: images.row(t.image),
                            title: format!("#{} ({})", t.image, t.label),
                            subtitle: Some(format!("{:+.3}", t.activation)),
                        }))
                        .collect(),
                }
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let fig = gallery(
            &out.join(format!("top_inputs_{}", stems[o])),
            &format!(
                "Block {block}, output {label}: {where_from} the test images with the largest \
                 λ(vᵀx)² (subtitles)"
            ),
            &rows,
            &params,
        )?;
        files.push(fig.png);
    }
    Ok(Evaluated { report, files })
}

/// The indices of the `n` largest positive eigenvalues (descending) followed by the `n` most
/// negative (ascending): the components that raise the output most and those that lower it.
fn strongest(values: Array1<f64>, n: usize) -> Vec<usize> {
    let mut pos: Vec<usize> = (0..values.len()).filter(|&j| values[j] > 0.0).collect();
    let mut neg: Vec<usize> = (0..values.len()).filter(|&j| values[j] < 0.0).collect();
    pos.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    neg.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    pos.into_iter()
        .take(n)
        .chain(neg.into_iter().take(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn strongest_takes_each_sign_by_size() {
        let v = array![0.5, -0.2, 0.9, -0.7, 0.0, 0.1];
        assert_eq!(strongest(v.clone(), 2), vec![2, 0, 3, 1]);
        assert_eq!(strongest(v, 5), vec![2, 0, 5, 3, 1]);
    }
}
