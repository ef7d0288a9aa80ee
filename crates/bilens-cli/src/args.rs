//! Every command-line flag, as clap derive structs. Parsing only: checking that paths exist
//! and options agree happens in each command's resolve step.

use std::path::PathBuf;

use bilens_decomp::{Method, Order, Precision, Route, Selection, Sign};
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
    /// Write a static web explorer of a results directory (opens from file://, no server).
    Explore(ExploreArgs),
    /// Train a bilinear model (the paper's MNIST classifier).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Test accuracy of an image model on an MNIST-style dataset, or one of the paper's
    /// evaluations (`bilens eval truncation ...`).
    Eval(EvalArgs),
    /// Regenerate a paper's results into a report (trains what it needs).
    #[command(subcommand)]
    Reproduce(ReproduceCommand),
}

/// Where the bilinear layer is in a model file.
#[derive(Debug, Clone, Args)]
pub struct LayoutArgs {
    /// Layout of the model file: `image` (the paper's image classifier: embed.weight,
    /// blocks.0.weight, head.weight), `single` (one layer named by --w/--v/--p), `lm` (a
    /// bilinear transformer: transformer.h.{i}.mlp.w/p), `gated` (a Llama-style
    /// model.layers.{i}.mlp.gate_proj/up_proj/down_proj, read bilinearly: an approximation), or
    /// `auto`.
    #[arg(long, value_enum, default_value_t = LayoutKind::Auto)]
    pub layout: LayoutKind,
    /// For layered models (`lm`, `gated`): the layer whose MLP to use, or `all` (`decompose`
    /// writes one results directory per layer, OUT/layer-I).
    #[arg(long, value_name = "I|all")]
    pub layer: Option<LayerArg>,
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
    /// tensor, e.g. an SAE encoder), `contrast:A-B`, `contrast:A-mean`, or for a language
    /// model `tokens:ID,ID,A-B` (unembedding rows of tokens, and contrasts of two).
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
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub method: Method,
    /// Order of the kept components.
    #[arg(long, value_enum, default_value_t = Order::AbsDescending)]
    pub order: Order,
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
    #[arg(long, value_enum, default_value_t = Route::Auto)]
    pub route: Route,
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
    /// The MLP of a bilinear transformer (the paper's public naming).
    Lm,
    /// The MLP of a Llama-style gated transformer, read bilinearly (an approximation).
    Gated,
}

/// `--layer` values: one layer, or every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerArg {
    /// One layer.
    One(usize),
    /// Every layer of the file.
    All,
}

impl std::str::FromStr for LayerArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(LayerArg::All),
            _ => s.parse().map(LayerArg::One).map_err(|_| {
                format!("'{s}' is neither a layer index nor `all` (e.g. --layer 3, --layer all)")
            }),
        }
    }
}

/// Arguments of `bilens inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The model file (.safetensors).
    pub model: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
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
    #[command(flatten)]
    pub run: RunArgs,
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

/// Arguments of `bilens explore`.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// A results directory written by `bilens decompose` or `bilens hosvd`.
    pub results: PathBuf,
    /// Directory for the site (an earlier explorer site there is replaced).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Components drawn of each sign per output.
    #[arg(long, default_value_t = 6)]
    pub per_sign: usize,
    /// Nearest outputs listed per output (by the cosine of their directions).
    #[arg(long, default_value_t = 8)]
    pub neighbours: usize,
    /// Draw each component as a picture of this shape: CxHxW or HxW (e.g. 3x32x32).
    #[arg(long, value_name = "CxHxW")]
    pub image_shape: Option<String>,
    /// Show this evaluation: the output directory of `bilens eval approx` or `bilens eval
    /// truncation` (repeatable). Evaluations beside the results are found without it.
    #[arg(long = "eval", value_name = "DIR")]
    pub evaluations: Vec<PathBuf>,
    /// Do not look for evaluations beside the results.
    #[arg(long)]
    pub no_discover: bool,
    /// The page title (default: the model file and the outputs).
    #[arg(long)]
    pub title: Option<String>,
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

/// Arguments of `bilens eval`: either `bilens eval MODEL` (test accuracy) or a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvalArgs {
    /// An evaluation; without one, the test accuracy of MODEL.
    #[command(subcommand)]
    pub command: Option<EvalCommand>,
    #[command(flatten)]
    pub accuracy: EvalAccuracyArgs,
}

/// Arguments of `bilens eval MODEL` (test accuracy).
#[derive(Debug, Args)]
pub struct EvalAccuracyArgs {
    /// The model file (.safetensors) of an image classifier.
    #[arg(required = true)]
    pub model: Option<PathBuf>,
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

/// `bilens eval` subcommands: the evaluations of the bilinear-MLP paper.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Test accuracy when each class logit keeps only its top-k components, for k = 0..K.
    Truncation(TruncationArgs),
    /// Masks from a class's top eigenvectors added to test images, against permuted masks.
    Adversarial(AdversarialArgs),
    /// One test image explained: its logits and the components that make them.
    Explain(ExplainArgs),
    /// How alike the top eigenvectors of several models are (seeds, sizes).
    Consistency(ConsistencyArgs),
    /// How well each output feature's first K components approximate its true activation:
    /// correlation on the inputs where it is active, for K = 1..max-k.
    Approx(ApproxArgs),
}

/// Arguments of `bilens eval approx`.
#[derive(Debug, Args)]
pub struct ApproxArgs {
    /// A results directory written by `bilens decompose` (with eigenvectors).
    pub results: PathBuf,
    /// A safetensors file of recorded activations: the layer's inputs `[n, d]` and the output
    /// features' true activations `[n, features]`.
    #[arg(long, value_name = "FILE")]
    pub activations: PathBuf,
    /// The tensor of layer inputs in --activations, in the space of the eigenvectors (the
    /// normalised MLP input; the input SAE's feature activations for results in a feature
    /// basis).
    #[arg(long, default_value = "inputs", value_name = "NAME")]
    pub inputs_tensor: String,
    /// The tensor of true feature activations in --activations.
    #[arg(long, default_value = "activations", value_name = "NAME")]
    pub activations_tensor: String,
    /// Largest number of components K on the curve.
    #[arg(long, default_value_t = 64)]
    pub max_k: usize,
    /// The correlation counted as a good approximation in the summary.
    #[arg(long, default_value_t = 0.75)]
    pub threshold: f64,
    /// Directory for approx.json, the CSV files and the figure.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// The image model and dataset every evaluation reads.
#[derive(Debug, Clone, Args)]
pub struct EvalDataArgs {
    /// The model file (.safetensors) of an image classifier.
    pub model: PathBuf,
    /// Directory holding the MNIST-style IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Directory to write the CSV, JSON and figures into.
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
}

/// Arguments of `bilens eval truncation`.
#[derive(Debug, Args)]
pub struct TruncationArgs {
    #[command(flatten)]
    pub io: EvalDataArgs,
    /// Largest k on the curve (every k from 0 to this, plus k = all).
    #[arg(long, default_value_t = 30)]
    pub max_k: usize,
    /// Selection rules, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "abs,paired,activation"
    )]
    pub rules: Vec<Selection>,
}

/// Arguments of `bilens eval adversarial`.
#[derive(Debug, Args)]
pub struct AdversarialArgs {
    #[command(flatten)]
    pub io: EvalDataArgs,
    /// Target classes, e.g. `3,5` or `0..10` (default: every class).
    #[arg(long, value_name = "ROWS")]
    pub targets: Option<String>,
    /// Top positive eigenvectors of the target whose pseudo-inverse gives the masks.
    #[arg(long, default_value_t = 10)]
    pub components: usize,
    /// Which of them the mask raises (0: the top eigenvector).
    #[arg(long, default_value_t = 0)]
    pub mask: usize,
    /// Largest mask strength: the L2 norm, in pixel units (pixels in [0, 1]), of what is added.
    #[arg(long, default_value_t = 15.0)]
    pub max_strength: f64,
    /// Strengths evaluated between 0 and --max-strength.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Randomly permuted masks averaged for the baseline.
    #[arg(long, default_value_t = 5)]
    pub baselines: usize,
    /// Seed of the permutations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Arguments of `bilens eval explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub io: EvalDataArgs,
    /// Index of the test image.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// The class whose logit is explained (default: the predicted class).
    #[arg(long)]
    pub class: Option<usize>,
    /// Components of each sign shown.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// Arguments of `bilens eval consistency`.
#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// Two or more model files (.safetensors) of image classifiers with the same classes.
    #[arg(required = true, num_args = 2..)]
    pub models: Vec<PathBuf>,
    /// Directory to write the CSV, JSON and figure into.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Top eigenvectors compared per class.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Which eigenvectors.
    #[arg(long, value_enum, default_value_t = Sign::Positive)]
    pub sign: Sign,
    #[command(flatten)]
    pub layout: LayoutArgs,
}

/// `bilens reproduce` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReproduceCommand {
    /// The MNIST (and Fashion-MNIST) results of "Bilinear MLPs enable weight-based
    /// mechanistic interpretability" (Pearce et al., ICLR 2025), Section 4 and Appendices.
    Mnist(ReproduceMnistArgs),
}

/// Arguments of `bilens reproduce mnist`.
#[derive(Debug, Args)]
pub struct ReproduceMnistArgs {
    /// Directory for the report, figures, models and data files.
    #[arg(long, short, default_value = "bilens-reproduction")]
    pub out: PathBuf,
    /// The larger budget of the committed report (three seeds per size, a 4 × 4 sweep, longer
    /// training; about an hour on two cores) instead of the quick one.
    #[arg(long)]
    pub full: bool,
    /// The MNIST data (default: the shipped copy).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The Fashion-MNIST data (default: data/fashion-mnist, skipped with a note when absent).
    #[arg(long)]
    pub fashion_data: Option<PathBuf>,
    /// Reuse models already trained in the output directory (same recipe) instead of
    /// retraining them.
    #[arg(long)]
    pub resume: bool,
    /// A seconds-long budget of tiny models that exercises every step (for tests).
    #[arg(long, hide = true, conflicts_with = "full")]
    pub smoke: bool,
}
