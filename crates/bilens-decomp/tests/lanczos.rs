//! docs/MATH.md identity 6: the top-k of the Lanczos solver equals the top-k of a full
//! eigendecomposition (values to 1e-6 relative in f64, vectors up to sign, degenerate
//! eigenspaces by projector), on matrices with realistic, flat, degenerate and low-rank spectra.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use bilens_decomp::{
    BilinearLayer, LanczosParams, Method, Order, Par, Solver, eigh, interaction_matrix,
    lanczos_applies,
};
use common::{randn, with_spectrum};
use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Lanczos against the full solver (it must apply to the problem and converge).
fn check(q: ArrayView2<'_, f64>, k: usize, order: Order, what: &str) {
    assert!(
        lanczos_applies::<f64>(&LanczosParams::default(), q.nrows(), k),
        "{what}: test problem too small"
    );
    common::check(q, k, order, Method::Lanczos, Solver::Lanczos, what);
}

#[test]
fn lanczos_matches_full_on_a_trained_like_interaction_matrix() {
    // Q(u) of a random layer: a realistic indefinite spectrum with both signs.
    let mut rng = ChaCha8Rng::seed_from_u64(60);
    let (d, h) = (200, 300);
    let layer = BilinearLayer::new(
        randn(&mut rng, (h, d)),
        randn(&mut rng, (h, d)),
        randn(&mut rng, (3, h)),
    );
    let q = interaction_matrix(&layer, ndarray::array![1.0, -0.3, 0.2].view());
    check(q.view(), 12, Order::AbsDescending, "layer Q");
    check(q.view(), 5, Order::Descending, "layer Q, descending");
    check(q.view(), 5, Order::Ascending, "layer Q, ascending");
}

#[test]
fn lanczos_matches_full_on_decaying_flat_degenerate_and_low_rank_spectra() {
    let mut rng = ChaCha8Rng::seed_from_u64(61);
    let d = 160;
    // Power-law decay alternating in sign (like trained layers).
    let decay: Vec<f64> = (0..d)
        .map(|i| (if i % 3 == 0 { -1.0 } else { 1.0 }) / (1.0 + i as f64).powf(1.2))
        .collect();
    check(
        with_spectrum(&mut rng, &decay).view(),
        10,
        Order::AbsDescending,
        "decaying",
    );
    // Nearly flat: slow convergence, must still get there (or fall back, which check rejects).
    let flat: Vec<f64> = (0..d)
        .map(|i| 1.0 + 0.01 * (i as f64 / d as f64) * if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    check(
        with_spectrum(&mut rng, &flat).view(),
        6,
        Order::AbsDescending,
        "flat",
    );
    // Exactly degenerate clusters, including a ± pair of equal |λ|.
    let mut degen: Vec<f64> = vec![5.0, 5.0, 5.0, -5.0, 3.0, 3.0, -2.0, -2.0];
    degen.extend((0..d - 8).map(|i| 0.5 / (1.0 + i as f64)));
    check(
        with_spectrum(&mut rng, &degen).view(),
        8,
        Order::AbsDescending,
        "degenerate",
    );
    // Low rank: only 4 nonzero eigenvalues, k = 8 asks for zeros too.
    let mut low = vec![0.0; d];
    low[..4].copy_from_slice(&[4.0, -3.0, 2.0, -1.0]);
    check(
        with_spectrum(&mut rng, &low).view(),
        8,
        Order::AbsDescending,
        "low rank",
    );
}

#[test]
fn lanczos_matches_full_beyond_one_tile_on_one_or_several_threads_and_on_a_strided_view() {
    // d = 600 spans three tiles of the symmetric product (256 columns): the sweeps below the
    // diagonal tiles run, not only the diagonal GEMMs the smaller matrices above take.
    let mut rng = ChaCha8Rng::seed_from_u64(63);
    let d = 600;
    let decay: Vec<f64> = (0..d)
        .map(|i| (if i % 2 == 0 { 1.0 } else { -1.0 }) / (1.0 + i as f64).powf(1.1))
        .collect();
    let q = with_spectrum(&mut rng, &decay);
    check(q.view(), 10, Order::AbsDescending, "d = 600");
    // Several threads take faer's GEMM for the products; a view with neither axis contiguous
    // is copied once. Both must give the one-thread values.
    let mut wide = ndarray::Array2::<f64>::zeros((d, d + 3));
    wide.slice_mut(ndarray::s![.., ..d]).assign(&q);
    let strided = wide.slice(ndarray::s![.., ..d]);
    assert!(!strided.is_standard_layout() && !strided.t().is_standard_layout());
    let params = LanczosParams::default();
    let solve = |q: ArrayView2<'_, f64>, par| {
        eigh(
            q,
            Some(10),
            Order::AbsDescending,
            false,
            Method::Lanczos,
            &params,
            par,
        )
        .unwrap()
    };
    let one = solve(q.view(), Par::Seq);
    for (what, other) in [
        ("two threads", solve(q.view(), Par::rayon(2))),
        ("strided view", solve(strided, Par::Seq)),
    ] {
        assert_eq!(other.solver, Solver::Lanczos, "{what}");
        for (a, b) in other.values.iter().zip(&one.values) {
            assert!((a - b).abs() <= 1e-9 * b.abs(), "{what}: {a} vs {b}");
        }
    }
}

#[test]
fn lanczos_falls_back_to_the_full_solver_and_says_so() {
    let mut rng = ChaCha8Rng::seed_from_u64(62);
    let d = 120;
    let values: Vec<f64> = (0..d).map(|i| 1.0 / (1.0 + i as f64)).collect();
    let q = with_spectrum(&mut rng, &values);
    // Zero restarts and a tolerance no Krylov basis can meet: it must give up and fall back.
    let params = LanczosParams {
        max_restarts: 0,
        tol: 1e-300,
        ..Default::default()
    };
    let sp = eigh(
        q.view(),
        Some(5),
        Order::AbsDescending,
        true,
        Method::Lanczos,
        &params,
        Par::Seq,
    )
    .unwrap();
    assert_eq!(sp.solver, Solver::LanczosFallback);
    for (i, l) in sp.values.iter().enumerate() {
        assert!((l - values[i]).abs() < 1e-12);
    }
    // A problem too small for a Krylov basis also falls back rather than failing.
    let tiny = with_spectrum(&mut rng, &[3.0, 2.0, 1.0]);
    let sp = eigh(
        tiny.view(),
        Some(2),
        Order::AbsDescending,
        false,
        Method::Lanczos,
        &LanczosParams::default(),
        Par::Seq,
    )
    .unwrap();
    assert_eq!(sp.solver, Solver::LanczosFallback);
    assert!(sp.vectors.is_none());
}

#[test]
fn auto_picks_lanczos_only_for_a_small_fraction_of_a_large_matrix() {
    let p = LanczosParams::default();
    assert_eq!(
        Method::Auto.resolve::<f32>(1024, Some(64), &p),
        Method::Lanczos
    );
    assert_eq!(Method::Auto.resolve::<f32>(1024, None, &p), Method::Full);
    assert_eq!(
        Method::Auto.resolve::<f32>(512, Some(400), &p),
        Method::Full
    );
    assert_eq!(Method::Auto.resolve::<f32>(64, Some(4), &p), Method::Full);
    assert_eq!(Method::Full.resolve::<f32>(1024, Some(8), &p), Method::Full);
}

/// In f32 the Krylov basis and its coefficients are f32 (only the small eigenproblem is f64):
/// on every spectrum above, including those that need restarts (flat) or exhaust the Krylov
/// space (low rank), the f32 pairs must still meet the f32 tolerance (`1e-4 ‖Q‖`) as pairs of
/// the f64 matrix, be orthonormal, and carry the f64 full solver's values.
#[test]
fn lanczos_in_f32_meets_its_tolerance_with_an_f32_basis() {
    let mut rng = ChaCha8Rng::seed_from_u64(64);
    let layer = BilinearLayer::new(
        randn(&mut rng, (300, 200)),
        randn(&mut rng, (300, 200)),
        randn(&mut rng, (3, 300)),
    );
    let d = 160;
    let decay: Vec<f64> = (0..d)
        .map(|i| (if i % 3 == 0 { -1.0 } else { 1.0 }) / (1.0 + i as f64).powf(1.2))
        .collect();
    let flat: Vec<f64> = (0..d)
        .map(|i| 1.0 + 0.01 * (i as f64 / d as f64) * if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let mut degen: Vec<f64> = vec![5.0, 5.0, 5.0, -5.0, 3.0, 3.0, -2.0, -2.0];
    degen.extend((0..d - 8).map(|i| 0.5 / (1.0 + i as f64)));
    let mut low = vec![0.0; d];
    low[..4].copy_from_slice(&[4.0, -3.0, 2.0, -1.0]);
    let long: Vec<f64> = (0..600)
        .map(|i| (if i % 2 == 0 { 1.0 } else { -1.0 }) / (1.0 + i as f64).powf(1.1))
        .collect();
    let cases = [
        (
            "layer Q",
            interaction_matrix(&layer, ndarray::array![1.0, -0.3, 0.2].view()),
            12,
        ),
        ("decaying", with_spectrum(&mut rng, &decay), 10),
        ("flat", with_spectrum(&mut rng, &flat), 6),
        ("degenerate", with_spectrum(&mut rng, &degen), 8),
        ("low rank", with_spectrum(&mut rng, &low), 8),
        ("d = 600", with_spectrum(&mut rng, &long), 10),
    ];
    for (what, q, k) in cases {
        let full =
            bilens_decomp::eigh_full(q.view(), Some(k), Order::AbsDescending, false, Par::Seq)
                .unwrap();
        let scale = full.values.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let got = eigh(
            q.mapv(|x| x as f32).view(),
            Some(k),
            Order::AbsDescending,
            true,
            Method::Lanczos,
            &LanczosParams::default(),
            Par::Seq,
        )
        .unwrap();
        assert_eq!(got.solver, Solver::Lanczos, "{what}: converges in f32");
        for (i, (a, b)) in got.values.iter().zip(&full.values).enumerate() {
            let a = f64::from(*a);
            assert!(
                (a.abs() - b.abs()).abs() <= 1e-5 * scale,
                "{what}: λ_{i} {a} vs {b}"
            );
        }
        let v = got.vectors.unwrap().mapv(f64::from);
        for (i, row) in v.rows().into_iter().enumerate() {
            let r = q.dot(&row) - &row * f64::from(got.values[i]);
            let r = r.dot(&r).sqrt();
            let r = r / scale;
            assert!(r <= 2e-4, "{what}: residual of pair {i} is {r:.1e} ‖Q‖");
        }
        let gram = v.dot(&v.t()) - ndarray::Array2::<f64>::eye(k);
        let worst = gram.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(worst <= 1e-5, "{what}: vectors orthonormal to {worst:.1e}");
    }
}
