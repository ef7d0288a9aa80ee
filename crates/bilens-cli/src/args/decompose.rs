//! The flags of `bilens decompose` and `bilens hosvd`: outputs, solver, run.

use std::path::PathBuf;

use bilens_decomp::{Method, Order, Precision, Route};
use clap::Args;

use super::{LayoutArgs, StateDictArgs};

/// Which output directions to decompose.
#[derive(Debug, Clone, Args)]
pub struct OutputsArgs {
    /// Output directions: `classes` (one per output unit), `FILE:TENSOR` (every row of a
    /// tensor, e.g. an SAE encoder), `sae:DIR` (the encoder of the SAE saved in folder DIR:
    /// SAELens's cfg.json + sae_weights.safetensors, or the public bilinear code's),
    /// `contrast:A-B`, `contrast:A-mean`, for a language model `tokens:ID,ID,A-B`
    /// (unembedding rows of tokens, and contrasts of two), or `results:DIR` (the components
    /// another run stored, every output's in turn: for a deep image model, block I+1's
    /// components are the chained outputs of block I).
    #[arg(long, default_value = "classes", value_name = "SPEC")]
    pub outputs: String,
    /// For `sae:DIR` outputs and input bases: rescale as SAELens's `fold_W_dec_norm` does
    /// (encoder rows times the norm of their decoder rows, decoder rows normalised), so that
    /// feature scales match dashboards computed on folded SAEs.
    #[arg(long)]
    pub fold_dec_norm: bool,
    /// A subset of the directions, in order: `0..100` (end exclusive), `3,7,9`, or a mix.
    #[arg(long, value_name = "ROWS")]
    pub rows: Option<String>,
}

/// How each output's matrix is solved and stored.
#[derive(Debug, Clone, Args)]
pub struct SolveArgs {
    /// Components kept per output, by the chosen order (default: all).
    #[arg(long, short)]
    pub k: Option<usize>,
    /// Working and stored precision.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Eigensolver.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub method: Method,
    /// Order of the kept components.
    #[arg(long, value_enum, default_value_t = Order::AbsDescending)]
    pub order: Order,
    /// Compute spectra and statistics only, no eigenvectors (several times cheaper).
    #[arg(long)]
    pub eigenvalues_only: bool,
    /// Express each interaction matrix in a feature basis of the input, `FILE:TENSOR`
    /// (`[d_in, n_features]`, e.g. an SAE decoder) or `sae:DIR` (the decoder of the SAE saved
    /// in folder DIR): the matrix is `Dᵀ Q D` and the eigenvectors live in feature space.
    #[arg(long, value_name = "FILE:TENSOR|sae:DIR")]
    pub input_basis: Option<String>,
    /// With --input-basis: the largest self and cross feature interactions reported per
    /// output (default 10 for bases of at most 8192 features, else 0: the scan costs
    /// 2·n_features²·d_in flops per output).
    #[arg(long, value_name = "M")]
    pub interactions: Option<usize>,
    /// How each `Q(u)` is formed: from W and V per output (`direct`), or from precomputed
    /// per-unit matrices shared by all outputs (`shared`); `auto` picks by cost and memory.
    #[arg(long, value_enum, default_value_t = Route::Auto)]
    pub route: Route,
}

/// Arguments of `bilens decompose`.
#[derive(Debug, Args)]
pub struct DecomposeArgs {
    /// The model file (.safetensors, or a PyTorch checkpoint .pt/.pth/.bin).
    pub model: PathBuf,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
    /// Results directory to write (decomposition.safetensors + summary.json).
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub outputs: OutputsArgs,
    #[command(flatten)]
    pub solve: SolveArgs,
    #[command(flatten)]
    pub layout: LayoutArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Labels, checkpoints and restarts of a decomposition run.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A Hugging Face tokenizer.json of the model: token outputs are labelled by their
    /// strings, and each output's first components by the tokens whose embeddings project
    /// most (and least) on them.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Start over: discard an interrupted run's state in the results directory (by default
    /// the same job resumes from its finished chunks) and recompute results already complete.
    #[arg(long)]
    pub restart: bool,
    /// Outputs per chunk: the unit of streaming to disk and of resuming after an interruption
    /// (default: as many as fit in 256 MB of results, at most 4096).
    #[arg(long, value_name = "N")]
    pub chunk: Option<usize>,
    /// Compute only shard M of N (1-based): a contiguous slice of the outputs, cut at chunk
    /// boundaries, into its own results directory; `bilens merge` joins the shards. `auto`
    /// takes the shard from a Slurm job array (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed
    /// Job (JOB_COMPLETION_INDEX, with --shards).
    #[arg(long, value_name = "M/N|auto")]
    pub shard: Option<String>,
    /// With `--shard auto`: the number of shards. Needed in a Kubernetes Indexed Job (its
    /// completions); under Slurm it makes the task id the shard number (`--array=1-N`), so a
    /// task resubmitted alone (`--array=2`) stays shard 2 of N.
    #[arg(long, value_name = "N", requires = "shard")]
    pub shards: Option<usize>,
}

/// Arguments of `bilens merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The results directory of every shard of the job, in any order.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// The merged results directory to write.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Arguments of `bilens hosvd`.
#[derive(Debug, Args)]
pub struct HosvdArgs {
    /// The model file (.safetensors, or a PyTorch checkpoint .pt/.pth/.bin).
    pub model: PathBuf,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
    /// Results directory to write.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Singular components kept (each eigendecomposed).
    #[arg(long, short = 's', default_value_t = 10)]
    pub components: usize,
    /// Restrict the tensor to these output directions (default: all output units).
    #[command(flatten)]
    pub outputs: OutputsArgs,
    #[command(flatten)]
    pub solve: SolveArgs,
    #[command(flatten)]
    pub layout: LayoutArgs,
    #[command(flatten)]
    pub run: RunArgs,
}
