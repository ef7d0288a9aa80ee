//! Interaction matrices `Q(u) = sym(Wᵀ diag(Pᵀu) V)`, formed from the factors.
//!
//! `B[o,i,j] = Σ_a P[o,a] W[a,i] V[a,j]` is never materialised: for one output direction `u`
//! the hidden coefficients are `c = Pᵀu` and `Q(u)` is one `[d_in, d_hidden] x [d_hidden, d_in]`
//! GEMM (`2 d_hidden d_in²` flops) followed by an explicit symmetrisation. The antisymmetric
//! part of `Wᵀ diag(c) V` does not contribute to `xᵀQx`, but an eigensolver that reads one
//! triangle would silently use it, so the result is always symmetrised.

use faer::Par;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, Zip};

use crate::layer::BilinearLayer;
use crate::linalg;
use crate::scalar::Real;

/// The hidden coefficients `c = Pᵀ u` of an output direction `u` (`[d_out]` -> `[d_hidden]`).
#[track_caller]
pub fn hidden_coefficients<T: Real>(layer: &BilinearLayer<T>, u: ArrayView1<'_, T>) -> Array1<T> {
    assert_eq!(
        u.len(),
        layer.d_out(),
        "output direction must have d_out entries"
    );
    layer.p().t().dot(&u)
}

/// The linear term and constant that biases add to the output `uᵀy(x)`:
/// `uᵀy(x) = xᵀQ(u)x + 2 qᵀx + q0` with, for `c = Pᵀu`,
/// `q = (Vᵀ(c ⊙ b) + Wᵀ(c ⊙ c_v)) / 2` and `q0 = Σ_a c_a b_a c_{v,a}` (`b`, `c_v` the biases of
/// `W x` and `V x`). These are the last row/column and the corner of the augmented `Q'(u)`.
/// Both are zero for a layer without biases.
#[track_caller]
pub fn linear_term<T: Real>(layer: &BilinearLayer<T>, u: ArrayView1<'_, T>) -> (Array1<T>, T) {
    let c = hidden_coefficients(layer, u).insert_axis(Axis(0));
    let (q, q0) = linear_terms(layer, c.view(), Par::Seq);
    (q.row(0).to_owned(), q0[0])
}

/// [`linear_term`] for a batch of hidden coefficient rows `C = U P` (`[n, d_hidden]`):
/// `q` as rows `[n, d_in]` (two GEMMs) and `q0` `[n]`.
#[track_caller]
pub fn linear_terms<T: Real>(
    layer: &BilinearLayer<T>,
    coeffs: ArrayView2<'_, T>,
    par: Par,
) -> (Array2<T>, Array1<T>) {
    assert_eq!(
        coeffs.ncols(),
        layer.d_hidden(),
        "coefficients must be [n, d_hidden]"
    );
    let n = coeffs.nrows();
    let mut q = Array2::zeros((n, layer.d_in()));
    let half = T::of_f64(0.5);
    // (C ⊙ b) V and (C ⊙ c_v) W, each halved.
    for (bias, factor) in [(layer.w_bias(), layer.v()), (layer.v_bias(), layer.w())] {
        if let Some(b) = bias {
            let scaled = &coeffs * &b.insert_axis(Axis(0));
            linalg::gemm(q.view_mut(), true, scaled.view(), factor, half, par);
        }
    }
    let q0 = match (layer.w_bias(), layer.v_bias()) {
        (Some(b), Some(cv)) => coeffs.dot(&(&b * &cv)),
        _ => Array1::zeros(n),
    };
    (q, q0)
}

/// `Q(u)` for one output direction `u` (`[d_out]`), a new symmetric `[d_in, d_in]` matrix.
#[track_caller]
pub fn interaction_matrix<T: Real>(layer: &BilinearLayer<T>, u: ArrayView1<'_, T>) -> Array2<T> {
    let c = hidden_coefficients(layer, u);
    let mut q = Array2::zeros((layer.d_in(), layer.d_in()));
    let mut scratch = Array2::zeros((layer.d_hidden(), layer.d_in()));
    interaction_from_coefficients(layer, c.view(), &mut scratch, q.view_mut(), Par::Seq);
    q
}

/// Writes `Q = sym(Wᵀ diag(c) V)` into `out` (`[d_in, d_in]`, row-major contiguous) for the
/// hidden coefficients `c` (`[d_hidden]`). `scratch` (`[d_hidden, d_in]`) is overwritten; pass
/// the same buffer across calls to avoid reallocating it.
#[track_caller]
pub fn interaction_from_coefficients<T: Real>(
    layer: &BilinearLayer<T>,
    c: ArrayView1<'_, T>,
    scratch: &mut Array2<T>,
    mut out: ArrayViewMut2<'_, T>,
    par: Par,
) {
    assert_eq!(
        c.len(),
        layer.d_hidden(),
        "coefficients must have d_hidden entries"
    );
    assert_eq!(
        scratch.dim(),
        (layer.d_hidden(), layer.d_in()),
        "scratch must be [d_hidden, d_in]"
    );
    Zip::from(scratch.rows_mut())
        .and(layer.w().rows())
        .and(&c)
        .for_each(|mut s, w, &ci| {
            Zip::from(&mut s).and(&w).for_each(|s, &w| *s = w * ci);
        });
    linalg::gemm(out.view_mut(), false, scratch.t(), layer.v(), T::one(), par);
    symmetrize_in_place(out);
}

/// Replaces a square matrix by `(A + Aᵀ) / 2`, in cache-friendly tiles.
#[track_caller]
pub fn symmetrize_in_place<T: Real>(mut a: ArrayViewMut2<'_, T>) {
    const TILE: usize = 64;
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "symmetrize: matrix must be square");
    let half = T::of_f64(0.5);
    for bi in (0..n).step_by(TILE) {
        for bj in (bi..n).step_by(TILE) {
            for i in bi..(bi + TILE).min(n) {
                let j0 = if bi == bj { i } else { bj };
                for j in j0..(bj + TILE).min(n) {
                    let s = (a[(i, j)] + a[(j, i)]) * half;
                    a[(i, j)] = s;
                    a[(j, i)] = s;
                }
            }
        }
    }
}

/// `sym(A) = (A + Aᵀ)/2` of a square matrix, as a new array.
pub fn symmetrized<T: Real>(a: ArrayView2<'_, T>) -> Array2<T> {
    let mut s = a.to_owned();
    symmetrize_in_place(s.view_mut());
    s
}

/// Whether every entry of the upper triangle of the square `a` (diagonal included) is finite:
/// the entries of a symmetric matrix the pipeline's solvers read (with the diagonal tiles of
/// the symmetric block product, which the shared route forms from the same numbers). Checked a
/// row at a time without stopping early inside a row, which lets the compiler vectorise the
/// test: 0.29 ms against 0.67 for `all` over the elements, on a whole 1024² f32 matrix read
/// from L3 (the Xeon of benches/README.md). The pipeline makes this pass over every matrix it
/// solves.
pub(crate) fn upper_triangle_finite<T: Real>(a: ArrayView2<'_, T>) -> bool {
    let finite = |xs: &[T]| xs.iter().fold(true, |ok, x| ok & x.is_finite());
    a.rows()
        .into_iter()
        .enumerate()
        .all(|(i, row)| match row.as_slice() {
            Some(xs) => finite(&xs[i..]),
            None => row.iter().skip(i).all(|x| x.is_finite()),
        })
}

/// `Σ x²` in f64, in eight independent partial sums, which let the compiler vectorise the loop
/// where a single running sum (a dependency chain) does not: ~8x faster on a 1024² matrix.
fn sum_sq<T: Real>(xs: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x.as_f64() * x.as_f64();
        }
    }
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|x| x.as_f64() * x.as_f64())
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// The squared Frobenius norm `Σ_ij A_ij²`, accumulated in f64 so that f32 matrices keep
/// their accuracy.
pub fn frobenius_sq<T: Real>(a: ArrayView2<'_, T>) -> f64 {
    match a.as_slice_memory_order() {
        Some(all) => sum_sq(all),
        None => a.rows().into_iter().map(|row| sum_sq(&row.to_vec())).sum(),
    }
}

/// `‖A‖_F²` of the symmetric `a` from its upper triangle alone, `Σ_i (A_ii² + 2 Σ_{j>i} A_ij²)`
/// in f64: what the eigensolvers report, since on one thread they read nothing below the
/// diagonal beyond the diagonal tiles.
pub(crate) fn frobenius_sq_upper<T: Real>(a: ArrayView2<'_, T>) -> f64 {
    a.rows()
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let right = match row.as_slice() {
                Some(xs) => sum_sq(&xs[i + 1..]),
                None => sum_sq(&row.iter().skip(i + 1).copied().collect::<Vec<_>>()),
            };
            row[i].as_f64() * row[i].as_f64() + 2.0 * right
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    #[test]
    fn upper_triangle_finite_finds_one_non_finite_entry_on_or_above_the_diagonal() {
        // 70 x 70 f32 (rows of the upper triangle from 70 entries to 1), contiguous, transposed
        // (rows not contiguous) and a square view of a wider array.
        let clean = Array2::from_shape_fn((70, 70), |(i, j)| (i as f32 - j as f32) * 1e30);
        let mut wide = Array2::<f32>::zeros((70, 75));
        wide.slice_mut(s![.., ..70]).assign(&clean);
        assert!(upper_triangle_finite(clean.view()));
        assert!(upper_triangle_finite(clean.t()));
        assert!(upper_triangle_finite(wide.slice(s![.., ..70])));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for (i, j) in [
                (0, 0),
                (31, 5),
                (69, 69),
                (69, 0),
                (40, 39),
                (5, 31),
                (0, 69),
            ] {
                let above = j >= i;
                let mut a = clean.clone();
                a[(i, j)] = bad;
                assert_eq!(upper_triangle_finite(a.view()), !above, "{bad} at {i},{j}");
                // Transposed, the entry moves to the other triangle.
                assert_eq!(upper_triangle_finite(a.t()), i < j, "{bad} at {i},{j}ᵀ");
                let mut w = wide.clone();
                w[(i, j)] = bad;
                w[(i, 72)] = bad; // outside the view: never read
                assert_eq!(upper_triangle_finite(w.slice(s![.., ..70])), !above);
            }
        }
    }

    /// The upper-triangle norm against the whole matrix's and against a sum written out by
    /// hand, with rows contiguous and strided.
    #[test]
    fn frobenius_sq_upper_is_the_whole_norm_of_a_symmetric_matrix() {
        let n = 37;
        let a = Array2::from_shape_fn((n, n), |(i, j)| {
            ((i * j) as f64 + 1.0).sin() + (i + j) as f64
        });
        let want: f64 = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| a[(i, j)] * a[(i, j)])
            .sum();
        assert!((frobenius_sq(a.view()) - want).abs() <= 1e-12 * want);
        let mut lower_nan = a.clone();
        for i in 0..n {
            for j in 0..i {
                lower_nan[(i, j)] = f64::NAN;
            }
        }
        assert!((frobenius_sq_upper(lower_nan.view()) - want).abs() <= 1e-12 * want);
        let upper_nan = lower_nan.t().to_owned();
        assert!((frobenius_sq_upper(upper_nan.t()) - want).abs() <= 1e-12 * want);
    }
}
