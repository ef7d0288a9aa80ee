//! docs/MATH.md section 9, identities 3, 4 and 5, plus the feature-basis route, in f64 on seeded
//! random layers (including `d_in > d_hidden`, `d_in < d_hidden` and rank-deficient layers).

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use bilens_decomp::{
    BilinearLayer, DecomposeParams, InputBasis, Method, Order, Par, hidden_coefficients,
    hidden_gram, hosvd, interaction_matrix, linear_term, symmetrized,
};
use ndarray::{Array1, Array2, ArrayView2, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 5, 2),
    (6, 3, 4),
    (9, 9, 5),
    (12, 4, 7),
    (5, 14, 3),
];

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

fn randv(rng: &mut ChaCha8Rng, n: usize) -> Array1<f64> {
    Array1::from_shape_simple_fn(n, || StandardNormal.sample(rng))
}

fn layers() -> Vec<BilinearLayer<f64>> {
    let mut out = Vec::new();
    for (i, &(d, h, o)) in SHAPES.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(300 + i as u64);
        out.push(BilinearLayer::new(
            randn(&mut rng, (h, d)),
            randn(&mut rng, (h, d)),
            randn(&mut rng, (o, h)),
        ));
    }
    // Rank-deficient: W and V of rank 2, P of rank 1.
    let mut rng = ChaCha8Rng::seed_from_u64(399);
    let w = randn(&mut rng, (10, 2)).dot(&randn(&mut rng, (2, 8)));
    let v = randn(&mut rng, (10, 2)).dot(&randn(&mut rng, (2, 8)));
    let p = randn(&mut rng, (4, 1)).dot(&randn(&mut rng, (1, 10)));
    out.push(BilinearLayer::new(w, v, p));
    out
}

fn max_abs(a: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn identity_3_bias_augmented_form_equals_the_biased_layer() {
    for (li, layer) in layers().into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(3000 + li as u64);
        let h = layer.d_hidden();
        let biased = layer.with_biases(Some(randv(&mut rng, h)), Some(randv(&mut rng, h)));
        let aug = biased.augmented();
        assert_eq!(aug.d_in(), biased.d_in() + 1);
        let u = randv(&mut rng, biased.d_out());
        let q_aug = interaction_matrix(&aug, u.view());
        let q = interaction_matrix(&biased, u.view());
        let (lin, q0) = linear_term(&biased, u.view());
        let d = biased.d_in();
        let scale = max_abs(q_aug.iter().copied()).max(1.0);
        // The blocks of Q' are Q, the linear term and the constant.
        assert!(max_abs((&q_aug.slice(s![..d, ..d]) - &q).into_iter()) < 1e-12 * scale);
        assert!(max_abs((&q_aug.slice(s![..d, d]) - &lin).into_iter()) < 1e-12 * scale);
        assert!((q_aug[(d, d)] - q0).abs() < 1e-12 * scale);
        let x = randn(&mut rng, (5, d));
        let y = biased.forward(x.view(), Par::Seq);
        for (n, xn) in x.rows().into_iter().enumerate() {
            let want = u.dot(&y.row(n));
            let xa = ndarray::concatenate![ndarray::Axis(0), xn, ndarray::array![1.0]];
            let via_aug = xa.dot(&q_aug.dot(&xa));
            let via_terms = xn.dot(&q.dot(&xn)) + 2.0 * lin.dot(&xn) + q0;
            let tol = 1e-10 * want.abs().max(scale * d as f64);
            assert!(
                (via_aug - want).abs() < tol,
                "layer {li}: augmented {via_aug} vs layer {want}"
            );
            assert!(
                (via_terms - want).abs() < tol,
                "layer {li}: Q + 2q + q0 {via_terms} vs {want}"
            );
        }
    }
}

/// A layer reading `x + o` (an input SAE's `x = D f + b_dec`): the offset moved into the
/// biases gives the shifted layer's outputs, the same `Q(u)`, and the linear term and constant
/// `Q(u) o + q`, `oᵀQ(u)o + 2 qᵀo + q0`, with or without biases of its own.
#[test]
fn an_input_offset_becomes_biases_exactly() {
    for (li, layer) in layers().into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(3500 + li as u64);
        let (h, d) = (layer.d_hidden(), layer.d_in());
        let o = randv(&mut rng, d);
        let u = randv(&mut rng, layer.d_out());
        for biased in [
            layer.clone(),
            layer.with_biases(Some(randv(&mut rng, h)), Some(randv(&mut rng, h))),
        ] {
            let shifted = biased.clone().with_input_offset(o.view());
            let q = interaction_matrix(&biased, u.view());
            let scale = max_abs(q.iter().copied()).max(1.0);
            assert!(
                max_abs((&interaction_matrix(&shifted, u.view()) - &q).into_iter()) < 1e-12 * scale
            );
            let (lin, q0) = if biased.has_biases() {
                linear_term(&biased, u.view())
            } else {
                (Array1::zeros(d), 0.0)
            };
            let (lin_s, q0_s) = linear_term(&shifted, u.view());
            let qo = q.dot(&o);
            let tol = 1e-10 * scale * (d as f64) * (1.0 + max_abs(o.iter().copied())).powi(2);
            assert!(
                max_abs((&lin_s - &(&qo + &lin)).into_iter()) < tol,
                "layer {li}"
            );
            assert!(
                (q0_s - (o.dot(&qo) + 2.0 * lin.dot(&o) + q0)).abs() < tol,
                "layer {li}"
            );
            let x = randn(&mut rng, (4, d));
            let moved = &x + &o;
            let (a, b) = (
                shifted.forward(x.view(), Par::Seq),
                biased.forward(moved.view(), Par::Seq),
            );
            let out_scale = max_abs(b.iter().copied()).max(1.0);
            assert!(
                max_abs((&a - &b).into_iter()) < 1e-10 * out_scale,
                "layer {li}"
            );
        }
    }
}

/// `B_flat` `[d_out (or n), d_in²]`, materialised and symmetrised in (i, j): test-only.
fn flat_tensor(layer: &BilinearLayer<f64>, restrict: Option<ArrayView2<'_, f64>>) -> Array2<f64> {
    let p = match restrict {
        Some(u) => u.dot(&layer.p()),
        None => layer.p().to_owned(),
    };
    let d = layer.d_in();
    let mut b = Array2::zeros((p.nrows(), d * d));
    for o in 0..p.nrows() {
        let mut q = Array2::<f64>::zeros((d, d));
        for a in 0..layer.d_hidden() {
            let w = layer.w().row(a).to_owned();
            let v = layer.v().row(a).to_owned();
            for i in 0..d {
                for j in 0..d {
                    q[(i, j)] += p[(o, a)] * w[i] * v[j];
                }
            }
        }
        let q = symmetrized(q.view());
        b.row_mut(o)
            .assign(&q.into_shape_with_order(d * d).unwrap());
    }
    b
}

fn explicit_svd(b: &Array2<f64>) -> (Vec<f64>, Array2<f64>) {
    let m = faer::Mat::from_fn(b.nrows(), b.ncols(), |i, j| b[(i, j)]);
    let svd = m.thin_svd().unwrap();
    let k = b.nrows().min(b.ncols());
    let s: Vec<f64> = (0..k).map(|i| svd.S()[i]).collect();
    // Rows = right singular vectors.
    let v = Array2::from_shape_fn((k, b.ncols()), |(i, j)| svd.V()[(j, i)]);
    (s, v)
}

#[test]
fn identity_4_gram_route_matches_explicit_svd_of_the_materialised_tensor() {
    for (li, layer) in layers().iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(4000 + li as u64);
        let restriction = randn(&mut rng, (3, layer.d_out()));
        for restrict in [None, Some(restriction.view())] {
            let b = flat_tensor(layer, restrict);
            let (s_ref, v_ref) = explicit_svd(&b);
            let comps = s_ref.len();
            let ours = hosvd(layer, restrict, comps, Par::Seq).unwrap();
            let smax = s_ref[0].max(1e-300);
            // The Gram route computes σ² to an absolute accuracy of ~ε‖G‖ = ε σ_max², so
            // compare squares (σ itself of a zero singular value is only good to √ε σ_max).
            for (s, (got, want)) in ours.singular_values.iter().zip(&s_ref).enumerate() {
                assert!(
                    (got * got - want * want).abs() < 1e-12 * smax * smax,
                    "layer {li} σ_{s}: {got} vs {want}"
                );
                if *want > 1e-3 * smax {
                    assert!(
                        (got - want).abs() < 1e-10 * smax,
                        "layer {li} σ_{s}: {got} vs {want}"
                    );
                }
            }
            // Q_s = Q(u_s)/σ_s equals the reshaped right singular vector up to sign, for
            // singular values that are well separated and nonzero.
            let dirs = ours.component_directions();
            let d = layer.d_in();
            for sidx in 0..comps {
                let sep = (0..comps)
                    .filter(|&t| t != sidx)
                    .map(|t| (s_ref[t] - s_ref[sidx]).abs())
                    .fold(f64::INFINITY, f64::min);
                if s_ref[sidx] < 1e-8 * smax || sep < 1e-6 * smax {
                    continue;
                }
                let qs = interaction_matrix(layer, dirs.row(sidx));
                let flat = qs.into_shape_with_order(d * d).unwrap();
                let dot = flat.dot(&v_ref.row(sidx));
                assert!(
                    (dot.abs() - 1.0).abs() < 1e-8,
                    "layer {li} component {sidx}: |<Q_s, V_s>| = {dot}"
                );
            }
        }
    }
}

#[test]
fn identity_5_frobenius_norm_from_the_hidden_gram() {
    for (li, layer) in layers().iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(5000 + li as u64);
        let m = hidden_gram(layer, Par::Seq);
        for _ in 0..3 {
            let u = randv(&mut rng, layer.d_out());
            let c = hidden_coefficients(layer, u.view());
            let q = interaction_matrix(layer, u.view());
            let fro: f64 = q.iter().map(|x| x * x).sum();
            let via_m = c.dot(&m.dot(&c));
            assert!(
                (fro - via_m).abs() <= 1e-10 * fro.max(1e-300),
                "layer {li}: {fro} vs {via_m}"
            );
        }
    }
}

#[test]
fn feature_basis_reduced_route_equals_the_explicit_projection() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    for &(d, n) in &[(6usize, 4usize), (6, 6), (5, 23)] {
        let layer = BilinearLayer::new(
            randn(&mut rng, (8, d)),
            randn(&mut rng, (8, d)),
            randn(&mut rng, (2, 8)),
        );
        let basis = InputBasis::new(randn(&mut rng, (d, n)));
        let q = interaction_matrix(&layer, ndarray::array![1.0, -0.5].view());
        let explicit = basis.project(q.view(), Par::Seq);
        let k = basis.max_components();
        let full = bilens_decomp::eigh_full(
            explicit.view(),
            Some(k),
            Order::AbsDescending,
            true,
            Par::Seq,
        )
        .unwrap();
        let params = DecomposeParams {
            method: Method::Full,
            ..Default::default()
        };
        let got = basis.eigen(q.view(), &params, Par::Seq).unwrap();
        let scale = max_abs(full.values.iter().copied());
        assert_eq!(got.values.len(), k);
        for (a, b) in got.values.iter().zip(full.values.iter()) {
            assert!((a - b).abs() < 1e-10 * scale, "n = {n}: {a} vs {b}");
        }
        assert!((got.norm_sq - full.norm_sq).abs() < 1e-10 * full.norm_sq);
        // Eigenvectors: in feature space, unit, and Q_D v = λ v.
        let v = got.vectors.unwrap();
        for (row, &l) in v.rows().into_iter().zip(got.values.iter()) {
            assert!((row.dot(&row) - 1.0).abs() < 1e-10);
            let r = explicit.dot(&row) - &row * l;
            assert!(max_abs(r.into_iter()) < 1e-9 * scale, "n = {n}: residual");
        }
        let top = basis.top_interactions(q.view(), 3, Par::Seq);
        let mut diag: Vec<(usize, f64)> = (0..n).map(|f| (f, explicit[(f, f)])).collect();
        diag.sort_by(|a, b| b.1.abs().partial_cmp(&a.1.abs()).unwrap());
        assert_eq!(top.self_interactions, diag[..3.min(n)].to_vec());
        let mut cross = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                cross.push((a, b, explicit[(a, b)]));
            }
        }
        cross.sort_by(|a, b| b.2.abs().partial_cmp(&a.2.abs()).unwrap());
        cross.truncate(3);
        for (g, w) in top.cross_interactions.iter().zip(&cross) {
            assert_eq!((g.0, g.1), (w.0, w.1));
            assert!((g.2 - w.2).abs() < 1e-10 * scale);
        }
    }
}
