//! `bilens explore RESULTS --out SITE`: a static web explorer of a results directory, opened
//! from `SITE/index.html` with no server.

use std::time::Instant;

use bilens::{ComponentView, ExploreOptions};

use crate::args::ExploreArgs;
use crate::printer::Printer;

pub fn run(args: &ExploreArgs, printer: &Printer) -> anyhow::Result<()> {
    let start = Instant::now();
    let image_shape = crate::args::image_shape(args.image_shape.as_deref())?;
    let options = ExploreOptions {
        components_per_sign: args.per_sign,
        neighbours: args.neighbours,
        image_shape,
        evaluations: args.evaluations.clone(),
        discover_evaluations: !args.no_discover,
        title: args.title.clone(),
        ..ExploreOptions::default()
    };
    let report = bilens::explore(&args.results, &args.out, &options, printer)?;
    printer.data(format!(
        "wrote the explorer of {} outputs into {} ({} files, {:.1} MB) in {:.2} s",
        report.outputs,
        report.site.display(),
        report.files,
        report.bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    ));
    printer.data(format!(
        "components: {}",
        match report.components {
            ComponentView::Image(s) =>
                format!("pictures of {}×{}×{}", s.channels, s.height, s.width),
            ComponentView::Entries => "largest entries".to_string(),
            ComponentView::SpectraOnly => "none (eigenvalues only)".to_string(),
        }
    ));
    for e in &report.evaluations {
        printer.data(format!("evaluation: {}", e.path.display()));
    }
    for s in &report.skipped {
        printer.note(format!("note: left out {}: {}", s.path.display(), s.reason));
    }
    printer.data(format!("open:       {}", report.entry.display()));
    Ok(())
}
