//! Do independently trained models find the same eigenvectors? (The paper's Fig. 5A across seeds and Fig. 20 across sizes.)
//!
//! For every pair of models and every class, the top eigenvectors of one sign are compared in
//! pixel space (`Eᵀv`, so models of different widths are comparable) by `|cos|`, both rank by
//! rank and after the best one-to-one matching ([`bilens_decomp::matched_similarity`]), and
//! averaged over classes and pairs per rank.

use std::path::{Path, PathBuf};

use bilens_decomp::{matched_similarity, ranked_similarity};
use bilens_plot::{LineChart, Series, line_chart};
use ndarray::{Array1, Array3};
use serde_json::json;

use bilens_decomp::Sign;

use super::Evaluated;
use super::files::{ensure_dir, num, write_csv, write_json};
use super::image::{ClassComponents, ImageModel};
use crate::checkpoint::Checkpoint;
use crate::error::{Arg, Error, Result};
use crate::progress::Progress;

/// Similarities of the top components between every pair of a set of models.
#[derive(Debug, Clone)]
pub struct Consistency {
    /// Labels of the models (their paths).
    pub models: Vec<String>,
    /// The pairs compared, `(a, b)` with `a < b`.
    pub pairs: Vec<(usize, usize)>,
    /// `|cos|` after matching, `[pair, class, rank]` (rank of model `a`'s component).
    pub matched: Array3<f64>,
    /// `|cos|` rank by rank, `[pair, class, rank]`; NaN where a model has fewer components of
    /// the sign.
    pub ranked: Array3<f64>,
    /// Which sign was compared.
    pub positive: bool,
}

impl Consistency {
    /// Mean over pairs and classes per rank of `m` (`matched` or `ranked`), NaNs left out.
    pub fn mean_by_rank(m: &Array3<f64>) -> Vec<f64> {
        let (_, _, k) = m.dim();
        (0..k)
            .map(|r| {
                let v: Vec<f64> = m
                    .slice(ndarray::s![.., .., r])
                    .iter()
                    .copied()
                    .filter(|x| x.is_finite())
                    .collect();
                if v.is_empty() {
                    f64::NAN
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            })
            .collect()
    }

    /// Mean of `m` over the first `ranks` ranks (all pairs and classes).
    pub fn mean_top(m: &Array3<f64>, ranks: usize) -> f64 {
        let by_rank = Self::mean_by_rank(m);
        let v: Vec<f64> = by_rank
            .into_iter()
            .take(ranks)
            .filter(|x| x.is_finite())
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }
}

/// What a consistency evaluation compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsistencyOptions {
    /// Top eigenvectors compared per class.
    pub top: usize,
    /// Which eigenvectors.
    pub sign: Sign,
}

impl Default for ConsistencyOptions {
    fn default() -> Self {
        Self {
            top: 20,
            sign: Sign::Positive,
        }
    }
}

/// How alike the top eigenvectors of the image models `models` are (each opened with its
/// layout): every class of every model decomposed, every pair compared, and
/// `consistency.{csv,json}` and the figure `consistency.{png,svg}` written into `out`.
pub fn consistency(
    models: &[Checkpoint],
    options: &ConsistencyOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Evaluated<Consistency>> {
    if options.top == 0 {
        return Err(Error::argument(
            Arg::Top,
            "0",
            "must be at least 1",
            "e.g. 20",
        ));
    }
    let models = models
        .iter()
        .map(ImageModel::open)
        .collect::<Result<Vec<_>>>()?;
    let task = progress.task("decompose", models.len() as u64);
    let mut comps = Vec::new();
    for m in &models {
        comps.push(ClassComponents::of(&m.model)?);
        task.advance(1);
    }
    drop(task);
    let pairs: Vec<(usize, usize)> = (0..models.len())
        .flat_map(|a| (a + 1..models.len()).map(move |b| (a, b)))
        .collect();
    let labels: Vec<String> = models
        .iter()
        .map(|m| m.path.display().to_string())
        .collect();
    let refs: Vec<(&ImageModel, &ClassComponents)> = models.iter().zip(&comps).collect();
    let report = compute(
        &refs,
        &labels,
        &pairs,
        options.top,
        options.sign == Sign::Positive,
    )?;
    let files = write(&report, out, "Consistency of the top eigenvectors")?;
    Ok(Evaluated { report, files })
}

/// Compares the listed pairs of models (indices into `models`).
pub fn compute(
    models: &[(&ImageModel, &ClassComponents)],
    labels: &[String],
    pairs: &[(usize, usize)],
    top: usize,
    positive: bool,
) -> Result<Consistency> {
    let Some(first) = models.first() else {
        return Err(Error::argument(
            Arg::Models,
            "",
            "holds no model to compare",
            "pass two or more model files",
        ));
    };
    for (m, _) in models {
        if m.n_classes() != first.0.n_classes() || m.model.d_input() != first.0.model.d_input() {
            return Err(Error::argument(
                Arg::Models,
                "",
                format!(
                    "{} ({} inputs, {} classes) and {} ({} inputs, {} classes) do not read the same images",
                    first.0.path.display(),
                    first.0.model.d_input(),
                    first.0.n_classes(),
                    m.path.display(),
                    m.model.d_input(),
                    m.n_classes()
                ),
                "compare models trained on the same dataset",
            ));
        }
    }
    let n_classes = first.0.n_classes();
    let mut matched = Array3::from_elem((pairs.len(), n_classes, top), f64::NAN);
    let mut ranked = Array3::from_elem((pairs.len(), n_classes, top), f64::NAN);
    for (p, &(a, b)) in pairs.iter().enumerate() {
        for c in 0..n_classes {
            let pick = |comp: &ClassComponents| {
                let idx = comp.by_sign(c, positive);
                let idx = &idx[..top.min(idx.len())];
                comp.pictures(c, idx)
            };
            let (va, vb) = (pick(models[a].1), pick(models[b].1));
            let m = matched_similarity(va.view(), vb.view());
            let r = ranked_similarity(va.view(), vb.view());
            for (i, x) in m.iter().enumerate() {
                matched[(p, c, i)] = *x;
            }
            for (i, x) in r.iter().enumerate() {
                ranked[(p, c, i)] = *x;
            }
        }
    }
    Ok(Consistency {
        models: labels.to_vec(),
        pairs: pairs.to_vec(),
        matched,
        ranked,
        positive,
    })
}

/// Writes `consistency.csv`, `consistency.json` and `consistency.{png,svg}` into `out`.
pub fn write(c: &Consistency, out: &Path, title: &str) -> Result<Vec<PathBuf>> {
    ensure_dir(out)?;
    let header: Vec<String> = [
        "model_a",
        "model_b",
        "class",
        "rank",
        "matched",
        "same_rank",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rows = Vec::new();
    let (_, n_classes, top) = c.matched.dim();
    for (p, &(a, b)) in c.pairs.iter().enumerate() {
        for class in 0..n_classes {
            for r in 0..top {
                rows.push(vec![
                    a.to_string(),
                    b.to_string(),
                    class.to_string(),
                    (r + 1).to_string(),
                    num(c.matched[(p, class, r)]),
                    num(c.ranked[(p, class, r)]),
                ]);
            }
        }
    }
    let csv = out.join("consistency.csv");
    write_csv(&csv, &header, &rows)?;
    let matched = Consistency::mean_by_rank(&c.matched);
    let ranked = Consistency::mean_by_rank(&c.ranked);
    let json_path = out.join("consistency.json");
    let finite = |v: &[f64]| {
        v.iter()
            .map(|x| x.is_finite().then_some(*x))
            .collect::<Vec<_>>()
    };
    write_json(
        &json_path,
        &json!({
            "models": c.models,
            "pairs": c.pairs,
            "sign": if c.positive { "positive" } else { "negative" },
            "space": "pixels (Eᵀv), |cos|",
            "mean_matched_by_rank": finite(&matched),
            "mean_same_rank_by_rank": finite(&ranked),
            "csv_columns": "model_a and model_b index `models`; rank counts from 1",
        }),
    )?;
    let png = draw(
        &[("matched".into(), matched), ("same rank".into(), ranked)],
        &out.join("consistency"),
        title,
    )?;
    Ok(vec![csv, json_path, png])
}

/// Mean `|cos|` against rank for several named curves.
pub fn draw(curves: &[(String, Vec<f64>)], stem: &Path, title: &str) -> Result<PathBuf> {
    let xs: Vec<Array1<f64>> = curves
        .iter()
        .map(|(_, y)| (1..=y.len()).map(|r| r as f64).collect())
        .collect();
    let ys: Vec<Array1<f64>> = curves
        .iter()
        .map(|(_, y)| Array1::from(y.clone()))
        .collect();
    let series: Vec<Series<'_, f64>> = curves
        .iter()
        .zip(xs.iter().zip(&ys))
        .map(|((name, _), (x, y))| Series {
            name,
            x: x.view(),
            y: y.view(),
        })
        .collect();
    let mut chart = LineChart::new(
        title,
        "eigenvector rank (by λ within the sign)",
        "mean |cos| in pixel space",
        &series,
    );
    chart.y_range = Some((0.0, 1.0));
    chart.legend = bilens_plot::LegendPosition::LowerLeft;
    Ok(line_chart(stem, &chart)?.png)
}
