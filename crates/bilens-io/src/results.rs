//! The results directory: the only contract between `bilens decompose` (and `bilens hosvd`)
//! and everything that reads their output (`bilens plot`, notebooks).
//!
//! ```text
//! DIR/decomposition.safetensors   F32 (or F64) tensors, row o = output direction o:
//!     eigenvalues         [n_out, k]           in the order named by the `order` metadata
//!     eigenvectors        [n_out, k, d_in]     rows, unit norm, in the bilinear layer's input
//!     input_eigenvectors  [n_out, k, d_input]  Eᵀv: the eigenvectors in the model's input
//!                                              space (e.g. 784 pixels), models with an embedding
//!     outputs             [n_out, d_out]       the output directions u
//!   per-output extras, when the run computed them (declared with ExtraSpec):
//!     linear_terms        [n_out, d_in]        q with uᵀy(x) = xᵀQx + 2qᵀx + q0 (biases)
//!     constants           [n_out]              q0
//!     effective_rank      [n_out]              (‖λ‖₁/‖λ‖₂)², NaN where not every λ is known
//!     fraction_kept       [n_out]              Σ_kept λ² / ‖Q‖_F²
//!     frobenius_sq        [n_out]              ‖Q‖_F²
//!     self_interaction_values    [n_out, m]     largest |Q_D[f, f]| of a feature basis D,
//!     self_interaction_features  [n_out, m]     I64: f (descending |value|; -1 = padding)
//!     cross_interaction_values   [n_out, m]     largest |Q_D[a, b]|, a < b,
//!     cross_interaction_features [n_out, m, 2]  I64: (a, b) (descending |value|; -1 = padding)
//!     top_tokens          [n_out, c, t]        I64: a language model's first c components,
//!     bottom_tokens       [n_out, c, t]        the t tokens at each end (-1 = padding)
//!   global tensors, written once (declared as TensorSpecs), e.g. for `bilens hosvd`:
//!     singular_values     [S]                  σ_s, descending
//!     output_vectors      [S, d_out]           u_s (Q(u_s)/σ_s is component s)
//!     output_coefficients [S, n]               a_s over the restricting directions, if any
//!   __metadata__ (strings): model, layout, method, k, order, precision, bilens_version,
//!     format_version, run_id, and any extra keys of the writer
//! DIR/summary.json                the metadata, the shape, the declared extra and global
//!                                 tensors, the HOSVD spectrum (if any), and per output: index,
//!                                 label, top eigenvalues, effective rank, fraction of ‖Q‖_F²
//!                                 kept, ‖Q‖_F², and when the extras hold them ‖q‖, q0 and the
//!                                 top self/cross interactions
//! ```
//!
//! The eigenvector tensors are absent when only spectra were computed; extras and globals are
//! absent unless declared (directories written before they existed read unchanged). A numpy
//! reader needs nothing but `safetensors.numpy.load_file(DIR + "/decomposition.safetensors")`.
//!
//! Writes are atomic and streamed: [`ResultsWriter`] declares every tensor up front, takes
//! chunks of consecutive outputs in any order straight into a temporary file, and on
//! [`ResultsWriter::finish`] moves the tensors into place and then writes `summary.json`. Both
//! files carry the same `run_id`, so a crash between the two renames (a new decomposition
//! beside an old summary) is detected by [`ResultsFile::open`] rather than misread.
//!
//! A writer made by [`ResultsWriter::create_resumable`] for a described job also survives
//! being killed: its temporary file has a known name and every finished chunk is synced and
//! logged (see [`crate::resume`]), so the same job started again continues where it stopped
//! ([`ResultsWriter::pending`] says what is left). Its `run_id` is `job-` and the job's
//! digest rather than a time: running the same job twice, interrupted or not, gives
//! byte-identical files, and results that are already complete can be recognised
//! ([`ResultsFile::run_id`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bilens_decomp::{
    Decomposition, Hosvd, Order, Real, TopInteractions, effective_rank, norm_fraction,
};
use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{IoError, Result};
use crate::resume::{
    LogChunk, LogHeader, PARTIAL_FILE, RESUME_FILE, ResumeLog, ResumeState, describe_difference,
    job_id, read_log, remove_if_present,
};
use crate::write::{Dtype, Element, SafetensorsWriter, TensorSpec, write_atomic};

/// File name of the tensors in a results directory.
pub const DECOMPOSITION_FILE: &str = "decomposition.safetensors";
/// File name of the summary in a results directory.
pub const SUMMARY_FILE: &str = "summary.json";
/// How many leading eigenvalues (and interactions) each output's summary lists (all of them
/// when fewer are stored).
pub const SUMMARY_TOP: usize = 20;
/// Version of the results layout; readers refuse directories written by a newer one. Extra
/// and global tensors were added without a new version: older readers ignore them.
pub const FORMAT_VERSION: u32 = 1;

/// The names of the tensors a results directory holds (see the module table for shapes).
pub mod names {
    /// `[n_out, k]`, always present.
    pub const EIGENVALUES: &str = "eigenvalues";
    /// `[n_out, k, d_in]`, when eigenvectors are stored.
    pub const EIGENVECTORS: &str = "eigenvectors";
    /// `[n_out, k, d_input]`, when eigenvectors are stored and the model has an embedding.
    pub const INPUT_EIGENVECTORS: &str = "input_eigenvectors";
    /// `[n_out, d_out]`, always present.
    pub const OUTPUTS: &str = "outputs";

    /// Per-output extra `[n_out, d_in]`: the linear term `q` biases add.
    pub const LINEAR_TERMS: &str = "linear_terms";
    /// Per-output extra `[n_out]`: the constant `q0` biases add.
    pub const CONSTANTS: &str = "constants";
    /// Per-output extra `[n_out]`: effective rank, NaN where unknown.
    pub const EFFECTIVE_RANK: &str = "effective_rank";
    /// Per-output extra `[n_out]`: fraction of `‖Q‖_F²` kept.
    pub const FRACTION_KEPT: &str = "fraction_kept";
    /// Per-output extra `[n_out]`: `‖Q‖_F²`.
    pub const FROBENIUS_SQ: &str = "frobenius_sq";
    /// Per-output extra `[n_out, m]`: the largest diagonal entries of `Q_D`.
    pub const SELF_INTERACTION_VALUES: &str = "self_interaction_values";
    /// Per-output extra `[n_out, m]` (I64): their features.
    pub const SELF_INTERACTION_FEATURES: &str = "self_interaction_features";
    /// Per-output extra `[n_out, m]`: the largest off-diagonal entries of `Q_D`.
    pub const CROSS_INTERACTION_VALUES: &str = "cross_interaction_values";
    /// Per-output extra `[n_out, m, 2]` (I64): their feature pairs.
    pub const CROSS_INTERACTION_FEATURES: &str = "cross_interaction_features";
    /// Per-output extra `[n_out, c, t]` (I64): for each of the first `c` components, the `t`
    /// tokens of largest embedding projection (-1 = padding).
    pub const TOP_TOKENS: &str = "top_tokens";
    /// Per-output extra `[n_out, c, t]` (I64): the `t` tokens of most negative projection.
    pub const BOTTOM_TOKENS: &str = "bottom_tokens";

    /// Global `[S]`: HOSVD singular values.
    pub const SINGULAR_VALUES: &str = "singular_values";
    /// Global `[S, d_out]`: HOSVD output vectors.
    pub const OUTPUT_VECTORS: &str = "output_vectors";
    /// Global `[S, n]`: HOSVD coefficients over restricting directions.
    pub const OUTPUT_COEFFICIENTS: &str = "output_coefficients";

    /// The tensors every results directory may hold whatever was declared.
    pub(crate) const FIXED: [&str; 4] = [EIGENVALUES, EIGENVECTORS, INPUT_EIGENVECTORS, OUTPUTS];
    /// Per-output statistics the writer can fill from the summaries.
    pub(crate) const STATS: [&str; 3] = [EFFECTIVE_RANK, FRACTION_KEPT, FROBENIUS_SQ];
}

use names::{EIGENVALUES, EIGENVECTORS, INPUT_EIGENVECTORS, OUTPUTS};

/// Metadata keys the writer sets itself; extra keys may not reuse them.
const RESERVED: [&str; 9] = [
    "model",
    "layout",
    "method",
    "k",
    "order",
    "precision",
    "bilens_version",
    "format_version",
    "run_id",
];

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

/// What produced the results, written into both files' metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsMeta {
    /// The model file, as the user named it.
    pub model: String,
    /// The layout it was read with (`image`, `single`).
    pub layout: String,
    /// The decomposition method (e.g. `full`).
    pub method: String,
    /// The order of the kept components.
    pub order: Order,
    /// Any further string metadata (e.g. `outputs: classes`); keys may not collide with the
    /// writer's own.
    pub extra: BTreeMap<String, String>,
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
    /// `None`; [`ResultsWriter::write_chunk`] fills them from the chunk's extras.
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
    /// [`FORMAT_VERSION`] of the writer.
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

/// A per-output extra tensor, declared when a [`ResultsWriter`] is created: stored as
/// `[n_out, trailing...]`, its rows given with every chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraSpec {
    /// Tensor name (see [`names`] for the ones bilens writes).
    pub name: String,
    /// The results' precision (`F32`/`F64`, matching the writer's `T`) or `I64` for indices.
    pub dtype: Dtype,
    /// The shape of one output's entry (`[]` for a number per output).
    pub trailing: Vec<usize>,
}

impl ExtraSpec {
    /// A new spec.
    pub fn new(name: impl Into<String>, dtype: Dtype, trailing: &[usize]) -> Self {
        Self {
            name: name.into(),
            dtype,
            trailing: trailing.to_vec(),
        }
    }

    /// A float extra in precision `T`.
    pub fn float<T: Element>(name: impl Into<String>, trailing: &[usize]) -> Self {
        Self::new(name, T::DTYPE, trailing)
    }

    /// An I64 (index) extra.
    pub fn index(name: impl Into<String>, trailing: &[usize]) -> Self {
        Self::new(name, Dtype::I64, trailing)
    }

    /// `effective_rank`, `fraction_kept`, `frobenius_sq` (`[n_out]` each): the summary's
    /// statistics as tensors. [`ResultsWriter::write_chunk`] fills them from the chunk's
    /// summaries when the chunk does not give them.
    pub fn spectrum_stats<T: Element>() -> Vec<Self> {
        names::STATS
            .iter()
            .map(|n| Self::float::<T>(*n, &[]))
            .collect()
    }

    /// `linear_terms` `[n_out, d_in]` and `constants` `[n_out]`: what biases add to each
    /// output, `uᵀy(x) = xᵀQx + 2qᵀx + q0`.
    pub fn bias_terms<T: Element>(d_in: usize) -> Vec<Self> {
        vec![
            Self::float::<T>(names::LINEAR_TERMS, &[d_in]),
            Self::float::<T>(names::CONSTANTS, &[]),
        ]
    }

    /// The four tensors of [`InteractionArrays`] with `m` entries per output.
    pub fn interactions<T: Element>(m: usize) -> Vec<Self> {
        vec![
            Self::float::<T>(names::SELF_INTERACTION_VALUES, &[m]),
            Self::index(names::SELF_INTERACTION_FEATURES, &[m]),
            Self::float::<T>(names::CROSS_INTERACTION_VALUES, &[m]),
            Self::index(names::CROSS_INTERACTION_FEATURES, &[m, 2]),
        ]
    }
}

/// The rows of one extra tensor for a chunk of outputs, `[n, trailing...]`.
#[derive(Clone, Debug)]
pub enum ExtraData<'a, T> {
    /// Values in the results' precision.
    Float(ArrayViewD<'a, T>),
    /// Indices (I64).
    Index(ArrayViewD<'a, i64>),
}

impl<T> ExtraData<'_, T> {
    /// A view of the same rows with a shorter lifetime (the enum is invariant in its lifetime,
    /// as ndarray's views are for a generic element type, so it cannot simply be coerced).
    pub fn view(&self) -> ExtraData<'_, T> {
        match self {
            ExtraData::Float(a) => ExtraData::Float(a.view()),
            ExtraData::Index(a) => ExtraData::Index(a.view()),
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            ExtraData::Float(a) => a.shape(),
            ExtraData::Index(a) => a.shape(),
        }
    }

    fn dtype_name(&self, float: Dtype) -> &'static str {
        match self {
            ExtraData::Float(_) => float.name(),
            ExtraData::Index(_) => Dtype::I64.name(),
        }
    }
}

/// The largest self and cross interactions of a chunk of outputs, padded to `m` entries each,
/// as the four extras [`ExtraSpec::interactions`] declares. Padding (when an output has fewer
/// than `m` interactions, e.g. fewer than `m` feature pairs) has feature `-1` and value NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionArrays<T> {
    /// `[n, m]`, `Q_D[f, f]`.
    pub self_values: Array2<T>,
    /// `[n, m]`, `f`.
    pub self_features: Array2<i64>,
    /// `[n, m]`, `Q_D[a, b]`.
    pub cross_values: Array2<T>,
    /// `[n, m, 2]`, `(a, b)` with `a < b`.
    pub cross_features: Array3<i64>,
}

impl<T: Real> InteractionArrays<T> {
    /// Packs one [`TopInteractions`] per output (as `InputBasis::top_interactions` returns
    /// them, by descending `|value|`), keeping at most `m` of each kind.
    pub fn new(tops: &[TopInteractions<T>], m: usize) -> Self {
        let n = tops.len();
        let mut a = Self {
            self_values: Array2::from_elem((n, m), T::nan()),
            self_features: Array2::from_elem((n, m), -1),
            cross_values: Array2::from_elem((n, m), T::nan()),
            cross_features: Array3::from_elem((n, m, 2), -1),
        };
        for (o, top) in tops.iter().enumerate() {
            for (j, &(f, x)) in top.self_interactions.iter().take(m).enumerate() {
                a.self_values[(o, j)] = x;
                a.self_features[(o, j)] = index(f);
            }
            for (j, &(f, g, x)) in top.cross_interactions.iter().take(m).enumerate() {
                a.cross_values[(o, j)] = x;
                a.cross_features[(o, j, 0)] = index(f);
                a.cross_features[(o, j, 1)] = index(g);
            }
        }
        a
    }

    /// The chunk extras, by the names [`ExtraSpec::interactions`] declares.
    pub fn extras(&self) -> Vec<(&'static str, ExtraData<'_, T>)> {
        vec![
            (
                names::SELF_INTERACTION_VALUES,
                ExtraData::Float(self.self_values.view().into_dyn()),
            ),
            (
                names::SELF_INTERACTION_FEATURES,
                ExtraData::Index(self.self_features.view().into_dyn()),
            ),
            (
                names::CROSS_INTERACTION_VALUES,
                ExtraData::Float(self.cross_values.view().into_dyn()),
            ),
            (
                names::CROSS_INTERACTION_FEATURES,
                ExtraData::Index(self.cross_features.view().into_dyn()),
            ),
        ]
    }
}

/// A feature index as stored (I64); indices of in-memory arrays always fit.
fn index(f: usize) -> i64 {
    i64::try_from(f).unwrap_or(i64::MAX)
}

/// A chunk of consecutive outputs `first..first + n` for [`ResultsWriter::write_chunk`].
#[derive(Clone, Debug)]
pub struct ResultsChunk<'a, T> {
    /// Index of the chunk's first output.
    pub first: usize,
    /// `[n, k]`.
    pub eigenvalues: ArrayView2<'a, T>,
    /// `[n, k, d_in]`, present exactly when the results store eigenvectors.
    pub eigenvectors: Option<ArrayView3<'a, T>>,
    /// `[n, k, d_input]`, present exactly when eigenvectors are stored and the model has an
    /// embedding.
    pub input_eigenvectors: Option<ArrayView3<'a, T>>,
    /// The chunk's output directions `[n, d_out]`.
    pub outputs: ArrayView2<'a, T>,
    /// One summary per output, indices `first..first + n` in order.
    pub summaries: Vec<OutputSummary>,
    /// The rows `[n, trailing...]` of every declared extra, by name (the statistics of
    /// [`ExtraSpec::spectrum_stats`] may be left out: they are filled from `summaries`).
    pub extras: Vec<(&'a str, ExtraData<'a, T>)>,
}

/// Writes a results directory, streaming chunks of outputs to disk; see the module docs.
pub struct ResultsWriter<T> {
    dir: PathBuf,
    file_path: PathBuf,
    shape: ResultsShape,
    file: SafetensorsWriter,
    metadata: BTreeMap<String, String>,
    summaries: Vec<Option<OutputSummary>>,
    /// Declared extras, with their stored shapes `[n_out, trailing...]`.
    extras: Vec<TensorSpec>,
    /// Declared globals and whether each was written.
    globals: Vec<(TensorSpec, bool)>,
    hosvd: Option<HosvdSummary>,
    /// The resume log of a resumable writer.
    log: Option<ResumeLog>,
    /// Counters ([`ResultsWriter::add_count`]): totals, and what the next logged chunk adds.
    counts: BTreeMap<String, u64>,
    pending_counts: BTreeMap<String, u64>,
    _precision: std::marker::PhantomData<T>,
}

impl<T> std::fmt::Debug for ResultsWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsWriter")
            .field("dir", &self.dir)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl<T: Real + Element> ResultsWriter<T> {
    /// Starts writing results of `shape` into `dir` (created if needed), stored in precision
    /// `T`, with the per-output `extras` and the `globals` declared (both may be empty).
    /// Nothing appears at the final paths before [`ResultsWriter::finish`].
    ///
    /// A float extra must be declared in the results' precision (its rows are `T`); names may
    /// not repeat or reuse the four tensors every results directory has.
    pub fn create(
        dir: &Path,
        shape: ResultsShape,
        meta: &ResultsMeta,
        extras: &[ExtraSpec],
        globals: &[TensorSpec],
    ) -> Result<Self> {
        let plan = Plan::new::<T>(dir, shape, meta, extras, globals, run_id())?;
        let file = SafetensorsWriter::create(&plan.file_path, plan.specs.clone(), &plan.metadata)?;
        Ok(plan.into_writer(file, None))
    }

    /// Like [`ResultsWriter::create`], for the job described by `job` (a JSON object of
    /// everything that determines the results), resuming an interrupted run of the same job
    /// in `dir` when there is one: its finished chunks are kept and [`ResultsWriter::pending`]
    /// lists the outputs left. State of a different job is deleted, and the returned
    /// [`ResumeState`] says why.
    pub fn create_resumable(
        dir: &Path,
        shape: ResultsShape,
        meta: &ResultsMeta,
        extras: &[ExtraSpec],
        globals: &[TensorSpec],
        job: &serde_json::Value,
    ) -> Result<(Self, ResumeState)> {
        let id = job_id(job);
        let plan = Plan::new::<T>(dir, shape, meta, extras, globals, format!("job-{id}"))?;
        let partial = dir.join(PARTIAL_FILE);
        let state = match read_log(dir)? {
            None => ResumeState::Fresh,
            Some(found) => match Self::resume(plan.clone(), &partial, &id, job, found)? {
                Ok(resumed) => return Ok(resumed),
                Err(reason) => ResumeState::Discarded { reason },
            },
        };
        Self::start_resumable(plan, &partial, job, &id, state)
    }

    /// Continues the run a resume log describes, or says why it cannot (`Err(reason)`: another
    /// job, a damaged log, a partial file that is not the logged one).
    fn resume(
        plan: Plan,
        partial: &Path,
        id: &str,
        job: &serde_json::Value,
        found: std::result::Result<crate::resume::LogRead, String>,
    ) -> Result<std::result::Result<(Self, ResumeState), String>> {
        let log = match found {
            Ok(log) if log.header.job_id == id => log,
            Ok(log) => return Ok(Err(describe_difference(&log.header.job, job))),
            Err(reason) => return Ok(Err(reason)),
        };
        let reopened = SafetensorsWriter::reopen(
            &plan.file_path,
            partial,
            plan.specs.clone(),
            &plan.metadata,
        )?;
        let Some(file) = reopened else {
            return Ok(Err(format!(
                "{PARTIAL_FILE} is missing or does not match {RESUME_FILE}"
            )));
        };
        let dir = plan.dir.clone();
        let mut writer = plan.into_writer(file, Some(ResumeLog::reopen(&dir, log.valid_len)?));
        // On an inconsistent log the writer is dropped and the caller starts over (which
        // truncates the partial file).
        Ok(writer.replay(log.chunks).map(|state| (writer, state)))
    }

    fn start_resumable(
        plan: Plan,
        partial: &Path,
        job: &serde_json::Value,
        id: &str,
        state: ResumeState,
    ) -> Result<(Self, ResumeState)> {
        let dir = plan.dir.clone();
        remove_if_present(&dir.join(RESUME_FILE))?;
        let file = SafetensorsWriter::create_resumable(
            &plan.file_path,
            partial,
            plan.specs.clone(),
            &plan.metadata,
        )?;
        let log = ResumeLog::create(
            &dir,
            &LogHeader {
                resume_format: 1,
                job_id: id.to_string(),
                job: job.clone(),
            },
        )?;
        Ok((plan.into_writer(file, Some(log)), state))
    }

    /// Takes back the chunks of a resume log: their summaries, counters and rows (credited as
    /// written). An inconsistent log is an `Err` with the reason.
    fn replay(&mut self, chunks: Vec<LogChunk>) -> std::result::Result<ResumeState, String> {
        let n_chunks = chunks.len();
        let mut outputs = 0;
        for chunk in chunks {
            let n = chunk.summaries.len();
            let fits = chunk.first + n <= self.shape.n_out
                && chunk
                    .summaries
                    .iter()
                    .enumerate()
                    .all(|(i, s)| s.index == chunk.first + i)
                && (chunk.first..chunk.first + n).all(|o| self.summaries[o].is_none());
            if !fits {
                return Err(format!(
                    "{RESUME_FILE} lists outputs {}..{} twice or beyond the {} declared",
                    chunk.first,
                    chunk.first + n,
                    self.shape.n_out
                ));
            }
            for (name, row) in self.row_sizes() {
                self.file.credit(&name, n * row);
            }
            for (k, v) in chunk.counts {
                *self.counts.entry(k).or_default() += v;
            }
            for s in chunk.summaries {
                let o = s.index;
                self.summaries[o] = Some(s);
            }
            outputs += n;
        }
        Ok(if n_chunks == 0 {
            ResumeState::Fresh
        } else {
            ResumeState::Resumed {
                outputs,
                chunks: n_chunks,
            }
        })
    }

    /// Every per-output tensor with the number of elements one output's row holds.
    fn row_sizes(&self) -> Vec<(String, usize)> {
        let s = self.shape;
        let mut rows = vec![
            (EIGENVALUES.to_string(), s.k),
            (OUTPUTS.to_string(), s.d_out),
        ];
        if s.eigenvectors {
            rows.push((EIGENVECTORS.to_string(), s.k * s.d_in));
            if let Some(d) = s.d_input {
                rows.push((INPUT_EIGENVECTORS.to_string(), s.k * d));
            }
        }
        for e in &self.extras {
            rows.push((e.name.clone(), e.shape.iter().skip(1).product()));
        }
        rows
    }

    /// The outputs not written yet, as ranges of consecutive outputs in order (everything for
    /// a fresh writer; what an interrupted run left for a resumed one).
    pub fn pending(&self) -> Vec<std::ops::Range<usize>> {
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for (o, s) in self.summaries.iter().enumerate() {
            if s.is_some() {
                continue;
            }
            match ranges.last_mut() {
                Some(r) if r.end == o => r.end = o + 1,
                _ => ranges.push(o..o + 1),
            }
        }
        ranges
    }

    /// The summaries of the outputs written so far (including resumed ones), by index.
    pub fn summaries(&self) -> impl Iterator<Item = &OutputSummary> {
        self.summaries.iter().flatten()
    }

    /// Adds `n` to counter `key` (e.g. solver fallbacks), carried with the next chunk into the
    /// resume log so that a resumed run's total includes the chunks before the interruption.
    /// Every counter is written into both files' metadata on [`ResultsWriter::finish`].
    pub fn add_count(&mut self, key: &str, n: u64) {
        *self.counts.entry(key.to_string()).or_default() += n;
        *self.pending_counts.entry(key.to_string()).or_default() += n;
    }

    /// The total of counter `key` so far.
    pub fn count(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// The declared sizes.
    pub fn shape(&self) -> ResultsShape {
        self.shape
    }

    /// The global tensors of a computed HOSVD, to declare at [`ResultsWriter::create`] and
    /// write with [`ResultsWriter::write_hosvd`]: `singular_values [S]`,
    /// `output_vectors [S, d_out]` and, for a restricted HOSVD, `output_coefficients [S, n]`.
    pub fn hosvd_globals(h: &Hosvd<T>) -> Vec<TensorSpec> {
        let float = <T as Element>::DTYPE;
        let mut specs = vec![
            TensorSpec::new(names::SINGULAR_VALUES, float, h.singular_values.shape()),
            TensorSpec::new(names::OUTPUT_VECTORS, float, h.output_vectors.shape()),
        ];
        if let Some(c) = &h.coefficients {
            specs.push(TensorSpec::new(
                names::OUTPUT_COEFFICIENTS,
                float,
                c.shape(),
            ));
        }
        specs
    }

    /// Writes one chunk of consecutive outputs (chunks may come in any order; each output
    /// exactly once).
    ///
    /// Every declared extra must be given, with rows `[n, trailing...]` of its declared kind,
    /// except the statistics of [`ExtraSpec::spectrum_stats`], which are filled from the
    /// chunk's summaries when left out (NaN for an unknown effective rank). Summary fields
    /// left `None` are filled from the extras that hold them: `linear_term_norm` from
    /// `linear_terms`, `constant` from `constants`, and the top interactions (at most
    /// [`SUMMARY_TOP`], padding skipped) from the interaction tensors.
    pub fn write_chunk(&mut self, chunk: ResultsChunk<'_, T>) -> Result<()> {
        let ResultsShape {
            n_out,
            k,
            d_in,
            d_input,
            d_out,
            eigenvectors,
        } = self.shape;
        let first = chunk.first;
        let n = chunk.eigenvalues.nrows();
        let err = |tensor: &str, reason: String| IoError::Write {
            path: self.file_path.clone(),
            tensor: tensor.to_string(),
            reason,
        };
        if first + n > n_out {
            return Err(err(
                EIGENVALUES,
                format!(
                    "chunk of outputs {first}..{} exceeds the {n_out} declared",
                    first + n
                ),
            ));
        }
        let check = |tensor: &str, found: &[usize], expected: &[usize]| {
            if found == expected {
                Ok(())
            } else {
                Err(err(
                    tensor,
                    format!("chunk has shape {found:?}, expected {expected:?}"),
                ))
            }
        };
        check(EIGENVALUES, chunk.eigenvalues.shape(), &[n, k])?;
        check(OUTPUTS, chunk.outputs.shape(), &[n, d_out])?;
        match (&chunk.eigenvectors, eigenvectors) {
            (Some(v), true) => check(EIGENVECTORS, v.shape(), &[n, k, d_in])?,
            (None, false) => {}
            (Some(_), false) => {
                return Err(err(EIGENVECTORS, "given but not declared".into()));
            }
            (None, true) => return Err(err(EIGENVECTORS, "declared but not given".into())),
        }
        match (
            &chunk.input_eigenvectors,
            eigenvectors.then_some(d_input).flatten(),
        ) {
            (Some(v), Some(d)) => check(INPUT_EIGENVECTORS, v.shape(), &[n, k, d])?,
            (None, None) => {}
            (Some(_), None) => {
                return Err(err(INPUT_EIGENVECTORS, "given but not declared".into()));
            }
            (None, Some(_)) => {
                return Err(err(INPUT_EIGENVECTORS, "declared but not given".into()));
            }
        }
        if chunk.summaries.len() != n
            || chunk
                .summaries
                .iter()
                .enumerate()
                .any(|(i, s)| s.index != first + i)
        {
            return Err(err(
                "summary",
                format!(
                    "expected one summary per output {first}..{}, in order",
                    first + n
                ),
            ));
        }
        if let Some(o) = (first..first + n).find(|&o| self.summaries[o].is_some()) {
            return Err(err(EIGENVALUES, format!("output {o} was already written")));
        }

        // Extras: the statistics left out are computed from the summaries.
        let float = <T as Element>::DTYPE;
        let given = |name: &str| chunk.extras.iter().any(|(g, _)| *g == name);
        let filled: Vec<(&str, Array1<T>)> = self
            .extras
            .iter()
            .filter(|e| {
                e.dtype == float && names::STATS.contains(&e.name.as_str()) && !given(&e.name)
            })
            .map(|e| (e.name.as_str(), stat_column(&e.name, &chunk.summaries)))
            .collect();
        let mut extras: Vec<(&str, ExtraData<'_, T>)> =
            chunk.extras.iter().map(|(n, d)| (*n, d.view())).collect();
        extras.extend(
            filled
                .iter()
                .map(|(name, a)| (*name, ExtraData::Float(a.view().into_dyn()))),
        );
        for (i, (name, data)) in extras.iter().enumerate() {
            let Some(spec) = self.extras.iter().find(|e| e.name == *name) else {
                return Err(err(
                    name,
                    "given with a chunk but not declared as a per-output extra".into(),
                ));
            };
            if extras[..i].iter().any(|(other, _)| other == name) {
                return Err(err(name, "given twice in one chunk".into()));
            }
            let kind = data.dtype_name(float);
            if kind != spec.dtype.name() {
                return Err(err(
                    name,
                    format!("declared {} but given as {kind}", spec.dtype.name()),
                ));
            }
            let mut expected = spec.shape.clone();
            expected[0] = n;
            check(name, data.shape(), &expected)?;
        }
        if let Some(missing) = self
            .extras
            .iter()
            .find(|e| !extras.iter().any(|(g, _)| *g == e.name))
        {
            return Err(err(&missing.name, "declared but not given".into()));
        }
        let mut summaries = chunk.summaries;
        fill_summaries(&mut summaries, &extras);

        write_rows(
            &mut self.file,
            EIGENVALUES,
            first,
            chunk.eigenvalues.into_dyn(),
        )?;
        if let Some(v) = chunk.eigenvectors {
            write_rows(&mut self.file, EIGENVECTORS, first, v.into_dyn())?;
        }
        if let Some(v) = chunk.input_eigenvectors {
            write_rows(&mut self.file, INPUT_EIGENVECTORS, first, v.into_dyn())?;
        }
        write_rows(&mut self.file, OUTPUTS, first, chunk.outputs.into_dyn())?;
        for (name, data) in extras {
            match data {
                ExtraData::Float(a) => write_rows(&mut self.file, name, first, a)?,
                ExtraData::Index(a) => write_rows(&mut self.file, name, first, a)?,
            }
        }
        if let Some(log) = &mut self.log {
            // The tensors first: a chunk the log names must be on disk.
            self.file.sync()?;
            log.append(&LogChunk {
                first,
                summaries: summaries.clone(),
                counts: std::mem::take(&mut self.pending_counts),
            })?;
        }
        for s in summaries {
            let o = s.index;
            self.summaries[o] = Some(s);
        }
        Ok(())
    }

    /// Writes a chunk straight from [`bilens_decomp::decompose_chunked`]'s output: `part`
    /// covers outputs `first..`, `outputs` are those outputs' directions, `input_eigenvectors`
    /// their eigenvectors mapped through the embedding, `label(o)` names output `o`, and
    /// `extras` are the chunk's rows of the declared extras (see
    /// [`ResultsWriter::write_chunk`] for what may be left out and what fills the summaries).
    pub fn write_decomposition(
        &mut self,
        first: usize,
        part: &Decomposition<T>,
        outputs: ArrayView2<'_, T>,
        input_eigenvectors: Option<ArrayView3<'_, T>>,
        label: impl Fn(usize) -> String,
        extras: &[(&str, ExtraData<'_, T>)],
    ) -> Result<()> {
        self.write_decomposition_with(
            first,
            part,
            outputs,
            input_eigenvectors,
            label,
            extras,
            |_| {},
        )
    }

    /// [`ResultsWriter::write_decomposition`], with `annotate` completing each output's
    /// summary before it is stored (e.g. with [`OutputSummary::component_tokens`]).
    #[allow(clippy::too_many_arguments)] // the chunk's parts, as write_decomposition's
    pub fn write_decomposition_with(
        &mut self,
        first: usize,
        part: &Decomposition<T>,
        outputs: ArrayView2<'_, T>,
        input_eigenvectors: Option<ArrayView3<'_, T>>,
        label: impl Fn(usize) -> String,
        extras: &[(&str, ExtraData<'_, T>)],
        annotate: impl Fn(&mut OutputSummary),
    ) -> Result<()> {
        let summaries = (0..part.n_outputs())
            .map(|o| {
                let mut s = OutputSummary::new(
                    first + o,
                    label(first + o),
                    part.eigenvalues.row(o),
                    part.norm_sq[o],
                    part.abs_sum.as_ref().map(|a| a[o]),
                );
                annotate(&mut s);
                s
            })
            .collect();
        self.write_chunk(ResultsChunk {
            first,
            eigenvalues: part.eigenvalues.view(),
            eigenvectors: part.eigenvectors.as_ref().map(|v| v.view()),
            input_eigenvectors,
            outputs,
            summaries,
            extras: extras.iter().map(|(n, d)| (*n, d.view())).collect(),
        })
    }

    /// Writes a global tensor declared at creation, whole (each exactly once).
    pub fn write_global<E: Element>(&mut self, name: &str, a: ArrayViewD<'_, E>) -> Result<()> {
        let err = |reason: &str| IoError::Write {
            path: self.file_path.clone(),
            tensor: name.to_string(),
            reason: reason.to_string(),
        };
        let Some(i) = self.globals.iter().position(|(g, _)| g.name == name) else {
            return Err(err("not declared as a global tensor"));
        };
        if self.globals[i].1 {
            return Err(err("already written"));
        }
        self.file.write_array(name, a)?;
        self.globals[i].1 = true;
        Ok(())
    }

    /// Writes the globals of [`ResultsWriter::hosvd_globals`] and records the spectrum in the
    /// summary ([`ResultsWriter::set_hosvd_summary`]).
    pub fn write_hosvd(&mut self, h: &Hosvd<T>) -> Result<()> {
        self.write_global(names::SINGULAR_VALUES, h.singular_values.view().into_dyn())?;
        self.write_global(names::OUTPUT_VECTORS, h.output_vectors.view().into_dyn())?;
        if let Some(c) = &h.coefficients {
            self.write_global(names::OUTPUT_COEFFICIENTS, c.view().into_dyn())?;
        }
        self.set_hosvd_summary(HosvdSummary::new(h));
        Ok(())
    }

    /// Records a HOSVD spectrum in `summary.json`.
    pub fn set_hosvd_summary(&mut self, summary: HosvdSummary) {
        self.hosvd = Some(summary);
    }

    /// Adds metadata known only once the run is over (e.g. how often a solver fell back), to
    /// both files.
    pub fn set_metadata(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        self.file.set_metadata(key, value.clone());
        self.metadata.insert(key.to_string(), value);
    }

    /// Checks every output and global was written, moves `decomposition.safetensors` into
    /// place, then writes `summary.json` (each atomically). A resumable writer's log is removed
    /// once the tensors are in place.
    pub fn finish(mut self) -> Result<()> {
        for (key, value) in std::mem::take(&mut self.counts) {
            self.set_metadata(&key, value.to_string());
        }
        let missing: Vec<usize> = (0..self.shape.n_out)
            .filter(|&o| self.summaries[o].is_none())
            .collect();
        if let Some(&o) = missing.first() {
            return Err(IoError::Write {
                path: self.file_path,
                tensor: EIGENVALUES.into(),
                reason: format!(
                    "{} of {} outputs were never written (the first is output {o})",
                    missing.len(),
                    self.shape.n_out
                ),
            });
        }
        if let Some((g, _)) = self.globals.iter().find(|(_, written)| !written) {
            return Err(IoError::Write {
                path: self.file_path,
                tensor: g.name.clone(),
                reason: "declared as a global tensor but never written".into(),
            });
        }
        let summary = Summary {
            format_version: FORMAT_VERSION,
            metadata: self.metadata,
            shape: self.shape,
            extras: self.extras,
            globals: self.globals.into_iter().map(|(g, _)| g).collect(),
            hosvd: self.hosvd,
            outputs: self.summaries.into_iter().flatten().collect(),
        };
        let mut json = serde_json::to_vec_pretty(&summary).expect("the summary serialises");
        json.push(b'\n');
        self.file.finish()?;
        if let Some(log) = self.log {
            log.remove()?;
        }
        write_atomic(&self.dir.join(SUMMARY_FILE), &json)
    }
}

/// Everything a [`ResultsWriter`] declares, checked, before a file is made.
#[derive(Clone)]
struct Plan {
    dir: PathBuf,
    file_path: PathBuf,
    shape: ResultsShape,
    specs: Vec<TensorSpec>,
    metadata: BTreeMap<String, String>,
    extras: Vec<TensorSpec>,
    globals: Vec<TensorSpec>,
}

impl Plan {
    fn new<T: Real + Element>(
        dir: &Path,
        shape: ResultsShape,
        meta: &ResultsMeta,
        extras: &[ExtraSpec],
        globals: &[TensorSpec],
        run_id: String,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| IoError::os(dir, e))?;
        let file_path = dir.join(DECOMPOSITION_FILE);
        let declare_err = |tensor: &str, reason: String| IoError::Write {
            path: file_path.clone(),
            tensor: tensor.to_string(),
            reason,
        };
        let mut metadata = BTreeMap::from([
            ("model".to_string(), meta.model.clone()),
            ("layout".to_string(), meta.layout.clone()),
            ("method".to_string(), meta.method.clone()),
            ("k".to_string(), shape.k.to_string()),
            ("order".to_string(), meta.order.name().to_string()),
            ("precision".to_string(), <T as Real>::DTYPE.to_string()),
            (
                "bilens_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("run_id".to_string(), run_id),
        ]);
        for (key, value) in &meta.extra {
            if RESERVED.contains(&key.as_str()) {
                return Err(declare_err(
                    "__metadata__",
                    format!("extra key '{key}' would overwrite the writer's own"),
                ));
            }
            metadata.insert(key.clone(), value.clone());
        }
        let ResultsShape {
            n_out,
            k,
            d_in,
            d_out,
            ..
        } = shape;
        let float = <T as Element>::DTYPE;
        let mut specs = vec![TensorSpec::new(EIGENVALUES, float, &[n_out, k])];
        if shape.eigenvectors {
            specs.push(TensorSpec::new(EIGENVECTORS, float, &[n_out, k, d_in]));
            if let Some(d_input) = shape.d_input {
                specs.push(TensorSpec::new(
                    INPUT_EIGENVECTORS,
                    float,
                    &[n_out, k, d_input],
                ));
            }
        }
        specs.push(TensorSpec::new(OUTPUTS, float, &[n_out, d_out]));
        let mut extra_specs = Vec::with_capacity(extras.len());
        for e in extras {
            if e.dtype != float && e.dtype != Dtype::I64 {
                return Err(declare_err(
                    &e.name,
                    format!(
                        "declared {} but the results are stored in {}: a per-output extra holds \
                         {} values or I64 indices",
                        e.dtype.name(),
                        float.name(),
                        float.name()
                    ),
                ));
            }
            let mut stored = vec![n_out];
            stored.extend_from_slice(&e.trailing);
            extra_specs.push(TensorSpec::new(e.name.clone(), e.dtype, &stored));
        }
        for t in extra_specs.iter().chain(globals) {
            if names::FIXED.contains(&t.name.as_str()) {
                return Err(declare_err(
                    &t.name,
                    "the name belongs to a tensor every results directory has".into(),
                ));
            }
        }
        specs.extend(extra_specs.iter().cloned());
        specs.extend(globals.iter().cloned());
        Ok(Self {
            dir: dir.to_path_buf(),
            file_path,
            shape,
            specs,
            metadata,
            extras: extra_specs,
            globals: globals.to_vec(),
        })
    }

    fn into_writer<T>(self, file: SafetensorsWriter, log: Option<ResumeLog>) -> ResultsWriter<T> {
        ResultsWriter {
            dir: self.dir,
            file_path: self.file_path,
            shape: self.shape,
            file,
            metadata: self.metadata,
            summaries: vec![None; self.shape.n_out],
            extras: self.extras,
            globals: self.globals.into_iter().map(|g| (g, false)).collect(),
            hosvd: None,
            log,
            counts: BTreeMap::new(),
            pending_counts: BTreeMap::new(),
            _precision: std::marker::PhantomData,
        }
    }
}

/// One statistic of [`names::STATS`] for each summary, as a column in precision `T`.
fn stat_column<T: Real>(name: &str, summaries: &[OutputSummary]) -> Array1<T> {
    summaries
        .iter()
        .map(|s| {
            T::of_f64(match name {
                names::EFFECTIVE_RANK => s.effective_rank.unwrap_or(f64::NAN),
                names::FRACTION_KEPT => s.fraction_kept,
                _ => s.frobenius_sq,
            })
        })
        .collect()
}

/// Fills the summaries' optional fields (those still `None`) from the chunk's extras, whose
/// shapes have been checked.
fn fill_summaries<T: Real>(summaries: &mut [OutputSummary], extras: &[(&str, ExtraData<'_, T>)]) {
    let float = |name: &str| {
        extras.iter().find_map(|(n, d)| match d {
            ExtraData::Float(a) if *n == name => Some(a.view()),
            _ => None,
        })
    };
    let index = |name: &str| {
        extras.iter().find_map(|(n, d)| match d {
            ExtraData::Index(a) if *n == name => Some(a.view()),
            _ => None,
        })
    };
    let finite = |x: T| x.is_finite().then(|| x.as_f64());
    if let Some(q) = float(names::LINEAR_TERMS) {
        for (s, row) in summaries.iter_mut().zip(q.outer_iter()) {
            s.linear_term_norm
                .get_or_insert_with(|| row.iter().map(|x| x.as_f64().powi(2)).sum::<f64>().sqrt());
        }
    }
    if let Some(q0) = float(names::CONSTANTS) {
        for (s, &c) in summaries.iter_mut().zip(q0.iter()) {
            if s.constant.is_none() {
                s.constant = finite(c);
            }
        }
    }
    let top = |values: &ArrayViewD<'_, T>, o: usize| -> Vec<(usize, Option<f64>)> {
        values
            .index_axis(Axis(0), o)
            .iter()
            .enumerate()
            .map(|(j, &x)| (j, finite(x)))
            .collect()
    };
    if let (Some(values), Some(features)) = (
        float(names::SELF_INTERACTION_VALUES),
        index(names::SELF_INTERACTION_FEATURES),
    ) {
        for (o, s) in summaries.iter_mut().enumerate() {
            let f = features.index_axis(Axis(0), o);
            s.top_self_interactions.get_or_insert_with(|| {
                top(&values, o)
                    .into_iter()
                    .filter_map(|(j, x)| {
                        Some(SelfInteraction {
                            feature: usize::try_from(*f.get(j)?).ok()?,
                            value: x?,
                        })
                    })
                    .take(SUMMARY_TOP)
                    .collect()
            });
        }
    }
    if let (Some(values), Some(features)) = (
        float(names::CROSS_INTERACTION_VALUES),
        index(names::CROSS_INTERACTION_FEATURES),
    ) {
        for (o, s) in summaries.iter_mut().enumerate() {
            let f = features.index_axis(Axis(0), o);
            s.top_cross_interactions.get_or_insert_with(|| {
                top(&values, o)
                    .into_iter()
                    .filter_map(|(j, x)| {
                        let a = usize::try_from(*f.get([j, 0].as_slice())?).ok()?;
                        let b = usize::try_from(*f.get([j, 1].as_slice())?).ok()?;
                        Some(CrossInteraction {
                            features: [a, b],
                            value: x?,
                        })
                    })
                    .take(SUMMARY_TOP)
                    .collect()
            });
        }
    }
}

/// Writes the rows of `a` (leading axis = outputs) at output `first` of tensor `name`.
fn write_rows<E: Element>(
    file: &mut SafetensorsWriter,
    name: &str,
    first: usize,
    a: ArrayViewD<'_, E>,
) -> Result<()> {
    let row: usize = a.shape().iter().skip(1).product();
    match a.as_slice() {
        Some(s) => file.write(name, first * row, s),
        None => file.write(name, first * row, &a.iter().copied().collect::<Vec<_>>()),
    }
}

/// An identifier shared by the two files of one run (time and process), so that files from
/// different runs are never read as one result.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}
