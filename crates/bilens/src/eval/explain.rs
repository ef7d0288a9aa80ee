//! One test image explained from the weights (the paper's explanation panel): the image, the model's logits, and the
//! components `λ (vᵀe)²` that make up the explained class's logit, largest first, each drawn
//! as its pixel-space picture `Eᵀv`.
//!
//! The logit is exactly `linear part + Σ_k λ_k (v_kᵀe)²` over all components; the figure shows
//! the few that contribute most of each sign and the JSON lists them with the remainder.

use std::path::{Path, PathBuf};

use bilens_decomp::{Par, activations, argmax_rows, linear_part};
use bilens_io::ImageSet;
use bilens_plot::{ImageParams, Picture, PictureRow, bar_chart, gallery};
use ndarray::{Array1, Axis, s};
use serde_json::json;

use super::Evaluated;
use super::files::{ensure_dir, write_json};
use super::image::{ClassComponents, ImageEvaluation, ImageModel, image_shape};
use crate::error::{Arg, Error, Result};

/// One component's part in the explained logit.
#[derive(Debug, Clone)]
pub struct Contribution {
    /// Its index in the class's spectrum (0: largest `|λ|`); shown counting from 1.
    pub rank: usize,
    /// Its eigenvalue.
    pub lambda: f64,
    /// `vᵀe`: how much of the input lies along it.
    pub projection: f64,
    /// `λ (vᵀe)²`.
    pub value: f64,
}

/// The explanation of one image.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Index of the image in the test set.
    pub index: usize,
    /// Its label.
    pub label: usize,
    /// The model's prediction.
    pub predicted: usize,
    /// The class whose logit is explained.
    pub class: usize,
    /// The logits `[C]`.
    pub logits: Array1<f64>,
    /// The explained logit's part outside the eigendecomposition (linear path, biases).
    pub linear: f64,
    /// Every component's contribution, largest `|value|` first.
    pub contributions: Vec<Contribution>,
}

impl Explanation {
    /// The `top` largest contributions of one sign.
    pub fn of_sign(&self, positive: bool, top: usize) -> Vec<&Contribution> {
        self.contributions
            .iter()
            .filter(|c| {
                if positive {
                    c.value > 0.0
                } else {
                    c.value < 0.0
                }
            })
            .take(top)
            .collect()
    }
}

/// Which image to explain, and how much to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExplainOptions {
    /// Index of the test image.
    pub index: usize,
    /// The class whose logit is explained (default: the predicted class).
    pub class: Option<usize>,
    /// Components of each sign shown.
    pub top: usize,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        Self {
            index: 0,
            class: None,
            top: 5,
        }
    }
}

/// One test image of `eval` explained: every class decomposed, the image's logit split into
/// its components, and `explain_I.json`, the panel `explain_I.{png,svg}` and the logits
/// `explain_I_logits.{png,svg}` written into `out`.
pub fn explain(
    eval: &ImageEvaluation,
    options: &ExplainOptions,
    out: &Path,
) -> Result<Evaluated<Explanation>> {
    let n = eval.data.test.len();
    if options.index >= n {
        return Err(Error::argument(
            Arg::Index,
            options.index.to_string(),
            format!("is past the {n} test images of {}", eval.data_dir.display()),
            format!("use an index in 0..{n}"),
        ));
    }
    if let Some(c) = options.class
        && c >= eval.model.n_classes()
    {
        return Err(Error::argument(
            Arg::Class,
            c.to_string(),
            format!(
                "is not one of the model's {} classes",
                eval.model.n_classes()
            ),
            "omit the class to explain the predicted class",
        ));
    }
    let components = ClassComponents::of(&eval.model.model)?;
    let report = compute(
        &eval.model,
        &components,
        &eval.data.test,
        options.index,
        options.class,
    );
    let files = write(&report, &components, &eval.data.test, options.top, out, "")?;
    Ok(Evaluated { report, files })
}

/// Explains test image `index` for `class` (default: the predicted one).
pub fn compute(
    model: &ImageModel,
    components: &ClassComponents,
    set: &ImageSet,
    index: usize,
    class: Option<usize>,
) -> Explanation {
    let m = &model.model;
    let x = set
        .images
        .slice(s![index..index + 1, ..])
        .mapv(|p| f64::from(p) * (1.0 / 255.0));
    let logits = m.forward(x.view(), Par::Seq).row(0).to_owned();
    let predicted = argmax_rows(logits.view().insert_axis(Axis(0)))[0];
    let class = class.unwrap_or(predicted);
    let e = m.layer_input(x.view(), Par::Seq);
    let linear = linear_part(m, e.view(), Par::Seq)[(0, class)];
    let values = components.values.row(class);
    let vectors = components.vectors.slice(s![class, .., ..]);
    let act = activations(values, vectors, e.view(), Par::Seq);
    let proj = vectors.dot(&e.row(0));
    let mut contributions: Vec<Contribution> = (0..values.len())
        .map(|k| Contribution {
            rank: k,
            lambda: values[k],
            projection: proj[k],
            value: act[(0, k)],
        })
        .collect();
    contributions.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
    Explanation {
        index,
        label: usize::from(set.labels[index]),
        predicted,
        class,
        logits,
        linear,
        contributions,
    }
}

/// Writes `explain_<index>.json`, the panel `explain_<index>.{png,svg}` and the logits
/// `explain_<index>_logits.{png,svg}` into `out`. `labels_note` is appended to titles (e.g.
/// the dataset's name).
pub fn write(
    e: &Explanation,
    components: &ClassComponents,
    set: &ImageSet,
    top: usize,
    out: &Path,
    labels_note: &str,
) -> Result<Vec<PathBuf>> {
    ensure_dir(out)?;
    let stem = format!("explain_{}", e.index);
    let quad: f64 = e.contributions.iter().map(|c| c.value).sum();
    let json_path = out.join(format!("{stem}.json"));
    write_json(
        &json_path,
        &json!({
            "index": e.index,
            "label": e.label,
            "predicted": e.predicted,
            "class": e.class,
            "logits": e.logits.to_vec(),
            "logit": e.logits[e.class],
            "linear_part": e.linear,
            "sum_of_components": quad,
            "reconstruction_error": e.logits[e.class] - e.linear - quad,
            "rank": "1 = largest |λ| of the class",
            "top_components": e.contributions.iter().take(4 * top.max(1)).map(|c| json!({
                "rank": c.rank + 1,
                "eigenvalue": c.lambda,
                "projection": c.projection,
                "contribution": c.value,
            })).collect::<Vec<_>>(),
        }),
    )?;

    let x = set
        .images
        .row(e.index)
        .mapv(|p| f64::from(p) * (1.0 / 255.0));
    let pictures = |positive: bool| -> Vec<(Array1<f64>, String, String)> {
        e.of_sign(positive, top)
            .into_iter()
            .map(|c| {
                (
                    components.pixels.slice(s![e.class, c.rank, ..]).to_owned(),
                    format!("{:+.2}", c.value),
                    format!("#{} λ={:+.3}", c.rank + 1, c.lambda),
                )
            })
            .collect()
    };
    let (pos, neg) = (pictures(true), pictures(false));
    let input_row = PictureRow {
        label: "input".into(),
        pictures: vec![Picture {
            vector: x.view(),
            title: format!("test image {}", e.index),
            subtitle: Some(format!("label {}, predicted {}", e.label, e.predicted)),
        }],
    };
    let params = ImageParams {
        shape: image_shape(set),
        ..ImageParams::default()
    };
    let panel = gallery(
        &out.join(&stem),
        &format!(
            "Why class {} scores {:.2}{labels_note}: components λ(vᵀx)² by size",
            e.class, e.logits[e.class]
        ),
        &[
            input_row,
            picture_row("raise", &pos),
            picture_row("lower", &neg),
        ],
        &params,
    )?
    .png;
    let labels: Vec<String> = (0..e.logits.len()).map(|c| c.to_string()).collect();
    let bars = bar_chart(
        &out.join(format!("{stem}_logits")),
        &format!(
            "Logits of test image {} (predicted {})",
            e.index, e.predicted
        ),
        "class",
        "logit",
        &labels,
        e.logits.view(),
        Some(e.predicted),
    )?
    .png;
    Ok(vec![json_path, panel, bars])
}

/// A gallery row of `(picture, title, subtitle)` items.
fn picture_row<'a>(label: &str, items: &'a [(Array1<f64>, String, String)]) -> PictureRow<'a, f64> {
    PictureRow {
        label: label.to_string(),
        pictures: items
            .iter()
            .map(|(v, t, st)| Picture {
                vector: v.view(),
                title: t.clone(),
                subtitle: Some(st.clone()),
            })
            .collect(),
    }
}
