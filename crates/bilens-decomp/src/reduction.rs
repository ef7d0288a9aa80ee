//! Blocked Householder reduction of a symmetric matrix to tridiagonal form, `Q = H T Hᵀ`.
//!
//! Why not faer's `tridiag_in_place`: it applies each reflector to the trailing matrix at once,
//! in one fused pass that reads **and writes** the whole trailing triangle per column, in AVX2
//! (faer enables AVX-512 only on nightly). Under callgrind at `d = 1024` in f32 that pass was 73%
//! of the instructions of the tridiagonal top-k path (benches/README.md has the profile before
//! and after).
//!
//! This is the blocked reduction of LAPACK's `sytrd`/`latrd` (Dongarra, Sorensen & Hammarling,
//! "Block reduction of matrices to condensed forms for eigenvalue computations", J. Comput.
//! Appl. Math. 27, 1989; Golub & Van Loan, *Matrix Computations*, 4th ed., section 8.3.1): within
//! a panel of [`PANEL`] columns the trailing matrix is only **read** (one symmetric
//! matrix-vector product per column, corrected by the panel's earlier reflectors), and it is
//! written once per panel by a rank-`2·PANEL` update, `A ← A − V Wᵀ − W Vᵀ`, which is a GEMM.
//! Half of the `4/3 d³` flops move into GEMM and the memory traffic of the other half halves.
//!
//! The output has exactly the layout of faer's: `T` on the diagonal and subdiagonal, the
//! essential parts of the Householder vectors below the subdiagonal (faer's convention,
//! `H_c = I − v vᵀ / τ`, `v_0 = 1`), and the block factors of the reflectors in `householder`
//! (its first row the `τ`s, then upgraded per block as faer does), so faer's blocked
//! back-transformation and its tridiagonal eigensolvers take it unchanged.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder::{self, make_householder_in_place, upgrade_householder_factor};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};
use ndarray::ArrayView2;

use crate::scalar::Real;
use crate::sturm::Tridiagonal;
use crate::symmetric::symv_lower;

/// A symmetric matrix reduced to tridiagonal form, `Q = H T Hᵀ`: `T` on the diagonal and
/// subdiagonal of `a`, the Householder vectors below the subdiagonal and their block factors in
/// `householder`. Both the tridiagonal top-k path and the full solver start here.
pub(crate) struct Reduced<T> {
    a: Mat<T>,
    householder: Mat<T>,
}

impl<T: Real> Reduced<T> {
    /// Reduces the symmetric `q` (upper triangle read: the reduction works on the lower
    /// triangle of its own copy, which for a symmetric matrix holds the same numbers).
    pub fn new(q: ArrayView2<'_, T>, par: Par) -> Self {
        let n = q.nrows();
        assert_eq!(q.ncols(), n, "Reduced::new: matrix must be square");
        let mut a = Mat::<T>::zeros(n, n);
        // Column j of the copy's lower triangle is row j of q from the diagonal on. Row by row
        // as slices when q's rows are contiguous (the pipeline's case): faer's
        // `copy_from_triangular_lower` went element by element, ~2 ms at n = 1024 in f32.
        for (j, row) in q.rows().into_iter().enumerate() {
            let mut col = a.col_mut(j).subrows_mut(j, n - j);
            match (row.as_slice(), col.rb_mut().try_as_col_major_mut()) {
                (Some(src), Some(dst)) => dst.as_slice_mut().copy_from_slice(&src[j..]),
                _ => {
                    for (i, &x) in row.iter().enumerate().skip(j) {
                        col[i - j] = x;
                    }
                }
            }
        }
        let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<T>(n, n);
        let mut householder = Mat::<T>::zeros(bs, n.saturating_sub(1));
        tridiagonalize(a.as_mut(), householder.as_mut(), par);
        Self { a, householder }
    }

    /// `T` in f64, for bisection and inverse iteration.
    pub fn tridiagonal(&self) -> Tridiagonal {
        let n = self.a.nrows();
        Tridiagonal {
            a: (0..n).map(|i| self.a[(i, i)].as_f64()).collect(),
            b: (1..n).map(|i| self.a[(i, i - 1)].as_f64()).collect(),
        }
    }

    /// `T`'s diagonal and subdiagonal (padded with a zero to length `n`), in faer's types.
    pub fn diagonals(&self) -> (Diag<T>, Diag<T>) {
        let n = self.a.nrows();
        let (mut diag, mut sub) = (Diag::<T>::zeros(n), Diag::<T>::zeros(n));
        for i in 0..n {
            diag[i] = self.a[(i, i)];
            if i + 1 < n {
                sub[i] = self.a[(i + 1, i)];
            }
        }
        (diag, sub)
    }

    /// `Z ← H Z` for eigenvectors `Z` of `T` (columns), making them eigenvectors of `Q`:
    /// `4 n² k` flops for `k` columns, in faer's blocked Householder application (GEMM).
    pub fn back_transform(&self, z: &mut Mat<T>, par: Par) {
        let n = self.a.nrows();
        if n < 2 {
            return;
        }
        let bs = self.householder.nrows();
        let mut buf = MemBuffer::new(
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<T>(
                n - 1,
                bs,
                z.ncols(),
            ),
        );
        householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
            self.a.as_ref().submatrix(1, 0, n - 1, n - 1),
            self.householder.as_ref(),
            Conj::No,
            z.as_mut().subrows_mut(1, n - 1),
            par,
            MemStack::new(&mut buf),
        );
    }
}

/// Columns per panel: the rank of each trailing GEMM update is twice this. 32 keeps the panel's
/// `V` and `W` (2 · 32 columns) in L2 next to a matrix-vector sweep at `d = 1024`.
const PANEL: usize = 32;

/// Reduces the symmetric `a` (lower triangle read) to tridiagonal form in place; `householder`
/// is `[block, n − 1]` with `block` the block size faer's back-transformation will be told
/// (its number of rows).
fn tridiagonalize<T: Real>(mut a: MatMut<'_, T>, mut householder: MatMut<'_, T>, par: Par) {
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "tridiagonalize: matrix must be square");
    assert_eq!(
        householder.ncols(),
        n.saturating_sub(1),
        "tridiagonalize: householder width"
    );
    if n < 2 {
        return;
    }
    let mut v = Mat::<T>::zeros(n, PANEL);
    let mut w = Mat::<T>::zeros(n, PANEL);
    let mut p = 0;
    while p + 1 < n {
        let b = PANEL.min(n - 1 - p);
        for j in 0..b {
            let c = p + j;
            update_column(a.rb_mut(), v.as_ref(), w.as_ref(), c, j);
            let tau_inv = reflect(a.rb_mut(), householder.rb_mut(), v.as_mut(), c, j);
            let (w_done, w_rest) = w.as_mut().split_at_col_mut(j);
            let y = w_rest
                .col_mut(0)
                .subrows_mut(c + 1, n - c - 1)
                .try_as_col_major_mut()
                .expect("a Mat column is contiguous");
            direction(
                a.rb().submatrix(c + 1, c + 1, n - c - 1, n - c - 1),
                v.as_ref().submatrix(c + 1, 0, n - c - 1, j + 1),
                w_done.rb().subrows(c + 1, n - c - 1),
                y.as_slice_mut(),
                tau_inv,
            );
        }
        // The rows and columns the panel has not reached yet take all of its reflectors at
        // once: A ← A − V Wᵀ − W Vᵀ on the lower triangle.
        let s = p + b;
        if s < n {
            let m = n - s;
            let (vs, ws) = (
                v.as_ref().submatrix(s, 0, m, b),
                w.as_ref().submatrix(s, 0, m, b),
            );
            for (l, r) in [(vs, ws), (ws, vs)] {
                triangular::matmul(
                    a.rb_mut().submatrix_mut(s, s, m, m),
                    BlockStructure::TriangularLower,
                    Accum::Add,
                    l,
                    BlockStructure::Rectangular,
                    r.transpose(),
                    BlockStructure::Rectangular,
                    -T::one(),
                    par,
                );
            }
        }
        p = s;
    }
    upgrade_factors(a.rb(), householder, par);
}

/// Column `c` (rows `c..`), which the panel's first `j` reflectors have not touched yet, brought
/// up to date: `a[c.., c] −= V[c.., :j] W[c, :j]ᵀ + W[c.., :j] V[c, :j]ᵀ`.
fn update_column<T: Real>(
    a: MatMut<'_, T>,
    v: MatRef<'_, T>,
    w: MatRef<'_, T>,
    c: usize,
    j: usize,
) {
    if j == 0 {
        return;
    }
    let n = a.nrows();
    let mut col = a.col_mut(c).subrows_mut(c, n - c);
    let (vb, wb) = (v.submatrix(c, 0, n - c, j), w.submatrix(c, 0, n - c, j));
    for (l, r) in [(vb, wb), (wb, vb)] {
        matmul(
            col.rb_mut().as_mat_mut(),
            Accum::Add,
            l,
            r.row(0).transpose().as_mat(),
            -T::one(),
            Par::Seq,
        );
    }
}

/// The reflector of column `c` from its entries below the diagonal: stores `β` (the subdiagonal
/// of `T`) and the essential part in place, `τ` in the factor's first row, `v` (with its leading
/// 1) in panel column `j`; returns `1/τ` (0 when the column is already reduced).
fn reflect<T: Real>(
    a: MatMut<'_, T>,
    mut householder: MatMut<'_, T>,
    mut v: MatMut<'_, T>,
    c: usize,
    j: usize,
) -> T {
    let n = a.nrows();
    let (mut head, mut tail) = a
        .col_mut(c)
        .subrows_mut(c + 1, n - c - 1)
        .split_at_row_mut(1);
    let info = make_householder_in_place(&mut head[0], tail.rb_mut());
    householder[(0, c)] = info.tau;
    let mut vj = v.rb_mut().col_mut(j);
    vj[c + 1] = T::one();
    for i in 0..n - c - 2 {
        vj[c + 2 + i] = tail[i];
    }
    // faer marks a column with nothing to reduce by τ = ∞: the reflector is the identity.
    if info.tau.is_finite() {
        info.tau.recip()
    } else {
        T::zero()
    }
}

/// The update direction `w` of the newest reflector `v = V[:, j]`, into `y`: with
/// `y = (A v − V_{<j} (W_{<j}ᵀ v) − W_{<j} (V_{<j}ᵀ v)) / τ` (the product with the trailing
/// matrix as the panel's earlier reflectors have changed it) and `β = vᵀ y / (2τ)`,
/// `w = y − β v`, so that `H A H = A − v wᵀ − w vᵀ`.
fn direction<T: Real>(
    a22: MatRef<'_, T>,
    v: MatRef<'_, T>,
    w_done: MatRef<'_, T>,
    y: &mut [T],
    tau_inv: T,
) {
    let j = v.ncols() - 1;
    let vj = v
        .col(j)
        .try_as_col_major()
        .expect("a Mat column is contiguous")
        .as_slice();
    symv_lower(a22, vj, y);
    if j > 0 {
        // y −= V_{<j} (W_{<j}ᵀ v) + W_{<j} (V_{<j}ᵀ v)
        let v_done = v.subcols(0, j);
        let v_new = v.col(j).as_mat();
        let mut y = faer::MatMut::from_column_major_slice_mut(y, vj.len(), 1);
        let mut t = Mat::<T>::zeros(j, 1);
        for (l, r) in [(v_done, w_done), (w_done, v_done)] {
            matmul(
                t.as_mut(),
                Accum::Replace,
                r.transpose(),
                v_new,
                T::one(),
                Par::Seq,
            );
            matmul(y.rb_mut(), Accum::Add, l, t.as_ref(), -T::one(), Par::Seq);
        }
    }
    let half = T::of_f64(0.5);
    let mut vy = T::zero();
    for (yi, &vi) in y.iter_mut().zip(vj) {
        *yi *= tau_inv;
        vy += *yi * vi;
    }
    let beta = vy * half * tau_inv;
    for (yi, &vi) in y.iter_mut().zip(vj) {
        *yi -= beta * vi;
    }
}

/// The block factors of the reflectors, as faer's own reduction leaves them: for each block of
/// `householder.nrows()` reflectors the triangular factor of their compact WY form.
fn upgrade_factors<T: Real>(a: MatRef<'_, T>, mut householder: MatMut<'_, T>, par: Par) {
    let n = a.nrows() - 1;
    let essentials = a.submatrix(1, 0, n, n);
    let bs = householder.nrows();
    let mut j = 0;
    while j < n {
        let b = bs.min(n - j);
        let mut h = householder.rb_mut().submatrix_mut(0, j, b, b);
        for k in 0..b {
            h[(k, k)] = h[(0, k)];
        }
        upgrade_householder_factor(h, essentials.submatrix(j, j, n - j, b), b, 1, par);
        j += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symmetric::tests::symmetric;
    use faer::linalg::evd::tridiag;
    use ndarray::Array2;

    /// `T` and the reflectors of faer's unblocked reduction, which takes the same reflectors in
    /// exact arithmetic (an independent implementation of the same algorithm).
    fn faer_reduction(q: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
        let n = q.nrows();
        let mut a = Mat::<f64>::from_fn(n, n, |i, j| q[(i, j)]);
        let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
        let mut h = Mat::<f64>::zeros(bs, n.saturating_sub(1));
        let mut buf = MemBuffer::new(tridiag::tridiag_in_place_scratch::<f64>(
            n,
            Par::Seq,
            Default::default(),
        ));
        tridiag::tridiag_in_place(
            a.as_mut(),
            h.as_mut(),
            Par::Seq,
            MemStack::new(&mut buf),
            Default::default(),
        );
        (
            (0..n).map(|i| a[(i, i)]).collect(),
            (1..n).map(|i| a[(i, i - 1)]).collect(),
        )
    }

    #[test]
    fn blocked_reduction_equals_faer_and_rebuilds_the_matrix() {
        // Sizes below, at and across panel boundaries (PANEL = 32), odd and even.
        for (seed, n) in [(1, 1), (2, 2), (3, 3), (4, 31), (5, 33), (6, 64), (7, 97)] {
            let q = symmetric(seed, n);
            let reduced = Reduced::new(q.view(), Par::Seq);
            let t = reduced.tridiagonal();
            let (diag, sub) = faer_reduction(&q);
            let scale = q.iter().fold(0.0f64, |m, x| m.max(x.abs())) * n as f64;
            for (i, (x, y)) in t.a.iter().zip(&diag).enumerate() {
                assert!(
                    (x - y).abs() < 1e-12 * scale,
                    "n {n}: diagonal {i}: {x} vs faer's {y}"
                );
            }
            for (i, (x, y)) in t.b.iter().zip(&sub).enumerate() {
                assert!(
                    (x - y).abs() < 1e-12 * scale,
                    "n {n}: subdiagonal {i}: {x} vs faer's {y}"
                );
            }
            // H from the back-transformation of the identity; then H T Hᵀ = Q entry by entry.
            let mut h = Mat::<f64>::identity(n, n);
            reduced.back_transform(&mut h, Par::Seq);
            for i in 0..n {
                for j in 0..n {
                    let mut x = 0.0;
                    for r in 0..n {
                        for (c, tv) in [(r, t.a[r])]
                            .into_iter()
                            .chain((r > 0).then(|| (r - 1, t.b[r - 1])))
                            .chain((r + 1 < n).then(|| (r + 1, t.b[r])))
                        {
                            x += h[(i, r)] * tv * h[(j, c)];
                        }
                    }
                    assert!(
                        (x - q[(i, j)]).abs() < 1e-12 * scale,
                        "n {n}: (HTHᵀ)[{i},{j}] = {x}, Q = {}",
                        q[(i, j)]
                    );
                }
            }
        }
    }

    /// Only the upper triangle is read, and whatever the layout (rows contiguous, copied as
    /// slices; a transposed or strided view, element by element) the same numbers come out.
    #[test]
    fn the_reduction_reads_the_upper_triangle_in_any_layout() {
        let n = 70;
        let q = symmetric(9, n);
        let want = Reduced::new(q.view(), Par::Seq).tridiagonal();
        let mut holed = q.clone();
        for i in 0..n {
            for j in 0..i {
                holed[(i, j)] = f64::NAN;
            }
        }
        let transposed = q.t().to_owned();
        let mut wide = Array2::<f64>::from_elem((n, 2 * n), f64::NAN);
        for i in 0..n {
            for j in i..n {
                wide[(i, 2 * j)] = q[(i, j)];
            }
        }
        for (what, view) in [
            ("lower triangle NaN", holed.view()),
            ("a transposed view", transposed.t()),
            (
                "every other column of a wider array",
                wide.slice(ndarray::s![.., ..;2]),
            ),
        ] {
            let got = Reduced::new(view, Par::Seq).tridiagonal();
            assert_eq!(got.a, want.a, "{what}");
            assert_eq!(got.b, want.b, "{what}");
        }
    }

    #[test]
    fn blocked_reduction_in_f32_agrees_with_f64() {
        let n = 150;
        let q = symmetric(8, n);
        let exact = Reduced::new(q.view(), Par::Seq).tridiagonal();
        let single = Reduced::new(q.mapv(|x| x as f32).view(), Par::Seq).tridiagonal();
        let scale = exact
            .a
            .iter()
            .chain(&exact.b)
            .fold(0.0f64, |m, x| m.max(x.abs()));
        for (x, y) in single
            .a
            .iter()
            .chain(&single.b)
            .zip(exact.a.iter().chain(&exact.b))
        {
            assert!((x - y).abs() < 1e-4 * scale, "f32 {x} vs f64 {y}");
        }
    }
}
