//! Interaction matrices in a feature basis of the input, e.g. an SAE decoder.
//!
//! With a decoder `D: [d_in, n_features]` (input `x ≈ D f`), the interaction matrix in feature
//! space is `Q_D = sym(Dᵀ Q D)` (docs/MATH.md section 4) and its eigenvectors live in feature space.
//!
//! SAE bases are overcomplete (`n_features > d_in`), and then `Q_D` has rank at most `d_in`.
//! Rather than eigendecomposing the `n x n` matrix, the basis is factored once as
//! `Dᵀ = Q_r R` (thin QR, `Q_r: [n, d_in]` orthonormal columns, `R: [d_in, d_in]`), so that
//! `Q_D = Q_r (R Q Rᵀ) Q_rᵀ`: the nonzero eigenvalues are those of the `d_in x d_in` matrix
//! `R Q Rᵀ` and the eigenvectors are `Q_r y`. Exact, and `O(d_in³ + n d_in k)` per output
//! instead of `O(n³)`. The `n - d_in` zero eigenvalues (the null space of `D`) are not reported.

use faer::Par;
use ndarray::{Array2, ArrayView2, s};

use crate::eigen::{Spectrum, eigh, fix_sign};
use crate::error::DecompError;
use crate::interaction::symmetrize_in_place;
use crate::linalg;
use crate::params::DecomposeParams;
use crate::scalar::Real;

/// Row blocks used when scanning the whole feature-space matrix for its largest entries.
const SCAN_BLOCK: usize = 256;

/// A feature basis `D: [d_in, n_features]` for the input of a bilinear layer.
#[derive(Clone, Debug)]
pub struct InputBasis<T> {
    decoder: Array2<T>,
    reduced: Option<Reduced<T>>,
}

/// `Dᵀ = Q_r R` when the basis is overcomplete.
#[derive(Clone, Debug)]
struct Reduced<T> {
    q: Array2<T>,
    r: Array2<T>,
}

/// The largest self (diagonal) and cross (off-diagonal) entries of a feature-space matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct TopInteractions<T> {
    /// `(feature, value)` by descending `|value|` of the diagonal `Q_D[f, f]`.
    pub self_interactions: Vec<(usize, T)>,
    /// `(feature_a, feature_b, value)` with `a < b`, by descending `|value|` of `Q_D[a, b]`.
    pub cross_interactions: Vec<(usize, usize, T)>,
}

impl<T: Real> InputBasis<T> {
    /// Wraps a decoder `[d_in, n_features]`, factoring it when `n_features > d_in`.
    pub fn new(decoder: Array2<T>) -> Self {
        let decoder = decoder.as_standard_layout().into_owned();
        let reduced = (decoder.ncols() > decoder.nrows()).then(|| {
            let (q, r) = linalg::thin_qr(decoder.t());
            Reduced { q, r }
        });
        Self { decoder, reduced }
    }

    /// The layer input width `d_in` the basis maps into.
    pub fn d_in(&self) -> usize {
        self.decoder.nrows()
    }

    /// The number of features `n`.
    pub fn n_features(&self) -> usize {
        self.decoder.ncols()
    }

    /// The most components a matrix in this basis can have with nonzero eigenvalue.
    pub fn max_components(&self) -> usize {
        self.n_features().min(self.d_in())
    }

    /// The decoder `D` `[d_in, n_features]`.
    pub fn decoder(&self) -> ArrayView2<'_, T> {
        self.decoder.view()
    }

    /// `sym(Dᵀ Q D)`, the `[n, n]` feature-space matrix (explicit; `O(n² d_in)` memory-bound
    /// for wide bases, so [`InputBasis::eigen`] avoids it).
    pub fn project(&self, q: ArrayView2<'_, T>, par: Par) -> Array2<T> {
        let qd = linalg::matmul(q, self.decoder.view(), par);
        let mut out = linalg::matmul(self.decoder.t(), qd.view(), par);
        symmetrize_in_place(out.view_mut());
        out
    }

    /// The top `params.k` components of `sym(Dᵀ Q D)` in `params.order` by `params.method`,
    /// eigenvectors (when `params.eigenvectors`) as rows `[k, n]` in feature space, sign-fixed.
    /// `k` is capped at [`InputBasis::max_components`].
    pub fn eigen(
        &self,
        q: ArrayView2<'_, T>,
        params: &DecomposeParams,
        par: Par,
    ) -> Result<Spectrum<T>, DecompError> {
        let k = params
            .k
            .unwrap_or(self.max_components())
            .min(self.max_components());
        let solve = |m: ArrayView2<'_, T>| {
            eigh(
                m,
                Some(k),
                params.order,
                params.eigenvectors,
                params.method,
                &params.lanczos,
                par,
            )
        };
        match &self.reduced {
            None => solve(self.project(q, par).view()),
            Some(red) => {
                let rq = linalg::matmul(red.r.view(), q, par);
                let mut small = linalg::matmul(rq.view(), red.r.t(), par);
                symmetrize_in_place(small.view_mut());
                let mut sp = solve(small.view())?;
                sp.vectors = sp.vectors.map(|y| {
                    let mut v = linalg::matmul(y.view(), red.q.t(), par);
                    for row in v.rows_mut() {
                        fix_sign(row);
                    }
                    v
                });
                Ok(sp)
            }
        }
    }

    /// The `count` largest self and cross interactions of `sym(Dᵀ Q D)`.
    ///
    /// Scans the whole `[n, n]` matrix in row blocks without storing it: `O(n² d_in)` flops
    /// (`2 n² d_in`; about 0.5 TFLOP for n = 16384, d_in = 1024), `O(SCAN_BLOCK · n)` memory.
    pub fn top_interactions(
        &self,
        q: ArrayView2<'_, T>,
        count: usize,
        par: Par,
    ) -> TopInteractions<T> {
        let n = self.n_features();
        // Q D: [d_in, n]; block rows of Dᵀ (Q D) are the rows of Q_D (symmetric, since Q is).
        let qd = linalg::matmul(q, self.decoder.view(), par);
        let mut diag = Vec::with_capacity(n);
        let mut cross: Vec<(usize, usize, T)> = Vec::new();
        for start in (0..n).step_by(SCAN_BLOCK) {
            let end = (start + SCAN_BLOCK).min(n);
            let rows = linalg::matmul(self.decoder.slice(s![.., start..end]).t(), qd.view(), par);
            for (bi, row) in rows.rows().into_iter().enumerate() {
                let a = start + bi;
                diag.push((a, row[a]));
                for (b, &x) in row.iter().enumerate().skip(a + 1) {
                    keep_largest(&mut cross, (a, b, x), count, |e| e.2);
                }
            }
        }
        diag.sort_by(|x, y| {
            y.1.abs()
                .partial_cmp(&x.1.abs())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        diag.truncate(count);
        cross.sort_by(|x, y| {
            y.2.abs()
                .partial_cmp(&x.2.abs())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        TopInteractions {
            self_interactions: diag,
            cross_interactions: cross,
        }
    }
}

/// Keeps the `count` entries of largest `|key|` seen so far (unsorted; small `count`).
fn keep_largest<E: Copy, T: Real>(kept: &mut Vec<E>, e: E, count: usize, key: impl Fn(&E) -> T) {
    if count == 0 {
        return;
    }
    if kept.len() < count {
        kept.push(e);
        return;
    }
    let (imin, min) = kept
        .iter()
        .enumerate()
        .map(|(i, x)| (i, key(x).abs()))
        .fold(
            (0, T::infinity()),
            |best, cur| if cur.1 < best.1 { cur } else { best },
        );
    if key(&e).abs() > min {
        kept[imin] = e;
    }
}
