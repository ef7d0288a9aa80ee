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
/// random orthogonal matrix (from Gram–Schmidt of a Gaussian matrix).
pub fn realistic_matrix<T: Real>(seed: u64, d: usize) -> Array2<T> {
    let g: Array2<f64> = randn(seed, (d, d));
    let mut u = Array2::<f64>::zeros((d, d));
    for j in 0..d {
        let mut c = g.column(j).to_owned();
        for _ in 0..2 {
            for i in 0..j {
                let p = u.column(i).dot(&c);
                c.scaled_add(-p, &u.column(i));
            }
        }
        let n = c.dot(&c).sqrt();
        u.column_mut(j).assign(&(c / n));
    }
    let lam = realistic_spectrum(d);
    let q = (&u * &lam).dot(&u.t());
    q.mapv(T::of_f64)
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
