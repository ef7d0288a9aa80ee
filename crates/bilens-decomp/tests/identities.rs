//! docs/MATH.md section 9, identities 1, 2 and 7, in f64 on seeded random layers of many shapes.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use bilens_decomp::{
    BilinearLayer, BilinearModel, DecomposeParams, Order, Par, Parallelism, decompose, eigh_full,
    interaction_matrix, reconstruct,
};
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// (d_in, d_hidden, d_out): 1x1, tall, wide, square, `d_in > d_hidden`, `d_in < d_hidden`.
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (2, 5, 3),
    (7, 3, 2),
    (16, 16, 4),
    (40, 12, 5),
    (12, 40, 10),
    (33, 64, 1),
];

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

fn random_layer(seed: u64, (d_in, h, d_out): (usize, usize, usize)) -> BilinearLayer<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    BilinearLayer::new(
        randn(&mut rng, (h, d_in)),
        randn(&mut rng, (h, d_in)),
        randn(&mut rng, (d_out, h)),
    )
}

/// A layer whose W and V have rank 2 whatever their shape.
fn rank_deficient_layer(seed: u64, (d_in, h, d_out): (usize, usize, usize)) -> BilinearLayer<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = randn(&mut rng, (h, 2)).dot(&randn(&mut rng, (2, d_in)));
    let v = randn(&mut rng, (h, 2)).dot(&randn(&mut rng, (2, d_in)));
    BilinearLayer::new(w, v, randn(&mut rng, (d_out, h)))
}

fn all_layers() -> Vec<BilinearLayer<f64>> {
    let mut layers: Vec<_> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, &s)| random_layer(i as u64, s))
        .collect();
    layers.push(rank_deficient_layer(99, (20, 30, 3)));
    layers.push(BilinearLayer::new(
        Array2::zeros((4, 6)),
        Array2::zeros((4, 6)),
        Array2::zeros((2, 4)),
    ));
    layers
}

/// Relative error with an absolute floor scaled to the problem, `c·ε·√n` style.
fn assert_close(got: f64, want: f64, scale: f64, what: &str) {
    let tol = 1e-10 * scale.max(1.0);
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn identity_1_quadratic_form_equals_projected_output() {
    for (li, layer) in all_layers().iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + li as u64);
        let x = randn(&mut rng, (5, layer.d_in()));
        let u = randn(&mut rng, (1, layer.d_out())).row(0).to_owned();
        let q = interaction_matrix(layer, u.view());
        assert_eq!(q, q.t(), "Q(u) is exactly symmetric");
        let y = layer.forward(x.view(), Par::Seq);
        for (n, xn) in x.rows().into_iter().enumerate() {
            let quad = xn.dot(&q.dot(&xn));
            let direct = u.dot(&y.row(n));
            assert_close(
                quad,
                direct,
                (layer.d_in() * layer.d_hidden()) as f64,
                &format!("layer {li} sample {n}"),
            );
        }
    }
}

#[test]
fn identity_2_eigen_reconstruction_and_component_sum() {
    for (li, layer) in all_layers().iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(2000 + li as u64);
        let u = randn(&mut rng, (1, layer.d_out())).row(0).to_owned();
        let q = interaction_matrix(layer, u.view());
        let sp = eigh_full(q.view(), None, Order::AbsDescending, true, Par::Seq).unwrap();
        let v = sp.vectors.as_ref().unwrap();
        // Orthonormal rows.
        let gram = v.dot(&v.t());
        let d = layer.d_in();
        let scale = q.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
        for i in 0..d {
            for j in 0..d {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (gram[(i, j)] - want).abs() < 1e-10 * (d as f64),
                    "layer {li}: VVᵀ[{i},{j}]"
                );
            }
        }
        // V diag(λ) Vᵀ == Q.
        let recon = v.t().dot(&Array2::from_diag(&sp.values)).dot(v);
        for (a, b) in recon.iter().zip(q.iter()) {
            assert!(
                (a - b).abs() <= 1e-10 * scale * d as f64,
                "layer {li}: reconstruction {a} vs {b}"
            );
        }
        // Σ λ (vᵀx)² == xᵀQx.
        let x = randn(&mut rng, (4, d));
        let summed = reconstruct(sp.values.view(), v.view(), x.view(), Par::Seq);
        for (n, xn) in x.rows().into_iter().enumerate() {
            assert_close(
                summed[n],
                xn.dot(&q.dot(&xn)),
                scale * d as f64,
                &format!("layer {li}"),
            );
        }
        // Sorted by descending |λ|, and Σλ² equals ‖Q‖_F².
        assert!(
            sp.values
                .windows(2)
                .into_iter()
                .all(|w| w[0].abs() >= w[1].abs())
        );
        let sum_sq: f64 = sp.values.iter().map(|l| l * l).sum();
        assert!((sum_sq - sp.norm_sq).abs() <= 1e-10 * sp.norm_sq.max(1e-300) * d as f64);
    }
}

#[test]
fn identity_7_all_components_rebuild_the_model_exactly() {
    for (li, &(d_in, h, d_out)) in SHAPES.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(7000 + li as u64);
        let layer = random_layer(li as u64 + 70, (d_in, h, d_out));
        let d_input = 9;
        let embed = randn(&mut rng, (d_in, d_input));
        let linear = randn(&mut rng, (d_out, d_in));
        let model = BilinearModel::new(Some(embed), layer.clone(), Some(linear.clone()));
        let classes = Array2::eye(d_out);
        let dec = decompose(&layer, classes.view(), None, &DecomposeParams::default()).unwrap();
        let x = randn(&mut rng, (6, d_input));
        let e = model.layer_input(x.view(), Par::Seq);
        let want = model.forward(x.view(), Par::Seq);
        let lin = e.dot(&linear.t());
        let vecs = dec.eigenvectors.as_ref().unwrap();
        for o in 0..d_out {
            let v = vecs.index_axis(Axis(0), o);
            // In the layer's input space...
            let quad = reconstruct(dec.eigenvalues.row(o), v, e.view(), Par::Seq);
            // ...and in the model's input space through the embedding, ṽ = Eᵀv.
            let pix = model.to_input_space(v, Par::Seq).unwrap();
            let quad_pix = reconstruct(dec.eigenvalues.row(o), pix.view(), x.view(), Par::Seq);
            for n in 0..x.nrows() {
                let scale = (d_in * h) as f64 * want.iter().fold(1.0f64, |m, y| m.max(y.abs()));
                assert_close(
                    quad[n] + lin[(n, o)],
                    want[(n, o)],
                    scale,
                    &format!("shape {li} class {o}"),
                );
                assert_close(
                    quad_pix[n] + lin[(n, o)],
                    want[(n, o)],
                    scale,
                    &format!("shape {li} class {o} (pixels)"),
                );
            }
        }
    }
}

#[test]
fn top_k_and_parallel_runs_agree_with_the_full_sequential_result() {
    let layer = random_layer(5, (30, 50, 7));
    let outputs = randn(&mut ChaCha8Rng::seed_from_u64(6), (11, 7));
    let full = decompose(
        &layer,
        outputs.view(),
        None,
        &DecomposeParams {
            parallelism: Parallelism::Sequential,
            chunk_size: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let top = decompose(
        &layer,
        outputs.view(),
        None,
        &DecomposeParams {
            k: Some(4),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(top.eigenvalues.dim(), (11, 4));
    assert_eq!(
        top.eigenvalues,
        full.eigenvalues.slice(ndarray::s![.., ..4])
    );
    let fv = full.eigenvectors.unwrap();
    assert_eq!(
        top.eigenvectors.unwrap(),
        fv.slice(ndarray::s![.., ..4, ..])
    );
    assert_eq!(top.norm_sq, full.norm_sq);
    // Sign convention: the largest-magnitude entry of every eigenvector is positive.
    for v in fv.rows() {
        let m = v
            .iter()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { *x } else { m });
        assert!(m >= 0.0);
    }
    let spectra_only = decompose(
        &layer,
        outputs.view(),
        None,
        &DecomposeParams {
            eigenvectors: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(spectra_only.eigenvectors.is_none());
    let diff = (&spectra_only.eigenvalues - &full.eigenvalues).mapv(f64::abs);
    assert!(
        diff.iter().all(|d| *d < 1e-9),
        "values without vectors equal values with vectors"
    );
    let _: Array1<f64> = full.norm_sq;
}
