//! Shared fixtures for the bilens benchmarks: seeded synthetic layers and matrices with
//! realistic spectra, and the table of real layer shapes the benchmarks sweep.

use bilens_decomp::{BilinearLayer, Real};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A layer shape `(name, d_in, d_hidden, d_out)` from a real model family.
pub type Shape = (&'static str, usize, usize, usize);

/// Real layer shapes: the paper's MNIST model, TinyStories-medium, FineWeb-small/medium, and
/// one larger.
pub const SHAPES: &[Shape] = &[
    ("mnist", 512, 512, 10),
    ("ts-medium", 512, 2048, 512),
    ("fw-small", 768, 3072, 768),
    ("fw-medium", 1024, 4096, 1024),
    ("large", 2048, 8192, 2048),
];

/// A seeded Gaussian matrix.
pub fn randn<T: Real>(seed: u64, shape: (usize, usize)) -> Array2<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn(shape, || T::of_f64(StandardNormal.sample(&mut rng)))
}

/// The spectrum of a trained layer's interaction matrix, roughly: `|λ_i| ∝ (1 + i)^-1.2`, signs
/// mixed (two positive to one negative).
pub fn realistic_spectrum(d: usize) -> Array1<f64> {
    Array1::from_shape_fn(d, |i| {
        (if i % 3 == 2 { -1.0 } else { 1.0 }) / (1.0 + i as f64).powf(1.2)
    })
}

/// A symmetric `d x d` matrix `U diag(λ) Uᵀ` with the [`realistic_spectrum`], `U` a seeded
/// random orthogonal matrix (the Q factor of a Gaussian matrix).
pub fn realistic_matrix<T: Real>(seed: u64, d: usize) -> Array2<T> {
    let g: Array2<f64> = randn(seed, (d, d));
    let q = faer::Mat::from_fn(d, d, |i, j| g[(i, j)]).qr().compute_Q();
    let u = Array2::from_shape_fn((d, d), |(i, j)| q[(i, j)]);
    let lam = realistic_spectrum(d);
    let m = (&u * &lam).dot(&u.t());
    let m = (&m + &m.t()) / 2.0;
    m.mapv(T::of_f64)
}

/// A seeded random layer of the given shape, weights scaled like PyTorch's initialisation.
pub fn random_layer<T: Real>(
    seed: u64,
    d_in: usize,
    d_hidden: usize,
    d_out: usize,
) -> BilinearLayer<T> {
    let s_in = T::of_f64(1.0 / (d_in as f64).sqrt());
    let s_h = T::of_f64(1.0 / (d_hidden as f64).sqrt());
    BilinearLayer::new(
        randn::<T>(seed, (d_hidden, d_in)) * s_in,
        randn::<T>(seed + 1, (d_hidden, d_in)) * s_in,
        randn::<T>(seed + 2, (d_out, d_hidden)) * s_h,
    )
}

/// A seeded layer whose interaction matrices have decaying spectra like trained layers', and
/// `n_outputs` unit output directions (rows `[n_outputs, d_out]`).
///
/// `W = A diag(s) B` and `V = A' diag(s) B'` with Gaussian `A, B` scaled by
/// `s_i = (1 + i)^-0.6` over a rank of `min(d_hidden, d_in)`: the resulting `Q(u)` have
/// power-law spectra with both signs, rather than the flat semicircle of an i.i.d. layer.
pub fn synthetic_layer(
    seed: u64,
    d_in: usize,
    d_hidden: usize,
    d_out: usize,
    n_outputs: usize,
) -> (BilinearLayer<f32>, Array2<f32>) {
    let r = d_hidden.min(d_in);
    let decay = Array1::from_shape_fn(r, |i| (1.0 + i as f32).powf(-0.6));
    let factor = |s: u64, rows: usize| -> Array2<f32> {
        let left = randn::<f32>(s, (rows, r)) * (&decay / (r as f32).sqrt());
        let right = randn::<f32>(s + 1, (r, d_in)) / (d_in as f32).sqrt();
        left.dot(&right)
    };
    let w = factor(seed, d_hidden);
    let v = factor(seed + 10, d_hidden);
    let p = randn::<f32>(seed + 20, (d_out, d_hidden)) / (d_hidden as f32).sqrt();
    let mut dirs = randn::<f32>(seed + 30, (n_outputs, d_out));
    for mut row in dirs.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    (BilinearLayer::new(w, v, p), dirs)
}

/// A seeded layer with power-law factors, built independently of [`synthetic_layer`]: `W` and
/// `V` are `U diag(s) Rᵀ` with singular values `s_i ∝ (1 + i)^-0.7` and random orthonormal
/// singular vectors `U: [d_hidden, r]`, `R: [d_in, r]` (`r = min(d_hidden, d_in)`), and a
/// Gaussian `P` (`N(0, 1/d_hidden)`), as in issue 12's power-law benchmark.
pub fn power_law_layer(
    seed: u64,
    d_in: usize,
    d_hidden: usize,
    d_out: usize,
) -> BilinearLayer<f32> {
    let r = d_hidden.min(d_in);
    let orthonormal = |s: u64, rows: usize| -> Array2<f64> {
        let g: Array2<f64> = randn(s, (rows, r));
        let q = faer::Mat::from_fn(rows, r, |i, j| g[(i, j)])
            .qr()
            .compute_thin_Q();
        Array2::from_shape_fn((rows, r), |(i, j)| q[(i, j)])
    };
    let s = Array1::from_shape_fn(r, |i| (1.0 + i as f64).powf(-0.7));
    let factor = |seed: u64| -> Array2<f32> {
        let u = orthonormal(seed, d_hidden) * &s;
        u.dot(&orthonormal(seed + 1, d_in).t()).mapv(|x| x as f32)
    };
    let p = randn::<f32>(seed + 20, (d_out, d_hidden)) / (d_hidden as f32).sqrt();
    BilinearLayer::new(factor(seed), factor(seed + 10), p)
}

/// `n` seeded random unit output directions `[n, d_out]`.
pub fn unit_directions(seed: u64, n: usize, d_out: usize) -> Array2<f32> {
    let mut dirs = randn::<f32>(seed, (n, d_out));
    for mut row in dirs.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    dirs
}
