//! `bilens eval top-inputs RESULTS --data DIR --out DIR`: the test images that most activate
//! each component of an image block ([`bilens::eval::top_inputs()`]).

use bilens::eval::TopInputsOptions;

use super::print_written;
use crate::args::TopInputsArgs;
use crate::printer::Printer;

/// Outputs whose components are printed; the files hold all of them.
const PRINTED_OUTPUTS: usize = 8;

pub fn run(args: &TopInputsArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = TopInputsOptions {
        components: args.components,
        images: args.images,
        model: args.model.clone(),
        key: args.state_dict.key.clone(),
    };
    let done = bilens::eval::top_inputs(&args.results, &args.data, &options, &args.out, printer)?;
    let r = &done.report;
    printer.data(format!(
        "block {} of {}: the {} test images searched; per component, the images with the \
         largest λ(vᵀx)² (index (label) activation)",
        r.block,
        r.model.display(),
        r.searched
    ));
    let mut outputs = Vec::new();
    for c in &r.components {
        if !outputs.contains(&c.output) {
            if outputs.len() == PRINTED_OUTPUTS {
                break;
            }
            outputs.push(c.output.clone());
        }
        let images: Vec<String> = c
            .images
            .iter()
            .take(4)
            .map(|t| format!("#{} ({}) {:+.3}", t.image, t.label, t.activation))
            .collect();
        printer.data(format!(
            "  {} c{} λ={:+.4}: {}",
            c.output,
            c.component,
            c.eigenvalue,
            images.join(", ")
        ));
    }
    print_written(&done.files, printer);
    Ok(())
}
