//! `bilens eval bottleneck MODEL --data DIR --out DIR`: the test accuracy of the whole network
//! when one block's tensor keeps only its top-S HOSVD components
//! ([`bilens::eval::bottleneck()`]).

use bilens::eval::{Bottleneck, BottleneckOptions};

use super::print_written;
use crate::args::BottleneckArgs;
use crate::printer::Printer;

pub fn run(args: &BottleneckArgs, printer: &Printer) -> anyhow::Result<()> {
    let spec = crate::args::layout::resolve(&args.io.layout)?;
    let options = BottleneckOptions {
        ranks: args.ranks.clone(),
        eigenvectors: args.eigenvectors,
    };
    let model = super::checkpoint(&args.io.model, &args.io.state_dict, &spec)?;
    let done = bilens::eval::bottleneck(&model, &args.io.data, &options, &args.io.out, printer)?;
    print_summary(&done.report, printer);
    print_written(&done.files, printer);
    Ok(())
}

/// Prints each block's curve on one line, and whether every component gives the model back.
fn print_summary(b: &Bottleneck, printer: &Printer) {
    let each = match b.eigenvectors {
        None => String::new(),
        Some(k) => format!(", each by its top {k} eigenvectors"),
    };
    printer.data(format!(
        "model accuracy: {:.2}% ({}/{}); one block at a time truncated to S HOSVD components{each}:",
        100.0 * b.model_accuracy(),
        b.model_correct,
        b.n
    ));
    for block in &b.blocks {
        let cells: Vec<String> = block
            .ranks
            .iter()
            .enumerate()
            .map(|(j, r)| format!("S={r} {:.2}%", 100.0 * block.accuracy(j, b.n)))
            .collect();
        printer.data(format!(
            "  block {} ({} components, {} nonzero): {}",
            block.block,
            block.width,
            block.rank,
            cells.join(", ")
        ));
    }
    if b.eigenvectors.is_none() {
        for block in &b.blocks {
            let last = block.ranks.len() - 1;
            if block.ranks[last] == block.width && block.same_as_model[last] != b.n {
                printer.data(format!(
                    "block {}: every component gives other predictions than the model on {} \
                     images (a bug: please report it)",
                    block.block,
                    b.n - block.same_as_model[last]
                ));
            }
        }
    }
}
