//! Decomposing a checkpoint's output directions into a results directory.
//!
//! A run is planned (the model read, directions and basis resolved, k, method, route and
//! chunk size decided, the job's identity digested from everything that determines its
//! results) and then streamed into the directory chunk by chunk. Runs are resumable: a run
//! that is killed leaves its finished chunks, and the same job started again continues from
//! them; with [`ResumeMode::SkipComplete`] results already complete for the job are kept.

mod options;
mod plan;
mod report;
mod run;

use std::path::Path;

use bilens_decomp::{Precision, Real};
use bilens_io::{Element, LayoutSpec, Vocab};

pub use options::{DecomposeOptions, ResumeMode};
pub use report::{DecomposeReport, RunStatus};

use crate::checkpoint::{Checkpoint, ModelFile};
use crate::error::Result;
use crate::progress::Progress;

/// Decomposes the output directions of `checkpoint` that `options` names into the results
/// directory `out` (`decomposition.safetensors` + `summary.json`, see [`bilens_io::names`]).
///
/// ```
/// # fn main() -> Result<(), bilens::Error> {
/// use bilens::{Checkpoint, DecomposeOptions, Silent};
///
/// let model = Checkpoint::open(bilens::shipped::model()?, &Default::default())?;
/// let out = tempfile::tempdir().unwrap();
/// let report = bilens::decompose(&model, &DecomposeOptions::new().k(8), out.path(), &Silent)?;
/// assert_eq!(report.labels.len(), 10);
/// # Ok(())
/// # }
/// ```
pub fn decompose(
    checkpoint: &Checkpoint,
    options: &DecomposeOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<DecomposeReport> {
    plan::validate(options)?;
    let vocab = options.tokenizer.as_deref().map(Vocab::read).transpose()?;
    match options.precision {
        Precision::F32 => run_in::<f32>(checkpoint, options, vocab.as_ref(), out, progress),
        Precision::F64 => run_in::<f64>(checkpoint, options, vocab.as_ref(), out, progress),
    }
}

/// [`decompose`] on every layer of a layered model (a transformer), one results directory
/// each, `OUT/layer-I`; layers already complete are skipped with
/// [`ResumeMode::SkipComplete`]. `done(layer, dir, report)` is called after each layer.
pub fn decompose_each_layer(
    file: &ModelFile,
    spec: &LayoutSpec,
    options: &DecomposeOptions,
    out: &Path,
    progress: &dyn Progress,
    mut done: impl FnMut(usize, &Path, &DecomposeReport),
) -> Result<()> {
    plan::validate(options)?;
    let layers = file.layers(spec)?;
    progress.note(&format!(
        "{} layers, one results directory each: {}/layer-I",
        layers.len(),
        out.display()
    ));
    for layer in layers {
        let dir = out.join(format!("layer-{layer}"));
        let report = file
            .checkpoint(&crate::checkpoint::with_layer(spec, layer))
            .and_then(|c| decompose(&c, options, &dir, progress))
            .map_err(|e| e.context(format!("layer {layer}")))?;
        done(layer, &dir, &report);
    }
    Ok(())
}

fn run_in<T: Real + Element>(
    checkpoint: &Checkpoint,
    options: &DecomposeOptions,
    vocab: Option<&Vocab>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<DecomposeReport> {
    let plan = plan::Plan::<T>::new(checkpoint, options, vocab, progress)?;
    run::run(&plan, out, progress)
}
