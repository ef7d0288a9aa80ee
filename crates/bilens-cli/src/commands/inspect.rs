//! `bilens inspect MODEL`: every tensor, the layout detected and the layer's dimensions.

use anyhow::Context;
use bilens::ModelFile;

use crate::args::InspectArgs;
use crate::printer::Printer;

pub fn run(args: &InspectArgs, printer: &Printer) -> anyhow::Result<()> {
    let spec = crate::args::layout::resolve(&args.layout)?;
    let inspection = ModelFile::open_key(&args.model, args.state_dict.key.as_deref())
        .with_context(|| format!("cannot inspect {}", args.model.display()))?
        .inspect(&spec);
    printer.data(format!(
        "{}: {} tensors",
        args.model.display(),
        inspection.tensors.len()
    ));
    let width = inspection
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    for t in &inspection.tensors {
        printer.data(format!("  {:width$}  {:4}  {:?}", t.name, t.dtype, t.shape));
    }
    for (k, v) in &inspection.metadata {
        printer.data(format!("metadata {k}: {v}"));
    }
    match inspection.model {
        Ok(info) => printer.data(info),
        Err(e) => {
            // The tensor list above is still useful: show why no layer was found, then fail.
            return Err(
                anyhow::Error::new(bilens::Error::from(e)).context("no bilinear layer found")
            );
        }
    }
    Ok(())
}
