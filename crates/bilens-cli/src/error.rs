//! How failures reach the user: one line of cause, one line of what to do, and an exit code
//! (1 for bad input, 2 for an internal failure).

use std::fmt;
use std::process::ExitCode;

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

/// Prints `error: ...` (the whole cause chain on one line) and `hint: ...`, and returns the
/// exit code: 1 when the chain holds a user-facing error, 2 otherwise.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
    eprintln!("error: {}", chain.join(": "));
    let mut bad_input = false;
    let mut hint = None;
    for cause in err.chain() {
        if let Some(b) = cause.downcast_ref::<BadInput>() {
            bad_input = true;
            hint = hint.or_else(|| b.hint.clone());
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
        *hint = e.hint();
    }
}
