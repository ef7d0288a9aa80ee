//! The one error type of the I/O crate.
//!
//! Every message has the form `<file>: <what is wrong>` and names the tensor, shape or option
//! at fault. What the user should do about it is kept apart, in [`IoError::hint`], so that a
//! command-line tool can print `error: <message>` and `hint: <hint>` on separate lines (the
//! message never repeats the hint).

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::safetensors_file::TensorInfo;

/// Everything that can go wrong reading or writing bilens files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Os {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file that was asked for does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// An IDX dataset file is malformed.
    #[error("{path}: not a valid IDX file: {reason}")]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A dataset directory lacks one of the expected files.
    #[error(
        "{dir}: no {name} (or {name}.gz) in this directory; expected the four MNIST IDX files \
             (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)"
    )]
    MissingDatasetFile {
        /// The dataset directory.
        dir: PathBuf,
        /// The file name that was looked for.
        name: String,
    },
    /// A tensor written to a results file does not match what was declared.
    #[error("{path}: tensor '{tensor}': {reason}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// What went wrong.
        reason: String,
    },
    /// The file is something other than a safetensors file (text, an image, a pickle...).
    #[error("{path}: not a safetensors file: {reason}")]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What it looks like instead.
        reason: String,
    },
    /// The file ends before the data its header declares.
    #[error("{path}: truncated: {reason}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Declared against actual sizes.
        reason: String,
    },
    /// The safetensors header is present but wrong (bad JSON, inconsistent offsets...).
    #[error("{path}: corrupt safetensors header: {reason}")]
    CorruptHeader {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
    /// A tensor that was asked for is not in the file.
    #[error("{path}: no tensor named '{tensor}'; {}", list_names(.available))]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The name that was looked for.
        tensor: String,
        /// The names the file does hold, sorted.
        available: Vec<String>,
    },
    /// A tensor named for a set of vectors (`FILE:TENSOR`) is not in the file.
    #[error("{path}: no tensor named '{tensor}' for the {what}; {}", list_names(.available))]
    MissingVectors {
        /// The file.
        path: PathBuf,
        /// The name that was looked for.
        tensor: String,
        /// The vectors' role, e.g. `output directions (--outputs)`.
        what: String,
        /// The names the file does hold, sorted.
        available: Vec<String>,
    },
    /// A tensor named for a set of vectors does not hold vectors of the required length.
    #[error(
        "{path}: tensor '{tensor}' has shape {found:?}; {what} must be vectors of length {width} \
         ([n, {width}] or [{width}, n])"
    )]
    VectorShape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its shape.
        found: Vec<usize>,
        /// The vectors' role, e.g. `output directions (--outputs)`.
        what: String,
        /// The length each vector must have.
        width: usize,
    },
    /// A tensor's shape does not fit the layer it is meant to be part of.
    #[error("{path}: tensor '{tensor}' has shape {found:?}, expected {expected}: {why}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The expected shape, `_` for a free dimension (e.g. `[_, 64]`).
        expected: String,
        /// The shape found.
        found: Vec<usize>,
        /// Which other tensor or setting the expectation comes from.
        why: String,
    },
    /// A tensor's element type is not one bilens converts.
    #[error(
        "{path}: tensor '{tensor}' has dtype {dtype}, which bilens does not read; \
         supported dtypes: F32, F64, F16, BF16"
    )]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its safetensors dtype name.
        dtype: String,
    },
    /// A weight tensor holds NaN or infinite values.
    #[error(
        "{path}: tensor '{tensor}' holds {count} non-finite value{} (NaN or infinity) out of \
         {total}, the first at index {first:?}",
        if *.count == 1 { "" } else { "s" }
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// How many values are NaN or infinite.
        count: usize,
        /// How many values the tensor (or the part read) has.
        total: usize,
        /// Multi-index of the first one.
        first: Vec<usize>,
    },
    /// The model's `config.json` cannot be used.
    #[error("{path}: invalid model config: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file holds a model bilens cannot (yet) decompose exactly.
    #[error("{path}: {what}")]
    Unsupported {
        /// The model file.
        path: PathBuf,
        /// What is not supported, with the evidence.
        what: String,
        /// What the user can do instead.
        hint: String,
    },
    /// A layered model (a transformer) needs a layer that it holds.
    #[error(
        "{path}: {}",
        match .requested {
            Some(i) => format!("the model has no layer {i}; it holds {available}"),
            None => format!("the model holds {available}; which one to decompose?"),
        }
    )]
    Layer {
        /// The model file.
        path: PathBuf,
        /// The layer asked for, if any.
        requested: Option<usize>,
        /// The layers the file holds, described (e.g. `layers 0..12`).
        available: String,
    },
    /// Automatic layout detection found no unambiguous bilinear layer.
    #[error(
        "{path}: cannot tell which tensors form the bilinear layer; the file holds {}:{}",
        count_tensors(.tensors.len()),
        table(.tensors)
    )]
    AmbiguousLayout {
        /// The model file.
        path: PathBuf,
        /// Every tensor of the file, sorted by name.
        tensors: Vec<TensorInfo>,
    },
    /// A tokenizer file cannot be used.
    #[error("{path}: {reason}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A results directory or one of its files is missing or malformed.
    #[error("{path}: {reason}")]
    Results {
        /// The directory or file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
}

impl IoError {
    pub(crate) fn os(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            IoError::NotFound { path }
        } else {
            IoError::Os { path, source }
        }
    }

    /// What the user can do about the error, one line, when there is something to say.
    ///
    /// Kept out of the message so that a CLI prints it on its own `hint:` line. Hints refer to
    /// the `bilens` command-line flags (`--layout`, `--layer`, `--w`, `--v`, `--p`, `--embed`,
    /// `--w-bias`, `--v-bias`, `--norm-gain`, `--residual`) because that is where users meet
    /// these errors.
    pub fn hint(&self) -> Option<String> {
        let s = |t: &str| Some(t.to_string());
        match self {
            IoError::Os { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied => s("check the file's permissions"),
                _ => None,
            },
            IoError::NotFound { .. } => {
                s("check the path (a relative path starts from the current directory)")
            }
            IoError::Idx { .. } => s("the dataset file is damaged; download it again"),
            IoError::MissingDatasetFile { .. } => s(
                "put the four IDX files (raw or .gz) in that directory; the repository ships \
                 MNIST in data/mnist",
            ),
            IoError::Write { .. } => None,
            IoError::NotSafetensors { .. } => s(
                "bilens reads .safetensors files; convert a PyTorch checkpoint with \
                 `safetensors.torch.save_file(model.state_dict(), \"model.safetensors\")`",
            ),
            IoError::Truncated { .. } => s(
                "the file is incomplete (an interrupted download, copy or save); fetch or save \
                 it again",
            ),
            IoError::CorruptHeader { .. } => s(
                "the file is damaged or was written by a faulty tool; save it again with the \
                 `safetensors` library",
            ),
            IoError::MissingTensor { path, .. } => Some(format!(
                "`bilens inspect {}` lists the tensors; name the layer's tensors with \
                 --layout single --w NAME --v NAME --p NAME [--embed NAME]",
                path.display()
            )),
            IoError::MissingVectors { path, .. } => Some(format!(
                "`bilens inspect {}` lists the tensors; write FILE:TENSOR with one of them",
                path.display()
            )),
            IoError::VectorShape { width, .. } => Some(format!(
                "name a tensor that holds one vector of length {width} per row (or per column), \
                 e.g. an SAE encoder [n_features, {width}] or decoder [{width}, n_features]"
            )),
            IoError::ShapeMismatch { path, .. } => Some(format!(
                "these tensors do not form one bilinear layer as named; check the names and \
                 shapes with `bilens inspect {}` and choose --layout (or --w/--v/--p/--embed) \
                 accordingly",
                path.display()
            )),
            IoError::UnsupportedDtype { .. } => {
                s("save the weights in a floating-point type, e.g. \
                 `{k: v.float() for k, v in state_dict.items()}` before `save_file`")
            }
            IoError::NonFinite { .. } => s(
                "the checkpoint is corrupt or training diverged; use an earlier checkpoint, or \
                 retrain (e.g. with a lower learning rate)",
            ),
            IoError::Config { .. } => s(
                "fix config.json, or remove it: bilens then infers the architecture from the \
                 tensor shapes (pass --residual true if the block is residual)",
            ),
            IoError::Unsupported { hint, .. } => Some(hint.clone()),
            IoError::Layer { .. } => s(
                "pass --layer I with one of them, or --layer all for one results directory per \
                 layer",
            ),
            IoError::AmbiguousLayout { .. } => s(
                "name the layer: --layout single --w NAME --v NAME --p NAME [--embed NAME] \
                 (biases and a norm gain with --w-bias, --v-bias, --norm-gain), --layout \
                 image for the paper's image models (embed.weight, blocks.0.weight, \
                 [blocks.0.bias,] head.weight), or --layout lm / --layout gated for a \
                 transformer's MLP",
            ),
            IoError::Tokenizer { .. } => s(
                "pass the model's tokenizer.json in the Hugging Face format \
                 (`tokenizer.save_pretrained(dir)` writes one)",
            ),
            IoError::Results { .. } => {
                s("(re)run `bilens decompose MODEL --out DIR` to write the results directory")
            }
        }
    }
}

/// At most this many tensor names or rows are spelled out in a message; `bilens inspect`
/// lists them all.
const LISTED: usize = 40;

fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        return "the file holds no tensors".into();
    }
    let mut out = format!("the file holds {}: ", count_tensors(names.len()));
    for (i, n) in names.iter().take(LISTED).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
    }
    if names.len() > LISTED {
        let _ = write!(out, ", ... and {} more", names.len() - LISTED);
    }
    out
}

fn count_tensors(n: usize) -> String {
    if n == 1 {
        "1 tensor".into()
    } else {
        format!("{n} tensors")
    }
}

fn table(tensors: &[TensorInfo]) -> String {
    let width = tensors
        .iter()
        .take(LISTED)
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for t in tensors.iter().take(LISTED) {
        let _ = write!(
            out,
            "\n  {:width$}  {:4}  {:?}",
            t.name,
            t.dtype,
            t.shape,
            width = width
        );
    }
    if tensors.len() > LISTED {
        let _ = write!(out, "\n  ... and {} more", tensors.len() - LISTED);
    }
    out
}

/// Shorthand for results of this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
