//! How failures reach the user: one line of cause, one line of what to do, and an exit code
//! (1 for bad input, 2 for an internal failure). The library's errors speak in its terms;
//! this module says them in the command line's: arguments become flags, hints name flags.

use std::fmt;
use std::process::ExitCode;

use bilens::{Arg, Error, Hint, LayoutConflict, LayoutKind};
use bilens_decomp::DecompError;
use bilens_io::IoError;
use bilens_train::TrainError;

/// A mistake in what the user asked for (options, paths, data), with what to do about it.
#[derive(Debug)]
pub struct BadInput {
    message: String,
    hint: Option<String>,
}

impl BadInput {
    /// A bad-input error with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BadInput {}

/// The flag (or positional argument) of a library argument.
pub fn flag(arg: Arg) -> String {
    match arg {
        Arg::Model => "MODEL".into(),
        Arg::Models => "MODELS".into(),
        Arg::Results => "RESULTS".into(),
        other => format!("--{}", other.name().replace('_', "-")),
    }
}

/// A library hint in the command line's terms.
fn render_hint(hint: &Hint) -> String {
    match hint {
        Hint::NameTensors { path } => format!(
            "`bilens inspect {}` lists the tensors; name the layer's tensors with --layout single \
             --w NAME --v NAME --p NAME [--embed NAME]",
            path.display()
        ),
        Hint::ExportAndName { export } => format!(
            "export {export} into a file and name them with --layout single --w NAME --v NAME \
             --p NAME --norm-gain NAME"
        ),
        Hint::NameVectors { path } => format!(
            "`bilens inspect {}` lists the tensors; write FILE:TENSOR with one of them",
            path.display()
        ),
        Hint::CheckLayout { path } => format!(
            "these tensors do not form one bilinear layer as named; check the names and shapes \
             with `bilens inspect {}` and choose --layout (or --w/--v/--p/--embed) accordingly",
            path.display()
        ),
        Hint::ChooseLayout => "name the layer: --layout single --w NAME --v NAME --p NAME \
                               [--embed NAME] (biases and a norm gain with --w-bias, --v-bias, \
                               --norm-gain), --layout image for the paper's image models \
                               (embed.weight, blocks.0.weight, [blocks.0.bias,] head.weight), \
                               or --layout lm / --layout gated for a transformer's MLP"
            .into(),
        Hint::PickLayer => {
            "pass --layer I with one of them, or --layer all for one results directory per layer"
                .into()
        }
        Hint::DropLayer => "drop --layer (it applies to the lm, gated and image layouts)".into(),
        Hint::DropResidual => {
            "drop --residual: it applies to image models (a transformer's residual stream is \
             outside its MLP)"
                .into()
        }
        Hint::FixConfig => "fix config.json, or remove it: bilens then infers the architecture \
                            from the tensor shapes (pass --residual true if the block is \
                            residual)"
            .into(),
        Hint::Decompose => {
            "(re)run `bilens decompose MODEL --out DIR` to write the results directory".into()
        }
        other => other.to_string(),
    }
}

/// One cause of the chain, in the command line's terms.
fn render_cause(cause: &(dyn std::error::Error + 'static)) -> String {
    match cause.downcast_ref::<Error>() {
        Some(Error::Argument {
            arg,
            value,
            problem,
            ..
        }) if value.is_empty() => format!("{}: {problem}", flag(*arg)),
        Some(Error::Argument {
            arg,
            value,
            problem,
            ..
        }) => format!("{} {value}: {problem}", flag(*arg)),
        Some(Error::Context { context, source }) => {
            format!("{context}: {}", render_cause(source.as_ref()))
        }
        Some(Error::Layout(conflict)) => layout_conflict(*conflict).0.into(),
        _ => cause.to_string(),
    }
}

/// Layout flags that do not agree: what is wrong and what to do, with the flags' names.
fn layout_conflict(conflict: LayoutConflict) -> (&'static str, &'static str) {
    match conflict {
        LayoutConflict::MissingNames => (
            "--layout single needs all of --w, --v and --p",
            "name the tensors holding W, V and P, e.g. --w mlp.w --v mlp.v --p mlp.p \
             (`bilens inspect MODEL` lists them)",
        ),
        LayoutConflict::NamesWithoutSingle(_) => (
            "--w/--v/--p/--embed/--w-bias/--v-bias/--norm-gain name the tensors of a single \
             layer, not of an image model or a transformer's layer",
            "use --layout single with them, or drop them",
        ),
        LayoutConflict::LayerNotLayered(_) => (
            "--layer applies to layered models (--layout lm, gated, tl, image or auto)",
            "drop --layer for the single and conv layouts",
        ),
        LayoutConflict::ResidualNotImage(LayoutKind::Single) => (
            "--residual applies to image models, not to a single named layer",
            "drop --residual, or use --layout image",
        ),
        LayoutConflict::ResidualNotImage(LayoutKind::Conv | LayoutKind::ConvFilters) => (
            "--residual applies to image models, not to a bilinear convolution",
            "drop --residual: a conv model's head reads the convolution's output only",
        ),
        LayoutConflict::ResidualNotImage(_) => (
            "--residual applies to image models, not to a transformer's MLP",
            "drop --residual: the residual stream around the MLP is not part of its output",
        ),
        _ => (
            "the layout flags do not describe one layer",
            "check --layout, --layer, --residual and the tensor names with `bilens inspect MODEL`",
        ),
    }
}

/// Prints `error: ...` (the whole cause chain on one line) and `hint: ...`, and returns the
/// exit code: 1 when the chain holds a user-facing error, 2 otherwise.
pub fn report(err: &anyhow::Error) -> ExitCode {
    // A library error already holds its sources in its message: stop the chain there.
    let mut chain = Vec::new();
    for cause in err.chain() {
        chain.push(render_cause(cause));
        if cause.downcast_ref::<Error>().is_some() {
            break;
        }
    }
    let mut bad_input = false;
    let mut hint = None;
    for cause in err.chain() {
        if let Some(b) = cause.downcast_ref::<BadInput>() {
            bad_input = true;
            hint = hint.or_else(|| b.hint.clone());
        } else if let Some(e) = cause.downcast_ref::<Error>() {
            bad_input |= e.is_user_error();
            hint = hint.or_else(|| match e.root() {
                Error::Layout(conflict) => Some(layout_conflict(*conflict).1.into()),
                root => root.hint().as_ref().map(render_hint),
            });
            break;
        } else if let Some(e) = cause.downcast_ref::<IoError>() {
            classify_io(e, &mut bad_input, &mut hint);
        } else if let Some(e) = cause.downcast_ref::<DecompError>() {
            bad_input |= matches!(e, DecompError::NonFinite { .. });
        } else if let Some(e) = cause.downcast_ref::<TrainError>() {
            match e {
                TrainError::Io(io) => classify_io(io, &mut bad_input, &mut hint),
                // Options, data and hyperparameters that diverge are all the user's to change.
                _ => bad_input = true,
            }
        }
    }
    print_error(&chain.join(": "), hint.as_deref(), bad_input)
}

#[allow(
    clippy::print_stderr,
    reason = "the error report is the one place besides the printer that writes to stderr"
)]
fn print_error(message: &str, hint: Option<&str>, bad_input: bool) -> ExitCode {
    eprintln!("error: {message}");
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    } else if !bad_input {
        eprintln!("hint: this is a bug in bilens; please report it with the command you ran");
    }
    if bad_input {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

fn classify_io(e: &IoError, bad_input: &mut bool, hint: &mut Option<String>) {
    // Failing to write our own output is not the user's input at fault.
    *bad_input |= !matches!(e, IoError::Write { .. });
    if hint.is_none() {
        *hint = e.hint().as_ref().map(render_hint);
    }
}
