//! The flags of `bilens eval` and its evaluations.

use std::path::PathBuf;

use bilens_decomp::{Selection, Sign};
use clap::{Args, Subcommand};

use super::{LayoutArgs, StateDictArgs};

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
    /// The model file (.safetensors, or a PyTorch checkpoint) of an image classifier.
    #[arg(required = true)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
    /// Directory holding the MNIST-style IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
}

/// `bilens eval` subcommands: the evaluations of the bilinear-MLP paper.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Test accuracy when each class logit keeps only its top-k components, for k = 0..K.
    Truncation(TruncationArgs),
    /// Test accuracy of the whole network when one block's tensor keeps only its top-S HOSVD
    /// components (each block of a deep model in turn; the per-block bottleneck).
    Bottleneck(BottleneckArgs),
    /// Masks from a class's top eigenvectors added to test images, against permuted masks.
    Adversarial(AdversarialArgs),
    /// One test image explained: its logits and the components that make them.
    Explain(ExplainArgs),
    /// How alike the top eigenvectors of several models are (seeds, sizes).
    Consistency(ConsistencyArgs),
    /// How well each output feature's first K components approximate its true activation:
    /// correlation on the inputs where it is active, for K = 1..max-k.
    Approx(ApproxArgs),
    /// The test images that most activate each component of an image block's results,
    /// `λ (vᵀx)²` of the stream the block reads: how to read a deep model's components.
    TopInputs(TopInputsArgs),
}

/// Arguments of `bilens eval top-inputs`.
#[derive(Debug, Args)]
pub struct TopInputsArgs {
    /// A results directory of an image model's block, written by `bilens decompose`.
    pub results: PathBuf,
    /// Directory holding the MNIST-style IDX files (the test split is searched).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// The model file, when it is not where the results say it was.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
    /// Components of each sign of λ per output (the strongest stored ones).
    #[arg(long, default_value_t = 3)]
    pub components: usize,
    /// Images per component.
    #[arg(long, default_value_t = 8)]
    pub images: usize,
    /// Directory for top_inputs.csv, top_inputs.json and the image grids.
    #[arg(long, short)]
    pub out: PathBuf,
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
    /// The model file (.safetensors, or a PyTorch checkpoint) of an image classifier.
    pub model: PathBuf,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
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

/// Arguments of `bilens eval bottleneck`.
#[derive(Debug, Args)]
pub struct BottleneckArgs {
    #[command(flatten)]
    pub io: EvalDataArgs,
    /// HOSVD components each block keeps, comma separated, e.g. `0,1,2,4,8` (default: 0, the
    /// powers of two below the block's width, and its width).
    #[arg(long, value_delimiter = ',', value_name = "S,...")]
    pub ranks: Option<Vec<usize>>,
    /// Eigenvectors kept per component, largest |λ| first (default: each component whole).
    #[arg(long, value_name = "K")]
    pub eigenvectors: Option<usize>,
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
    /// Two or more model files (.safetensors, or PyTorch checkpoints, read with the same
    /// --key) of image classifiers with the same classes.
    #[arg(required = true, num_args = 2..)]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
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
