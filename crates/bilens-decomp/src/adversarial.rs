//! Adversarial masks from the weights alone (docs/MATH.md section 8) and a model's outputs along a
//! line through input space.
//!
//! **Masks.** For a set of components `U` (`[k, d]`, rows, e.g. a class's top-10 positive
//! eigenvectors mapped to pixels), the mask of component `i` is row `i` of `(U⁺)ᵀ`: the
//! minimum-norm `m_i` with `u_j · m_i = δ_ij` ([`pseudo_inverse_rows`]). Added to an input, it
//! raises the projection on `u_i` by its strength and leaves the other `k − 1` untouched.
//!
//! **Lines.** A bilinear model is a quadratic polynomial along any line `x + s m`:
//!
//! ```text
//! y(x + s m) = y(x) + s y₁(x, m) + s² y₂(m)
//! y₁ = P((W e + b) ⊙ (V δ) + (W δ) ⊙ (V e + c)) + L δ,    y₂ = P((W δ) ⊙ (V δ)),    δ = E m
//! ```
//!
//! so [`LineProbe`] evaluates a batch at every strength of every mask for `O(n h)` work per mask
//! and `O(n d_out)` per strength, instead of a forward pass per strength.

use faer::Par;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

use crate::eigen::{Order, eigh_full};
use crate::error::DecompError;
use crate::linalg;
use crate::model::BilinearModel;
use crate::scalar::Real;

/// The rows `m_i` of `(U⁺)ᵀ` for components `u` (`[k, d]`, rows): `[k, d]` with
/// `u_j · m_i = δ_ij` when the rows of `u` are linearly independent, and each `m_i` the
/// shortest such vector (it lies in the span of the `u_j`).
///
/// Computed in f64 as `(U Uᵀ)⁺ U` through the eigendecomposition of the `k × k` Gram matrix;
/// directions whose Gram eigenvalue is below `k ε λ_max` are dropped (the pseudo-inverse of a
/// rank-deficient set), so dependent rows give the least-squares answer instead of an
/// overflow. Cost `O(k² d + k³)`.
///
/// # Errors
/// [`DecompError::NoConvergence`] if the Gram matrix holds NaN or Inf.
pub fn pseudo_inverse_rows<T: Real>(u: ArrayView2<'_, T>) -> Result<Array2<T>, DecompError> {
    let u64 = T::matrix_f64(u);
    let gram = u64.dot(&u64.t());
    let k = gram.nrows();
    let sp = eigh_full(gram.view(), None, Order::Descending, true, Par::Seq)?;
    let vectors = sp.vectors.expect("eigenvectors were requested");
    let top = sp.values.first().copied().unwrap_or(0.0);
    let tol = top * k.max(1) as f64 * f64::EPSILON;
    // (U Uᵀ)⁺ = Σ_{λ > tol} z zᵀ / λ, with the eigenvectors z as rows of `vectors`.
    let mut inv = Array2::<f64>::zeros((k, k));
    for (z, &l) in vectors.axis_iter(Axis(0)).zip(sp.values.iter()) {
        if l > tol {
            for i in 0..k {
                for j in 0..k {
                    inv[(i, j)] += z[i] * z[j] / l;
                }
            }
        }
    }
    Ok(inv.dot(&u64).mapv(T::of_f64))
}

/// A batch of inputs prepared for evaluating a model along lines `x + s m` through each of
/// them (see the module documentation): the layer inputs and both hidden factors are kept,
/// so each direction costs `O(n h)` plus one `[n, h] × [h, d_out]` GEMM.
#[derive(Debug)]
pub struct LineProbe<'a, T> {
    model: &'a BilinearModel<T>,
    left: Array2<T>,
    right: Array2<T>,
    outputs: Array2<T>,
}

/// The outputs along the lines through a batch in one direction: `y(s) = y0 + s y1 + s² y2`.
#[derive(Clone, Debug)]
pub struct LineOutputs<'p, T> {
    /// `y(x)` for the batch, `[n, d_out]`.
    pub y0: ArrayView2<'p, T>,
    /// The linear coefficient, `[n, d_out]`.
    pub y1: Array2<T>,
    /// The quadratic coefficient, the same for every input, `[d_out]`.
    pub y2: Array1<T>,
}

impl<T: Real> LineOutputs<'_, T> {
    /// The outputs at strength `s`, `[n, d_out]`.
    pub fn at(&self, s: T) -> Array2<T> {
        let mut y = self.y0.to_owned();
        Zip::from(&mut y)
            .and(&self.y1)
            .for_each(|y, &a| *y += s * a);
        let quad = self.y2.mapv(|b| s * s * b);
        Zip::from(y.rows_mut()).for_each(|mut row| row += &quad);
        y
    }
}

impl<'a, T: Real> LineProbe<'a, T> {
    /// Prepares the batch `x` (`[n, d_input]`, model inputs) for `model`.
    ///
    /// # Panics
    /// If `x` is not `[n, d_input]`.
    #[track_caller]
    pub fn new(model: &'a BilinearModel<T>, x: ArrayView2<'_, T>, par: Par) -> Self {
        let e = model.layer_input(x, par);
        let layer = model.layer();
        let factor = |m: ArrayView2<'_, T>, bias: Option<ArrayView1<'_, T>>| {
            let mut f = linalg::matmul(e.view(), m.t(), par);
            if let Some(b) = bias {
                Zip::from(f.rows_mut()).for_each(|mut row| row += &b);
            }
            f
        };
        let left = factor(layer.w(), layer.w_bias());
        let right = factor(layer.v(), layer.v_bias());
        let mut hidden = left.clone();
        Zip::from(&mut hidden).and(&right).for_each(|a, &b| *a *= b);
        let mut outputs = linalg::matmul(hidden.view(), layer.p().t(), par);
        if let Some(l) = model.linear() {
            linalg::gemm(outputs.view_mut(), true, e.view(), l.t(), T::one(), par);
        }
        Self {
            model,
            left,
            right,
            outputs,
        }
    }

    /// The model's outputs on the batch, `[n, d_out]`.
    pub fn outputs(&self) -> ArrayView2<'_, T> {
        self.outputs.view()
    }

    /// The outputs along `x + s m` for every input `x` of the batch, as the coefficients of a
    /// quadratic in `s`. `m` is `[d_input]`.
    ///
    /// # Panics
    /// If `m` is not `[d_input]`.
    #[track_caller]
    pub fn along(&self, m: ArrayView1<'_, T>, par: Par) -> LineOutputs<'_, T> {
        let model = self.model;
        assert_eq!(m.len(), model.d_input(), "the direction must be [d_input]");
        let layer = model.layer();
        let m2 = m.insert_axis(Axis(0));
        let delta = model.layer_input(m2, par);
        let a = linalg::matmul(delta.view(), layer.w().t(), par).remove_axis(Axis(0));
        let b = linalg::matmul(delta.view(), layer.v().t(), par).remove_axis(Axis(0));
        // (W e + b) ⊙ (V δ) + (W δ) ⊙ (V e + c), row by row.
        let mut mixed = self.left.clone();
        Zip::from(mixed.rows_mut())
            .and(self.right.rows())
            .for_each(|mut l, r| {
                Zip::from(&mut l)
                    .and(&r)
                    .and(&a)
                    .and(&b)
                    .for_each(|l, &r, &a, &b| *l = *l * b + a * r);
            });
        let mut y1 = linalg::matmul(mixed.view(), layer.p().t(), par);
        let mut lin = Array1::zeros(layer.d_out());
        if let Some(l) = model.linear() {
            lin = l.dot(&delta.row(0));
        }
        Zip::from(y1.rows_mut()).for_each(|mut row| row += &lin);
        let ab = &a * &b;
        let y2 = layer.p().dot(&ab);
        LineOutputs {
            y0: self.outputs.view(),
            y1,
            y2,
        }
    }
}
