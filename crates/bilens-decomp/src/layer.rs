//! The bilinear layer `y(x) = P ((W x + b) ⊙ (V x + c))` and its forward pass.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip, concatenate};

use crate::linalg;
use crate::scalar::Real;
use faer::Par;

/// One bilinear layer `y(x) = P ((W x + b) ⊙ (V x + c))`; the biases `b, c` are optional and
/// absent in most trained bilinear models.
///
/// Shapes follow PyTorch's `nn.Linear` (`[out_features, in_features]`):
/// `W, V: [d_hidden, d_in]`, `P: [d_out, d_hidden]`, `b, c: [d_hidden]`. Weights are stored
/// row-major.
///
/// Biases do not change the interaction matrix `Q(u)`: they add a linear term and a constant
/// (see [`crate::linear_term`]), exactly as if the input were augmented to `[x; 1]`
/// (see [`BilinearLayer::augmented`]).
#[derive(Clone, Debug)]
pub struct BilinearLayer<T> {
    w: Array2<T>,
    v: Array2<T>,
    p: Array2<T>,
    w_bias: Option<Array1<T>>,
    v_bias: Option<Array1<T>>,
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
            w_bias: None,
            v_bias: None,
        }
    }

    /// Adds the biases `b` (of `W x`) and `c` (of `V x`), each `[d_hidden]`; `None` means zero.
    ///
    /// # Panics
    /// If a bias does not have `d_hidden` entries.
    #[track_caller]
    pub fn with_biases(mut self, w_bias: Option<Array1<T>>, v_bias: Option<Array1<T>>) -> Self {
        for b in [&w_bias, &v_bias].into_iter().flatten() {
            assert_eq!(
                b.len(),
                self.d_hidden(),
                "BilinearLayer: biases must have d_hidden entries"
            );
        }
        self.w_bias = w_bias;
        self.v_bias = v_bias;
        self
    }

    /// The same layer reading `x + o` for an input offset `o` (`[d_in]`): `W (x + o) + b =
    /// W x + (W o + b)`, so the offset moves into the biases exactly (docs/MATH.md section 2)
    /// and no interaction matrix `Q(u)` changes; the linear term gains `Q(u) o` and the
    /// constant `oᵀQ(u)o + 2 qᵀo`. An input SAE's decoder bias enters this way: the layer reads
    /// `x = D f + b_dec`.
    ///
    /// # Panics
    /// If `offset` does not have `d_in` entries.
    #[track_caller]
    pub fn with_input_offset(self, offset: ArrayView1<'_, T>) -> Self {
        assert_eq!(
            offset.len(),
            self.d_in(),
            "BilinearLayer: the input offset must have d_in entries"
        );
        let shift = |m: &Array2<T>, b: Option<&Array1<T>>| {
            let mo = m.dot(&offset);
            Some(match b {
                Some(b) => mo + b,
                None => mo,
            })
        };
        let (b, c) = (
            shift(&self.w, self.w_bias.as_ref()),
            shift(&self.v, self.v_bias.as_ref()),
        );
        self.with_biases(b, c)
    }

    /// Folds a normalisation gain `γ` (`[d_in]`) applied to the input into the weights:
    /// `W <- W diag(γ)`, `V <- V diag(γ)`. Exact: the layer then reads the un-scaled input.
    ///
    /// # Panics
    /// If `gain` does not have `d_in` entries.
    #[track_caller]
    pub fn with_input_gain(mut self, gain: ArrayView1<'_, T>) -> Self {
        assert_eq!(
            gain.len(),
            self.d_in(),
            "BilinearLayer: the gain must have d_in entries"
        );
        for m in [&mut self.w, &mut self.v] {
            Zip::from(m.rows_mut()).for_each(|mut row| row.zip_mut_with(&gain, |x, &g| *x *= g));
        }
        self
    }

    /// The bias of `W x` `[d_hidden]`, if any.
    pub fn w_bias(&self) -> Option<ArrayView1<'_, T>> {
        self.w_bias.as_ref().map(|b| b.view())
    }

    /// The bias of `V x` `[d_hidden]`, if any.
    pub fn v_bias(&self) -> Option<ArrayView1<'_, T>> {
        self.v_bias.as_ref().map(|b| b.view())
    }

    /// Whether the layer has a nonzero-able bias on either side.
    pub fn has_biases(&self) -> bool {
        self.w_bias.is_some() || self.v_bias.is_some()
    }

    /// The purely bilinear layer on the augmented input `x' = [x; 1]`: `W' = [W | b]`,
    /// `V' = [V | c]` (one extra input column), so that `y'([x; 1]) = y(x)`. Its `Q'(u)` holds
    /// `Q(u)` in the leading block, the linear term in the last row and column and the constant
    /// in the corner (docs/MATH.md section 2).
    pub fn augmented(&self) -> BilinearLayer<T> {
        let h = self.d_hidden();
        let col = |b: &Option<Array1<T>>| match b {
            Some(b) => b.clone().insert_axis(Axis(1)),
            None => Array2::zeros((h, 1)),
        };
        let cat = |m: &Array2<T>, b| {
            concatenate(Axis(1), &[m.view(), col(b).view()]).expect("both have d_hidden rows")
        };
        BilinearLayer::new(
            cat(&self.w, &self.w_bias),
            cat(&self.v, &self.v_bias),
            self.p.clone(),
        )
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

    /// The hidden activations `g(x) = (W x + b) ⊙ (V x + c)` for a batch `x: [n, d_in]`, `[n, d_hidden]`.
    #[track_caller]
    pub fn hidden(&self, x: ArrayView2<'_, T>, par: Par) -> Array2<T> {
        assert_eq!(x.ncols(), self.d_in(), "hidden: x must be [n, d_in]");
        let mut left = linalg::matmul(x, self.w.t(), par);
        let mut right = linalg::matmul(x, self.v.t(), par);
        for (m, b) in [(&mut left, &self.w_bias), (&mut right, &self.v_bias)] {
            if let Some(b) = b {
                Zip::from(m.rows_mut()).for_each(|mut row| row += b);
            }
        }
        Zip::from(&mut left).and(&right).for_each(|l, &r| *l *= r);
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
            w_bias: self
                .w_bias
                .as_ref()
                .map(|b| b.mapv(|x| U::of_f64(x.as_f64()))),
            v_bias: self
                .v_bias
                .as_ref()
                .map(|b| b.mapv(|x| U::of_f64(x.as_f64()))),
        }
    }
}
