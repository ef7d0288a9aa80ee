//! `bilens eval consistency MODEL MODEL... --out DIR`: do independently trained models find
//! the same eigenvectors? ([`bilens::eval::consistency()`])

use bilens::eval::{Consistency, ConsistencyOptions};

use super::print_written;
use crate::args::ConsistencyArgs;
use crate::printer::Printer;

pub fn run(args: &ConsistencyArgs, printer: &Printer) -> anyhow::Result<()> {
    let spec = crate::args::layout::resolve(&args.layout)?;
    let options = ConsistencyOptions {
        top: args.top,
        sign: args.sign,
    };
    let models = args
        .models
        .iter()
        .map(|m| super::checkpoint(m, &args.state_dict, &spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let done = bilens::eval::consistency(&models, &options, &args.out, printer)?;
    print_summary(&done.report, printer);
    print_written(&done.files, printer);
    Ok(())
}

/// Prints the mean similarity at a few ranks.
fn print_summary(c: &Consistency, printer: &Printer) {
    let m = Consistency::mean_by_rank(&c.matched);
    let r = Consistency::mean_by_rank(&c.ranked);
    printer.data(format!(
        "{} models, {} pairs; mean |cos| of the top {} eigenvectors ({}) over classes and pairs:",
        c.models.len(),
        c.pairs.len(),
        m.len(),
        if c.positive { "λ > 0" } else { "λ < 0" }
    ));
    let shown: Vec<usize> = [0usize, 1, 2, 4, 9, 19]
        .into_iter()
        .filter(|&i| i < m.len())
        .collect();
    let head: Vec<String> = shown
        .iter()
        .map(|i| format!("{:>7}", format!("#{}", i + 1)))
        .collect();
    printer.data(format!("  {:<10}{}", "rank", head.join("")));
    for (name, v) in [("matched", &m), ("same rank", &r)] {
        let cells: Vec<String> = shown.iter().map(|&i| format!("{:>7.3}", v[i])).collect();
        printer.data(format!("  {name:<10}{}", cells.join("")));
    }
}
