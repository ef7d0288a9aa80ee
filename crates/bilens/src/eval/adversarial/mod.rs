//! Adversarial masks built from the weights alone (the paper's Section 4.4, Fig. 7), against
//! randomly permuted masks.
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

mod write;

use std::path::Path;

use bilens_decomp::{LineProbe, Par, argmax_rows, pseudo_inverse_rows};
use bilens_io::{ImageSet, RowSet};
use ndarray::{Array1, Axis};

pub use self::write::write;
use super::Evaluated;
use super::image::{ClassComponents, ImageEvaluation, ImageModel, pixels};
use crate::error::{Arg, Error, Result};
use crate::progress::Progress;

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

/// What an adversarial evaluation computes.
#[derive(Clone, Debug, PartialEq)]
pub struct AdversarialOptions {
    /// Target classes (default: every class).
    pub targets: Option<RowSet>,
    /// Top positive eigenvectors of the target whose pseudo-inverse gives the masks.
    pub components: usize,
    /// Which of them the mask raises (0: the top eigenvector).
    pub mask: usize,
    /// Largest mask strength: the L2 norm, in pixel units (pixels in [0, 1]), of what is
    /// added.
    pub max_strength: f64,
    /// Strengths evaluated between 0 and `max_strength`.
    pub steps: usize,
    /// Randomly permuted masks averaged for the baseline.
    pub baselines: usize,
    /// Seed of the permutations.
    pub seed: u64,
}

impl Default for AdversarialOptions {
    fn default() -> Self {
        Self {
            targets: None,
            components: 10,
            mask: 0,
            max_strength: 15.0,
            steps: 30,
            baselines: 5,
            seed: 0,
        }
    }
}

impl AdversarialOptions {
    /// Checks the options for a model of `n_classes` classes and builds the strength grid.
    pub fn resolve(&self, n_classes: usize) -> Result<MaskParams> {
        let targets = match &self.targets {
            Some(rows) => rows
                .indices(n_classes)
                .map_err(|e| Error::spec(Arg::Targets, e))?,
            None => (0..n_classes).collect(),
        };
        let (components, mask, max_strength, steps) =
            (self.components, self.mask, self.max_strength, self.steps);
        if components == 0 {
            return Err(Error::argument(
                Arg::Components,
                "0",
                "must be at least 1",
                "e.g. 10",
            ));
        }
        if mask >= components {
            return Err(Error::argument(
                Arg::Mask,
                mask.to_string(),
                format!("is not one of the {components} components"),
                format!("use a mask in 0..{components} (0 is the top eigenvector)"),
            ));
        }
        if !(max_strength.is_finite() && max_strength > 0.0) {
            return Err(Error::argument(
                Arg::MaxStrength,
                max_strength.to_string(),
                "must be a positive number",
                "e.g. 10 (the L2 norm added; an MNIST digit has norm about 9)",
            ));
        }
        if steps == 0 {
            return Err(Error::argument(
                Arg::Steps,
                "0",
                "must be at least 1",
                "e.g. 40",
            ));
        }
        if targets.is_empty() {
            return Err(Error::argument(
                Arg::Targets,
                "",
                "selects no class",
                "e.g. 0..10",
            ));
        }
        Ok(MaskParams {
            targets,
            components,
            mask,
            strengths: (0..=steps)
                .map(|i| max_strength * i as f64 / steps as f64)
                .collect(),
            baselines: self.baselines,
            seed: self.seed,
        })
    }
}

/// The adversarial masks of `eval`'s model on its test set: every class decomposed, each
/// target's mask evaluated against permuted masks, and `adversarial.{csv,json}`, the curves
/// `adversarial.{png,svg}` and the masks `adversarial_masks.{png,svg}` written into `out`.
pub fn adversarial(
    eval: &ImageEvaluation,
    options: &AdversarialOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Evaluated<Adversarial>> {
    let params = options.resolve(eval.model.n_classes())?;
    let components = eval.components(progress)?;
    let report = compute(&eval.model, &components, &eval.data.test, &params, progress)?;
    let files = write(&report, &eval.data.test, out, "Adversarial masks")?;
    Ok(Evaluated { report, files })
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
    progress: &dyn Progress,
) -> Result<Adversarial> {
    let x = pixels(set);
    let labels: Vec<usize> = set.labels.iter().map(|&l| usize::from(l)).collect();
    let probe = LineProbe::new(&model.model, x.view(), Par::rayon(0));
    let clean = argmax_rows(probe.outputs());
    let clean_accuracy =
        clean.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64;
    let task = progress.task("masks", params.targets.len() as u64);
    let mut out = Vec::new();
    for &t in &params.targets {
        if t >= model.n_classes() {
            return Err(Error::argument(
                Arg::Targets,
                t.to_string(),
                format!("is not one of the model's {} classes", model.n_classes()),
                "choose targets among the model's classes",
            ));
        }
        let positive = components.by_sign(t, true);
        let k = params.components.min(positive.len());
        if k <= params.mask {
            return Err(Error::argument(
                Arg::Mask,
                params.mask.to_string(),
                format!(
                    "class {t} has only {} positive eigenvalues, so there is no such mask",
                    positive.len()
                ),
                "choose a smaller mask or another target",
            ));
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
        task.advance(1);
    }
    drop(task);
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
