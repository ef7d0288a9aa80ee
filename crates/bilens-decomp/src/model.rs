//! A bilinear layer in its model: an optional embedding before it and an optional linear
//! (residual) path beside it, as in the paper's image classifiers.

use faer::Par;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::eigen::fix_sign;

use crate::layer::BilinearLayer;
use crate::linalg;
use crate::scalar::Real;

/// `y(x) = P g(e) + L e` with `e = E x` (or `e = x` without an embedding).
///
/// - `E: [d_in, d_input]` maps the model input (e.g. 784 pixels) to the layer input;
///   eigenvectors `v` of `Q` are drawn in input space as `Eᵀ v`.
/// - `L: [d_out, d_in]` is the linear term the eigendecomposition of `Q` does not contain:
///   for a residual block followed by a head `H`, `logits = H(e + g(e))`, so `P = L = H`.
///   Any truncated model must add it back.
#[derive(Clone, Debug)]
pub struct BilinearModel<T> {
    embed: Option<Array2<T>>,
    layer: BilinearLayer<T>,
    linear: Option<Array2<T>>,
}

impl<T: Real> BilinearModel<T> {
    /// Assembles a model.
    ///
    /// # Panics
    /// If `embed` does not have `d_in` rows or `linear` is not `[d_out, d_in]`.
    #[track_caller]
    pub fn new(
        embed: Option<Array2<T>>,
        layer: BilinearLayer<T>,
        linear: Option<Array2<T>>,
    ) -> Self {
        if let Some(e) = &embed {
            assert_eq!(e.nrows(), layer.d_in(), "embedding must be [d_in, d_input]");
        }
        if let Some(l) = &linear {
            assert_eq!(
                l.dim(),
                (layer.d_out(), layer.d_in()),
                "linear term must be [d_out, d_in]"
            );
        }
        Self {
            embed: embed.map(|e| e.as_standard_layout().into_owned()),
            layer,
            linear: linear.map(|l| l.as_standard_layout().into_owned()),
        }
    }

    /// The bilinear layer.
    pub fn layer(&self) -> &BilinearLayer<T> {
        &self.layer
    }

    /// The embedding `E` `[d_in, d_input]`, if any.
    pub fn embed(&self) -> Option<ArrayView2<'_, T>> {
        self.embed.as_ref().map(|e| e.view())
    }

    /// The linear (residual) term `L` `[d_out, d_in]`, if any.
    pub fn linear(&self) -> Option<ArrayView2<'_, T>> {
        self.linear.as_ref().map(|l| l.view())
    }

    /// Width of the model input: `d_input` with an embedding, `d_in` without.
    pub fn d_input(&self) -> usize {
        self.embed.as_ref().map_or(self.layer.d_in(), |e| e.ncols())
    }

    /// The layer input `e = E x` for a batch `x: [n, d_input]`, `[n, d_in]`.
    #[track_caller]
    pub fn layer_input(&self, x: ArrayView2<'_, T>, par: Par) -> Array2<T> {
        assert_eq!(x.ncols(), self.d_input(), "x must be [n, d_input]");
        match &self.embed {
            Some(e) => linalg::matmul(x, e.t(), par),
            None => x.to_owned(),
        }
    }

    /// The model output `P g(e) + L e` for a batch `x: [n, d_input]`, `[n, d_out]`.
    #[track_caller]
    pub fn forward(&self, x: ArrayView2<'_, T>, par: Par) -> Array2<T> {
        let e = self.layer_input(x, par);
        let mut y = self.layer.forward(e.view(), par);
        if let Some(l) = &self.linear {
            linalg::gemm(y.view_mut(), true, e.view(), l.t(), T::one(), par);
        }
        y
    }

    /// Maps vectors of the layer's input space (rows, `[k, d_in]`) to the model input
    /// (`[k, d_input]`) through `Eᵀ`: row `v` becomes `Eᵀ v`. `None` without an embedding.
    #[track_caller]
    pub fn to_input_space(&self, vectors: ArrayView2<'_, T>, par: Par) -> Option<Array2<T>> {
        self.embed
            .as_ref()
            .map(|e| linalg::matmul(vectors, e.view(), par))
    }

    /// Maps components (rows of `vectors`, `[k, d_in]`) to the model input like
    /// [`BilinearModel::to_input_space`], and re-fixes each component's sign in the space people
    /// look at: the input-space picture's entry of largest magnitude is made positive, and the
    /// layer-space row is flipped with it so both still describe the same component (`v` and
    /// `−v` are the same component of `λ (vᵀx)²`). `None` (and nothing changed) without an
    /// embedding.
    #[track_caller]
    pub fn map_components(&self, mut vectors: ArrayViewMut2<'_, T>, par: Par) -> Option<Array2<T>> {
        let mut mapped = self.to_input_space(vectors.view(), par)?;
        for (row, m) in vectors.rows_mut().into_iter().zip(mapped.rows_mut()) {
            if fix_sign(m) {
                let mut row = row;
                row.mapv_inplace(|x| -x);
            }
        }
        Some(mapped)
    }

    /// Converts every weight to another precision.
    pub fn cast<U: Real>(&self) -> BilinearModel<U> {
        let c = |a: &Array2<T>| a.mapv(|x| U::of_f64(x.as_f64()));
        BilinearModel {
            embed: self.embed.as_ref().map(c),
            layer: self.layer.cast(),
            linear: self.linear.as_ref().map(c),
        }
    }
}
