//! `bilens eval explain MODEL --data DIR --index I --out DIR`: one test image explained from
//! the weights ([`bilens::eval::explain()`]).

use bilens::eval::{ExplainOptions, Explanation, ImageEvaluation};

use super::print_written;
use crate::args::ExplainArgs;
use crate::printer::Printer;

pub fn run(args: &ExplainArgs, printer: &Printer) -> anyhow::Result<()> {
    let spec = crate::args::layout::resolve(&args.io.layout)?;
    let model = super::checkpoint(&args.io.model, &args.io.state_dict, &spec)?;
    let eval = ImageEvaluation::open(&model, &args.io.data)?;
    let options = ExplainOptions {
        index: args.index,
        class: args.class,
        top: args.top,
    };
    let done = bilens::eval::explain(&eval, &options, &args.io.out)?;
    print_summary(&done.report, args.top, printer);
    print_written(&done.files, printer);
    Ok(())
}

/// Prints the image's logits and the components that raise and lower the explained one.
fn print_summary(e: &Explanation, top: usize, printer: &Printer) {
    printer.data(format!(
        "test image {}: label {}, predicted {}; explaining the logit of class {} = {:.4}",
        e.index, e.label, e.predicted, e.class, e.logits[e.class]
    ));
    let logits: Vec<String> = e
        .logits
        .iter()
        .enumerate()
        .map(|(c, l)| format!("{c}:{l:+.2}"))
        .collect();
    printer.data(format!("logits: {}", logits.join("  ")));
    let quad: f64 = e.contributions.iter().map(|c| c.value).sum();
    for (positive, what) in [(true, "raise"), (false, "lower")] {
        let picked = e.of_sign(positive, top);
        let parts: Vec<String> = picked
            .iter()
            .map(|c| format!("{:+.3} (#{} λ={:+.3})", c.value, c.rank + 1, c.lambda))
            .collect();
        printer.data(format!("components that {what} it: {}", parts.join(", ")));
    }
    let shown: f64 = e
        .of_sign(true, top)
        .iter()
        .chain(e.of_sign(false, top).iter())
        .map(|c| c.value)
        .sum();
    printer.data(format!(
        "logit = {:.4} (linear part) + {:.4} (these {} components) + {:.4} (the other {})",
        e.linear,
        shown,
        e.of_sign(true, top).len() + e.of_sign(false, top).len(),
        quad - shown,
        e.contributions.len() - e.of_sign(true, top).len() - e.of_sign(false, top).len()
    ));
}
