//! The main job end to end on the shipped MNIST model: decompose every class into a results
//! directory, draw the figures, write the explorer and measure the model's test accuracy.
//! `bilens demo` prints the [`DemoReport`]; other front ends can show it their own way.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bilens_io::load_image_dataset;

use crate::{
    DecomposeOptions, DecomposeReport, FigureOptions, LayoutSpec, ModelFile, Progress, Result,
    ResultsFile, ResumeMode, SiteReport,
};

/// What the demo runs on; `None` means the shipped model and dataset.
#[derive(Clone, Debug, Default)]
pub struct DemoOptions {
    /// The model file (default: the shipped MNIST model, [`crate::shipped::model`]).
    pub model: Option<PathBuf>,
    /// For a PyTorch checkpoint: the entry holding the state dict, when not the automatic
    /// choice ([`crate::ModelFile::open_key`]).
    pub key: Option<String>,
    /// The MNIST directory for the test accuracy (default: [`crate::shipped::mnist`]).
    pub data: Option<PathBuf>,
}

/// Where the demo wrote everything, and what it found.
#[derive(Debug)]
pub struct DemoReport {
    /// The model decomposed.
    pub model: PathBuf,
    /// The results directory (`OUT/results`).
    pub results: PathBuf,
    /// The figures written (PNG files; each has an SVG twin), in `OUT/figures`.
    pub figures: Vec<PathBuf>,
    /// The figures directory.
    pub figures_dir: PathBuf,
    /// The explorer's site (`OUT/explorer`).
    pub explorer: SiteReport,
    /// The decomposition's own report (labels, top eigenvalues, times).
    pub decomposition: DecomposeReport,
    /// Test accuracy in percent, or why there is none (the dataset could not be read): the
    /// demo's main job does not need the dataset, so its absence is a note, not an error.
    pub accuracy: std::result::Result<f64, String>,
    /// Wall time of the whole demo.
    pub elapsed: Duration,
}

/// Runs the demo into `out` (`results/`, `figures/`, `explorer/`), resuming a finished or
/// interrupted earlier run in the same directory.
pub fn demo(options: &DemoOptions, out: &Path, progress: &dyn Progress) -> Result<DemoReport> {
    let start = Instant::now();
    let model = match &options.model {
        Some(m) => m.clone(),
        None => crate::shipped::model()?,
    };
    let results_dir = out.join("results");
    let figures_dir = out.join("figures");
    progress.note(&format!("decomposing {}", model.display()));
    let checkpoint =
        ModelFile::open_key(&model, options.key.as_deref())?.checkpoint(&LayoutSpec::default())?;
    let decompose = DecomposeOptions::new().resume(ResumeMode::Continue);
    let decomposition = crate::decompose(&checkpoint, &decompose, &results_dir, progress)?;

    progress.note(&format!("drawing figures into {}", figures_dir.display()));
    let results = ResultsFile::open(&results_dir)?;
    let figures = crate::draw_results(&results, &figures_dir, &FigureOptions::default(), progress)?;

    let site = out.join("explorer");
    progress.note(&format!("writing the explorer into {}", site.display()));
    let explorer = crate::explore(&results_dir, &site, &Default::default(), progress)?;

    let data = match &options.data {
        Some(d) => Ok(d.clone()),
        None => crate::shipped::mnist(),
    };
    let accuracy = match data.map(|d| (load_image_dataset(&d), d)) {
        Ok((Ok(set), dir)) => {
            let m = checkpoint.model::<f32>()?;
            Ok(100.0 * crate::eval::Accuracy::of(&m, &set.test, &dir)?.fraction())
        }
        Ok((Err(e), _)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    Ok(DemoReport {
        model,
        results: results_dir,
        figures,
        figures_dir,
        explorer,
        decomposition,
        accuracy,
        elapsed: start.elapsed(),
    })
}
