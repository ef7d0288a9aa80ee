//! What a results directory describes: its shape, the metadata of the run, and the summary of
//! each output (`summary.json`).

use std::collections::BTreeMap;

use bilens_decomp::{Hosvd, Real, effective_rank, norm_fraction};
use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use super::SUMMARY_TOP;
use crate::write::TensorSpec;

/// The sizes of a results directory's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultsShape {
    /// Number of output directions.
    pub n_out: usize,
    /// Components kept per output.
    pub k: usize,
    /// Input width of the bilinear layer (length of an eigenvector).
    pub d_in: usize,
    /// Width of the model input when the model has an embedding (length of an input-space
    /// eigenvector); `None` without one.
    pub d_input: Option<usize>,
    /// Width of an output direction.
    pub d_out: usize,
    /// Whether eigenvectors are stored (false when only spectra were computed).
    pub eigenvectors: bool,
}

/// One of an output's largest self interactions `Q_D[f, f]` in a feature basis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelfInteraction {
    /// The feature `f`.
    pub feature: usize,
    /// `Q_D[f, f]`.
    pub value: f64,
}

/// One of an output's largest cross interactions `Q_D[a, b]` (`a < b`) in a feature basis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossInteraction {
    /// The features `[a, b]`, `a < b`.
    pub features: [usize; 2],
    /// `Q_D[a, b]` (the pair contributes `2 Q_D[a, b] z_a z_b`).
    pub value: f64,
}

/// The tokens at both ends of one component of a language model's output: the tokens whose
/// embeddings `e_t` have the largest and the most negative projection `e_tᵀv` on the
/// component's direction `v` (in the residual stream). The activation `λ (vᵀx)²` ignores the
/// sign of `v`, so tokens at either end excite the component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentTokens {
    /// The component's position among the output's stored components.
    pub component: usize,
    /// Its eigenvalue.
    pub eigenvalue: f64,
    /// The tokens of largest projection, descending.
    pub top: Vec<TokenScore>,
    /// The tokens of most negative projection, ascending.
    pub bottom: Vec<TokenScore>,
}

/// One token and its projection on a component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenScore {
    /// The token id.
    pub id: usize,
    /// Its string from the tokenizer (its id without one).
    pub token: String,
    /// `e_tᵀv`.
    pub score: f64,
}

/// The summary of one output direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSummary {
    /// Index of the output direction (row of every tensor).
    pub index: usize,
    /// A human label, e.g. the class `"7"`.
    pub label: String,
    /// The first [`SUMMARY_TOP`] kept eigenvalues (all of them if fewer), in stored order.
    pub top_eigenvalues: Vec<f64>,
    /// Effective rank `(‖λ‖₁/‖λ‖₂)²` of the **whole** spectrum; `None` when not every
    /// eigenvalue was computed.
    pub effective_rank: Option<f64>,
    /// Fraction of `‖Q‖_F² = Σλ²` held by the `k` kept components (1 when all are kept).
    pub fraction_kept: f64,
    /// `‖Q(u)‖_F²`, the squared Frobenius norm of the interaction matrix.
    pub frobenius_sq: f64,
    /// `‖q‖`, the norm of the linear term biases add (from the `linear_terms` extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_term_norm: Option<f64>,
    /// `q0`, the constant biases add (from the `constants` extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<f64>,
    /// The largest self interactions, by descending `|value|`, at most [`SUMMARY_TOP`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_self_interactions: Option<Vec<SelfInteraction>>,
    /// The largest cross interactions, by descending `|value|`, at most [`SUMMARY_TOP`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_cross_interactions: Option<Vec<CrossInteraction>>,
    /// A language model's first components labelled by tokens (`bilens decompose
    /// --tokenizer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_tokens: Option<Vec<ComponentTokens>>,
}

impl OutputSummary {
    /// The summary of output `index` from its kept eigenvalues and the spectrum-wide sums
    /// `Σλ²` (`norm_sq`) and `Σ|λ|` (`abs_sum`, when known). The optional fields are left
    /// `None`; [`ResultsWriter::write_chunk`](crate::ResultsWriter::write_chunk) fills them from the chunk's extras.
    pub fn new<T: Real>(
        index: usize,
        label: impl Into<String>,
        kept: ArrayView1<'_, T>,
        norm_sq: f64,
        abs_sum: Option<f64>,
    ) -> Self {
        Self {
            index,
            label: label.into(),
            top_eigenvalues: kept.iter().take(SUMMARY_TOP).map(|x| x.as_f64()).collect(),
            effective_rank: abs_sum.map(|a| effective_rank(a, norm_sq)),
            fraction_kept: norm_fraction(kept, norm_sq),
            frobenius_sq: norm_sq,
            linear_term_norm: None,
            constant: None,
            top_self_interactions: None,
            top_cross_interactions: None,
            component_tokens: None,
        }
    }
}

/// The HOSVD spectrum of a `bilens hosvd` run, recorded in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HosvdSummary {
    /// The kept singular values `σ_s`, descending.
    pub singular_values: Vec<f64>,
    /// `‖B_flat‖_F² = Σ_all σ²`.
    pub total_sq: f64,
    /// `Σ_kept σ² / total_sq` (0 for a zero tensor).
    pub fraction_kept: f64,
}

impl HosvdSummary {
    /// The summary of a computed HOSVD.
    pub fn new<T: Real>(h: &Hosvd<T>) -> Self {
        Self {
            singular_values: h.singular_values.iter().map(|s| s.as_f64()).collect(),
            total_sq: h.total_sq,
            fraction_kept: norm_fraction(h.singular_values.view(), h.total_sq),
        }
    }
}

/// The content of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`FORMAT_VERSION`](crate::FORMAT_VERSION) of the writer.
    pub format_version: u32,
    /// The same string metadata as the safetensors header.
    pub metadata: BTreeMap<String, String>,
    /// Tensor sizes.
    pub shape: ResultsShape,
    /// The per-output extra tensors, with their stored shapes `[n_out, ...]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<TensorSpec>,
    /// The global tensors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub globals: Vec<TensorSpec>,
    /// The HOSVD spectrum, for `bilens hosvd` results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosvd: Option<HosvdSummary>,
    /// One record per output direction, by index.
    pub outputs: Vec<OutputSummary>,
}
