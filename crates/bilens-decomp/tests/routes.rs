//! The two ways of forming `Q(u)` agree, and the per-chunk extras (bias terms, feature-basis
//! interactions) equal their one-output definitions.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use bilens_decomp::{
    BilinearLayer, DecomposeParams, InputBasis, InteractionBasis, Par, Parallelism, Route,
    decompose, interaction_matrix, linear_term,
};
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    (a - b).iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn shared_basis_matrices_are_the_class_interaction_matrices() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // d = 100 packs 5050 numbers per matrix: more than one precomputation tile.
    for &(d, h, o) in &[
        (1usize, 1usize, 1usize),
        (7, 20, 3),
        (30, 50, 4),
        (100, 8, 3),
    ] {
        let layer = BilinearLayer::new(
            randn(&mut rng, (h, d)),
            randn(&mut rng, (h, d)),
            randn(&mut rng, (o, h)),
        );
        let basis = InteractionBasis::new(&layer, Par::Seq);
        let u = randn(&mut rng, (2, o));
        let packed = basis.form_packed(u.view(), Par::Seq);
        for r in 0..2 {
            let mut q = Array2::zeros((d, d));
            basis.unpack_into(packed.row(r), q.view_mut());
            let want = interaction_matrix(&layer, u.row(r));
            assert!(
                max_abs_diff(&q, &want) < 1e-11 * (h as f64),
                "d {d}: shared basis vs direct"
            );
        }
    }
}

#[test]
fn both_routes_give_the_same_decomposition() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // Many outputs in a small output space: the case the shared basis is for.
    let (d, h, o) = (24, 64, 6);
    let layer = BilinearLayer::new(
        randn(&mut rng, (h, d)),
        randn(&mut rng, (h, d)),
        randn(&mut rng, (o, h)),
    );
    let outputs = randn(&mut rng, (40, o));
    let run = |route| {
        decompose(
            &layer,
            outputs.view(),
            None,
            &DecomposeParams {
                route,
                k: Some(8),
                chunk_size: 16,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let (direct, shared) = (run(Route::Direct), run(Route::SharedBasis));
    assert!(max_abs_diff(&direct.eigenvalues, &shared.eigenvalues) < 1e-9);
    let (dv, sv) = (direct.eigenvectors.unwrap(), shared.eigenvectors.unwrap());
    assert!(
        (&dv - &sv).iter().all(|x| x.abs() < 1e-7),
        "vectors equal, signs fixed the same way"
    );
    // The cost rule picks the shared basis here, and the direct route for few outputs.
    assert_eq!(Route::Auto.resolve(&layer, 40, 1 << 30), Route::SharedBasis);
    assert_eq!(Route::Auto.resolve(&layer, 2, 1 << 30), Route::Direct);
    assert_eq!(
        Route::Auto.resolve(&layer, 40, 100),
        Route::Direct,
        "the basis must fit the budget"
    );
}

#[test]
fn bias_terms_per_chunk_equal_the_single_output_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (d, h, o) = (9, 13, 4);
    let layer = BilinearLayer::new(
        randn(&mut rng, (h, d)),
        randn(&mut rng, (h, d)),
        randn(&mut rng, (o, h)),
    )
    .with_biases(
        Some(Array1::from_shape_simple_fn(h, || {
            StandardNormal.sample(&mut rng)
        })),
        Some(Array1::from_shape_simple_fn(h, || {
            StandardNormal.sample(&mut rng)
        })),
    );
    let outputs = randn(&mut rng, (7, o));
    let dec = decompose(
        &layer,
        outputs.view(),
        None,
        &DecomposeParams {
            chunk_size: 3,
            parallelism: Parallelism::Sequential,
            ..Default::default()
        },
    )
    .unwrap();
    let (q, q0) = (dec.linear_terms.unwrap(), dec.constants.unwrap());
    for (r, u) in outputs.rows().into_iter().enumerate() {
        let (want_q, want_q0) = linear_term(&layer, u);
        assert!((&q.row(r) - &want_q).iter().all(|x| x.abs() < 1e-12));
        assert!((q0[r] - want_q0).abs() < 1e-12);
    }
    // In a feature basis the linear term is Dᵀq.
    let dmat = randn(&mut rng, (d, 15));
    let basis = InputBasis::new(dmat.clone());
    let dec = decompose(
        &layer,
        outputs.view(),
        Some(&basis),
        &DecomposeParams {
            interactions: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let fq = dec.linear_terms.unwrap();
    let (want_q, _) = linear_term(&layer, outputs.row(0));
    assert!(
        (&fq.row(0) - &dmat.t().dot(&want_q))
            .iter()
            .all(|x| x.abs() < 1e-10)
    );
    let inter = dec.interactions.unwrap();
    assert_eq!(inter.len(), 7);
    assert_eq!(inter[0].self_interactions.len(), 3);
    assert_eq!(
        dec.eigenvectors.unwrap().len_of(Axis(2)),
        15,
        "eigenvectors in feature space"
    );
}
