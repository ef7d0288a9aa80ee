//! Shared by the top-k solver tests: matrices with chosen spectra, and the comparison of a
//! top-k solver with the full decomposition.

#![allow(dead_code, reason = "each test file uses part of the helpers")]

use bilens_decomp::{BilinearLayer, LanczosParams, Method, Order, Par, Solver, eigh, eigh_full};
use ndarray::{Array1, Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

pub fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

/// A layer with standard normal `W, V [h, d]` and `P [o, h]` from `seed`.
pub fn random_layer(seed: u64, d: usize, h: usize, o: usize) -> BilinearLayer<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = randn(&mut rng, (h, d));
    let v = randn(&mut rng, (h, d));
    let p = randn(&mut rng, (o, h));
    BilinearLayer::new(w, v, p)
}

/// A random orthogonal basis `[d, d]`.
pub fn orthogonal(rng: &mut ChaCha8Rng, d: usize) -> Array2<f64> {
    let a = randn(rng, (d, d));
    let m = faer::Mat::from_fn(d, d, |i, j| a[(i, j)]);
    let q = m.qr().compute_Q();
    Array2::from_shape_fn((d, d), |(i, j)| q[(i, j)])
}

pub fn with_spectrum(rng: &mut ChaCha8Rng, values: &[f64]) -> Array2<f64> {
    let u = orthogonal(rng, values.len());
    let scaled = &u * &Array1::from(values.to_vec());
    let q = scaled.dot(&u.t());
    (&q + &q.t()) / 2.0
}

/// Compares the top-k by `method` (which must report `solver`) and by the full solver. Components are grouped into clusters
/// of equal |λ| (relative 1e-8): values must agree to 1e-6 relative, and each cluster's
/// projector must agree (this covers "vectors up to sign" for simple eigenvalues).
pub fn check(
    q: ArrayView2<'_, f64>,
    k: usize,
    order: Order,
    method: Method,
    solver: Solver,
    what: &str,
) {
    let params = LanczosParams::default();
    let got = eigh(q, Some(k), order, true, method, &params, Par::Seq).unwrap();
    assert_eq!(
        got.solver, solver,
        "{what}: should converge without falling back"
    );
    let full = eigh_full(q, Some(k), order, true, Par::Seq).unwrap();
    let scale = full.values.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (a, b)) in got.values.iter().zip(full.values.iter()).enumerate() {
        let (a, b) = if order == Order::AbsDescending {
            (a.abs(), b.abs())
        } else {
            (*a, *b)
        };
        assert!(
            (a - b).abs() <= 1e-6 * b.abs().max(1e-6 * scale),
            "{what}: λ_{i} {a} vs {b}"
        );
    }
    let (lv, fv) = (got.vectors.unwrap(), full.vectors.unwrap());
    // Every returned pair is an eigenpair with its signed value.
    for (i, v) in lv.rows().into_iter().enumerate() {
        let r = q.dot(&v) - &v * got.values[i];
        assert!(
            r.iter().all(|x| x.abs() <= 1e-7 * scale),
            "{what}: residual of pair {i}"
        );
    }
    // Clusters are found on the whole spectrum, so one that continues past k is seen.
    // Under AbsDescending, +λ and −λ tie and may come in either order: cluster by |λ| then.
    let key = |x: f64| {
        if order == Order::AbsDescending {
            x.abs()
        } else {
            x
        }
    };
    let all = eigh_full(q, None, order, false, Par::Seq).unwrap().values;
    let mut start = 0;
    while start < k {
        let mut end = start + 1;
        while end < all.len() && (key(all[end]) - key(all[start])).abs() <= 1e-8 * scale {
            end += 1;
        }
        if end > k {
            // The cluster straddles the cut: any basis of part of it is valid; only check that
            // the returned vectors lie in the full cluster's eigenspace (residual test).
            for i in start..k {
                let r = q.dot(&lv.row(i)) - &lv.row(i) * got.values[i];
                assert!(
                    r.iter().all(|x| x.abs() <= 1e-7 * scale),
                    "{what}: straddling cluster vector {i}"
                );
            }
            break;
        }
        let proj = |v: &Array2<f64>| {
            let block = v.slice(ndarray::s![start..end, ..]);
            block.t().dot(&block)
        };
        let diff = proj(&lv) - proj(&fv);
        let worst = diff.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(
            worst < 1e-6,
            "{what}: eigenspace {start}..{end} differs by {worst}"
        );
        if end - start == 1 {
            // Simple eigenvalue: same vector, and the sign convention makes it identical.
            let d = (&lv.row(start) - &fv.row(start))
                .iter()
                .fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(
                d < 1e-6,
                "{what}: vector {start} differs by {d} after sign fixing"
            );
        }
        start = end;
    }
}
