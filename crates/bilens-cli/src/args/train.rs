//! The flags of `bilens train` and `bilens reproduce`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `bilens train` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// The paper's MNIST classifier: embedding, one bilinear layer (or `--layers N`), head; or
    /// with `--conv` a bilinear CNN: one bilinear convolution, a linear head.
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
    /// Width of the embedding and the bilinear layer (with --conv: --channels).
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
    /// Make the bilinear blocks residual (each adds its input back).
    #[arg(long)]
    pub residual: bool,
    /// Number of bilinear blocks on the stream (the public code's `n_layer`).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub layers: usize,
    /// Train a bilinear CNN instead: one bilinear convolution (conv_a ⊙ conv_b, no bias) and a
    /// linear head, saved in the conv checkpoint format (defaults: the shipped mnist-conv
    /// recipe).
    #[arg(long, conflicts_with_all = ["layers", "residual", "width"])]
    pub conv: bool,
    /// With --conv: output channels of each of conv_a and conv_b.
    #[arg(long, requires = "conv", value_name = "H")]
    pub channels: Option<usize>,
    /// With --conv: side of the square kernels.
    #[arg(long, requires = "conv", value_name = "K")]
    pub kernel: Option<usize>,
    /// With --conv: step between output positions, in pixels.
    #[arg(long, requires = "conv", value_name = "S")]
    pub stride: Option<usize>,
    /// With --conv: zero pixels added on each side of the image (default: kernel / 2).
    #[arg(long, requires = "conv", value_name = "P")]
    pub padding: Option<usize>,
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
