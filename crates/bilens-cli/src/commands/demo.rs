//! `bilens demo`: decompose the shipped MNIST model, draw its components, and say where
//! everything went. The main job, end to end, on data in the repository.

use bilens::DemoOptions;

use crate::args::DemoArgs;
use crate::printer::Printer;

pub fn run(args: &DemoArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = DemoOptions {
        model: args.model.clone(),
        key: args.state_dict.key.clone(),
        data: args.data.clone(),
    };
    let demo = bilens::demo(&options, &args.out, printer)?;
    let report = &demo.decomposition;
    if let Err(why) = &demo.accuracy {
        printer.note(format!("note: no test accuracy ({why})"));
    }

    printer.data(format!("model:    {}", demo.model.display()));
    if let Ok(a) = demo.accuracy {
        printer.data(format!("accuracy: {a:.2}% on the MNIST test images"));
    }
    printer.data(format!(
        "results:  {}/{{decomposition.safetensors, summary.json}}",
        demo.results.display()
    ));
    printer.data(format!(
        "figures:  {} files in {} (PNG and SVG), e.g.",
        2 * demo.figures.len(),
        demo.figures_dir.display()
    ));
    for f in demo.figures.iter().filter(|f| {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name == "overview.png" || name == "eigenvectors_0.png" || name == "spectrum_0.png"
    }) {
        printer.data(format!("          {}", f.display()));
    }
    printer.data(format!(
        "explorer: {} (open it in a browser)",
        demo.explorer.entry.display()
    ));
    printer.data("top eigenvalues per class (by |λ|; positive components raise the logit):");
    let width = report.labels.iter().map(String::len).max().unwrap_or(1);
    for (label, top) in report.labels.iter().zip(&report.top) {
        let values: Vec<String> = top.iter().map(|v| format!("{v:+8.4}")).collect();
        printer.data(format!("  class {label:>width$}  {}", values.join(" ")));
    }
    printer.data(format!(
        "time:     {:.2} s in all (decomposition {:.2} s)",
        demo.elapsed.as_secs_f64(),
        report.decompose_time.as_secs_f64()
    ));
    Ok(())
}
