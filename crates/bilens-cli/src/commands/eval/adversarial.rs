//! `bilens eval adversarial MODEL --data DIR --out DIR`: adversarial masks built from the
//! weights alone, against randomly permuted masks ([`bilens::eval::adversarial()`]).

use bilens::eval::{Adversarial, AdversarialOptions, ImageEvaluation};
use bilens::{Arg, Error, RowSet};

use super::print_written;
use crate::args::AdversarialArgs;
use crate::printer::Printer;

pub fn run(args: &AdversarialArgs, printer: &Printer) -> anyhow::Result<()> {
    let spec = crate::args::layout::resolve(&args.io.layout)?;
    let targets = args
        .targets
        .as_deref()
        .map(str::parse::<RowSet>)
        .transpose()
        .map_err(|e| Error::spec(Arg::Targets, e))?;
    let options = AdversarialOptions {
        targets,
        components: args.components,
        mask: args.mask,
        max_strength: args.max_strength,
        steps: args.steps,
        baselines: args.baselines,
        seed: args.seed,
    };
    let model = super::checkpoint(&args.io.model, &args.io.state_dict, &spec)?;
    let eval = ImageEvaluation::open(&model, &args.io.data)?;
    let done = bilens::eval::adversarial(&eval, &options, &args.io.out, printer)?;
    print_summary(&done.report, printer);
    print_written(&done.files, printer);
    Ok(())
}

/// Prints the mean curves at a few strengths.
fn print_summary(a: &Adversarial, printer: &Printer) {
    let mt = a.mean(|c| &c.mask_target);
    let rt = a.mean(|c| &c.random_target);
    let ma = a.mean(|c| &c.mask_accuracy);
    let ra = a.mean(|c| &c.random_accuracy);
    printer.data(format!(
        "clean test accuracy {:.2}%; mask of eigenvector {} of the top {} positive, mean over {} targets:",
        100.0 * a.clean_accuracy,
        a.params.mask,
        a.params.components,
        a.curves.len()
    ));
    printer.data(format!(
        "  {:>8}  {:>14} {:>14}  {:>14} {:>14}",
        "strength", "acc (mask)", "acc (random)", "→target (mask)", "→target (rand)"
    ));
    let n = a.params.strengths.len();
    let mut shown: Vec<usize> = (0..=4).map(|q| q * (n - 1) / 4).collect();
    shown.dedup();
    for i in shown {
        printer.data(format!(
            "  {:>8.2}  {:>13.2}% {:>13.2}%  {:>13.2}% {:>13.2}%",
            a.params.strengths[i],
            100.0 * ma[i],
            100.0 * ra[i],
            100.0 * mt[i],
            100.0 * rt[i]
        ));
    }
    match a.strength_reaching(&mt, 0.5) {
        Some(s) => printer.data(format!(
            "half of the other images go to the target at strength {s:.2} (random masks there: {:.2}%)",
            100.0 * rt[a.params.strengths.iter().position(|&x| x == s).unwrap_or(0)]
        )),
        None => printer.data(format!(
            "the masks send fewer than half of the images to the target up to strength {:.2}",
            a.params.strengths[n - 1]
        )),
    }
}
