//! Approximating a feature's activation by its first K components (docs/MATH.md section 7): on a
//! feature that *is* a rank-r quadratic form, the correlation is exactly 1 from K = r on and
//! below 1 before; biases enter through the linear term; the summary counts what it should.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use bilens_decomp::{
    BilinearLayer, Components, DecomposeParams, FeatureApproximation, Order, Par,
    approximation_correlations, decompose, eigh_full, summarize_approximations,
};
use ndarray::{Array1, Array2, Axis, array};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

/// `Q = Σ_i μ_i w_i w_iᵀ` over `r` orthonormal directions (from a QR of a Gaussian matrix).
fn low_rank(rng: &mut ChaCha8Rng, d: usize, mu: &[f64]) -> Array2<f64> {
    let g = randn(rng, (d, d));
    // Orthonormal columns by Gram-Schmidt (d is small).
    let mut basis: Vec<Array1<f64>> = Vec::new();
    for j in 0..mu.len() {
        let mut v = g.column(j).to_owned();
        for b in &basis {
            let c = v.dot(b);
            v = v - b * c;
        }
        let n = v.dot(&v).sqrt();
        basis.push(v / n);
    }
    let mut q = Array2::zeros((d, d));
    for (b, &m) in basis.iter().zip(mu) {
        let col = b.view().insert_axis(Axis(1));
        q = q + &col.dot(&col.t()) * m;
    }
    q
}

fn quadratic(x: &Array2<f64>, q: &Array2<f64>) -> Array1<f64> {
    (x.dot(q) * x).sum_axis(Axis(1))
}

#[test]
fn a_rank_r_feature_is_exact_from_k_equals_r() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let d = 10;
    for mu in [vec![3.0], vec![3.0, -1.5, 0.8], vec![2.0, 1.9, 1.0, -0.5]] {
        let r = mu.len();
        let q = low_rank(&mut rng, d, &mu);
        let x = randn(&mut rng, (400, d));
        // A ReLU feature: active where the form is positive.
        let a = quadratic(&x, &q).mapv(|v| v.max(0.0));
        let spectrum = eigh_full(q.view(), None, Order::AbsDescending, true, Par::Seq).unwrap();
        let vectors = spectrum.vectors.unwrap();
        let c = Components {
            eigenvalues: spectrum.values.view(),
            eigenvectors: vectors.view(),
            linear: None,
            constant: None,
        };
        let f = approximation_correlations(&c, x.view(), a.view(), 64, Par::Seq);
        assert_eq!(f.correlations.len(), d, "K runs to the stored components");
        assert_eq!(f.n_active, a.iter().filter(|&&v| v > 0.0).count());
        for (k, &corr) in f.correlations.iter().enumerate() {
            if k + 1 >= r {
                assert!(corr > 1.0 - 1e-12, "rank {r}, K = {}: {corr}", k + 1);
            } else {
                assert!(
                    corr < 0.999,
                    "rank {r}, K = {}: {corr} should be below 1",
                    k + 1
                );
            }
        }
    }
}

#[test]
fn biases_enter_through_the_linear_term_and_constant() {
    // A layer with biases: u·y = xᵀQx + 2qᵀx + q0, decomposed by the engine.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (d, h) = (6, 2);
    let layer = BilinearLayer::new(
        randn(&mut rng, (h, d)),
        randn(&mut rng, (h, d)),
        randn(&mut rng, (1, h)),
    )
    .with_biases(
        Some(randn(&mut rng, (1, h)).row(0).to_owned()),
        Some(randn(&mut rng, (1, h)).row(0).to_owned()),
    );
    let out = decompose(
        &layer,
        Array2::eye(1).view(),
        None,
        &DecomposeParams::default(),
    )
    .unwrap();
    let x = randn(&mut rng, (300, d));
    let y = layer.forward(x.view(), Par::Seq).column(0).to_owned();
    let vectors = out
        .eigenvectors
        .as_ref()
        .unwrap()
        .index_axis(Axis(0), 0)
        .to_owned();
    let q = out.linear_terms.as_ref().unwrap().row(0).to_owned();
    let with = Components {
        eigenvalues: out.eigenvalues.row(0),
        eigenvectors: vectors.view(),
        linear: Some(q.view()),
        constant: out.constants.as_ref().map(|c| c[0]),
    };
    // Q has rank at most 2h = 4: exact from K = 4 with the linear term, not without it.
    let f = approximation_correlations(&with, x.view(), y.view(), 64, Par::Seq);
    assert!(f.correlations[3] > 1.0 - 1e-12, "{:?}", f.correlations);
    let without = Components {
        linear: None,
        constant: None,
        ..with
    };
    let g = approximation_correlations(&without, x.view(), y.view(), 64, Par::Seq);
    assert!(g.correlations[d - 1] < 0.9999, "{:?}", g.correlations);
}

#[test]
fn features_never_active_or_constant_are_undefined_and_summaries_skip_them() {
    let values = array![2.0, -1.0];
    let vectors = array![[1.0, 0.0], [0.0, 1.0]];
    let c = Components {
        eigenvalues: values.view(),
        eigenvectors: vectors.view(),
        linear: None,
        constant: None,
    };
    let x = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
    let never = approximation_correlations(&c, x.view(), Array1::zeros(3).view(), 1, Par::Seq);
    assert_eq!(never.n_active, 0);
    assert!(never.correlations[0].is_nan());
    let exact = approximation_correlations(&c, x.view(), array![2.0, 0.0, 1.0].view(), 2, Par::Seq);
    // Active on inputs 0 and 2: â_1 = 2, 2 (constant): undefined; â_2 = 2, 1: exact.
    assert!(exact.correlations[0].is_nan());
    assert!((exact.correlations[1] - 1.0).abs() < 1e-12);
    let s = summarize_approximations(
        &[
            never,
            exact.clone(),
            FeatureApproximation {
                n_active: 3,
                correlations: vec![0.5, 0.6],
            },
        ],
        0.75,
    );
    assert_eq!(s.defined, vec![1, 2]);
    assert_eq!(s.fraction_above, vec![0.0, 0.5]);
}
