//! `bilens eval approx RESULTS --activations FILE --out DIR`: how well each output feature's
//! first K components approximate its true activation ([`bilens::eval::approximation`]).

use std::path::Path;

use bilens::eval::approx::HEADLINE_K;
use bilens::eval::{ApproxOptions, Approximation};

use crate::args::ApproxArgs;
use crate::printer::Printer;

pub fn run(args: &ApproxArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = ApproxOptions {
        inputs_tensor: args.inputs_tensor.clone(),
        activations_tensor: args.activations_tensor.clone(),
        max_k: args.max_k,
        threshold: args.threshold,
    };
    let done = bilens::eval::approximation(
        &args.results,
        &args.activations,
        &options,
        &args.out,
        printer,
    )?;
    print_summary(&done.report, &args.out, printer);
    Ok(())
}

/// Prints the headline figures and the curve at a few K.
fn print_summary(a: &Approximation, out: &Path, printer: &Printer) {
    let (curves, s, n_inputs) = (&a.curves, &a.summary, a.n_inputs);
    let never = curves.iter().filter(|f| f.n_active < 2).count();
    printer.data(format!(
        "{} features, {n_inputs} inputs; written to {}",
        curves.len(),
        out.display()
    ));
    let at = |v: &[f64]| v.get(HEADLINE_K - 1).copied().filter(|x| x.is_finite());
    if let (Some(mean), Some(above)) = (at(&s.mean), at(&s.fraction_above)) {
        printer.data(format!(
            "at K = {HEADLINE_K}: mean correlation {mean:.3}, {:.1}% of features above {}",
            100.0 * above,
            a.options.threshold
        ));
    }
    if never > 0 {
        printer.note(format!(
            "note: {never} features are active on fewer than two inputs: no correlation for them"
        ));
    }
    printer.data(format!(
        "{:>4}  {:>6}  {:>6}  {:>8}",
        "K",
        "mean",
        "median",
        format!(">{}", a.options.threshold)
    ));
    let show = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "-".to_string()
        }
    };
    for kk in (0..s.mean.len()).filter(|&k| k < 8 || (k + 1) % 8 == 0 || k + 1 == s.mean.len()) {
        printer.data(format!(
            "{:>4}  {:>6}  {:>6}  {:>8}",
            kk + 1,
            show(s.mean[kk]),
            show(s.median[kk]),
            show(s.fraction_above[kk])
        ));
    }
}
