//! Every command-line flag, as clap derive structs, and the checks that turn flags into the
//! library's typed values ([`layout::resolve`]). Parsing only: the commands map the parsed
//! options to library calls.

mod decompose;
mod eval;
pub mod layout;
mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::BadInput;

pub use decompose::{DecomposeArgs, HosvdArgs, MergeArgs, OutputsArgs, RunArgs, SolveArgs};
pub use eval::{
    AdversarialArgs, ApproxArgs, BottleneckArgs, ConsistencyArgs, EvalAccuracyArgs, EvalArgs,
    EvalCommand, ExplainArgs, TopInputsArgs, TruncationArgs,
};
pub use layout::LayoutArgs;
pub use train::{ReproduceCommand, ReproduceMnistArgs, TrainCommand, TrainMnistArgs};

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
    /// Join the results directories of a job's shards (`decompose --shard`) into the one a
    /// single machine would have written.
    Merge(MergeArgs),
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

/// Arguments of `bilens inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The model file (.safetensors, or a PyTorch checkpoint .pt/.pth/.bin).
    pub model: PathBuf,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
    #[command(flatten)]
    pub layout: LayoutArgs,
}

/// Which state dict of a PyTorch checkpoint to read: one flag for every command that opens a
/// model file.
#[derive(Debug, Clone, Default, Args)]
pub struct StateDictArgs {
    /// For a PyTorch checkpoint: the top-level entry holding the state dict (by default the
    /// checkpoint itself when it holds tensors, else `model_state_dict`, `state_dict` or
    /// `model`).
    #[arg(long, value_name = "NAME")]
    pub key: Option<String>,
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
    /// Draw each eigenvector as a picture of this shape, its channels side by side: CxHxW or
    /// HxW (e.g. 16x5x5 for a conv feature map, 3x32x32 for a colour image).
    #[arg(long, value_name = "CxHxW")]
    pub image_shape: Option<String>,
}

/// `--image-shape CxHxW` of `bilens plot` and `bilens explore`, parsed.
pub fn image_shape(text: Option<&str>) -> Result<Option<bilens::ImageShape>, BadInput> {
    text.map(|s| {
        s.parse::<bilens::ImageShape>()
            .map_err(|e| BadInput::new(format!("--image-shape {e}"), "e.g. --image-shape 3x32x32"))
    })
    .transpose()
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

/// Arguments of `bilens demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the results and figures.
    #[arg(long, short, default_value = "bilens-demo")]
    pub out: PathBuf,
    /// The model to decompose (default: the shipped MNIST model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub state_dict: StateDictArgs,
    /// The MNIST data (default: the shipped copy), for the model's test accuracy.
    #[arg(long)]
    pub data: Option<PathBuf>,
}
