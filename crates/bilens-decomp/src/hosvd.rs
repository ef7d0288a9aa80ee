//! HOSVD across outputs: the SVD of the flattened, symmetrised interaction tensor through
//! Gram matrices, never forming `B_flat: [d_out, d_in²]` (docs/MATH.md section 5).
//!
//! ```text
//! M = ((W Wᵀ) ⊙ (V Vᵀ) + (W Vᵀ) ⊙ (V Wᵀ)) / 2     [d_hidden, d_hidden]
//! G = P M Pᵀ = B_flat B_flatᵀ                       [d_out, d_out]
//! G u_s = σ_s² u_s,   Q_s = Q(u_s) / σ_s  (unit Frobenius norm)
//! ```
//!
//! `M` is built in row blocks of `d_hidden` (four `[b, d_in] x [d_in, d_hidden]` GEMMs each,
//! `8 d_hidden² d_in` flops in all) and folded straight into `Y = M Pᵀ`, so memory is
//! `O(b d_hidden + d_hidden d_out)` instead of `O(d_hidden²)`. Then `G = P Y`
//! (`2 d_hidden² d_out + 2 d_hidden d_out²` flops together) and one `d_out x d_out`
//! eigendecomposition. Restricting to output directions `U` (`[n, d_out]`) replaces `P` by `U P`.

use faer::Par;
use ndarray::{Array1, Array2, ArrayView2, Axis, Zip, s};

use crate::eigen::{Order, eigh_full, fix_sign};
use crate::error::DecompError;
use crate::layer::BilinearLayer;
use crate::linalg;
use crate::scalar::Real;

/// Rows of `M` built per block: bounds the working set to `4 b d_hidden` numbers.
const BLOCK: usize = 512;

/// The leading components of the HOSVD across outputs.
#[derive(Clone, Debug)]
pub struct Hosvd<T> {
    /// Singular values `σ_s` of the flattened symmetrised tensor, descending, `[S]`.
    pub singular_values: Array1<T>,
    /// The output directions `u_s` in `P`'s output space, `[S, d_out]`: unit vectors when no
    /// restriction was given, `Uᵀ a_s` otherwise. `Q(u_s) / σ_s` is component `s`.
    pub output_vectors: Array2<T>,
    /// With a restriction `U` (`[n, d_out]`), the unit coefficient vectors `a_s` over its rows,
    /// `[S, n]`; `None` otherwise.
    pub coefficients: Option<Array2<T>>,
    /// `Σ_s σ_s²` over all components (`‖B_flat‖_F²`), to report the fraction kept.
    pub total_sq: f64,
}

impl<T: Real> Hosvd<T> {
    /// The rows `u_s / σ_s`: as output directions, their `Q` are the unit-norm components `Q_s`
    /// (zero rows for zero singular values).
    pub fn component_directions(&self) -> Array2<T> {
        let mut d = self.output_vectors.clone();
        Zip::from(d.rows_mut())
            .and(&self.singular_values)
            .for_each(|mut row, &s| {
                let inv = if s > T::zero() {
                    T::one() / s
                } else {
                    T::zero()
                };
                row.mapv_inplace(|x| x * inv);
            });
        d
    }
}

/// The hidden Gram matrix `M` (`[d_hidden, d_hidden]`), with `‖Q(u)‖_F² = cᵀ M c` for
/// `c = Pᵀu` (docs/MATH.md identity 5). Memory `O(d_hidden²)`; [`hosvd`] avoids forming it whole.
pub fn hidden_gram<T: Real>(layer: &BilinearLayer<T>, par: Par) -> Array2<T> {
    let h = layer.d_hidden();
    let mut m = Array2::zeros((h, h));
    for start in (0..h).step_by(BLOCK) {
        let end = (start + BLOCK).min(h);
        let block = hidden_gram_rows(layer, start, end, par);
        m.slice_mut(s![start..end, ..]).assign(&block);
    }
    m
}

/// Rows `start..end` of `M`.
fn hidden_gram_rows<T: Real>(
    layer: &BilinearLayer<T>,
    start: usize,
    end: usize,
    par: Par,
) -> Array2<T> {
    let (w, v) = (layer.w(), layer.v());
    let wi = w.slice(s![start..end, ..]);
    let vi = v.slice(s![start..end, ..]);
    let mut ww = linalg::matmul(wi, w.t(), par);
    let vv = linalg::matmul(vi, v.t(), par);
    let mut wv = linalg::matmul(wi, v.t(), par);
    let vw = linalg::matmul(vi, w.t(), par);
    let half = T::of_f64(0.5);
    Zip::from(&mut ww).and(&vv).for_each(|a, &b| *a *= b);
    Zip::from(&mut wv).and(&vw).for_each(|a, &b| *a *= b);
    Zip::from(&mut ww)
        .and(&wv)
        .for_each(|a, &b| *a = (*a + b) * half);
    ww
}

/// The output Gram matrix `G = P' M P'ᵀ` with `P' = P` or `U P` for a restriction `U`.
pub fn output_gram<T: Real>(
    layer: &BilinearLayer<T>,
    restrict: Option<ArrayView2<'_, T>>,
    par: Par,
) -> Array2<T> {
    let p = match restrict {
        Some(u) => linalg::matmul(u, layer.p(), par),
        None => layer.p().to_owned(),
    };
    let h = layer.d_hidden();
    // Y = M P'ᵀ, one row block of M at a time.
    let mut y = Array2::zeros((h, p.nrows()));
    for start in (0..h).step_by(BLOCK) {
        let end = (start + BLOCK).min(h);
        let block = hidden_gram_rows(layer, start, end, par);
        linalg::gemm(
            y.slice_mut(s![start..end, ..]),
            false,
            block.view(),
            p.t(),
            T::one(),
            par,
        );
    }
    let mut g = linalg::matmul(p.view(), y.view(), par);
    crate::interaction::symmetrize_in_place(g.view_mut());
    g
}

/// The top `components` HOSVD components of the layer (or of its restriction to the output
/// directions `restrict`, `[n, d_out]`).
///
/// Singular values are sorted descending; each output vector is sign-fixed (largest entry
/// positive). Tiny negative eigenvalues of `G` from rounding are clamped to `σ = 0`.
pub fn hosvd<T: Real>(
    layer: &BilinearLayer<T>,
    restrict: Option<ArrayView2<'_, T>>,
    components: usize,
    par: Par,
) -> Result<Hosvd<T>, DecompError> {
    if let Some(u) = restrict {
        assert_eq!(u.ncols(), layer.d_out(), "restriction must be [n, d_out]");
    }
    let g = output_gram(layer, restrict, par);
    let total_sq: f64 = (0..g.nrows()).map(|i| g[(i, i)].as_f64()).sum();
    let sp = eigh_full(g.view(), Some(components), Order::Descending, true, par)?;
    let singular_values = sp.values.mapv(|l| l.max(T::zero()).sqrt());
    let mut a = sp.vectors.expect("eigenvectors were requested");
    let (output_vectors, coefficients) = match restrict {
        Some(u) => {
            let mut dirs = linalg::matmul(a.view(), u, par);
            // Fix the sign in the space users read (P's output space), and flip the
            // coefficients with it so that both describe the same component.
            for (d, mut c) in dirs.axis_iter_mut(Axis(0)).zip(a.axis_iter_mut(Axis(0))) {
                if fix_sign(d) {
                    c.mapv_inplace(|x| -x);
                }
            }
            (dirs, Some(a))
        }
        None => {
            for row in a.rows_mut() {
                fix_sign(row);
            }
            (a, None)
        }
    };
    Ok(Hosvd {
        singular_values,
        output_vectors,
        coefficients,
        total_sq,
    })
}
