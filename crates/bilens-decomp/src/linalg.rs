//! The bridge to faer's kernels: zero-copy views of ndarray arrays, GEMM and the dense
//! symmetric eigensolver. Everything heavy in bilens goes through these few functions; other
//! bilens crates (the trainer) use [`gemm`] and [`matmul`] rather than reaching for faer.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::error::DecompError;
use crate::reduction::Reduced;
use crate::scalar::Real;
use crate::tridiagonal;

/// Runs `f` on a faer view of `a`: zero-copy when `a` is contiguous in row- or column-major
/// order (which covers every array bilens makes and their transposes), a copy otherwise.
pub(crate) fn with_faer<T: Real, R>(a: ArrayView2<'_, T>, f: impl FnOnce(MatRef<'_, T>) -> R) -> R {
    let (m, n) = a.dim();
    if let Some(s) = a.as_slice() {
        return f(MatRef::from_row_major_slice(s, m, n));
    }
    if let Some(s) = a.t().as_slice() {
        return f(MatRef::from_column_major_slice(s, m, n));
    }
    let owned = a.as_standard_layout();
    let s = owned.as_slice().expect("standard layout is contiguous");
    f(MatRef::from_row_major_slice(s, m, n))
}

/// A mutable faer view of an array contiguous in row- or column-major order.
///
/// # Panics
/// If `a` is not contiguous (every destination bilens allocates is).
#[track_caller]
pub(crate) fn faer_mut<'a, T: Real>(a: ArrayViewMut2<'a, T>) -> MatMut<'a, T> {
    let (m, n) = a.dim();
    let row_major = a.is_standard_layout();
    let column_major = a.t().is_standard_layout();
    let s = a
        .into_slice_memory_order()
        .expect("GEMM destinations must be contiguous arrays");
    if row_major {
        MatMut::from_row_major_slice_mut(s, m, n)
    } else {
        assert!(
            column_major,
            "GEMM destinations must be row- or column-major"
        );
        MatMut::from_column_major_slice_mut(s, m, n)
    }
}

/// `c = alpha * a b` (or `c += alpha * a b` when `accumulate`), by faer's GEMM.
#[track_caller]
pub fn gemm<T: Real>(
    c: ArrayViewMut2<'_, T>,
    accumulate: bool,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    alpha: T,
    par: Par,
) {
    assert_eq!(a.ncols(), b.nrows(), "gemm: inner dimensions differ");
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "gemm: destination shape");
    let dst = faer_mut(c);
    let accum = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    with_faer(a, |a| {
        with_faer(b, |b| {
            faer::linalg::matmul::matmul(dst, accum, a, b, alpha, par)
        })
    });
}

/// `a b` into a new row-major array.
#[track_caller]
pub fn matmul<T: Real>(a: ArrayView2<'_, T>, b: ArrayView2<'_, T>, par: Par) -> Array2<T> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    gemm(c.view_mut(), false, a, b, T::one(), par);
    c
}

/// Copies a faer matrix into a row-major ndarray array.
pub(crate) fn to_array<T: Real>(m: MatRef<'_, T>) -> Array2<T> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// Thin QR factorisation `a = Q R` of a tall matrix `a: [m, n]` (`m >= n`): `Q: [m, n]` with
/// orthonormal columns and upper-triangular `R: [n, n]`.
pub(crate) fn thin_qr<T: Real>(a: ArrayView2<'_, T>) -> (Array2<T>, Array2<T>) {
    with_faer(a, |a| {
        let qr = a.qr();
        (
            to_array(qr.compute_thin_Q().as_ref()),
            to_array(qr.thin_R()),
        )
    })
}

/// The full eigendecomposition of a symmetric matrix, as faer returns it.
pub(crate) struct DenseEigen<T> {
    /// Eigenvalues in nondecreasing order (faer's contract).
    pub values: Vec<T>,
    /// Eigenvectors as the columns of an `n x n` matrix, in the order of `values`.
    pub vectors: Option<Mat<T>>,
}

/// Dense symmetric eigendecomposition of `q` (only its upper triangle is read): bilens's
/// blocked reduction to tridiagonal form ([`crate::reduction`], faster than faer's own, see
/// there), faer's tridiagonal divide-and-conquer solver, and faer's back-transformation of the
/// eigenvectors.
pub(crate) fn eigh_dense<T: Real>(
    q: ArrayView2<'_, T>,
    want_vectors: bool,
    par: Par,
) -> Result<DenseEigen<T>, DecompError> {
    let n = q.nrows();
    assert_eq!(q.ncols(), n, "eigh_dense: matrix must be square");
    if n == 0 {
        return Ok(DenseEigen {
            values: Vec::new(),
            vectors: want_vectors.then(|| Mat::zeros(0, 0)),
        });
    }
    let compute = if want_vectors {
        ComputeEigenvectors::Yes
    } else {
        ComputeEigenvectors::No
    };
    let reduced = Reduced::new(q, par);
    let (diag, sub) = reduced.diagonals();
    let mut s = Diag::<T>::zeros(n);
    let mut u = want_vectors.then(|| Mat::<T>::zeros(n, n));
    let mut buf = MemBuffer::new(evd::self_adjoint_evd_scratch::<T>(
        n,
        compute,
        par,
        Default::default(),
    ));
    evd::tridiagonal_self_adjoint_evd(
        diag.as_ref(),
        sub.as_ref(),
        s.as_mut(),
        u.as_mut().map(|u| u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|_| DecompError::NoConvergence { dim: n })?;
    if let Some(u) = u.as_mut() {
        reduced.back_transform(u, par);
    }
    let values = (0..n).map(|i| s[i]).collect();
    Ok(DenseEigen { values, vectors: u })
}

/// Every eigenvalue of a symmetric matrix and the eigenvectors of a chosen few.
pub(crate) struct SelectedEigen<T> {
    /// All eigenvalues, nondecreasing.
    pub values: Vec<T>,
    /// Indices into `values` of the chosen eigenpairs, in the chooser's order.
    pub chosen: Vec<usize>,
    /// Their eigenvectors, the columns of an `[n, chosen.len()]` matrix in the order of `chosen`.
    pub vectors: Mat<T>,
}

/// Every eigenvalue of the symmetric `q` (upper triangle read) and the eigenvectors of those
/// `choose` picks (given the nondecreasing values, it returns indices into them): the
/// reduction to tridiagonal form, the eigenvalues by QL iteration without vectors (`O(n²)`,
/// [`Tridiagonal::all_eigenvalues`](crate::sturm::Tridiagonal::all_eigenvalues)), and inverse
/// iteration and the back-transformation for the chosen vectors only
/// ([`tridiagonal::selected_vectors`]). For `k` of `n` vectors this skips divide-and-conquer's
/// `O(n³)` and the back-transformation of the `n - k` others: the Lanczos Rayleigh–Ritz step
/// needs every Ritz value but only its kept vectors. When inverse iteration fails its checks,
/// or QL does not converge, [`eigh_dense`] computes everything (a rare, slower path with the
/// same result).
pub(crate) fn eigh_selected<T: Real>(
    q: ArrayView2<'_, T>,
    choose: impl Fn(&[T]) -> Vec<usize>,
    par: Par,
) -> Result<SelectedEigen<T>, DecompError> {
    let n = q.nrows();
    assert_eq!(q.ncols(), n, "eigh_selected: matrix must be square");
    if n == 0 {
        return Ok(SelectedEigen {
            values: Vec::new(),
            chosen: Vec::new(),
            vectors: Mat::zeros(0, 0),
        });
    }
    let reduced = Reduced::new(q, par);
    let t = reduced.tridiagonal();
    if let Some(exact) = t.all_eigenvalues() {
        let values: Vec<T> = exact.iter().map(|&x| T::of_f64(x)).collect();
        let chosen = choose(&values);
        if let Some(vectors) = tridiagonal::selected_vectors(&reduced, &t, &exact, &chosen, par) {
            return Ok(SelectedEigen {
                values,
                chosen,
                vectors,
            });
        }
    }
    let dense = eigh_dense(q, true, par)?;
    let u = dense.vectors.expect("vectors requested");
    let chosen = choose(&dense.values);
    let vectors = Mat::from_fn(n, chosen.len(), |i, j| u[(i, chosen[j])]);
    Ok(SelectedEigen {
        values: dense.values,
        chosen,
        vectors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{Order, pick};
    use ndarray::array;

    #[test]
    fn gemm_handles_transposed_views_without_copy_semantics_changing() {
        let a = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let b = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let c = matmul(a.view(), b.view(), Par::Seq);
        assert_eq!(c, a.dot(&b));
        let ct = matmul(a.t(), a.view(), Par::Seq);
        assert_eq!(ct, a.t().dot(&a));
        // A strided (non-contiguous) view falls back to a copy.
        let big = Array2::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f64);
        let s = big.slice(ndarray::s![..;2, ..;3]);
        let k = Array2::<f64>::eye(2);
        assert_eq!(matmul(s, k.view(), Par::Seq), s.to_owned());
    }

    /// The selected path against the dense one: every eigenvalue to 1e-12 ‖Q‖, and the chosen
    /// vectors orthonormal with residuals `‖Q v − λ v‖` at rounding (which with the values
    /// fixes the eigenspaces, repeated ones included), on a random matrix, a degenerate one
    /// (repeated eigenvalues and a ± pair), a low-rank one and zero.
    #[test]
    fn eigh_selected_matches_eigh_dense() {
        let n = 60;
        let mut state = 3u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let g = Array2::from_shape_fn((n, n), |_| uniform());
        let random = &g + &g.t();
        let (basis, _) = thin_qr(g.view());
        let with_spectrum = |values: &dyn Fn(usize) -> f64| {
            let scaled = Array2::from_shape_fn((n, n), |(i, j)| basis[(i, j)] * values(j));
            matmul(scaled.view(), basis.t(), Par::Seq)
        };
        let degenerate = with_spectrum(&|j| [3.0, 3.0, 3.0, -3.0, 1.0][j % 5]);
        let low_rank = with_spectrum(&|j| if j < 4 { j as f64 + 1.0 } else { 0.0 });
        let zero = Array2::<f64>::zeros((n, n));
        for (q, what) in [
            (random, "random"),
            (degenerate, "degenerate"),
            (low_rank, "low rank"),
            (zero, "zero"),
        ] {
            let dense = eigh_dense(q.view(), false, Par::Seq).expect("converges");
            let k = 17;
            let got = eigh_selected(q.view(), |v| pick(v, k, Order::AbsDescending), Par::Seq)
                .expect("converges");
            let scale = dense.values.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
            for (a, b) in got.values.iter().zip(&dense.values) {
                assert!((a - b).abs() <= 1e-12 * scale, "{what}: {a} vs {b}");
            }
            assert_eq!(got.chosen, pick(&got.values, k, Order::AbsDescending));
            for (c, &i) in got.chosen.iter().enumerate() {
                let v = ndarray::Array1::from_iter((0..n).map(|r| got.vectors[(r, c)]));
                let residual = q.dot(&v) - &(&v * got.values[i]);
                let r = residual.dot(&residual).sqrt();
                assert!(r <= 1e-10 * scale, "{what}: residual {r} of pair {i}");
                for c2 in 0..k {
                    let w = ndarray::Array1::from_iter((0..n).map(|r| got.vectors[(r, c2)]));
                    let want = if c == c2 { 1.0 } else { 0.0 };
                    let dot = v.dot(&w);
                    assert!((dot - want).abs() < 1e-10, "{what}: <v{c}, v{c2}> = {dot}");
                }
            }
        }
    }

    #[test]
    fn eigh_dense_is_ascending_and_reconstructs() {
        let q = array![[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, -1.0]];
        let e = eigh_dense(q.view(), true, Par::Seq).expect("converges");
        assert!(e.values.windows(2).all(|w| w[0] <= w[1]));
        let u = e.vectors.expect("requested");
        for (i, want) in [-1.0f64, 1.0, 3.0].iter().enumerate() {
            assert!((e.values[i] - want).abs() < 1e-12);
            let v: Vec<f64> = (0..3).map(|r| u[(r, i)]).collect();
            let qv = q.dot(&ndarray::Array1::from(v.clone()));
            for r in 0..3 {
                assert!((qv[r] - want * v[r]).abs() < 1e-12);
            }
        }
    }
}
