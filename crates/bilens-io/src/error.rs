//! The one error type of the I/O crate.
//!
//! Every message has the form `<file>: <what is wrong>` and names the tensor, shape or option
//! at fault. What the user should do about it is kept apart, in [`IoError::hint`], so that a
//! command-line tool can print `error: <message>` and `hint: <hint>` on separate lines (the
//! message never repeats the hint).

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use crate::header::TensorInfo;

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
    /// A PyTorch checkpoint cannot be read: a damaged or hostile pickle, storages that do not
    /// match the tensors, a layout `torch.save` does not write.
    #[error("{path}: cannot read this PyTorch checkpoint: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
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
        hint: Hint,
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
    /// Another live process is writing the results directory (it holds `writer.lock`).
    #[error("{dir}: another bilens run is writing this directory ({holder})")]
    Locked {
        /// The results directory.
        dir: PathBuf,
        /// Who holds it: `pid P on host H, started T`, as the holder recorded it.
        holder: String,
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

    /// What the caller can do about the error, when there is something to say.
    ///
    /// Kept out of the message so that a front end shows it on its own line, and typed so that
    /// each front end can say it in its own terms: [`Hint`]'s `Display` names no option of any
    /// front end; the command line renders its flags, the Python package its arguments.
    pub fn hint(&self) -> Option<Hint> {
        let s = |t: &str| Some(Hint::Text(t.to_string()));
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
                "bilens reads .safetensors files and PyTorch checkpoints written by torch.save \
                 (.pt/.pth/.bin); pass one of those",
            ),
            IoError::Truncated { .. } => s(
                "the file is incomplete (an interrupted download, copy or save); fetch or save \
                 it again",
            ),
            IoError::Checkpoint { .. } => s(
                "bilens reads state dicts saved by torch.save, without running any pickled \
                 code; if the file is damaged save it again, or convert it once with \
                 `safetensors.torch.save_file(state_dict, \"model.safetensors\")`",
            ),
            IoError::CorruptHeader { .. } => s(
                "the file is damaged or was written by a faulty tool; save it again with the \
                 `safetensors` library",
            ),
            IoError::MissingTensor { path, .. } => Some(Hint::NameTensors { path: path.clone() }),
            IoError::MissingVectors { path, .. } => Some(Hint::NameVectors { path: path.clone() }),
            IoError::VectorShape { width, .. } => Some(Hint::Text(format!(
                "name a tensor that holds one vector of length {width} per row (or per column), \
                 e.g. an SAE encoder [n_features, {width}] or decoder [{width}, n_features]"
            ))),
            IoError::ShapeMismatch { path, .. } => Some(Hint::CheckLayout { path: path.clone() }),
            IoError::UnsupportedDtype { .. } => {
                s("save the weights in a floating-point type, e.g. \
                 `{k: v.float() for k, v in state_dict.items()}` before `save_file`")
            }
            IoError::NonFinite { .. } => s(
                "the checkpoint is corrupt or training diverged; use an earlier checkpoint, or \
                 retrain (e.g. with a lower learning rate)",
            ),
            IoError::Config { .. } => Some(Hint::FixConfig),
            IoError::Unsupported { hint, .. } => Some(hint.clone()),
            IoError::Layer { .. } => Some(Hint::PickLayer),
            IoError::AmbiguousLayout { .. } => Some(Hint::ChooseLayout),
            IoError::Tokenizer { .. } => s(
                "pass the model's tokenizer.json in the Hugging Face format \
                 (`tokenizer.save_pretrained(dir)` writes one)",
            ),
            IoError::Results { .. } => Some(Hint::Decompose),
            IoError::Locked { .. } => s(
                "wait for that run to finish, or stop it; a stopped run's directory resumes \
                 from its finished chunks when the same job is started again. To run both at \
                 once, give this one another results directory",
            ),
        }
    }
}

/// What to do about an [`IoError`], in the library's terms. Its `Display` is a neutral
/// sentence; front ends match on the variants that involve their options (the layout, the
/// tensor names, the layer, the residual setting) and say them as flags or arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// Advice that involves no option.
    Text(String),
    /// A tensor is missing: list the tensors of `path` and name the layer's tensors with the
    /// `single` layout (W, V, P, optionally the embedding).
    NameTensors {
        /// The model file.
        path: PathBuf,
    },
    /// The layer needs something the file does not hold as such: `export` says what to save
    /// into a file, whose tensors are then named with the `single` layout (with a norm gain).
    ExportAndName {
        /// What to export.
        export: String,
    },
    /// A tensor named for a set of vectors is missing: list the tensors of `path` and name one
    /// of them.
    NameVectors {
        /// The vectors' file.
        path: PathBuf,
    },
    /// The tensors do not form one bilinear layer as named: check names and shapes in `path`
    /// and choose the layout (or the tensor names) accordingly.
    CheckLayout {
        /// The model file.
        path: PathBuf,
    },
    /// No layout fits on its own: name the layer (the `single` layout with its tensors), or
    /// choose the `image`, `lm` or `gated` layout.
    ChooseLayout,
    /// The model holds several layers: choose one of them (or every layer).
    PickLayer,
    /// A layer was chosen for a model without numbered layers: choose none.
    DropLayer,
    /// The residual setting was given for a model that is not an image model: leave it out.
    DropResidual,
    /// The model's `config.json` cannot be used: fix or remove it (without it the
    /// architecture is inferred from the shapes, and the residual setting says whether the
    /// block is residual).
    FixConfig,
    /// The directory is not a complete results directory: decompose a model into it.
    Decompose,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::Text(t) => f.write_str(t),
            Hint::NameTensors { path } => write!(
                f,
                "inspect {} for its tensors, and name the layer's tensors with the single \
                 layout (W, V, P and optionally the embedding)",
                path.display()
            ),
            Hint::ExportAndName { export } => write!(
                f,
                "export {export} into a file and name its tensors with the single layout \
                 (W, V, P and the norm gain)"
            ),
            Hint::NameVectors { path } => write!(
                f,
                "inspect {} for its tensors, and name one of them",
                path.display()
            ),
            Hint::CheckLayout { path } => write!(
                f,
                "these tensors do not form one bilinear layer as named; check the names and \
                 shapes by inspecting {} and choose the layout (or the tensor names) accordingly",
                path.display()
            ),
            Hint::ChooseLayout => f.write_str(
                "name the layer with the single layout (W, V, P, optionally the embedding, \
                 biases and a norm gain), or choose the image layout for the paper's image \
                 models (embed.weight, blocks.0.weight, [blocks.0.bias,] head.weight), or the \
                 lm or gated layout for a transformer's MLP",
            ),
            Hint::PickLayer => f.write_str(
                "choose one of the layers, or every layer (one results directory per layer)",
            ),
            Hint::DropLayer => f.write_str("choose no layer: the model has none"),
            Hint::DropResidual => f.write_str(
                "leave out the residual setting: it applies to image models (a transformer's \
                 residual stream is outside its MLP)",
            ),
            Hint::FixConfig => f.write_str(
                "fix config.json, or remove it: bilens then infers the architecture from the \
                 tensor shapes (set residual to true if the block is residual)",
            ),
            Hint::Decompose => {
                f.write_str("decompose a model into the directory to write its results")
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
