//! `bilens eval`: the test accuracy of an image model, or one of the paper's evaluations
//! ([`bilens::eval`]); each maps its flags to one library call and prints the summary.

mod adversarial;
mod approx;
mod bottleneck;
mod consistency;
mod explain;
mod top_inputs;
mod truncation;

use std::path::{Path, PathBuf};

use anyhow::Context;
use bilens::{Checkpoint, LayoutSpec, ModelFile};

use crate::args::{EvalAccuracyArgs, EvalArgs, EvalCommand, StateDictArgs};
use crate::error::BadInput;
use crate::printer::Printer;

pub fn run(args: &EvalArgs, printer: &Printer) -> anyhow::Result<()> {
    match &args.command {
        None => accuracy(&args.accuracy, printer),
        Some(EvalCommand::Truncation(a)) => truncation::run(a, printer),
        Some(EvalCommand::Bottleneck(a)) => bottleneck::run(a, printer),
        Some(EvalCommand::Adversarial(a)) => adversarial::run(a, printer),
        Some(EvalCommand::Explain(a)) => explain::run(a, printer),
        Some(EvalCommand::Consistency(a)) => consistency::run(a, printer),
        Some(EvalCommand::Approx(a)) => approx::run(a, printer),
        Some(EvalCommand::TopInputs(a)) => top_inputs::run(a, printer),
    }
}

/// The model an evaluation reads: `model` opened with `--key` (a PyTorch checkpoint's state
/// dict), its layer found by `spec`.
fn checkpoint(
    model: &Path,
    state_dict: &StateDictArgs,
    spec: &LayoutSpec,
) -> anyhow::Result<Checkpoint> {
    let file = ModelFile::open_key(model, state_dict.key.as_deref())
        .with_context(|| format!("cannot load {}", model.display()))?;
    Ok(file.checkpoint(spec)?)
}

/// `bilens eval MODEL`: the test accuracy.
fn accuracy(args: &EvalAccuracyArgs, printer: &Printer) -> anyhow::Result<()> {
    let Some(model) = &args.model else {
        return Err(BadInput::new(
            "bilens eval needs a MODEL or an evaluation",
            "e.g. `bilens eval MODEL --data data/mnist` or `bilens eval truncation MODEL --out DIR`",
        )
        .into());
    };
    let spec = crate::args::layout::resolve(&args.layout)?;
    let acc =
        bilens::eval::test_accuracy(&checkpoint(model, &args.state_dict, &spec)?, &args.data)?;
    printer.data(format!(
        "test accuracy: {:.2}% ({}/{}) for {}",
        100.0 * acc.fraction(),
        acc.correct,
        acc.total,
        model.display()
    ));
    Ok(())
}

/// Tells the user which files an evaluation wrote (stdout, one line).
fn print_written(files: &[PathBuf], printer: &Printer) {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    printer.data(format!("wrote {}", names.join(", ")));
}
