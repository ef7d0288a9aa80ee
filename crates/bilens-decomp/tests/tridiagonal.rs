//! docs/MATH.md identity 6 for the tridiagonal top-k path: its top k equals the top k of the
//! full eigendecomposition (values to 1e-6 relative in f64, vectors up to sign, degenerate
//! eigenspaces by projector) on Gaussian, power-law, clustered, degenerate, rank-deficient and
//! zero matrices, in every order; its f32 results agree with the f64 ones; and localised
//! eigenvectors come out without subnormal numbers.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use bilens_decomp::{
    BilinearLayer, LanczosParams, Method, Order, Par, Real, Solver, Spectrum, eigh,
    interaction_matrix,
};
use common::{randn, with_spectrum};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn check(q: ArrayView2<'_, f64>, k: usize, what: &str) {
    for order in [Order::AbsDescending, Order::Descending, Order::Ascending] {
        common::check(
            q,
            k,
            order,
            Method::Tridiagonal,
            Solver::Tridiagonal,
            &format!("{what}, {order:?}"),
        );
    }
}

/// The top `k` by |λ| with vectors by the tridiagonal path, in `q`'s precision.
fn tridiagonal_top<T: Real>(q: ArrayView2<'_, T>, k: usize, vectors: bool) -> Spectrum<T> {
    eigh(
        q,
        Some(k),
        Order::AbsDescending,
        vectors,
        Method::Tridiagonal,
        &LanczosParams::default(),
        Par::Seq,
    )
    .unwrap()
}

/// A symmetric matrix with independent Gaussian entries (a Wigner matrix: semicircle spectrum,
/// the hardest case for Lanczos).
fn gaussian(rng: &mut ChaCha8Rng, d: usize) -> Array2<f64> {
    let g = randn(rng, (d, d));
    (&g + &g.t()) / 2.0
}

#[test]
fn tridiagonal_matches_full_on_gaussian_and_layer_matrices() {
    let mut rng = ChaCha8Rng::seed_from_u64(70);
    check(gaussian(&mut rng, 150).view(), 12, "gaussian");
    let (d, h) = (120, 200);
    let layer = BilinearLayer::new(
        randn(&mut rng, (h, d)),
        randn(&mut rng, (h, d)),
        randn(&mut rng, (3, h)),
    );
    let q = interaction_matrix(&layer, ndarray::array![1.0, -0.3, 0.2].view());
    check(q.view(), 9, "layer Q");
    // k beyond half the dimension (every eigenvalue is a candidate) and k = d.
    check(q.view(), 70, "layer Q, k > d/2");
    check(q.view(), d, "layer Q, k = d");
}

#[test]
fn tridiagonal_matches_full_on_power_law_clustered_degenerate_low_rank_and_zero_spectra() {
    let mut rng = ChaCha8Rng::seed_from_u64(71);
    let d = 140;
    let power_law: Vec<f64> = (0..d)
        .map(|i| (if i % 3 == 0 { -1.0 } else { 1.0 }) / (1.0 + i as f64).powf(1.2))
        .collect();
    check(with_spectrum(&mut rng, &power_law).view(), 10, "power-law");
    // Tight clusters (gaps of 1e-9 relative, inside the inverse-iteration cluster threshold).
    let clustered: Vec<f64> = (0..d)
        .map(|i| (1.0 + (i / 7) as f64) * (1.0 + 1e-9 * (i % 7) as f64))
        .collect();
    check(with_spectrum(&mut rng, &clustered).view(), 14, "clustered");
    // Exactly degenerate clusters, including a ± pair of equal |λ|.
    let mut degen: Vec<f64> = vec![5.0, 5.0, 5.0, -5.0, 3.0, 3.0, -2.0, -2.0];
    degen.extend((0..d - 8).map(|i| 0.5 / (1.0 + i as f64)));
    check(with_spectrum(&mut rng, &degen).view(), 8, "degenerate");
    // Rank four: k = 8 asks for zeros too.
    let mut low = vec![0.0; d];
    low[..4].copy_from_slice(&[4.0, -3.0, 2.0, -1.0]);
    check(with_spectrum(&mut rng, &low).view(), 8, "rank-deficient");
    check(Array2::<f64>::zeros((d, d)).view(), 6, "zero");
    check(Array2::<f64>::eye(d).view(), 6, "identity");
}

#[test]
fn tridiagonal_in_f32_agrees_with_f64_and_skips_vectors_when_not_asked() {
    let mut rng = ChaCha8Rng::seed_from_u64(72);
    let q = gaussian(&mut rng, 200);
    let exact = tridiagonal_top(q.view(), 16, true);
    let single = tridiagonal_top(q.mapv(|x| x as f32).view(), 16, true);
    assert_eq!(single.solver, Solver::Tridiagonal);
    let scale = exact.values[0].abs();
    for (a, b) in single.values.iter().zip(&exact.values) {
        assert!((f64::from(*a) - b).abs() < 1e-5 * scale, "{a} vs {b}");
    }
    // Simple eigenvalues of a Gaussian matrix: vectors agree entrywise after sign fixing, to
    // f32 accuracy over the gap.
    let (v32, v64) = (single.vectors.unwrap(), exact.vectors.unwrap());
    let worst = v32
        .iter()
        .zip(v64.iter())
        .fold(0.0f64, |m, (a, b)| m.max((f64::from(*a) - b).abs()));
    assert!(worst < 1e-3, "f32 vectors differ by {worst}");
    let values_only = tridiagonal_top(q.view(), 16, false);
    assert!(values_only.vectors.is_none());
    assert_eq!(values_only.values, exact.values);
}

/// Localised eigenvectors (a tridiagonal matrix with well-separated diagonal entries and small
/// couplings: components fall by ~1e-3 per index away from the centre) must come out with no
/// subnormal number in them, in f32 and f64: their tiny components are set to zero before the
/// back-transformation, whose GEMMs would otherwise run on subnormals (slow on Intel CPUs). The
/// values and vectors still match the full solver's.
#[test]
fn localised_eigenvectors_carry_no_subnormal_numbers() {
    let n = 240;
    let q = Array2::from_shape_fn((n, n), |(i, j)| match i.abs_diff(j) {
        0 => 1.0 + i as f64,
        1 => 1e-3,
        _ => 0.0,
    });
    check(q.view(), 12, "localised");
    let single = tridiagonal_top(q.mapv(|x| x as f32).view(), 12, true);
    assert_eq!(single.solver, Solver::Tridiagonal);
    let v = single.vectors.unwrap();
    let subnormal = v.iter().filter(|x| **x != 0.0 && !x.is_normal()).count();
    assert_eq!(
        subnormal, 0,
        "f32 vectors hold {subnormal} subnormal numbers"
    );
    let v = tridiagonal_top(q.view(), 12, true).vectors.unwrap();
    let subnormal = v.iter().filter(|x| **x != 0.0 && !x.is_normal()).count();
    assert_eq!(
        subnormal, 0,
        "f64 vectors hold {subnormal} subnormal numbers"
    );
}
