//! `bilens eval truncation MODEL --data DIR --max-k K --out DIR`: test accuracy when every
//! class logit is rebuilt from only k of its components ([`bilens::eval::truncation()`]).

use bilens::eval::{ImageEvaluation, RECOVERY_POINTS, Truncation, TruncationOptions};

use super::print_written;
use crate::args::TruncationArgs;
use crate::printer::Printer;

pub fn run(args: &TruncationArgs, printer: &Printer) -> anyhow::Result<()> {
    let spec = crate::args::layout::resolve(&args.io.layout)?;
    let model = super::checkpoint(&args.io.model, &args.io.state_dict, &spec)?;
    let eval = ImageEvaluation::open(&model, &args.io.data)?;
    let options = TruncationOptions {
        max_k: args.max_k,
        rules: args.rules.clone(),
    };
    let done = bilens::eval::truncation(&eval, &options, &args.io.out, printer)?;
    print_summary(&done.report, printer);
    print_written(&done.files, printer);
    Ok(())
}

/// Prints the accuracy of each rule at a few k, and where it recovers.
fn print_summary(t: &Truncation, printer: &Printer) {
    printer.data(format!(
        "model accuracy: {:.2}% ({}/{}); truncated to k components per class ({} in all):",
        100.0 * t.model_accuracy(),
        t.model_correct,
        t.n,
        t.d
    ));
    let shown: Vec<usize> = [0usize, 1, 2, 3, 5, 10, 20, 30]
        .into_iter()
        .filter(|k| t.ks[..t.ks.len() - 1].contains(k))
        .collect();
    let head: Vec<String> = shown
        .iter()
        .map(|k| format!("{:>7}", format!("k={k}")))
        .collect();
    printer.data(format!(
        "  {:<10} {}  {:>7}",
        "rule",
        head.join(""),
        "k=all"
    ));
    for (r, rule) in t.rules.iter().enumerate() {
        let cells: Vec<String> = shown
            .iter()
            .map(|&k| format!("{:>6.2}%", 100.0 * t.accuracy_at(r, k).unwrap_or(f64::NAN)))
            .collect();
        let last = t.ks.len() - 1;
        let recover = match t.recovery_k(r) {
            Some(k) => format!("within {RECOVERY_POINTS} point of the model from k = {k}"),
            None => format!(
                "not within {RECOVERY_POINTS} point of the model by k = {}",
                t.ks[last - 1]
            ),
        };
        printer.data(format!(
            "  {:<10} {}  {:>6.2}%  {recover}",
            rule.name(),
            cells.join(""),
            100.0 * t.accuracy(r, last)
        ));
    }
    let all_same = t.same_as_model.iter().all(|&s| s == t.n);
    printer.data(format!(
        "k = all: {} as the model on {} of {} images{}",
        if all_same {
            "the same predictions"
        } else {
            "predictions differ from"
        },
        t.same_as_model.iter().min().copied().unwrap_or(0),
        t.n,
        if all_same {
            ""
        } else {
            " (a bug: please report it)"
        }
    ));
}
