//! # bilens-decomp: the mathematics of bilinear-layer decomposition
//!
//! A bilinear layer `y(x) = P((W x) ⊙ (V x))` (`W, V: [d_hidden, d_in]`, `P: [d_out, d_hidden]`,
//! PyTorch's `[out, in]` storage) is a quadratic form in its input. For any output direction
//! `u ∈ R^{d_out}`, with hidden coefficients `c = Pᵀu`,
//!
//! ```text
//! uᵀ y(x) = xᵀ Q(u) x,     Q(u) = sym(Wᵀ diag(c) V) = (Wᵀ diag(c) V + Vᵀ diag(c) W) / 2
//! ```
//!
//! and the eigendecomposition `Q(u) = Σ_k λ_k v_k v_kᵀ` rewrites the output exactly as
//! `Σ_k λ_k (v_kᵀ x)²`: the eigenvectors are the layer's computational components and
//! `λ_k (v_kᵀx)²` is component k's activation on x.
//!
//! ## Methods
//!
//! | method | what | cost | use when |
//! |---|---|---|---|
//! | [`interaction_matrix`] | `Q(u)` from the factors, symmetrised | `2 d_hidden d_in²` | always; the 3-tensor `B` is never formed |
//! | [`eigh_full`] | dense symmetric eigendecomposition, sorted and sign-fixed | `~5 d_in³` (`4/3 d_in³` values only) | you want the whole spectrum, or `k` is a sizeable fraction of `d_in` |
//! | [`eigh`] with [`Method::Tridiagonal`] | the top k only: tridiagonal form, bisection, inverse iteration, back-transformation of k vectors | `4/3 d_in³ + 4 d_in² k` whatever the spectrum | `k ≪ d_in` and the spectrum is flat (Lanczos converges slowly); `Method::Auto` hands over to it |
//! | [`decompose`] / [`decompose_chunked`] | the above for many output directions, rayon across outputs | per output as above | classes, token or SAE directions |
//! | [`truncated_sums`] | every output rebuilt from k of its components, for all k and [`Selection`] rules at once | one `n × d_in × d` GEMM per output, then `O(n d)` per rule | truncation curves (docs/MATH.md section 7) |
//! | [`pseudo_inverse_rows`], [`LineProbe`] | adversarial masks `u_j · m_i = δ_ij`; a model's outputs along `x + s m`, an exact quadratic in `s` | `O(k² d)`; `O(n h)` per direction | masks from the weights alone (section 8) |
//! | [`matched_similarity`] | `|cos|` between two models' components after the best one-to-one matching | `O(k² d + k³)` | consistency across seeds and sizes |
//! | [`approximation_correlations`] | Pearson correlation of a feature's activation with its first K components' sum `Σ_{k≤K} λ_k (v_kᵀx)²`, on the inputs where it is active, for every K | one `[n, d] × [d, K]` GEMM per feature | how well a few components explain an SAE feature |
//! | [`lift_conv`], [`kernel_rows`] | a bilinear convolution `(K_a * x) ⊙ (K_b * x)` as the `W`, `V` of a bilinear layer over the flattened image (the Toeplitz lift), or over one receptive field | `c_out H'² c_in H²` entries, dense | convolutional models: eigen-images and eigenfilters (docs/MATH.md section 11) |
//! | [`extreme_rows`] | the rows of a table (a token embedding) with the largest and smallest projections on each vector | one GEMM per block of 64 vectors | labelling components by tokens |
//!
//! ## Conventions
//!
//! - Components are reported by **descending `|λ|`** unless another [`Order`] is asked for
//!   (faer, LAPACK and torch return ascending `λ`; this crate re-sorts).
//! - Eigenvectors are rows of `[k, d]` matrices; each is sign-fixed so that its entry of largest
//!   magnitude is positive.
//! - `f32` is the default working precision (what checkpoints hold); every identity is tested
//!   in `f64`.
//! - Shape mistakes in arguments are contract violations and panic with a message; data
//!   problems (non-convergence, NaN) are [`DecompError`]s.
//!
//! This crate does no file or terminal I/O, so it can be embedded or bound to Python unchanged.
//!
//! ## Example
//!
//! ```
//! use bilens_decomp::{decompose, BilinearLayer, DecomposeParams};
//! use ndarray::{array, Array2};
//!
//! // d_in = 2, d_hidden = 2, d_out = 1: y = (x0 + x1)(x0 - x1) = x0² - x1².
//! let w = array![[1.0f64, 1.0], [0.0, 0.0]];
//! let v = array![[1.0, -1.0], [0.0, 0.0]];
//! let p = array![[1.0, 0.0]];
//! let layer = BilinearLayer::new(w, v, p);
//! let out = decompose(&layer, Array2::eye(1).view(), None, &DecomposeParams::default()).unwrap();
//! // Q = diag(1, -1): two components, +1 along x0 and -1 along x1 (ties in |λ| put the
//! // positive one first).
//! let eigenvalues = out.eigenvalues.row(0);
//! assert!((eigenvalues[0] - 1.0).abs() < 1e-12 && (eigenvalues[1] + 1.0).abs() < 1e-12);
//! ```
#![deny(missing_docs)]

mod adversarial;
mod approx;
mod basis;
mod conv;
mod decompose;
mod eigen;
mod error;
mod evaluate;
mod hosvd;
mod interaction;
mod lanczos;
mod layer;
pub mod linalg;
mod model;
mod names;
mod order;
mod outputs;
mod params;
mod placement;
mod projection;
mod reduction;
mod scalar;
mod shared;
mod sign;
mod similarity;
mod stats;
mod sturm;
mod symmetric;
mod tridiagonal;
mod truncate;

pub use adversarial::{LineOutputs, LineProbe, pseudo_inverse_rows};
pub use approx::{
    ApproximationSummary, Components, FeatureApproximation, approximation_correlations, pearson,
    summarize_approximations,
};
pub use basis::{InputBasis, TopInteractions};
pub use conv::{ConvGeometry, channel_bias, kernel_rows, lift_conv};
pub use decompose::{
    Decomposition, decompose, decompose_chunked, decompose_chunked_until, result_dims,
};
pub use eigen::{Method, Order, Solver, Spectrum, eigh, eigh_full, fix_sign};
pub use error::DecompError;
pub use evaluate::{
    Selection, SelectionOrder, activation_importance, argmax_rows, linear_part, second_moment,
    truncated_sums,
};
pub use faer::Par;
pub use hosvd::{Hosvd, hidden_gram, hosvd, output_gram};
pub use interaction::{
    frobenius_sq, hidden_coefficients, interaction_from_coefficients, interaction_matrix,
    linear_term, linear_terms, symmetrize_in_place, symmetrized,
};
pub use lanczos::{LanczosParams, lanczos_applies};
pub use layer::BilinearLayer;
pub use model::BilinearModel;
pub use names::UnknownName;
pub use outputs::{class_directions, contrast_direction, contrast_mean_direction, select_rows};
pub use params::{DecomposeParams, Parallelism};
pub use projection::{Extremes, extreme_rows};
pub use scalar::{Precision, Real};
pub use shared::{InteractionBasis, Route};
pub use sign::{Sign, top_by_sign};
pub use similarity::{
    abs_cosine_matrix, matched_similarity, max_weight_assignment, ranked_similarity,
};
pub use stats::{effective_count, effective_rank, effective_rank_of, norm_fraction};
pub use truncate::{activations, reconstruct};
