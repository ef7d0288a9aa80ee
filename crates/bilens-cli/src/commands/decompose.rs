//! `bilens decompose MODEL --out DIR` and `bilens hosvd MODEL --out DIR`: options to one
//! library call, then the report. With `--layer all` every layer of a transformer gets its
//! own directory, `OUT/layer-I`.

use std::path::Path;

use anyhow::Context;
use bilens::{
    DecomposeOptions, DecomposeReport, ModelFile, OutputSelection, OutputSpec, ResumeMode,
    RunStatus, Shard, TensorRef,
};

use crate::args::{DecomposeArgs, HosvdArgs, LayoutArgs, OutputsArgs, RunArgs, SolveArgs};
use crate::error::BadInput;
use crate::printer::Printer;

pub fn run(args: &DecomposeArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = options(&args.outputs, &args.solve, &args.run)?;
    run_options(
        &args.model,
        args.state_dict.key.as_deref(),
        &args.out,
        &args.layout,
        &options,
        printer,
    )
}

pub fn run_hosvd(args: &HosvdArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = options(&args.outputs, &args.solve, &args.run)?.hosvd(args.components);
    run_options(
        &args.model,
        args.state_dict.key.as_deref(),
        &args.out,
        &args.layout,
        &options,
        printer,
    )
}

/// The library options of the decomposition flags.
fn options(
    outputs: &OutputsArgs,
    solve: &SolveArgs,
    run: &RunArgs,
) -> anyhow::Result<DecomposeOptions> {
    let spec_error = |flag: &str, e: bilens::SpecError| {
        BadInput::new(format!("{flag} {}: {}", e.text, e.problem), e.hint)
    };
    let selection = OutputSelection {
        spec: outputs
            .outputs
            .parse()
            .map_err(|e| spec_error("--outputs", e))?,
        rows: outputs
            .rows
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| spec_error("--rows", e))?,
    };
    let mut selection = selection;
    let mut basis = solve
        .input_basis
        .as_deref()
        .map(TensorRef::parse_basis)
        .transpose()
        .map_err(|e| spec_error("--input-basis", e))?;
    if outputs.fold_dec_norm {
        let output = match &mut selection.spec {
            OutputSpec::File(t) => t.fold_dec_norm(),
            _ => false,
        };
        let input = basis.as_mut().is_some_and(TensorRef::fold_dec_norm);
        if !(output || input) {
            return Err(BadInput::new(
                "--fold-dec-norm applies to SAE folders given as --outputs sae:DIR or \
                 --input-basis sae:DIR",
                "name the SAE folder with sae:DIR, or drop --fold-dec-norm",
            )
            .into());
        }
    }
    let shard = match run.shard.as_deref() {
        None => None,
        Some("auto") => Some(Shard::from_env(|k| std::env::var(k).ok(), run.shards)?),
        Some(text) if run.shards.is_some() => {
            return Err(BadInput::new(
                format!("--shards is only for --shard auto, not --shard {text}"),
                "leave --shards out: M/N says the count",
            )
            .into());
        }
        Some(text) => Some(text.parse::<Shard>()?),
    };
    Ok(DecomposeOptions {
        outputs: selection,
        basis,
        k: solve.k,
        order: solve.order,
        method: solve.method,
        route: solve.route,
        eigenvalues_only: solve.eigenvalues_only,
        precision: solve.precision,
        interactions: solve.interactions,
        hosvd: None,
        tokenizer: run.tokenizer.clone(),
        chunk: run.chunk,
        resume: if run.restart {
            ResumeMode::Restart
        } else {
            ResumeMode::SkipComplete
        },
        shard,
    })
}

fn run_options(
    model: &Path,
    key: Option<&str>,
    out: &Path,
    layout: &LayoutArgs,
    options: &DecomposeOptions,
    printer: &Printer,
) -> anyhow::Result<()> {
    let (spec, all) = crate::args::layout::resolve_layers(layout)?;
    let file = ModelFile::open_key(model, key)
        .with_context(|| format!("cannot load {}", model.display()))?;
    if all {
        bilens::decompose_each_layer(&file, &spec, options, out, printer, |layer, dir, r| {
            printer.data(format!("layer {layer}:"));
            print_report(r, dir, printer);
        })?;
    } else {
        let checkpoint = file
            .checkpoint(&spec)
            .with_context(|| format!("cannot load {}", model.display()))?;
        let report = bilens::decompose(&checkpoint, options, out, printer)?;
        print_report(&report, out, printer);
    }
    Ok(())
}

/// Prints where the results went and each output's leading eigenvalues.
pub fn print_report(report: &DecomposeReport, out: &Path, printer: &Printer) {
    match report.status {
        RunStatus::AlreadyComplete => printer.note(format!(
            "{} already holds the complete results of this job: nothing to do (--restart \
             recomputes them)",
            out.display()
        )),
        RunStatus::Resumed(n) => printer.note(format!(
            "resumed an interrupted run: {n} of {} outputs were already done",
            report.labels.len()
        )),
        RunStatus::Computed => {}
    }
    printer.data(format!(
        "decomposed {} outputs ({} method, {} route) into {} in {:.2} s (loading took {:.2} s)",
        report.labels.len(),
        report.method.name(),
        report.route.name(),
        out.display(),
        report.decompose_time.as_secs_f64(),
        report.load_time.as_secs_f64()
    ));
    if report.fallbacks > 0 {
        printer.note(format!(
            "note: Lanczos did not converge on {} outputs; the full solver was used for them",
            report.fallbacks
        ));
    }
    if let Some(h) = &report.hosvd {
        let sv: Vec<String> = h
            .singular_values
            .iter()
            .take(10)
            .map(|s| format!("{s:.4}"))
            .collect();
        printer.data(format!("singular values: {}", sv.join("  ")));
        printer.data(format!(
            "these {} components hold {:.1}% of the tensor's squared norm",
            h.singular_values.len(),
            100.0 * h.fraction_kept
        ));
    }
    let shown = report.labels.len().min(20);
    // A label with spaces at its ends (a token such as " the") is quoted to show them.
    let labels: Vec<String> = report
        .labels
        .iter()
        .take(shown)
        .map(|l| {
            if l.starts_with(' ') || l.ends_with(' ') {
                format!("'{l}'")
            } else {
                l.clone()
            }
        })
        .collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    printer.data(format!("{:>width$}  leading eigenvalues", "output"));
    for (label, top) in labels.iter().zip(&report.top) {
        let values: Vec<String> = top.iter().map(|v| format!("{v:+.4}")).collect();
        printer.data(format!("{label:>width$}  {}", values.join("  ")));
    }
    if report.labels.len() > shown {
        printer.data(format!(
            "{:>width$}  ({} more in summary.json)",
            "...",
            report.labels.len() - shown
        ));
    }
}
