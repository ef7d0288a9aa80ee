//! Running a planned decomposition into a results directory: resumed where an interrupted run
//! of the same job stopped, streamed chunk by chunk, reported through a [`Progress`].

use std::path::Path;
use std::time::{Duration, Instant};

use bilens_decomp::{BilinearModel, Decomposition, Par, Real, decompose_chunked_until};
use bilens_io::{
    DecompositionChunk, Element, HosvdSummary, OutputSummary, ResultsFile, ResultsWriter,
    ResumeState, discard_resume_state, job_id,
};
use ndarray::{Array2, Array3, s};

use super::options::ResumeMode;
use super::plan::Plan;
use super::report::{DecomposeReport, RunStatus};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Runs `plan` into `out`.
pub(super) fn run<T: Real + Element>(
    plan: &Plan<'_, T>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<DecomposeReport> {
    let description = plan.run_description();
    let run_id = format!("job-{}", job_id(&description));
    // A shard's outputs are rows `offset..` of the job's directions and rows `0..` of its
    // results.
    let offset = plan.slice.start;
    let labels = &plan.directions.labels[plan.slice.clone()];
    let report = |top, fallbacks, status, decompose_time| DecomposeReport {
        labels: labels.to_vec(),
        top,
        method: plan.method,
        route: plan.route(),
        fallbacks,
        hosvd: plan.hosvd.as_ref().map(HosvdSummary::new),
        load_time: plan.load_time,
        decompose_time,
        status,
    };
    match plan.options.resume {
        ResumeMode::SkipComplete => {
            if let Some(done) = ResultsFile::open(out).ok().filter(|r| r.run_id() == run_id) {
                let top = leading(done.summary().outputs.iter());
                let fallbacks = done.meta().lanczos_fallbacks.unwrap_or(0) as usize;
                return Ok(report(
                    top,
                    fallbacks,
                    RunStatus::AlreadyComplete,
                    Duration::ZERO,
                ));
            }
        }
        ResumeMode::Restart => discard_resume_state(out)?,
        ResumeMode::Continue => {}
    }

    let contents = plan.contents();
    let globals = plan
        .hosvd
        .as_ref()
        .map(ResultsWriter::<T>::hosvd_globals)
        .unwrap_or_default();
    let (mut writer, state) = ResultsWriter::<T>::create_resumable(
        out,
        plan.shape(),
        &plan.meta(),
        &contents.extras::<T>(plan.width),
        &globals,
        &description,
    )?;
    let status = match &state {
        ResumeState::Resumed { outputs, .. } => RunStatus::Resumed(*outputs),
        ResumeState::Discarded { reason } => {
            progress.note(&format!(
                "note: {} held an interrupted run of another job, discarded ({reason}); \
                 starting over",
                out.display()
            ));
            RunStatus::Computed
        }
        ResumeState::Fresh => RunStatus::Computed,
    };
    let n = plan.slice.len();
    let task = progress.task(
        if plan.hosvd.is_some() {
            "hosvd"
        } else {
            "decompose"
        },
        n as u64,
    );
    let pending: usize = writer.pending().iter().map(|r| r.len()).sum();
    task.skip((n - pending) as u64);
    let start = Instant::now();
    for range in writer.pending() {
        decompose_chunked_until(
            plan.model.layer(),
            plan.directions
                .matrix
                .slice(s![offset + range.start..offset + range.end, ..]),
            plan.basis.as_ref(),
            &plan.params,
            &|| progress.should_stop(),
            |local, mut part: Decomposition<T>| {
                let first = range.start + local;
                let c = part.n_outputs();
                let mapped = match plan.d_input {
                    Some(_) => input_space(&plan.model, &mut part),
                    None => None,
                };
                let component_tokens = match (&plan.labeller, &part.eigenvectors) {
                    (Some(l), Some(v)) => {
                        Some(l.label(part.eigenvalues.view(), v.view(), plan.basis.as_ref()))
                    }
                    _ => None,
                };
                writer.write_decomposition(DecompositionChunk {
                    first,
                    decomposition: &part,
                    outputs: plan
                        .directions
                        .matrix
                        .slice(s![offset + first..offset + first + c, ..]),
                    input_eigenvectors: mapped.as_ref().map(|m| m.view()),
                    labels: &labels[first..first + c],
                    component_tokens: component_tokens.as_deref(),
                })?;
                task.advance(c as u64);
                if progress.should_stop() {
                    // The chunk is on disk and logged: the same call resumes after it.
                    return Err(Error::Interrupted);
                }
                Ok::<(), Error>(())
            },
        )?;
    }
    let top = leading(writer.summaries());
    let fallbacks = writer.lanczos_fallbacks() as usize;
    if let Some(h) = &plan.hosvd {
        writer.write_hosvd(h)?;
    }
    writer.finish()?;
    drop(task);
    Ok(report(top, fallbacks, status, start.elapsed()))
}

/// The first outputs' leading eigenvalues, for the printed report.
fn leading<'a>(summaries: impl Iterator<Item = &'a OutputSummary>) -> Vec<Vec<f64>> {
    summaries
        .take(64)
        .map(|s| s.top_eigenvalues.iter().take(4).copied().collect())
        .collect()
}

/// Each output's eigenvectors mapped to the model input through the embedding,
/// `[n, k, d_input]`, by one GEMM, with signs fixed in input space (see
/// [`BilinearModel::map_components`]); `None` without an embedding or eigenvectors.
fn input_space<T: Real>(
    model: &BilinearModel<T>,
    part: &mut Decomposition<T>,
) -> Option<Array3<T>> {
    let vecs = part.eigenvectors.as_mut()?;
    let (n, k, d) = vecs.dim();
    let flat = vecs.view_mut().into_shape_with_order((n * k, d)).ok()?;
    let mapped: Array2<T> = model.map_components(flat, Par::rayon(0))?;
    let d_input = mapped.ncols();
    mapped.into_shape_with_order((n, k, d_input)).ok()
}
