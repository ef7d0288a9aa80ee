//! The bilinear layer `y(x) = P ((W x) ⊙ (V x))` and its forward pass.

use ndarray::{Array2, ArrayView2, Zip};

use crate::linalg;
use crate::scalar::Real;
use faer::Par;

/// One bilinear layer `y(x) = P ((W x) ⊙ (V x))`.
///
/// Shapes follow PyTorch's `nn.Linear` (`[out_features, in_features]`):
/// `W, V: [d_hidden, d_in]`, `P: [d_out, d_hidden]`. Weights are stored row-major.
#[derive(Clone, Debug)]
pub struct BilinearLayer<T> {
    w: Array2<T>,
    v: Array2<T>,
    p: Array2<T>,
}

impl<T: Real> BilinearLayer<T> {
    /// Builds a layer from its three matrices.
    ///
    /// # Panics
    /// If the shapes disagree: `W` and `V` must both be `[d_hidden, d_in]` and `P`
    /// `[d_out, d_hidden]`. Loaders check shapes of user files and report an error before
    /// calling this.
    #[track_caller]
    pub fn new(w: Array2<T>, v: Array2<T>, p: Array2<T>) -> Self {
        assert_eq!(
            w.dim(),
            v.dim(),
            "BilinearLayer: W {:?} and V {:?} must have the same shape",
            w.dim(),
            v.dim()
        );
        assert_eq!(
            p.ncols(),
            w.nrows(),
            "BilinearLayer: P {:?} must have d_hidden = {} columns",
            p.dim(),
            w.nrows()
        );
        Self {
            w: w.as_standard_layout().into_owned(),
            v: v.as_standard_layout().into_owned(),
            p: p.as_standard_layout().into_owned(),
        }
    }

    /// Input width `d_in`.
    pub fn d_in(&self) -> usize {
        self.w.ncols()
    }

    /// Number of bilinear hidden units `d_hidden`.
    pub fn d_hidden(&self) -> usize {
        self.w.nrows()
    }

    /// Output width `d_out`.
    pub fn d_out(&self) -> usize {
        self.p.nrows()
    }

    /// The left factor `W` `[d_hidden, d_in]`.
    pub fn w(&self) -> ArrayView2<'_, T> {
        self.w.view()
    }

    /// The right factor `V` `[d_hidden, d_in]`.
    pub fn v(&self) -> ArrayView2<'_, T> {
        self.v.view()
    }

    /// The output projection `P` `[d_out, d_hidden]`.
    pub fn p(&self) -> ArrayView2<'_, T> {
        self.p.view()
    }

    /// The hidden activations `g(x) = (W x) ⊙ (V x)` for a batch `x: [n, d_in]`, `[n, d_hidden]`.
    #[track_caller]
    pub fn hidden(&self, x: ArrayView2<'_, T>, par: Par) -> Array2<T> {
        assert_eq!(x.ncols(), self.d_in(), "hidden: x must be [n, d_in]");
        let mut left = linalg::matmul(x, self.w.t(), par);
        let right = linalg::matmul(x, self.v.t(), par);
        Zip::from(&mut left)
            .and(&right)
            .for_each(|l, &r| *l *= r);
        left
    }

    /// The layer output `y(x) = P g(x)` for a batch `x: [n, d_in]`, `[n, d_out]`.
    #[track_caller]
    pub fn forward(&self, x: ArrayView2<'_, T>, par: Par) -> Array2<T> {
        let g = self.hidden(x, par);
        linalg::matmul(g.view(), self.p.t(), par)
    }

    /// Converts every weight to another precision.
    pub fn cast<U: Real>(&self) -> BilinearLayer<U> {
        let c = |a: &Array2<T>| a.mapv(|x| U::of_f64(x.as_f64()));
        BilinearLayer {
            w: c(&self.w),
            v: c(&self.v),
            p: c(&self.p),
        }
    }
}
