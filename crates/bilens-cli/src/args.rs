//! Every command-line flag, as clap derive structs. Parsing only: checking that paths exist
//! and options agree happens in each command's resolve step.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// bilens: weight-based interpretability of bilinear MLPs.
///
/// A bilinear layer P((Wx) ⊙ (Vx)) is a quadratic form in its input: for any output direction
/// it has an exact interaction matrix whose eigenvectors are the layer's computational
/// components. bilens loads trained bilinear models, decomposes them, and draws the components.
#[derive(Debug, Parser)]
#[command(name = "bilens", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Print nothing on stderr but errors (no progress bars, no messages).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decompose and plot the shipped MNIST model: the main job, end to end.
    Demo(DemoArgs),
    /// List a model file's tensors, the layout detected and the layer's dimensions.
    Inspect(InspectArgs),
    /// Eigendecompose the interaction matrix of every output direction into a results directory.
    Decompose(DecomposeArgs),
    /// HOSVD across outputs: the top singular components of the interaction tensor, each
    /// eigendecomposed, into a results directory.
    Hosvd(HosvdArgs),
    /// Draw figures (PNG and SVG) from a results directory.
    Plot(PlotArgs),
    /// Train a bilinear model (the paper's MNIST classifier).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Test accuracy of an image model on an MNIST-style dataset.
    Eval(EvalArgs),
}

/// Where the bilinear layer is in a model file.
#[derive(Debug, Clone, Args)]
pub struct LayoutArgs {
    /// Layout of the model file: `image` (the paper's image classifier: embed.weight,
    /// blocks.0.weight, head.weight), `single` (one layer named by --w/--v/--p), or `auto`.
    #[arg(long, value_enum, default_value_t = LayoutKind::Auto)]
    pub layout: LayoutKind,
    /// For `--layout single`: the tensor holding W [d_hidden, d_in].
    #[arg(long, value_name = "NAME")]
    pub w: Option<String>,
    /// For `--layout single`: the tensor holding V [d_hidden, d_in].
    #[arg(long, value_name = "NAME")]
    pub v: Option<String>,
    /// For `--layout single`: the tensor holding P [d_out, d_hidden].
    #[arg(long, value_name = "NAME")]
    pub p: Option<String>,
    /// For `--layout single`: an embedding E [d_in, d_input] the layer reads through.
    #[arg(long, value_name = "NAME")]
    pub embed: Option<String>,
    /// For `--layout single`: the bias of W x, `[d_hidden]` (folded in exactly).
    #[arg(long, value_name = "NAME")]
    pub w_bias: Option<String>,
    /// For `--layout single`: the bias of V x, `[d_hidden]` (folded in exactly).
    #[arg(long, value_name = "NAME")]
    pub v_bias: Option<String>,
    /// For `--layout single`: a norm gain γ `[d_in]` applied to the layer input, folded into
    /// W and V (the normalisation's division stays outside the decomposition).
    #[arg(long, value_name = "NAME")]
    pub norm_gain: Option<String>,
    /// For image models: whether the block is residual (overrides config.json).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub residual: Option<bool>,
}

/// Which output directions to decompose.
#[derive(Debug, Clone, Args)]
pub struct OutputsArgs {
    /// Output directions: `classes` (one per output unit), `FILE:TENSOR` (every row of a
    /// tensor, e.g. an SAE encoder), `contrast:A-B`, or `contrast:A-mean`.
    #[arg(long, default_value = "classes", value_name = "SPEC")]
    pub outputs: String,
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
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Order of the kept components.
    #[arg(long, value_enum, default_value_t = OrderArg::Abs)]
    pub order: OrderArg,
    /// Compute spectra and statistics only, no eigenvectors (several times cheaper).
    #[arg(long)]
    pub eigenvalues_only: bool,
    /// Express each interaction matrix in a feature basis of the input, `FILE:TENSOR`
    /// (`[d_in, n_features]`, e.g. an SAE decoder): the matrix is `Dᵀ Q D` and the eigenvectors
    /// live in feature space.
    #[arg(long, value_name = "FILE:TENSOR")]
    pub input_basis: Option<String>,
    /// With --input-basis: the largest self and cross feature interactions reported per
    /// output (default 10 for bases of at most 8192 features, else 0: the scan costs
    /// 2·n_features²·d_in flops per output).
    #[arg(long, value_name = "M")]
    pub interactions: Option<usize>,
    /// How each `Q(u)` is formed: from W and V per output (`direct`), or from precomputed
    /// per-unit matrices shared by all outputs (`shared`); `auto` picks by cost and memory.
    #[arg(long, value_enum, default_value_t = RouteArg::Auto)]
    pub route: RouteArg,
}

/// `--route` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RouteArg {
    /// The cheaper route that fits in memory.
    Auto,
    /// `Q(u) = sym(Wᵀ diag(Pᵀu) V)` per output.
    Direct,
    /// `Q(u) = Σ_m u_m Q(e_m)` from a precomputed basis.
    Shared,
}

/// The `--layout` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutKind {
    /// Detect `image` or an unambiguous `single` layer from the tensor names.
    Auto,
    /// The paper's image classifier.
    Image,
    /// One bilinear layer with named tensors.
    Single,
}

/// Arguments of `bilens inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The model file (.safetensors).
    pub model: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
}

/// Working precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    /// 32-bit floats (what checkpoints hold; the default).
    F32,
    /// 64-bit floats.
    F64,
}

/// Component order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// Largest |λ| first.
    Abs,
    /// Largest λ first.
    Descending,
    /// Smallest λ first.
    Ascending,
}

/// Eigensolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Lanczos for a small top-k of a large matrix, the full solver otherwise.
    Auto,
    /// Full dense eigendecomposition.
    Full,
    /// Thick-restart block Lanczos for the top k.
    Lanczos,
}

/// Arguments of `bilens decompose`.
#[derive(Debug, Args)]
pub struct DecomposeArgs {
    /// The model file (.safetensors).
    pub model: PathBuf,
    /// Results directory to write (decomposition.safetensors + summary.json).
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub outputs: OutputsArgs,
    #[command(flatten)]
    pub solve: SolveArgs,
    #[command(flatten)]
    pub layout: LayoutArgs,
}

/// Arguments of `bilens hosvd`.
#[derive(Debug, Args)]
pub struct HosvdArgs {
    /// The model file (.safetensors).
    pub model: PathBuf,
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
}

/// Arguments of `bilens plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A results directory written by `bilens decompose`.
    pub results: PathBuf,
    /// Directory for the figures.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Eigenvectors of each sign drawn per output.
    #[arg(long, default_value_t = 6)]
    pub per_sign: usize,
}

/// `bilens train` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// The paper's MNIST classifier: embedding, one bilinear layer, head.
    Mnist(TrainMnistArgs),
}

/// Arguments of `bilens train mnist`.
#[derive(Debug, Args)]
pub struct TrainMnistArgs {
    /// Directory holding the four MNIST IDX files (raw or .gz).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Directory to write model.safetensors and config.json into.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Training epochs (default: the recipe's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Width of the embedding and the bilinear layer.
    #[arg(long)]
    pub width: Option<usize>,
    /// Std of the Gaussian noise added to training pixels.
    #[arg(long)]
    pub noise: Option<f64>,
    /// AdamW weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// AdamW learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Random seed (initialisation, shuffling, noise).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Make the bilinear block residual.
    #[arg(long)]
    pub residual: bool,
}

/// Arguments of `bilens eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model file (.safetensors) of an image classifier.
    pub model: PathBuf,
    /// Directory holding the MNIST-style IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
}

/// Arguments of `bilens demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the results and figures.
    #[arg(long, short, default_value = "bilens-demo")]
    pub out: PathBuf,
    /// The model to decompose (default: the shipped MNIST model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The MNIST data (default: the shipped copy), for the model's test accuracy.
    #[arg(long)]
    pub data: Option<PathBuf>,
}
