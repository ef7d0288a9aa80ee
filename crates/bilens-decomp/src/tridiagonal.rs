//! Top-k eigenpairs of a dense symmetric matrix through its tridiagonal form, at a cost that does
//! not depend on the spectrum.
//!
//! 1. Householder reduction `Q = H T Hᵀ` ([`crate::reduction`], blocked, in the matrix's own
//!    precision, as the full solver does it): `4/3 d³` flops, half of them in GEMM.
//! 2. The wanted eigenvalues of `T` (the `k` at the requested end, or `k` at each end for
//!    `|λ|` order) by bisection, and eigenvectors of the `k` kept ones only by inverse iteration,
//!    all in f64 ([`crate::sturm`]): `O(d k)` per step, negligible next to step 1.
//! 3. Back-transformation of the `k` vectors, `V = H Z`, by faer's blocked Householder
//!    application: `4 d² k` flops of GEMM.
//!
//! The full solver does step 1 too, then divide-and-conquer for every eigenvector and the
//! back-transformation of all `d` of them (`~4 d³` more). Lanczos is cheaper when the wanted end
//! of the spectrum converges fast, but its cost grows without bound as the spectrum flattens;
//! this path costs the same on every spectrum.
//!
//! It never hangs (every loop is capped) and checks its own work: a vector that does not
//! converge, or whose residual `‖T z − λ z‖` exceeds [`RESIDUAL_TOL`]` · ‖T‖`, makes it return
//! `None`, and the caller falls back to the full solver and counts it.

use faer::{Mat, Par};
use ndarray::{Array2, ArrayView2};

use crate::eigen::fix_sign;
use crate::order::{Order, pick};
use crate::reduction::Reduced;
use crate::scalar::Real;
use crate::sturm::Tridiagonal;

/// Largest accepted residual of a tridiagonal eigenvector, relative to `‖T‖₁` (inverse
/// iteration in f64 reaches `~d ε ‖T‖`, 2e-13 at d = 1024).
const RESIDUAL_TOL: f64 = 1e-9;

/// Relative accuracy (of `‖T‖`) to which bisection first takes every candidate for the top-k by
/// `|λ|`, before it refines those that can be kept: 2⁻²⁰, 20 of the ~53 halvings to full
/// accuracy.
const COARSE: f64 = 1.0 / (1u64 << 20) as f64;

/// Components of a unit inverse-iteration vector below this are set to zero before the
/// back-transformation. The eigenvectors of a matrix with a decaying spectrum are localised in
/// its tridiagonal form, their components falling geometrically to `1e-300` and below, far
/// under f32's smallest normal number (`1.2e-38`) and at times under f64's: GEMMs on subnormal
/// numbers take a microcode assist per operation on Intel CPUs, which made this path 2-3x
/// slower on decaying spectra than on a flat one there (measured in benches/README.md; AMD's
/// cores showed no such penalty). `ε²` is far below rounding: the vectors change by at most
/// `√n ε²` in norm, and every component that survives is a normal f32 number.
const NEGLIGIBLE: f64 = f64::EPSILON * f64::EPSILON;

/// The kept eigenpairs: values in the requested order and, when asked, the eigenvectors as the
/// rows of a `[k, d]` array (sign-fixed), in the same order.
pub(crate) struct TopK<T> {
    pub values: Vec<T>,
    pub vectors: Option<Array2<T>>,
}

/// The `k` eigenpairs of the symmetric `q` (upper triangle read) first in `order`, or `None`
/// when a self-check failed (see the module docs).
pub(crate) fn tridiagonal_top_k<T: Real>(
    q: ArrayView2<'_, T>,
    k: usize,
    order: Order,
    want_vectors: bool,
    par: Par,
) -> Option<TopK<T>> {
    let n = q.nrows();
    assert_eq!(q.ncols(), n, "tridiagonal_top_k: matrix must be square");
    let k = k.min(n);
    if k == 0 {
        return Some(TopK {
            values: Vec::new(),
            vectors: want_vectors.then(|| Array2::zeros((0, n))),
        });
    }
    let reduced = Reduced::new(q, par);
    let t = reduced.tridiagonal();
    let candidates = candidate_indices(n, k, order);
    let mut values = match order {
        // k at each end: all to within COARSE, then to full accuracy only those that can be
        // among the k largest |λ| (true |λ| within `radius` of each estimate).
        Order::AbsDescending => t.eigenvalues_refined(&candidates, COARSE, |estimates, radius| {
            let mut abs: Vec<f64> = estimates.iter().map(|x| x.abs()).collect();
            abs.sort_by(|a, b| b.total_cmp(a));
            let cut = abs[k - 1] - 2.0 * radius;
            (0..estimates.len())
                .filter(|&j| estimates[j].abs() >= cut)
                .collect()
        }),
        Order::Ascending | Order::Descending => t.eigenvalues(&candidates),
    };
    // Bisection of increasing indices gives nondecreasing values up to its tolerance; make it
    // exact so that `pick` sees a sorted list.
    values.sort_by(f64::total_cmp);
    // The candidates hold at least k values from each wanted end, so picking from them picks
    // what the whole spectrum would give.
    let picked = pick(&values, k, order);
    let kept: Vec<T> = picked.iter().map(|&i| T::of_f64(values[i])).collect();
    if !want_vectors {
        return Some(TopK {
            values: kept,
            vectors: None,
        });
    }
    let zt = selected_vectors(&reduced, &t, &values, &picked, par)?;
    let mut rows = Array2::<T>::zeros((k, n));
    for (r, mut row) in rows.rows_mut().into_iter().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = zt[(j, r)];
        }
        fix_sign(row);
    }
    Some(TopK {
        values: kept,
        vectors: Some(rows),
    })
}

/// The eigenvectors of the matrix `reduced` holds for the eigenvalues `values[i]`, `i` in
/// `picked`, as the columns of an `[n, picked.len()]` matrix in the order of `picked`.
/// `values` are eigenvalues of `t` (`reduced`'s tridiagonal form, which the caller already
/// has), ascending: all of them or a subset holding the picked ones. Inverse iteration on `t`
/// (`O(n)` per step and vector), components below [`NEGLIGIBLE`] set to zero, and the
/// back-transformation of the picked vectors only (`4 n² k` flops); `None` when a vector did
/// not converge or its residual `‖T z − λ z‖` exceeds [`RESIDUAL_TOL`]` · ‖T‖₁`, for the
/// caller to fall back to a full solver.
pub(crate) fn selected_vectors<T: Real>(
    reduced: &Reduced<T>,
    t: &Tridiagonal,
    values: &[f64],
    picked: &[usize],
    par: Par,
) -> Option<Mat<T>> {
    let n = t.a.len();
    // Inverse iteration takes its values ascending (clusters are adjacent).
    let mut ascending = picked.to_vec();
    ascending.sort_unstable();
    let chosen: Vec<f64> = ascending.iter().map(|&i| values[i]).collect();
    let z = t.eigenvectors(&chosen, 0x7121_D1A6 ^ n as u64)?;
    let norm = t.norm1().max(f64::MIN_POSITIVE);
    if chosen.iter().zip(&z).any(|(&l, v)| {
        let r = t.residual(l, v);
        r.is_nan() || r > RESIDUAL_TOL * norm
    }) {
        return None;
    }
    // Column r is the vector of the r-th picked value.
    let mut zt = Mat::<T>::zeros(n, picked.len());
    for (r, i) in picked.iter().enumerate() {
        let v = &z[ascending.binary_search(i).expect("picked index")];
        for (row, &x) in v.iter().enumerate() {
            zt[(row, r)] = T::of_f64(if x.abs() < NEGLIGIBLE { 0.0 } else { x });
        }
    }
    reduced.back_transform(&mut zt, par);
    Some(zt)
}

/// Ascending indices of the eigenvalues that can be among the first `k` in `order`.
fn candidate_indices(n: usize, k: usize, order: Order) -> Vec<usize> {
    match order {
        Order::Ascending => (0..k).collect(),
        Order::Descending => (n - k..n).collect(),
        Order::AbsDescending if 2 * k >= n => (0..n).collect(),
        Order::AbsDescending => (0..k).chain(n - k..n).collect(),
    }
}
