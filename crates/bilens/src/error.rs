//! The library's one error type, in the API's terms: an argument by its name, a file by its
//! path, a tensor by its name. Front ends render it in theirs (the command line names flags,
//! the Python package raises exceptions naming its arguments).

use std::fmt;

use bilens_decomp::DecompError;
use bilens_explore::ExploreError;
use bilens_io::{Hint, IoError, SpecError};
use bilens_plot::PlotError;

/// An argument of a library call, so that each front end can name it its own way
/// (`--input-basis` on the command line, `basis=` in Python).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arg {
    /// The output directions.
    Outputs,
    /// The subset of the output directions kept.
    Rows,
    /// The feature basis of the input.
    InputBasis,
    /// The number of feature interactions reported per output.
    Interactions,
    /// Outputs per chunk.
    Chunk,
    /// HOSVD components.
    Components,
    /// Components kept per output.
    K,
    /// Eigenvectors of each sign drawn per output.
    PerSign,
    /// The shape components are drawn in (`channels × height × width`).
    ImageShape,
    /// The tokenizer.
    Tokenizer,
    /// The model file.
    Model,
    /// The dataset directory.
    Data,
    /// Several model files, compared.
    Models,
    /// A results directory.
    Results,
    /// A file of recorded activations.
    Activations,
    /// The tensor of layer inputs in the activations file.
    InputsTensor,
    /// The tensor of true feature activations in the activations file.
    ActivationsTensor,
    /// The largest k (or K) on a curve.
    MaxK,
    /// Selection rules of a truncation.
    Rules,
    /// Target classes.
    Targets,
    /// Which adversarial mask is added.
    Mask,
    /// The largest mask strength.
    MaxStrength,
    /// Strengths evaluated.
    Steps,
    /// Index of a test image.
    Index,
    /// A class.
    Class,
    /// Top components compared or shown.
    Top,
    /// A correlation threshold.
    Threshold,
    /// Which shard of a job to run (`M/N`, or from a scheduler's environment).
    Shard,
    /// The number of shards, where the environment does not say it.
    Shards,
    /// The layout of the model file.
    Layout,
    /// The numbers of HOSVD components a block keeps (the bottleneck evaluation).
    Ranks,
    /// Eigenvectors kept per component.
    Eigenvectors,
}

impl Arg {
    /// The argument's name in the library (snake case).
    pub fn name(self) -> &'static str {
        match self {
            Arg::Outputs => "outputs",
            Arg::Rows => "rows",
            Arg::InputBasis => "input_basis",
            Arg::Interactions => "interactions",
            Arg::Chunk => "chunk",
            Arg::Components => "components",
            Arg::K => "k",
            Arg::PerSign => "per_sign",
            Arg::ImageShape => "image_shape",
            Arg::Tokenizer => "tokenizer",
            Arg::Model => "model",
            Arg::Data => "data",
            Arg::Models => "models",
            Arg::Results => "results",
            Arg::Activations => "activations",
            Arg::InputsTensor => "inputs_tensor",
            Arg::ActivationsTensor => "activations_tensor",
            Arg::MaxK => "max_k",
            Arg::Rules => "rules",
            Arg::Targets => "targets",
            Arg::Mask => "mask",
            Arg::MaxStrength => "max_strength",
            Arg::Steps => "steps",
            Arg::Index => "index",
            Arg::Class => "class",
            Arg::Top => "top",
            Arg::Threshold => "threshold",
            Arg::Shard => "shard",
            Arg::Shards => "shards",
            Arg::Layout => "layout",
            Arg::Ranks => "ranks",
            Arg::Eigenvectors => "eigenvectors",
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong in a library call.
///
/// The errors of the crates below are boxed: they carry paths and shapes, and a `Result`
/// whose error is hundreds of bytes slows every call that returns one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument of the call is unusable: its value (empty when the argument is missing),
    /// what is wrong, and what to give instead.
    #[error("{}", argument_message(*.arg, .value, .problem))]
    Argument {
        /// The argument.
        arg: Arg,
        /// Its value as given (empty when the problem is its absence).
        value: String,
        /// What is wrong.
        problem: String,
        /// What to give instead.
        hint: String,
    },
    /// Layout options that do not describe one layer.
    #[error(transparent)]
    Layout(crate::layout::LayoutConflict),
    /// A file could not be read or written, or holds something unusable.
    #[error(transparent)]
    Io(Box<IoError>),
    /// The mathematics failed on the data (NaN in a matrix, a solver that did not converge).
    #[error(transparent)]
    Decomp(Box<DecompError>),
    /// A figure could not be written.
    #[error(transparent)]
    Plot(Box<PlotError>),
    /// The explorer could not be written (or its options do not fit the results).
    #[error(transparent)]
    Explore(Box<ExploreError>),
    /// The caller asked the call to stop ([`crate::Progress::should_stop`]); a results
    /// directory being written keeps its finished chunks and resumes.
    #[error("interrupted")]
    Interrupted,
    /// Shard directories that do not merge into one job's results: a shard missing, given
    /// twice, incomplete, or of another job or bilens version.
    #[error("{problem}")]
    Merge {
        /// What is wrong, naming the directories at fault.
        problem: String,
        /// What to run or give instead.
        hint: String,
    },
    /// An error inside one part of a larger call (one layer of every layer).
    #[error("{context}: {source}")]
    Context {
        /// Which part, e.g. `layer 3`.
        context: String,
        /// What went wrong there.
        source: Box<Error>,
    },
}

fn argument_message(arg: Arg, value: &str, problem: &str) -> String {
    if value.is_empty() {
        format!("{arg}: {problem}")
    } else {
        format!("{arg} {value}: {problem}")
    }
}

impl Error {
    /// An error about argument `arg` with value `value` (empty when it is missing).
    pub fn argument(
        arg: Arg,
        value: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::Argument {
            arg,
            value: value.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// `spec`'s problem as an error about argument `arg`.
    pub fn spec(arg: Arg, spec: SpecError) -> Self {
        Error::Argument {
            arg,
            value: spec.text,
            problem: spec.problem,
            hint: spec.hint,
        }
    }

    /// The same error inside `context` (e.g. `layer 3`).
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The innermost error, past every [`Error::Context`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// Whether the caller can fix this (an argument, a file, data) rather than it being a
    /// failure of bilens or of the machine.
    pub fn is_user_error(&self) -> bool {
        match self.root() {
            Error::Argument { .. }
            | Error::Layout(_)
            | Error::Interrupted
            | Error::Merge { .. } => true,
            // Failing to write our own output is not the caller's input at fault.
            Error::Io(e) => !matches!(**e, IoError::Write { .. }),
            Error::Decomp(e) => matches!(**e, DecompError::NonFinite { .. }),
            Error::Explore(e) => match &**e {
                ExploreError::Results(e) => !matches!(e, IoError::Write { .. }),
                e => !matches!(e, ExploreError::Write { .. }),
            },
            Error::Plot(_) | Error::Context { .. } => false,
        }
    }

    /// What to do about the error, in the library's terms, when there is something to say.
    pub fn hint(&self) -> Option<Hint> {
        match self.root() {
            Error::Argument { hint, .. } | Error::Merge { hint, .. } => {
                Some(Hint::Text(hint.clone()))
            }
            Error::Io(e) => e.hint(),
            Error::Explore(e) => e.hint(),
            _ => None,
        }
    }
}

macro_rules! boxed_from {
    ($($source:ty => $variant:ident),* $(,)?) => {$(
        impl From<$source> for Error {
            fn from(e: $source) -> Self {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(IoError => Io, PlotError => Plot, ExploreError => Explore);

impl From<DecompError> for Error {
    fn from(e: DecompError) -> Self {
        match e {
            // The solver stops only when a `Progress` asked it to.
            DecompError::Stopped => Error::Interrupted,
            e => Error::Decomp(Box::new(e)),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
