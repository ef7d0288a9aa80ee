//! How well a few components approximate an output feature's activation (docs/MATH.md section 7;
//! the paper's Section 5, Figure 9).
//!
//! For an output direction `u` (e.g. an SAE encoder row) with stored components
//! `(λ_k, v_k)` and, when the layer has biases, linear term `q` and constant `q0`, the
//! approximation from the first `K` components is
//!
//! ```text
//! â_K(x) = Σ_{k≤K} λ_k (v_kᵀ x)² + 2 qᵀx + q0
//! ```
//!
//! and its quality on data is the Pearson correlation between `â_K(x)` and the feature's true
//! activation `a(x)` over the inputs where the feature is **active** (`a(x) > 0`): an SAE
//! feature is mostly zero, and the zeros say nothing about how well its pre-activation is
//! approximated. Correlation ignores scale and offset, so an encoder bias or a missing
//! constant does not matter; what matters is whether the first `K` components already carry
//! the shape of the activation.
//!
//! The components are taken in their stored order (by descending `|λ|` unless the results were
//! written in another order). Cost per feature: one `[n_active, d] × [d, K]` GEMM, then `O(n K)`
//! running sums.

use faer::Par;
use ndarray::{ArrayView1, ArrayView2, Axis};

use crate::linalg;
use crate::scalar::Real;

/// One output's components, as a results directory stores them.
#[derive(Clone, Copy, Debug)]
pub struct Components<'a, T> {
    /// `[k]`, in the order the components are added.
    pub eigenvalues: ArrayView1<'a, T>,
    /// `[k, d]`, one eigenvector per row.
    pub eigenvectors: ArrayView2<'a, T>,
    /// The linear term `q` `[d]` (the output is `xᵀQx + 2qᵀx + q0`), when there are biases.
    pub linear: Option<ArrayView1<'a, T>>,
    /// The constant `q0`.
    pub constant: Option<T>,
}

/// How well the first `K` components approximate one feature, for `K = 1..=max_k`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureApproximation {
    /// Inputs on which the feature is active (`a(x) > 0`).
    pub n_active: usize,
    /// `correlations[K - 1]`: Pearson correlation of `â_K` with `a` on the active inputs; NaN
    /// when it is undefined (fewer than two active inputs, or either side constant there).
    pub correlations: Vec<f64>,
}

/// The correlations of [`FeatureApproximation`] for one feature: `inputs` `[n, d]` are the
/// layer inputs (in the space of the eigenvectors), `activation` `[n]` the feature's true
/// activation on them. `K` runs up to `max_k` or the number of stored components, whichever is
/// smaller.
///
/// # Panics
/// If the shapes disagree (`inputs` not `[n, d]` with `d` the eigenvectors' width,
/// `activation` not `[n]`, a linear term not `[d]`, eigenvalues not one per eigenvector).
#[track_caller]
pub fn approximation_correlations<T: Real>(
    components: &Components<'_, T>,
    inputs: ArrayView2<'_, T>,
    activation: ArrayView1<'_, T>,
    max_k: usize,
    par: Par,
) -> FeatureApproximation {
    let (k_stored, d) = components.eigenvectors.dim();
    assert_eq!(
        components.eigenvalues.len(),
        k_stored,
        "one eigenvalue per eigenvector"
    );
    assert_eq!(inputs.ncols(), d, "inputs must be [n, d] with d = {d}");
    assert_eq!(activation.len(), inputs.nrows(), "one activation per input");
    if let Some(q) = components.linear {
        assert_eq!(q.len(), d, "the linear term must have length d = {d}");
    }
    let k = max_k.min(k_stored);
    let active: Vec<usize> = (0..activation.len())
        .filter(|&i| activation[i] > T::zero())
        .collect();
    let n = active.len();
    let x = inputs.select(Axis(0), &active);
    let a: Vec<f64> = active.iter().map(|&i| activation[i].as_f64()).collect();
    // Projections on the first k eigenvectors: [n, k].
    let z = linalg::matmul(
        x.view(),
        components.eigenvectors.slice(ndarray::s![..k, ..]).t(),
        par,
    );
    // The part every K shares: 2 qᵀx + q0.
    let mut pred: Vec<f64> = match components.linear {
        Some(q) => x.dot(&q).iter().map(|v| 2.0 * v.as_f64()).collect(),
        None => vec![0.0; n],
    };
    let q0 = components.constant.map_or(0.0, Real::as_f64);
    pred.iter_mut().for_each(|p| *p += q0);
    let mut correlations = Vec::with_capacity(k);
    for kk in 0..k {
        let lambda = components.eigenvalues[kk].as_f64();
        for (p, zi) in pred.iter_mut().zip(z.column(kk)) {
            let s = zi.as_f64();
            *p += lambda * s * s;
        }
        correlations.push(pearson(&pred, &a));
    }
    FeatureApproximation {
        n_active: n,
        correlations,
    }
}

/// Pearson correlation of two equally long samples, in f64 with two passes (means first);
/// NaN when undefined (fewer than two samples, or a constant side).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "pearson: samples of different lengths");
    let n = x.len();
    if n < 2 {
        return f64::NAN;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    // A side whose spread is rounding noise relative to its mean is constant.
    let flat = |s: f64, m: f64| s <= (f64::EPSILON * m.abs()).powi(2) * n as f64 * 16.0;
    if sxx == 0.0 || syy == 0.0 || flat(sxx, mx) || flat(syy, my) {
        return f64::NAN;
    }
    (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0)
}

/// The summary over features at each `K`: the mean and median correlation and the fraction of
/// features above `threshold`, over the features whose correlation is defined at that `K`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApproximationSummary {
    /// `mean[K - 1]`, NaN when no feature is defined at `K`.
    pub mean: Vec<f64>,
    /// `median[K - 1]`.
    pub median: Vec<f64>,
    /// `fraction_above[K - 1]`: features with correlation `> threshold`, out of the defined.
    pub fraction_above: Vec<f64>,
    /// `defined[K - 1]`: how many features have a defined correlation at `K`.
    pub defined: Vec<usize>,
    /// The threshold of `fraction_above`.
    pub threshold: f64,
}

/// Summarises per-feature curves (each `correlations` may be shorter than the longest: a
/// feature with fewer stored components simply has no value at larger `K`).
pub fn summarize_approximations(
    features: &[FeatureApproximation],
    threshold: f64,
) -> ApproximationSummary {
    let k = features
        .iter()
        .map(|f| f.correlations.len())
        .max()
        .unwrap_or(0);
    let mut s = ApproximationSummary {
        mean: Vec::with_capacity(k),
        median: Vec::with_capacity(k),
        fraction_above: Vec::with_capacity(k),
        defined: Vec::with_capacity(k),
        threshold,
    };
    for kk in 0..k {
        let mut values: Vec<f64> = features
            .iter()
            .filter_map(|f| f.correlations.get(kk).copied())
            .filter(|c| c.is_finite())
            .collect();
        values.sort_by(f64::total_cmp);
        let m = values.len();
        s.defined.push(m);
        if m == 0 {
            s.mean.push(f64::NAN);
            s.median.push(f64::NAN);
            s.fraction_above.push(f64::NAN);
            continue;
        }
        s.mean.push(values.iter().sum::<f64>() / m as f64);
        s.median.push(if m % 2 == 1 {
            values[m / 2]
        } else {
            (values[m / 2 - 1] + values[m / 2]) / 2.0
        });
        s.fraction_above
            .push(values.iter().filter(|&&c| c > threshold).count() as f64 / m as f64);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_of_known_samples() {
        assert!(
            (pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]) - 0.997_948_715_788_673_3).abs() < 1e-14
        );
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-15);
        assert!(pearson(&[1.0], &[1.0]).is_nan());
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        // A constant that rounding made "vary" is still constant.
        assert!(pearson(&[0.1 + 0.2, 0.3, 0.3], &[1.0, 2.0, 3.0]).is_nan());
    }

    #[test]
    fn summary_ignores_undefined_values() {
        let f = |c: &[f64]| FeatureApproximation {
            n_active: 10,
            correlations: c.to_vec(),
        };
        let s = summarize_approximations(
            &[
                f(&[0.5, 0.8, 0.9]),
                f(&[f64::NAN, 0.7]),
                f(&[0.2, 0.76, 1.0]),
            ],
            0.75,
        );
        assert_eq!(s.defined, vec![2, 3, 2]);
        assert!((s.mean[0] - 0.35).abs() < 1e-15);
        assert!((s.median[1] - 0.76).abs() < 1e-15);
        assert!((s.fraction_above[1] - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(s.fraction_above[2], 1.0);
        assert!(summarize_approximations(&[], 0.75).mean.is_empty());
    }
}
