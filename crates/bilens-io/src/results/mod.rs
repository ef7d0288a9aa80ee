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
//! logged in a resume log, so the same job started again continues where it stopped
//! ([`ResultsWriter::pending`] says what is left). Its `run_id` is `job-` and the job's
//! digest rather than a time: running the same job twice, interrupted or not, gives
//! byte-identical files, and results that are already complete can be recognised
//! ([`ResultsFile::run_id`]).

mod decomposition;
mod extras;
mod lock;
mod meta;
mod plan;
mod reader;
mod resumable;
pub(crate) mod resume;
mod summary;
mod writer;

pub use decomposition::{Contents, DecompositionChunk, TokenLabels};
pub use extras::{ExtraData, ExtraSpec, InteractionArrays};
pub use lock::{LOCK_FILE, WriterLock};
pub use meta::{OutputsMeta, ResultsMeta, SignConvention, StoredMeta};
pub use reader::{Results, ResultsFile, read_results};
pub use resume::{
    PARTIAL_FILE, RESUME_FILE, ResumeState, array_digest, describe_difference,
    discard_resume_state, file_fingerprint, job_id,
};
pub use summary::{
    ComponentTokens, CrossInteraction, HosvdSummary, OutputSummary, ResultsShape, SelfInteraction,
    Summary, TokenScore,
};
pub use writer::{ResultsChunk, ResultsWriter};

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
