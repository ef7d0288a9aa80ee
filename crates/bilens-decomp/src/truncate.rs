//! Outputs rebuilt from components: `uᵀy(x) ≈ Σ_{kept} λ_k (v_kᵀ x)²` (docs/MATH.md section 7).
//!
//! With every component of `Q(u)` kept this is exact; keeping the top few shows how much of
//! the output they carry. Linear (residual) terms are not part of `Q` and are added by the
//! caller (see [`crate::BilinearModel::linear`]).

use faer::Par;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};

use crate::linalg;
use crate::scalar::Real;

/// Component activations `λ_k (v_kᵀ x)²` for a batch `x: [n, d]`, components `vectors: [k, d]`
/// (rows) with eigenvalues `values: [k]`; returns `[n, k]`.
#[track_caller]
pub fn activations<T: Real>(
    values: ArrayView1<'_, T>,
    vectors: ArrayView2<'_, T>,
    x: ArrayView2<'_, T>,
    par: Par,
) -> Array2<T> {
    assert_eq!(
        values.len(),
        vectors.nrows(),
        "one eigenvalue per eigenvector"
    );
    assert_eq!(
        x.ncols(),
        vectors.ncols(),
        "x and eigenvectors must share their width"
    );
    let mut proj = linalg::matmul(x, vectors.t(), par);
    Zip::from(proj.rows_mut()).for_each(|mut row| {
        Zip::from(&mut row)
            .and(&values)
            .for_each(|p, &l| *p = l * *p * *p);
    });
    proj
}

/// `Σ_k λ_k (v_kᵀ x)²` for a batch `x: [n, d]`: the output rebuilt from the given components,
/// `[n]`.
#[track_caller]
pub fn reconstruct<T: Real>(
    values: ArrayView1<'_, T>,
    vectors: ArrayView2<'_, T>,
    x: ArrayView2<'_, T>,
    par: Par,
) -> Array1<T> {
    activations(values, vectors, x, par).sum_axis(ndarray::Axis(1))
}
