//! `bilens demo`: decompose the shipped MNIST model, draw its components, and say where
//! everything went. The main job, end to end, on data in the repository.

use std::time::Instant;

use bilens::{Checkpoint, DecomposeOptions, FigureOptions, LayoutSpec, ResultsFile};
use bilens_io::load_image_dataset;

use crate::args::DemoArgs;
use crate::printer::Printer;

pub fn run(args: &DemoArgs, printer: &Printer) -> anyhow::Result<()> {
    let start = Instant::now();
    let model = match &args.model {
        Some(m) => m.clone(),
        None => bilens::shipped::model()?,
    };
    let results_dir = args.out.join("results");
    let figures_dir = args.out.join("figures");
    printer.note(format!("decomposing {}", model.display()));
    let checkpoint = Checkpoint::open(&model, &LayoutSpec::default())?;
    let options = DecomposeOptions::new().resume(bilens::ResumeMode::Continue);
    let report = bilens::decompose(&checkpoint, &options, &results_dir, printer)?;

    printer.note(format!("drawing figures into {}", figures_dir.display()));
    let results = ResultsFile::open(&results_dir)?;
    let figures = bilens::draw_results(&results, &figures_dir, &FigureOptions::default(), printer)?;

    let site = args.out.join("explorer");
    printer.note(format!("writing the explorer into {}", site.display()));
    let explorer = bilens::explore(&results_dir, &site, &Default::default(), printer)?;

    let data = match &args.data {
        Some(d) => Ok(d.clone()),
        None => bilens::shipped::mnist(),
    };
    let accuracy = match data.map(|d| (load_image_dataset(&d), d)) {
        Ok((Ok(set), dir)) => {
            let m = checkpoint.model::<f32>()?;
            Some(100.0 * bilens::eval::Accuracy::of(&m, &set.test, &dir)?.fraction())
        }
        Ok((Err(e), _)) => {
            printer.note(format!("note: no test accuracy ({e})"));
            None
        }
        Err(e) => {
            printer.note(format!("note: no test accuracy ({e})"));
            None
        }
    };

    printer.data(format!("model:    {}", model.display()));
    if let Some(a) = accuracy {
        printer.data(format!("accuracy: {a:.2}% on the MNIST test images"));
    }
    printer.data(format!(
        "results:  {}/{{decomposition.safetensors, summary.json}}",
        results_dir.display()
    ));
    printer.data(format!(
        "figures:  {} files in {} (PNG and SVG), e.g.",
        2 * figures.len(),
        figures_dir.display()
    ));
    for f in figures.iter().filter(|f| {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name == "overview.png" || name == "eigenvectors_0.png" || name == "spectrum_0.png"
    }) {
        printer.data(format!("          {}", f.display()));
    }
    printer.data(format!(
        "explorer: {} (open it in a browser)",
        explorer.entry.display()
    ));
    printer.data("top eigenvalues per class (by |λ|; positive components raise the logit):");
    let width = report.labels.iter().map(String::len).max().unwrap_or(1);
    for (label, top) in report.labels.iter().zip(&report.top) {
        let values: Vec<String> = top.iter().map(|v| format!("{v:+8.4}")).collect();
        printer.data(format!("  class {label:>width$}  {}", values.join(" ")));
    }
    printer.data(format!(
        "time:     {:.2} s in all (decomposition {:.2} s)",
        start.elapsed().as_secs_f64(),
        report.decompose_time.as_secs_f64()
    ));
    Ok(())
}
