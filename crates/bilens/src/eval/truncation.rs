//! Test accuracy when every class logit is rebuilt from only k of its components, for
//! k = 0..K and k = all (docs/MATH.md section 7; the paper's truncation curves, Fig. 5B).
//!
//! Each class's full eigendecomposition is computed once, the test images are projected on
//! every eigenvector once (one GEMM per class), and the truncated logits for every k and rule
//! are running sums over the components ([`bilens_decomp::truncated_sums`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use bilens_decomp::{
    Par, Selection, SelectionOrder, activation_importance, argmax_rows, linear_part, truncated_sums,
};
use bilens_io::ImageDataset;
use bilens_plot::{LineChart, Reference, Series, line_chart};
use ndarray::{Array1, Array3, Axis, s};
use serde_json::json;

use super::Evaluated;
use super::files::{ensure_dir, num, write_csv, write_json};
use super::image::{
    ClassComponents, ImageEvaluation, ImageModel, layer_moment, pixel_moment, pixels,
};
use crate::error::{Arg, Error, Result};
use crate::progress::Progress;

/// A truncated model counts as recovered when its accuracy is within this many percentage
/// points of the full model's.
pub const RECOVERY_POINTS: f64 = 1.0;

/// Accuracy against k for every rule.
#[derive(Debug, Clone)]
pub struct Truncation {
    /// The rules, in order.
    pub rules: Vec<Selection>,
    /// The budgets: `0..=max_k`, then `d` (all components).
    pub ks: Vec<usize>,
    /// Components per class.
    pub d: usize,
    /// Test images.
    pub n: usize,
    /// Correct predictions `[rule][k]`.
    pub correct: Vec<Vec<usize>>,
    /// Correct predictions per true class `[rule][k][class]`.
    pub class_correct: Vec<Vec<Vec<usize>>>,
    /// Test images per class.
    pub class_totals: Vec<usize>,
    /// Mean number of components actually kept per class `[rule][k]` (`2k` for `paired`
    /// until a sign runs out).
    pub kept: Vec<Vec<f64>>,
    /// Correct predictions of the model itself (forward pass, f64).
    pub model_correct: usize,
    /// Images whose prediction at k = all equals the model's, per rule.
    pub same_as_model: Vec<usize>,
    /// Seconds the computation took.
    pub seconds: f64,
}

impl Truncation {
    /// Accuracy of rule `r` at budget index `j`.
    pub fn accuracy(&self, r: usize, j: usize) -> f64 {
        self.correct[r][j] as f64 / self.n as f64
    }

    /// The full model's accuracy.
    pub fn model_accuracy(&self) -> f64 {
        self.model_correct as f64 / self.n as f64
    }

    /// The smallest k (of `0..=max_k`) at which rule `r` is within [`RECOVERY_POINTS`] of the
    /// full model, if any.
    pub fn recovery_k(&self, r: usize) -> Option<usize> {
        let target = self.model_accuracy() - RECOVERY_POINTS / 100.0;
        (0..self.ks.len() - 1)
            .find(|&j| self.accuracy(r, j) >= target)
            .map(|j| self.ks[j])
    }

    /// The accuracy of rule `r` at budget `k` (`None` when `k` is not on the curve).
    pub fn accuracy_at(&self, r: usize, k: usize) -> Option<f64> {
        self.ks
            .iter()
            .position(|&x| x == k)
            .map(|j| self.accuracy(r, j))
    }
}

/// What a truncation evaluation computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncationOptions {
    /// Largest k on the curve (every k from 0 to this, plus k = all).
    pub max_k: usize,
    /// The selection rules, one curve each.
    pub rules: Vec<Selection>,
}

impl Default for TruncationOptions {
    fn default() -> Self {
        Self {
            max_k: 30,
            rules: vec![Selection::Abs, Selection::Paired, Selection::Activation],
        }
    }
}

/// The truncation curves of `eval`'s model on its test set: every class decomposed, the
/// accuracy computed for each rule and k, and `truncation.{csv,json}` and the figure
/// `truncation.{png,svg}` written into `out`.
pub fn truncation(
    eval: &ImageEvaluation,
    options: &TruncationOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Evaluated<Truncation>> {
    if options.rules.is_empty() {
        return Err(Error::argument(
            Arg::Rules,
            "",
            "selects no rule",
            "e.g. abs,paired",
        ));
    }
    let components = eval.components(progress)?;
    let report = compute(
        &eval.model,
        &components,
        &eval.data,
        options.max_k,
        &options.rules,
        progress,
    )?;
    let files = write(&report, out, &eval.model.path.display().to_string())?;
    Ok(Evaluated { report, files })
}

/// Truncated accuracies of `model` on `data.test` for budgets `0..=max_k` and all, for each
/// rule. The `activation` rule ranks components by their mean absolute activation on
/// `data.train`.
pub fn compute(
    model: &ImageModel,
    components: &ClassComponents,
    data: &ImageDataset,
    max_k: usize,
    rules: &[Selection],
    progress: &dyn Progress,
) -> Result<Truncation> {
    let start = Instant::now();
    let m = &model.model;
    let d = components.d();
    let n_classes = model.n_classes();
    let mut ks: Vec<usize> = (0..=max_k.min(d)).collect();
    ks.push(d);
    let test = pixels(&data.test);
    let labels: Vec<usize> = data.test.labels.iter().map(|&l| usize::from(l)).collect();
    let n = labels.len();
    let par = Par::rayon(0);
    let e = m.layer_input(test.view(), par);
    let base = linear_part(m, e.view(), par);
    let model_pred = argmax_rows(m.forward(test.view(), par).view());
    let moment = rules
        .contains(&Selection::Activation)
        .then(|| layer_moment(m, pixel_moment(&data.train).view()));

    // logits[rule] is [k, n, class]: the linear part plus each class's truncated sum.
    let mut logits: Vec<Array3<f64>> = rules
        .iter()
        .map(|_| {
            let mut l = Array3::zeros((ks.len(), n, n_classes));
            for mut slab in l.axis_iter_mut(Axis(0)) {
                slab.assign(&base);
            }
            l
        })
        .collect();
    let mut kept = vec![vec![0.0f64; ks.len()]; rules.len()];
    let task = progress.task("truncate", n_classes as u64);
    for c in 0..n_classes {
        let values = components.values.row(c);
        let vectors = components.vectors.slice(s![c, .., ..]);
        let importance = moment
            .as_ref()
            .map(|mo| activation_importance(values, vectors, mo.view(), par));
        let orders: Vec<SelectionOrder> = rules
            .iter()
            .map(|&r| SelectionOrder::new(values, r, importance.as_ref().map(|i| i.view())))
            .collect();
        let sums = truncated_sums(values, vectors, e.view(), &orders, &ks, par);
        for (r, sum) in sums.iter().enumerate() {
            for (j, &k) in ks.iter().enumerate() {
                let mut col = logits[r].slice_mut(s![j, .., c]);
                col += &sum.column(j);
                kept[r][j] += orders[r].kept(k) as f64 / n_classes as f64;
            }
        }
        task.advance(1);
    }
    drop(task);

    let mut class_totals = vec![0usize; n_classes];
    for &l in &labels {
        class_totals[l] += 1;
    }
    let mut correct = vec![vec![0usize; ks.len()]; rules.len()];
    let mut class_correct = vec![vec![vec![0usize; n_classes]; ks.len()]; rules.len()];
    let mut same_as_model = vec![0usize; rules.len()];
    for r in 0..rules.len() {
        for j in 0..ks.len() {
            let pred = argmax_rows(logits[r].index_axis(Axis(0), j));
            for (i, (&p, &l)) in pred.iter().zip(&labels).enumerate() {
                if p == l {
                    correct[r][j] += 1;
                    class_correct[r][j][l] += 1;
                }
                if j == ks.len() - 1 && p == model_pred[i] {
                    same_as_model[r] += 1;
                }
            }
        }
    }
    let model_correct = model_pred
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(Truncation {
        rules: rules.to_vec(),
        ks,
        d,
        n,
        correct,
        class_correct,
        class_totals,
        kept,
        model_correct,
        same_as_model,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Writes `truncation.csv`, `truncation.json` and the figure `truncation.{png,svg}` into
/// `out`; returns the paths (CSV, JSON, PNG).
pub fn write(t: &Truncation, out: &Path, model_label: &str) -> Result<Vec<PathBuf>> {
    ensure_dir(out)?;
    let n_classes = t.class_totals.len();
    let mut header: Vec<String> = ["rule", "k", "accuracy", "correct", "total", "components"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend((0..n_classes).map(|c| format!("class_{c}")));
    let mut rows = Vec::new();
    for (r, rule) in t.rules.iter().enumerate() {
        for (j, &k) in t.ks.iter().enumerate() {
            let mut row = vec![
                rule.name().to_string(),
                k.to_string(),
                num(t.accuracy(r, j)),
                t.correct[r][j].to_string(),
                t.n.to_string(),
                num(t.kept[r][j]),
            ];
            row.extend(
                (0..n_classes).map(|c| {
                    num(t.class_correct[r][j][c] as f64 / t.class_totals[c].max(1) as f64)
                }),
            );
            rows.push(row);
        }
    }
    let csv = out.join("truncation.csv");
    write_csv(&csv, &header, &rows)?;

    let last = t.ks.len() - 1;
    let per_rule: Vec<serde_json::Value> = t
        .rules
        .iter()
        .enumerate()
        .map(|(r, rule)| {
            json!({
                "rule": rule.name(),
                "accuracy": t.ks[..last].iter().enumerate().map(|(j, _)| t.accuracy(r, j)).collect::<Vec<_>>(),
                "accuracy_all": t.accuracy(r, last),
                "recovery_k": t.recovery_k(r),
                "same_predictions_as_model_at_all": t.same_as_model[r],
            })
        })
        .collect();
    let json_path = out.join("truncation.json");
    write_json(
        &json_path,
        &json!({
            "model": model_label,
            "test_images": t.n,
            "components_per_class": t.d,
            "k": t.ks[..last].to_vec(),
            "model_accuracy": t.model_accuracy(),
            "model_correct": t.model_correct,
            "recovery_within_points": RECOVERY_POINTS,
            "selection": {
                "abs": "the k components of largest |λ| per class",
                "paired": "the k most positive and the k most negative components per class (2k)",
                "activation": "the k components of largest mean |λ (vᵀe)²| over the training images, |λ| vᵀ S v with S = E[e eᵀ]",
            },
            "rules": per_rule,
            "seconds": t.seconds,
            "bilens_version": env!("CARGO_PKG_VERSION"),
        }),
    )?;

    let png = draw(
        t,
        &out.join("truncation"),
        "Accuracy of the truncated model",
    )?;
    Ok(vec![csv, json_path, png])
}

/// The curve figure: accuracy against k per rule, the full model as a dashed line.
pub fn draw(t: &Truncation, stem: &Path, title: &str) -> Result<PathBuf> {
    let last = t.ks.len() - 1;
    let x: Array1<f64> = t.ks[..last].iter().map(|&k| k as f64).collect();
    let ys: Vec<Array1<f64>> = (0..t.rules.len())
        .map(|r| (0..last).map(|j| 100.0 * t.accuracy(r, j)).collect())
        .collect();
    let names: Vec<String> = t.rules.iter().map(|r| r.name().to_string()).collect();
    let series: Vec<Series<'_, f64>> = ys
        .iter()
        .zip(&names)
        .map(|(y, name)| Series {
            name,
            x: x.view(),
            y: y.view(),
        })
        .collect();
    let reference_name = format!("full model ({:.2}%)", 100.0 * t.model_accuracy());
    let mut chart = LineChart::new(
        title,
        "components kept per class (k; paired keeps k of each sign)",
        "test accuracy (%)",
        &series,
    );
    chart.reference = Some(Reference {
        name: &reference_name,
        y: 100.0 * t.model_accuracy(),
    });
    chart.y_range = Some((0.0, 100.0));
    let fig = line_chart(stem, &chart)?;
    Ok(fig.png)
}
