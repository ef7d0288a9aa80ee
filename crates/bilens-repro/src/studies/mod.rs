//! The studies of a reproduction: everything measured on a main model (overview, truncation,
//! adversarial masks, explanations), the HOSVD panel, consistency across seeds and sizes,
//! the regularisation sweep and the adversarial masks of its regimes.

use std::path::Path;

use bilens::Progress;
use bilens::eval::{
    Adversarial, AdversarialOptions, ClassComponents, ImageModel, Truncation, adversarial,
    class_labels, explain, image_shape, num, truncation, write_csv, write_json,
};
use bilens_decomp::{Par, Selection, argmax_rows};
use bilens_io::{ImageDataset, IoError, ResultsFile};
use bilens_plot::{
    Colormap, HeatmapParams, HeatmapScale, ImageParams, OverviewParams, heatmap, overview,
};
use ndarray::Array2;
use serde_json::json;

use crate::Result;
use crate::budget::Budget;
use crate::training::accuracy;

mod consistency_study;

pub(crate) use consistency_study::{WidthCurve, consistency_study};

/// What the regularisation sweep measured for one model.
#[derive(Debug, Clone)]
pub(crate) struct SweepCell {
    pub(crate) noise: f64,
    pub(crate) wd: f64,
    pub(crate) accuracy: f64,
    /// Mean over classes of the effective rank of the full spectrum.
    pub(crate) effective_rank: f64,
    /// Mean over classes of the effective pixel count of the top positive eigenvector.
    pub(crate) pixel_count: f64,
}

/// Everything measured on one dataset's main model.
pub(crate) struct MainResults {
    pub(crate) accuracy: f64,
    pub(crate) truncation: Truncation,
    pub(crate) adversarial: Adversarial,
}

/// Truncation, adversarial masks, an explanation and the overview on one dataset's main model.
#[allow(
    clippy::too_many_arguments,
    reason = "the model, its data, where its files go and how much to do: one study's inputs"
)]
pub(crate) fn evaluate_main(
    model: &ImageModel,
    data: &ImageDataset,
    name: &str,
    fashion: bool,
    figures: &Path,
    results: &Path,
    budget: &Budget,
    progress: &dyn Progress,
) -> Result<MainResults> {
    let quiet = bilens::Silent;
    let slug = if fashion { "fashion" } else { "mnist" };
    progress.note(&format!("evaluating the {name} model"));
    let comps = ClassComponents::of(&model.model)?;
    let acc = accuracy(model, &data.test);
    let labels = class_labels(comps.values.nrows(), fashion);
    let eig3 = comps.pixels.slice(ndarray::s![.., ..1, ..]).to_owned();
    let top_positive: Vec<usize> = (0..comps.values.nrows())
        .map(|c| comps.by_sign(c, true).first().copied().unwrap_or(0))
        .collect();
    let mut vals = Array2::zeros((comps.values.nrows(), 1));
    let mut vecs = eig3.clone();
    for (c, &i) in top_positive.iter().enumerate() {
        vals[(c, 0)] = comps.values[(c, i)];
        vecs.slice_mut(ndarray::s![c, 0, ..])
            .assign(&comps.pixels.slice(ndarray::s![c, i, ..]));
    }
    overview(
        &figures.join(format!("{slug}_overview")),
        &format!("{name}: the top positive eigenvector of every class"),
        &labels,
        vals.view(),
        vecs.view(),
        &OverviewParams {
            images: ImageParams {
                shape: image_shape(&data.test),
                ..ImageParams::default()
            },
            ..OverviewParams::default()
        },
    )?;

    let rules = Selection::ALL.to_vec();
    let t = truncation::compute(model, &comps, data, budget.max_k, &rules, &quiet)?;
    truncation::write(&t, results, &model.path.display().to_string())?;
    truncation::draw(
        &t,
        &figures.join(format!("{slug}_truncation")),
        &format!("{name}: accuracy with the top k components of each class"),
    )?;
    for ext in ["png", "svg"] {
        let _ = std::fs::remove_file(results.join("truncation").with_extension(ext));
    }

    let params = AdversarialOptions::default().resolve(comps.values.nrows())?;
    let adv = adversarial::compute(model, &comps, &data.test, &params, &quiet)?;
    let adv_dir = results.join("adversarial");
    adversarial::write(
        &adv,
        &data.test,
        &adv_dir,
        &format!("{name}: adversarial masks"),
    )?;
    for stem in ["adversarial", "adversarial_masks"] {
        move_figure(&adv_dir.join(stem), &figures.join(format!("{slug}_{stem}")))?;
    }

    // Explain the first test image the model gets right and the first it gets wrong.
    let pred = argmax_rows(
        model
            .model
            .forward(data.test.pixels::<f64>().view(), Par::rayon(0))
            .view(),
    );
    let right = pred
        .iter()
        .zip(data.test.labels.iter())
        .position(|(p, l)| *p == usize::from(*l));
    let wrong = pred
        .iter()
        .zip(data.test.labels.iter())
        .position(|(p, l)| *p != usize::from(*l));
    for (which, index) in [("right", right), ("wrong", wrong)] {
        if let Some(i) = index {
            let e = explain::compute(model, &comps, &data.test, i, None);
            let dir = results.join("explain");
            explain::write(&e, &comps, &data.test, 5, &dir, &format!(" ({name})"))?;
            move_figure(
                &dir.join(format!("explain_{i}")),
                &figures.join(format!("{slug}_explain_{which}")),
            )?;
            move_figure(
                &dir.join(format!("explain_{i}_logits")),
                &figures.join(format!("{slug}_explain_{which}_logits")),
            )?;
        }
    }
    Ok(MainResults {
        accuracy: acc,
        truncation: t,
        adversarial: adv,
    })
}

/// Moves `<from>.png/.svg` to `<to>.png/.svg`: the evaluations write their figures beside
/// their data, the report keeps them all in `figures/`.
fn move_figure(from: &Path, to: &Path) -> Result<()> {
    for ext in ["png", "svg"] {
        let (a, b) = (from.with_extension(ext), to.with_extension(ext));
        std::fs::rename(&a, &b).map_err(|source| {
            bilens::Error::from(IoError::Os {
                path: b.clone(),
                source,
            })
            .context(format!("cannot move {} to {}", a.display(), b.display()))
        })?;
    }
    Ok(())
}

/// The HOSVD panel: singular values and the leading components, by the `bilens hosvd`
/// machinery; returns the singular values and the fraction of the tensor they hold.
pub(crate) fn hosvd_panel(
    model: &ImageModel,
    results: &Path,
    figures: &Path,
) -> Result<(Vec<f64>, f64)> {
    // The figures show the top few eigenvectors of each component; keeping 12 instead of all
    // keeps the results file small.
    let options = bilens::DecomposeOptions::new()
        .hosvd(10)
        .k(12)
        .resume(bilens::ResumeMode::Continue);
    let checkpoint = bilens::Checkpoint::open(&model.path, &bilens::LayoutSpec::default())?;
    let report = bilens::decompose(&checkpoint, &options, results, &bilens::Silent)?;
    let file = ResultsFile::open(results)?;
    bilens::draw_results(
        &file,
        figures,
        &bilens::FigureOptions::default(),
        &bilens::Silent,
    )?;
    let Some(h) = report.hosvd else {
        unreachable!("a HOSVD job reports its singular values")
    };
    Ok((h.singular_values.clone(), h.fraction_kept))
}

/// The sweep's CSV, JSON and heatmaps.
pub(crate) fn write_sweep(
    sweep: &[SweepCell],
    budget: &Budget,
    figures: &Path,
    results: &Path,
) -> Result<()> {
    let header: Vec<String> = [
        "noise",
        "weight_decay",
        "accuracy",
        "effective_rank",
        "pixel_count",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Vec<String>> = sweep
        .iter()
        .map(|c| {
            vec![
                c.noise.to_string(),
                c.wd.to_string(),
                num(c.accuracy),
                num(c.effective_rank),
                num(c.pixel_count),
            ]
        })
        .collect();
    write_csv(&results.join("regularisation.csv"), &header, &rows)?;
    let (nr, nc) = (budget.sweep_noise.len(), budget.sweep_wd.len());
    let grid =
        |f: fn(&SweepCell) -> f64| Array2::from_shape_fn((nr, nc), |(i, j)| f(&sweep[i * nc + j]));
    let params = |bar: &str| HeatmapParams {
        scale: HeatmapScale::Fit(Colormap::Sequential),
        x_label: "weight decay".into(),
        y_label: "input noise std".into(),
        row_labels: budget.sweep_noise.iter().map(|n| n.to_string()).collect(),
        col_labels: budget.sweep_wd.iter().map(|w| w.to_string()).collect(),
        colorbar_label: bar.into(),
        ..HeatmapParams::default()
    };
    heatmap(
        &figures.join("regularisation_effective_rank"),
        "Effective rank of the spectra (mean over classes)",
        grid(|c| c.effective_rank).view(),
        &params("(‖λ‖₁/‖λ‖₂)²"),
    )?;
    heatmap(
        &figures.join("regularisation_pixel_count"),
        "Effective pixel count of the top eigenvector",
        grid(|c| c.pixel_count).view(),
        &params("(‖v‖₁/‖v‖₂)² in pixels"),
    )?;
    heatmap(
        &figures.join("regularisation_accuracy"),
        "Test accuracy (%)",
        grid(|c| 100.0 * c.accuracy).view(),
        &params("accuracy (%)"),
    )?;
    write_json(
        &results.join("regularisation.json"),
        &json!({
            "noise": budget.sweep_noise,
            "weight_decay": budget.sweep_wd,
            "width": budget.sweep_width,
            "epochs": budget.sweep_epochs,
            "cells": sweep.iter().map(|c| json!({
                "noise": c.noise, "weight_decay": c.wd, "accuracy": c.accuracy,
                "effective_rank": c.effective_rank, "pixel_count": c.pixel_count,
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(())
}

/// Adversarial masks on the sweep's unregularised, noise-only and fully regularised models
/// (the paper's Fig. 7 compares a model without regularisation to one with input noise).
pub(crate) fn adversarial_regimes(
    sweep_models: &[((f64, f64), ImageModel, ClassComponents)],
    budget: &Budget,
    data: &ImageDataset,
    figures: &Path,
    results: &Path,
) -> Result<Vec<(String, Adversarial)>> {
    let quiet = bilens::Silent;
    let max_noise = budget.sweep_noise.iter().copied().fold(0.0f64, f64::max);
    let max_wd = budget.sweep_wd.iter().copied().fold(0.0f64, f64::max);
    let regimes = [
        ("no regularisation", (0.0, 0.0)),
        ("input noise", (max_noise, 0.0)),
        ("noise and weight decay", (max_noise, max_wd)),
    ];
    let params = AdversarialOptions::default().resolve(data.test.n_classes())?;
    let mut out = Vec::new();
    for (name, key) in regimes {
        let Some((_, m, comps)) = sweep_models.iter().find(|(k, _, _)| *k == key) else {
            continue;
        };
        let a = adversarial::compute(m, comps, &data.test, &params, &quiet)?;
        let slug = name.replace(' ', "-");
        let dir = results.join(format!("adversarial-{slug}"));
        adversarial::write(&a, &data.test, &dir, &format!("Masks, {name}"))?;
        move_figure(
            &dir.join("adversarial"),
            &figures.join(format!("adversarial_{slug}")),
        )?;
        out.push((name.to_string(), a));
    }
    Ok(out)
}

/// Mean target rate of the masks, of the permuted masks, and the strength where half of the
/// images go to the target.
pub(crate) fn mask_numbers(a: &Adversarial) -> (Option<f64>, f64, f64) {
    let mt = a.mean(|c| &c.mask_target);
    let rt = a.mean(|c| &c.random_target);
    let s = a.strength_reaching(&mt, 0.5);
    let i = s
        .and_then(|s| a.params.strengths.iter().position(|&x| x == s))
        .unwrap_or(mt.len() - 1);
    (s, mt[i], rt[i])
}
