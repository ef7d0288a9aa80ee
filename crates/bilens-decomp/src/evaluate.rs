//! Truncated models: each output rebuilt from a chosen few of its components, for every budget
//! k at once (docs/MATH.md section 7).
//!
//! ```text
//! y_o(x) = base_o(x) + Σ_k λ_{o,k} (v_{o,k}ᵀ e)²        e = E x, exact with every component
//! y_o(x) ≈ base_o(x) + Σ_{k ∈ S_o(k)} λ_{o,k} (v_{o,k}ᵀ e)²
//! ```
//!
//! `base` is everything the eigendecomposition of `Q` does not hold: the linear (residual) path
//! `L e` and, with biases, `2 qᵀe + q0` ([`linear_part`]). A [`Selection`] rule fixes, for each
//! output, an order of its components and how many leading ones are kept at a budget of `k`
//! ([`SelectionOrder`]); every rule keeps all `d` components at `k = d`, which gives back the
//! model.
//!
//! Cost: one `[n, d_in] × [d_in, d]` GEMM per output projects the inputs on every eigenvector
//! once; the truncated sums for all budgets and rules are then running sums over the
//! components in each rule's order, `O(n d)` per rule, never a recomputation per k.

use faer::Par;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

use crate::interaction::linear_terms;
use crate::linalg;
use crate::model::BilinearModel;
use crate::scalar::Real;

/// How the components of one output are chosen at a budget of `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Selection {
    /// The `k` components of largest `|λ|`: the best rank-k approximation of `Q` in Frobenius
    /// and spectral norm, blind to the data.
    Abs,
    /// The `k` most positive and the `k` most negative components (`2k` in all, fewer when a
    /// sign runs out): evidence for and against the output in equal measure.
    Paired,
    /// The `k` components of largest mean absolute activation on reference inputs,
    /// `|λ| E[(vᵀe)²] = |λ| vᵀ S v` with `S = E[e eᵀ]` ([`activation_importance`]): the
    /// components that move the output most on real data, which a large `|λ|` along a
    /// direction the data never visits does not.
    #[cfg_attr(
        feature = "clap",
        value(help = "The k components of largest mean |activation| on the training images")
    )]
    Activation,
}

impl Selection {
    /// The name used in files and on the command line: `abs`, `paired`, `activation`.
    pub fn name(self) -> &'static str {
        match self {
            Selection::Abs => "abs",
            Selection::Paired => "paired",
            Selection::Activation => "activation",
        }
    }

    /// Every rule, in the order reports list them.
    pub const ALL: [Selection; 3] = [Selection::Abs, Selection::Paired, Selection::Activation];
}

crate::names::named!(
    Selection,
    "selection rule",
    [Selection::Abs, Selection::Paired, Selection::Activation]
);

/// The order in which one rule adds an output's components, and how many leading entries of
/// that order it keeps at each budget `k` ([`SelectionOrder::kept`]).
///
/// For [`Selection::Paired`] the order interleaves the positive components (largest `λ` first)
/// with the non-positive ones (most negative first), so that the first
/// `min(k, n₊) + min(k, n₋)` entries are exactly the top `k` of each sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionOrder {
    rule: Selection,
    order: Vec<usize>,
    n_positive: usize,
    n_negative: usize,
}

impl SelectionOrder {
    /// The order of the components with eigenvalues `values` (`[d]`, any order) under `rule`.
    /// Ties are broken deterministically: by sign (positive first), then by index.
    ///
    /// `importance` (`[d]`, e.g. from [`activation_importance`]) is required by
    /// [`Selection::Activation`] and ignored by the other rules.
    ///
    /// # Panics
    /// If the rule is [`Selection::Activation`] and `importance` is missing or not `[d]`.
    #[track_caller]
    pub fn new<T: Real>(
        values: ArrayView1<'_, T>,
        rule: Selection,
        importance: Option<ArrayView1<'_, f64>>,
    ) -> Self {
        let d = values.len();
        let v = |i: usize| values[i].as_f64();
        let mut positive: Vec<usize> = (0..d).filter(|&i| v(i) > 0.0).collect();
        // Everything not positive (zero and NaN included) goes with the negatives, so that
        // every component is in one group and `kept(d) == d`.
        let mut negative: Vec<usize> = (0..d).filter(|&i| v(i) <= 0.0 || v(i).is_nan()).collect();
        positive.sort_by(|&a, &b| v(b).total_cmp(&v(a)).then(a.cmp(&b)));
        negative.sort_by(|&a, &b| v(a).total_cmp(&v(b)).then(a.cmp(&b)));
        let order = match rule {
            Selection::Abs => {
                let mut all: Vec<usize> = (0..d).collect();
                all.sort_by(|&a, &b| {
                    v(b).abs()
                        .total_cmp(&v(a).abs())
                        .then(v(b).total_cmp(&v(a)))
                        .then(a.cmp(&b))
                });
                all
            }
            Selection::Paired => {
                let mut all = Vec::with_capacity(d);
                for i in 0..positive.len().max(negative.len()) {
                    all.extend(positive.get(i));
                    all.extend(negative.get(i));
                }
                all
            }
            Selection::Activation => {
                let imp =
                    importance.expect("Selection::Activation needs an importance per component");
                assert_eq!(imp.len(), d, "one importance per component");
                let mut all: Vec<usize> = (0..d).collect();
                all.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]).then(a.cmp(&b)));
                all
            }
        };
        Self {
            rule,
            order,
            n_positive: positive.len(),
            n_negative: negative.len(),
        }
    }

    /// The rule.
    pub fn rule(&self) -> Selection {
        self.rule
    }

    /// Component indices in the order the rule adds them (`[d]`).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// How many leading entries of [`SelectionOrder::order`] are kept at a budget of `k`:
    /// `min(k, d)`, or `min(k, n₊) + min(k, n₋)` for [`Selection::Paired`]. Always `d` for
    /// `k ≥ d`.
    pub fn kept(&self, k: usize) -> usize {
        match self.rule {
            Selection::Paired => k.min(self.n_positive) + k.min(self.n_negative),
            _ => k.min(self.order.len()),
        }
    }
}

/// For one output with components `values` (`[d]`) and `vectors` (`[d, d_in]`, rows), the
/// truncated sums `Σ_{kept} λ (vᵀe)²` over the layer inputs `e` (`[n, d_in]`): one `[n, ks.len()]`
/// array per entry of `orders`, column `j` holding the sum over the components `orders[r]`
/// keeps at budget `ks[j]`.
///
/// The sums are accumulated in f64 along each rule's order, whatever `T`; the projections
/// `e vᵀ` are one GEMM in `T`. With every component kept the sum is `eᵀ Q e` (docs/MATH.md
/// identity 2).
///
/// # Panics
/// If the shapes disagree or an order is not over `d` components.
#[track_caller]
pub fn truncated_sums<T: Real>(
    values: ArrayView1<'_, T>,
    vectors: ArrayView2<'_, T>,
    e: ArrayView2<'_, T>,
    orders: &[SelectionOrder],
    ks: &[usize],
    par: Par,
) -> Vec<Array2<f64>> {
    let d = values.len();
    assert_eq!(vectors.nrows(), d, "one eigenvector per eigenvalue");
    assert_eq!(
        e.ncols(),
        vectors.ncols(),
        "inputs and eigenvectors must share their width"
    );
    for o in orders {
        assert_eq!(o.order.len(), d, "an order must cover the {d} components");
    }
    let proj = linalg::matmul(e, vectors.t(), par);
    let lambda: Vec<f64> = values.iter().map(|x| x.as_f64()).collect();
    orders
        .iter()
        .map(|o| {
            // Budgets visited by increasing count, so each row is one pass over the order.
            let counts: Vec<usize> = ks.iter().map(|&k| o.kept(k)).collect();
            let mut by_count: Vec<usize> = (0..ks.len()).collect();
            by_count.sort_by_key(|&j| counts[j]);
            let mut out = Array2::<f64>::zeros((e.nrows(), ks.len()));
            Zip::from(out.rows_mut())
                .and(proj.rows())
                .par_for_each(|mut row, p| {
                    let (mut sum, mut pos) = (0.0f64, 0usize);
                    for &j in &by_count {
                        while pos < counts[j] {
                            let c = o.order[pos];
                            let x = p[c].as_f64();
                            sum += lambda[c] * x * x;
                            pos += 1;
                        }
                        row[j] = sum;
                    }
                });
            out
        })
        .collect()
}

/// The uncentred second moment `S = eᵀe / n` of inputs `e` (`[n, d]`), `[d, d]`: with it the
/// mean squared projection on any unit vector is `E[(vᵀe)²] = vᵀ S v`, without projecting the
/// data on each vector. Zero for an empty batch.
pub fn second_moment<T: Real>(e: ArrayView2<'_, T>, par: Par) -> Array2<T> {
    let n = e.nrows().max(1);
    let mut s = Array2::zeros((e.ncols(), e.ncols()));
    linalg::gemm(
        s.view_mut(),
        false,
        e.t(),
        e,
        T::one() / T::of_f64(n as f64),
        par,
    );
    crate::interaction::symmetrize_in_place(s.view_mut());
    s
}

/// The mean absolute activation of each component on the data whose second moment is
/// `moment` ([`second_moment`]): `|λ_k| v_kᵀ S v_k = E[|λ_k (v_kᵀe)²|]` (the activation has the
/// sign of `λ_k`, so its mean absolute value is `|λ_k|` times the mean square projection).
/// `values` `[d]`, `vectors` `[d, d_in]` rows, `moment` `[d_in, d_in]`; returns `[d]`.
#[track_caller]
pub fn activation_importance<T: Real>(
    values: ArrayView1<'_, T>,
    vectors: ArrayView2<'_, T>,
    moment: ArrayView2<'_, T>,
    par: Par,
) -> Array1<f64> {
    assert_eq!(
        vectors.nrows(),
        values.len(),
        "one eigenvector per eigenvalue"
    );
    assert_eq!(
        moment.dim(),
        (vectors.ncols(), vectors.ncols()),
        "the moment must be [d_in, d_in]"
    );
    let vs = linalg::matmul(vectors, moment, par);
    Zip::from(vs.rows())
        .and(vectors.rows())
        .and(&values)
        .map_collect(|a, b, l| {
            let q: f64 = a.iter().zip(b).map(|(x, y)| x.as_f64() * y.as_f64()).sum();
            l.as_f64().abs() * q
        })
}

/// The part of a model's outputs that is not in any `Q(u)`, for layer inputs `e` (`[n, d_in]`,
/// see [`BilinearModel::layer_input`]): `L e` for a linear (residual) path plus, with biases,
/// `2 qᵀe + q0` per output (docs/MATH.md section 2). `[n, d_out]`; zero for a bias-free layer with
/// no linear path. Adding the full quadratic forms to it gives the model's outputs.
pub fn linear_part<T: Real>(model: &BilinearModel<T>, e: ArrayView2<'_, T>, par: Par) -> Array2<T> {
    let layer = model.layer();
    assert_eq!(e.ncols(), layer.d_in(), "e must be [n, d_in]");
    let mut out = Array2::zeros((e.nrows(), layer.d_out()));
    if let Some(l) = model.linear() {
        linalg::gemm(out.view_mut(), false, e, l.t(), T::one(), par);
    }
    if layer.has_biases() {
        // Output o is the direction e_o, whose hidden coefficients are row o of P.
        let (q, q0) = linear_terms(layer, layer.p(), par);
        linalg::gemm(out.view_mut(), true, e, q.t(), T::of_f64(2.0), par);
        Zip::from(out.rows_mut()).for_each(|mut row| row += &q0);
    }
    out
}

/// The index of the largest entry of each row (`[n, c]` → `[n]`), the first on ties; rows
/// with a NaN pick the first maximum among the others. The same rule as `bilens eval`.
pub fn argmax_rows<T: Real>(scores: ArrayView2<'_, T>) -> Vec<usize> {
    scores
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = (0usize, f64::NEG_INFINITY);
            for (i, x) in row.iter().enumerate() {
                if x.as_f64() > best.1 {
                    best = (i, x.as_f64());
                }
            }
            best.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn abs_order_is_by_magnitude_with_positive_first_on_ties() {
        let values = array![0.5, -2.0, 2.0, -0.1, 0.0];
        let o = SelectionOrder::new(values.view(), Selection::Abs, None);
        assert_eq!(o.order(), &[2, 1, 0, 3, 4]);
        assert_eq!((o.kept(0), o.kept(2), o.kept(9)), (0, 2, 5));
    }

    #[test]
    fn paired_order_interleaves_signs_and_keeps_top_k_of_each() {
        let values = array![0.5, -2.0, 2.0, -0.1, 0.3, -3.0, -1.0];
        let o = SelectionOrder::new(values.view(), Selection::Paired, None);
        // positive: 2 (2.0), 0 (0.5), 4 (0.3); negative: 5, 1, 6, 3.
        assert_eq!(o.order(), &[2, 5, 0, 1, 4, 6, 3]);
        assert_eq!(o.kept(1), 2);
        assert_eq!(o.kept(3), 6);
        assert_eq!(o.kept(4), 7);
        assert_eq!(o.kept(100), 7);
    }

    #[test]
    fn activation_order_follows_importance() {
        let values = array![1.0, -1.0, 0.5];
        let imp = array![0.1, 3.0, 2.0];
        let o = SelectionOrder::new(values.view(), Selection::Activation, Some(imp.view()));
        assert_eq!(o.order(), &[1, 2, 0]);
    }

    #[test]
    #[should_panic(expected = "needs an importance")]
    fn activation_without_importance_is_a_contract_violation() {
        let values = array![1.0f64];
        let _ = SelectionOrder::new(values.view(), Selection::Activation, None);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        let s = array![[1.0, 3.0, 3.0], [f64::NAN, -1.0, -2.0], [0.0, 0.0, 0.0]];
        assert_eq!(argmax_rows(s.view()), vec![1, 1, 0]);
    }
}
