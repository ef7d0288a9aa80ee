//! `bilens demo`: decompose the shipped MNIST model, draw its components, and say where
//! everything went. The main job, end to end, on data in the repository.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bilens_io::{LayoutSpec, ResultsFile, load_image_dataset, load_model};

use super::decompose::{Job, run_job};
use crate::args::DemoArgs;
use crate::error::BadInput;
use crate::printer::Printer;

/// The shipped model and data, relative to the repository root.
const MODEL: &str = "data/models/mnist-bilinear/model.safetensors";
const DATA: &str = "data/mnist";

/// `path` relative to the working directory if it exists there, else relative to the
/// repository this binary was built from (so the demo also runs from elsewhere).
fn shipped(path: &str) -> PathBuf {
    let here = PathBuf::from(path);
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn run(args: &DemoArgs, printer: &Printer) -> anyhow::Result<()> {
    let start = Instant::now();
    let model = args.model.clone().unwrap_or_else(|| shipped(MODEL));
    if !model.exists() {
        return Err(BadInput::new(
            format!("the model {} does not exist", model.display()),
            "run the demo from the repository root, or pass --model PATH",
        )
        .into());
    }
    let results_dir = args.out.join("results");
    let figures_dir = args.out.join("figures");
    let job = Job::new(&model, &results_dir);
    printer.note(format!("decomposing {}", model.display()));
    let report = run_job::<f32>(&job, printer)?;

    printer.note(format!("drawing figures into {}", figures_dir.display()));
    let results = ResultsFile::open(&results_dir)?;
    let figures = super::plot::plot_results(&results, &figures_dir, 6, printer)?;

    let data = args.data.clone().unwrap_or_else(|| shipped(DATA));
    let accuracy = match load_image_dataset(&data) {
        Ok(d) => {
            let m = load_model::<f32>(&model, &LayoutSpec::default())?;
            let correct = super::eval::correct_predictions(&m.model, &d.test)?;
            Some(100.0 * correct as f64 / d.test.len() as f64)
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
