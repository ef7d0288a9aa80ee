//! `bilens plot RESULTS --out DIR`: figures from a results directory alone.

use anyhow::Context;
use bilens::{FigureOptions, ResultsFile};

use crate::args::PlotArgs;
use crate::printer::Printer;

pub fn run(args: &PlotArgs, printer: &Printer) -> anyhow::Result<()> {
    let results = ResultsFile::open(&args.results)
        .with_context(|| format!("cannot read results in {}", args.results.display()))?;
    let options = FigureOptions {
        per_sign: args.per_sign,
        image_shape: crate::args::image_shape(args.image_shape.as_deref())?,
    };
    let figures = bilens::draw_results(&results, &args.out, &options, printer)?;
    printer.data(format!(
        "wrote {} figures (PNG and SVG) into {}",
        figures.len(),
        args.out.display()
    ));
    Ok(())
}
