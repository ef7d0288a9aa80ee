//! `bilens eval adversarial MODEL --data DIR --out DIR`: adversarial masks built from the
//! weights alone (the paper's Section 4.4, Fig. 7), against randomly permuted masks.
//!
//! For a target class `t`, take its top positive eigenvectors in pixel space `U` (`Eᵀv`, the
//! top 10 by default); the mask of component `i` is the row `m_i` of the pseudo-inverse with
//! `u_j · m_i = δ_ij` ([`bilens_decomp::pseudo_inverse_rows`]), scaled to unit L2 norm. Each
//! test image of another class gets `x + s m` at strengths `s` (the L2 norm of what is added,
//! pixels in [0, 1]; no clipping), and we count how often the model still predicts the true
//! class and how often it predicts `t`. The baseline adds the same mask with its pixels
//! randomly permuted (same norm, same values, no structure). The model's outputs along each
//! line `x + s m` are an exact quadratic in `s` ([`bilens_decomp::LineProbe`]), so every
//! strength costs a few vector operations, not a forward pass.

use std::path::{Path, PathBuf};

use bilens_decomp::{LineProbe, Par, argmax_rows, pseudo_inverse_rows};
use bilens_io::ImageSet;
use bilens_plot::{ImageParams, LineChart, Picture, PictureRow, Series, gallery, line_chart};
use ndarray::{Array1, Axis};
use serde_json::json;

use super::evaluation::{
    ClassComponents, ImageModel, check_compatible, ensure_dir, image_shape, load_data, num, pixels,
    print_written, write_csv, write_json,
};
use crate::args::AdversarialArgs;
use crate::error::BadInput;
use crate::printer::Printer;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct MaskParams {
    /// Target classes.
    pub targets: Vec<usize>,
    /// Top positive eigenvectors per target that define the masks.
    pub components: usize,
    /// The component whose mask is added.
    pub mask: usize,
    /// Strengths, increasing from 0.
    pub strengths: Vec<f64>,
    /// Permuted masks per target in the baseline.
    pub baselines: usize,
    /// Seed of the permutations.
    pub seed: u64,
}

/// One target's curves.
#[derive(Debug, Clone)]
pub struct TargetCurve {
    /// The target class.
    pub target: usize,
    /// Positive components the masks were built from (fewer than asked when the class has
    /// fewer positive eigenvalues).
    pub components: usize,
    /// The unit mask in pixels.
    pub mask: Array1<f64>,
    /// `|u_i · m|` before normalising: how far one unit of the unnormalised mask moves the
    /// projection, i.e. `1 / ‖m_i‖`.
    pub projection_per_unit: f64,
    /// Test images not of the target.
    pub n: usize,
    /// Fraction still classified correctly, per strength: mask, permuted-mask mean.
    pub mask_accuracy: Vec<f64>,
    /// Fraction classified as the target, per strength.
    pub mask_target: Vec<f64>,
    /// The same for the permuted masks (mean over the baselines).
    pub random_accuracy: Vec<f64>,
    /// The same for the permuted masks.
    pub random_target: Vec<f64>,
    /// An image of another class (its index in the set, its label) and what the model
    /// predicts for it with the mask added at [`Adversarial::example_strength`].
    pub example: (usize, usize, usize),
}

/// The curves of every target.
#[derive(Debug, Clone)]
pub struct Adversarial {
    /// What was evaluated.
    pub params: MaskParams,
    /// One curve per target.
    pub curves: Vec<TargetCurve>,
    /// The model's accuracy on the clean test set.
    pub clean_accuracy: f64,
    /// The strength of the examples: where half of the other images go to the target on
    /// average, or the largest strength.
    pub example_strength: f64,
}

impl Adversarial {
    /// The mean over targets of one per-strength series.
    pub fn mean(&self, f: impl Fn(&TargetCurve) -> &Vec<f64>) -> Vec<f64> {
        let n = self.curves.len().max(1) as f64;
        (0..self.params.strengths.len())
            .map(|i| self.curves.iter().map(|c| f(c)[i]).sum::<f64>() / n)
            .collect()
    }

    /// The smallest strength at which the mean rate of `series` reaches `level`, if any.
    pub fn strength_reaching(&self, series: &[f64], level: f64) -> Option<f64> {
        series
            .iter()
            .position(|&r| r >= level)
            .map(|i| self.params.strengths[i])
    }
}

pub fn run(args: &AdversarialArgs, printer: &Printer) -> anyhow::Result<()> {
    let model = ImageModel::load(&args.io.model, &args.io.layout)?;
    let data = load_data(&args.io.data)?;
    check_compatible(&model, &data.test, &args.io.data)?;
    let n_classes = model.n_classes();
    let targets = match &args.targets {
        Some(spec) => spec
            .parse::<bilens::RowSet>()
            .and_then(|rows| rows.indices(n_classes))
            .map_err(|e| BadInput::new(format!("--targets {}: {}", e.text, e.problem), e.hint))?,
        None => (0..n_classes).collect(),
    };
    let params = resolve(
        targets,
        args.components,
        args.mask,
        args.max_strength,
        args.steps,
        args.baselines,
        args.seed,
    )?;
    printer.note(format!(
        "decomposing every class of {} (full spectrum, f64)",
        model.path.display()
    ));
    let components = ClassComponents::of(&model.model)?;
    let result = compute(&model, &components, &data.test, &params, printer)?;
    let files = write(&result, &data.test, &args.io.out, "Adversarial masks")?;
    print_summary(&result, printer);
    print_written(&files, printer);
    Ok(())
}

/// Checks the options and builds the strength grid.
pub fn resolve(
    targets: Vec<usize>,
    components: usize,
    mask: usize,
    max_strength: f64,
    steps: usize,
    baselines: usize,
    seed: u64,
) -> Result<MaskParams, BadInput> {
    if components == 0 {
        return Err(BadInput::new(
            "--components must be at least 1",
            "e.g. --components 10",
        ));
    }
    if mask >= components {
        return Err(BadInput::new(
            format!("--mask {mask} is not one of the {components} components"),
            format!("use --mask 0..{components} (0 is the top eigenvector)"),
        ));
    }
    if !(max_strength.is_finite() && max_strength > 0.0) {
        return Err(BadInput::new(
            format!("--max-strength {max_strength} must be a positive number"),
            "e.g. --max-strength 10 (the L2 norm added; an MNIST digit has norm about 9)",
        ));
    }
    if steps == 0 {
        return Err(BadInput::new(
            "--steps must be at least 1",
            "e.g. --steps 40",
        ));
    }
    if targets.is_empty() {
        return Err(BadInput::new(
            "--targets selects no class",
            "e.g. --targets 0..10",
        ));
    }
    Ok(MaskParams {
        targets,
        components,
        mask,
        strengths: (0..=steps)
            .map(|i| max_strength * i as f64 / steps as f64)
            .collect(),
        baselines,
        seed,
    })
}

/// A seeded permutation of `0..n` (Fisher-Yates on SplitMix64): reproducible without a
/// random-number dependency.
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Accuracy and target rate along `x + s m` for the images of `set` not of `target`.
fn curves(
    probe: &LineProbe<'_, f64>,
    mask: &Array1<f64>,
    labels: &[usize],
    target: usize,
    strengths: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let line = probe.along(mask.view(), Par::rayon(0));
    let others = labels.iter().filter(|&&l| l != target).count().max(1) as f64;
    strengths
        .iter()
        .map(|&s| {
            let pred = argmax_rows(line.at(s).view());
            let (mut right, mut to_target) = (0usize, 0usize);
            for (&p, &l) in pred.iter().zip(labels) {
                if l != target {
                    right += usize::from(p == l);
                    to_target += usize::from(p == target);
                }
            }
            (right as f64 / others, to_target as f64 / others)
        })
        .unzip()
}

/// Evaluates the masks of every target on `set`.
pub fn compute(
    model: &ImageModel,
    components: &ClassComponents,
    set: &ImageSet,
    params: &MaskParams,
    printer: &Printer,
) -> anyhow::Result<Adversarial> {
    let x = pixels(set);
    let labels: Vec<usize> = set.labels.iter().map(|&l| usize::from(l)).collect();
    let probe = LineProbe::new(&model.model, x.view(), Par::rayon(0));
    let clean = argmax_rows(probe.outputs());
    let clean_accuracy =
        clean.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64;
    let bar = printer.bar(params.targets.len() as u64, "masks");
    let mut out = Vec::new();
    for &t in &params.targets {
        if t >= model.n_classes() {
            return Err(BadInput::new(
                format!(
                    "target class {t} is not one of the model's {} classes",
                    model.n_classes()
                ),
                "choose --targets among the model's classes",
            )
            .into());
        }
        let positive = components.by_sign(t, true);
        let k = params.components.min(positive.len());
        if k <= params.mask {
            return Err(BadInput::new(
                format!(
                    "class {t} has only {} positive eigenvalues, so there is no mask {}",
                    positive.len(),
                    params.mask
                ),
                "choose a smaller --mask or another target",
            )
            .into());
        }
        let u = components.pictures(t, &positive[..k]);
        let masks = pseudo_inverse_rows(u.view())?;
        let raw = masks.row(params.mask).to_owned();
        let norm = raw.dot(&raw).sqrt();
        let mask = if norm > 0.0 { &raw / norm } else { raw.clone() };
        let (mask_accuracy, mask_target) = curves(&probe, &mask, &labels, t, &params.strengths);
        let mut random_accuracy = vec![0.0; params.strengths.len()];
        let mut random_target = vec![0.0; params.strengths.len()];
        for b in 0..params.baselines {
            let perm = permutation(mask.len(), params.seed ^ ((t as u64) << 32) ^ b as u64);
            let shuffled: Array1<f64> = perm.iter().map(|&i| mask[i]).collect();
            let (a, r) = curves(&probe, &shuffled, &labels, t, &params.strengths);
            for i in 0..a.len() {
                random_accuracy[i] += a[i] / params.baselines as f64;
                random_target[i] += r[i] / params.baselines as f64;
            }
        }
        if params.baselines == 0 {
            random_accuracy.fill(f64::NAN);
            random_target.fill(f64::NAN);
        }
        out.push(TargetCurve {
            target: t,
            components: k,
            mask,
            projection_per_unit: if norm > 0.0 { 1.0 / norm } else { 0.0 },
            n: labels.iter().filter(|&&l| l != t).count(),
            mask_accuracy,
            mask_target,
            random_accuracy,
            random_target,
            example: (0, 0, 0),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut result = Adversarial {
        params: params.clone(),
        curves: out,
        clean_accuracy,
        example_strength: 0.0,
    };
    let mean_target = result.mean(|c| &c.mask_target);
    let s_show = result
        .strength_reaching(&mean_target, 0.5)
        .unwrap_or(*params.strengths.last().unwrap_or(&0.0));
    result.example_strength = s_show;
    for c in &mut result.curves {
        let i = labels.iter().position(|&l| l != c.target).unwrap_or(0);
        let moved = &x.index_axis(Axis(0), i) + &(&c.mask * s_show);
        let y = model
            .model
            .forward(moved.insert_axis(Axis(0)).view(), Par::Seq);
        c.example = (i, labels[i], argmax_rows(y.view())[0]);
    }
    Ok(result)
}

/// Prints the mean curves at a few strengths.
pub fn print_summary(a: &Adversarial, printer: &Printer) {
    let mt = a.mean(|c| &c.mask_target);
    let rt = a.mean(|c| &c.random_target);
    let ma = a.mean(|c| &c.mask_accuracy);
    let ra = a.mean(|c| &c.random_accuracy);
    printer.data(format!(
        "clean test accuracy {:.2}%; mask of eigenvector {} of the top {} positive, mean over {} targets:",
        100.0 * a.clean_accuracy,
        a.params.mask,
        a.params.components,
        a.curves.len()
    ));
    printer.data(format!(
        "  {:>8}  {:>14} {:>14}  {:>14} {:>14}",
        "strength", "acc (mask)", "acc (random)", "→target (mask)", "→target (rand)"
    ));
    let n = a.params.strengths.len();
    let mut shown: Vec<usize> = (0..=4).map(|q| q * (n - 1) / 4).collect();
    shown.dedup();
    for i in shown {
        printer.data(format!(
            "  {:>8.2}  {:>13.2}% {:>13.2}%  {:>13.2}% {:>13.2}%",
            a.params.strengths[i],
            100.0 * ma[i],
            100.0 * ra[i],
            100.0 * mt[i],
            100.0 * rt[i]
        ));
    }
    match a.strength_reaching(&mt, 0.5) {
        Some(s) => printer.data(format!(
            "half of the other images go to the target at strength {s:.2} (random masks there: {:.2}%)",
            100.0 * rt[a.params.strengths.iter().position(|&x| x == s).unwrap_or(0)]
        )),
        None => printer.data(format!(
            "the masks send fewer than half of the images to the target up to strength {:.2}",
            a.params.strengths[n - 1]
        )),
    }
}

/// Writes `adversarial.csv`, `adversarial.json`, the curves `adversarial.{png,svg}` and the
/// masks `adversarial_masks.{png,svg}` into `out`; returns the paths (CSV, JSON, PNGs).
pub fn write(
    a: &Adversarial,
    set: &ImageSet,
    out: &Path,
    title: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    ensure_dir(out)?;
    let header: Vec<String> = [
        "target",
        "strength",
        "mask_accuracy",
        "mask_target_rate",
        "random_accuracy",
        "random_target_rate",
        "images",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rows = Vec::new();
    for c in &a.curves {
        for (i, &s) in a.params.strengths.iter().enumerate() {
            rows.push(vec![
                c.target.to_string(),
                num(s),
                num(c.mask_accuracy[i]),
                num(c.mask_target[i]),
                num(c.random_accuracy[i]),
                num(c.random_target[i]),
                c.n.to_string(),
            ]);
        }
    }
    let (mt, rt, ma, ra) = (
        a.mean(|c| &c.mask_target),
        a.mean(|c| &c.random_target),
        a.mean(|c| &c.mask_accuracy),
        a.mean(|c| &c.random_accuracy),
    );
    for (i, &s) in a.params.strengths.iter().enumerate() {
        rows.push(vec![
            "mean".into(),
            num(s),
            num(ma[i]),
            num(mt[i]),
            num(ra[i]),
            num(rt[i]),
            String::new(),
        ]);
    }
    let csv = out.join("adversarial.csv");
    write_csv(&csv, &header, &rows)?;
    let json_path = out.join("adversarial.json");
    write_json(
        &json_path,
        &json!({
            "clean_accuracy": a.clean_accuracy,
            "components": a.params.components,
            "mask": a.params.mask,
            "baselines": a.params.baselines,
            "seed": a.params.seed,
            "strength": "L2 norm of the added mask, pixels in [0, 1], no clipping",
            "strengths": a.params.strengths,
            "mean": {
                "mask_accuracy": ma,
                "mask_target_rate": mt,
                "random_accuracy": ra,
                "random_target_rate": rt,
            },
            "strength_half_to_target": {
                "mask": a.strength_reaching(&mt, 0.5),
                "random": a.strength_reaching(&rt, 0.5),
            },
            "targets": a.curves.iter().map(|c| json!({
                "target": c.target,
                "components": c.components,
                "projection_per_unit_norm": c.projection_per_unit,
                "images": c.n,
                "strength_half_to_target": a.strength_reaching(&c.mask_target, 0.5),
            })).collect::<Vec<_>>(),
            "bilens_version": env!("CARGO_PKG_VERSION"),
        }),
    )?;

    let x: Array1<f64> = a.params.strengths.iter().copied().collect();
    let pct = |v: &[f64]| v.iter().map(|r| 100.0 * r).collect::<Array1<f64>>();
    let ys = [pct(&ma), pct(&ra), pct(&mt), pct(&rt)];
    let names = [
        "accuracy, mask",
        "accuracy, permuted mask",
        "predicted target, mask",
        "predicted target, permuted mask",
    ];
    let series: Vec<Series<'_, f64>> = ys
        .iter()
        .zip(names)
        .map(|(y, name)| Series {
            name,
            x: x.view(),
            y: y.view(),
        })
        .collect();
    let mut chart = LineChart::new(
        title,
        "mask strength (L2 norm added, pixels in [0, 1])",
        "% of test images of other classes",
        &series,
    );
    chart.y_range = Some((0.0, 100.0));
    chart.legend = bilens_plot::LegendPosition::UpperRight;
    let curve_png = line_chart(&out.join("adversarial"), &chart)?.png;

    // The masks, and one image of another class pushed toward each target.
    let s_show = a.example_strength;
    let x_test = pixels(set);
    let examples: Vec<Array1<f64>> = a
        .curves
        .iter()
        .map(|c| &x_test.index_axis(Axis(0), c.example.0) + &(&c.mask * s_show))
        .collect();
    let mask_row = PictureRow {
        label: "mask".into(),
        pictures: a
            .curves
            .iter()
            .map(|c| Picture {
                vector: c.mask.view(),
                title: format!("target {}", c.target),
                subtitle: Some(format!("top-{} pinv row {}", c.components, a.params.mask)),
            })
            .collect(),
    };
    let example_row = PictureRow {
        label: format!("image + {s_show:.1} mask"),
        pictures: a
            .curves
            .iter()
            .zip(&examples)
            .map(|(c, img)| Picture {
                vector: img.view(),
                title: format!("a {} + mask {}", c.example.1, c.target),
                subtitle: Some(format!("predicted {}", c.example.2)),
            })
            .collect(),
    };
    let params = ImageParams {
        shape: image_shape(set),
        ..ImageParams::default()
    };
    let masks_png = gallery(
        &out.join("adversarial_masks"),
        &format!("{title}: the masks and an image of another class with one added"),
        &[mask_row, example_row],
        &params,
    )?
    .png;
    Ok(vec![csv, json_path, curve_png, masks_png])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_permutations_and_seeded() {
        let p = permutation(100, 7);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(p, permutation(100, 7));
        assert_ne!(p, permutation(100, 8));
    }
}
