//! What makes a decomposition run resumable: the description of its job (everything that
//! determines the results, digested into the run's identity), and the test hook that kills a
//! run part way.
//!
//! The description holds the model file's size, modification time and header digest (not its
//! weights: reading a checkpoint larger than memory whole to hash it would defeat memory
//! mapping), the layout and layer, digests of the output directions and of the feature basis
//! as loaded (so a changed SAE file is a different job), the solver settings as resolved, the
//! precision, the tokenizer file and the bilens version. Chunk sizes and thread counts are not
//! part of it: each output's result does not depend on them.

use std::path::Path;

use bilens_decomp::{InputBasis, Method, Real, Route};
use bilens_io::resume::{PARTIAL_FILE, RESUME_FILE, array_digest, file_fingerprint, job_id};
use bilens_io::{Element, ModelInfo, ResultsFile};
use ndarray::ArrayView2;

use super::decompose::Job;

/// Environment variable that aborts a run (as a kill would) once this many chunks of it are
/// written and logged: how the kill-and-resume tests interrupt a run at a known point.
pub const ABORT_AFTER_CHUNKS: &str = "BILENS_TEST_ABORT_AFTER_CHUNKS";

/// The resolved settings a job description records besides the [`Job`] itself.
pub struct Resolved<'a, T> {
    /// The model as loaded.
    pub info: &'a ModelInfo,
    /// The output directions as resolved.
    pub directions: ArrayView2<'a, T>,
    /// The feature basis as loaded.
    pub basis: Option<&'a InputBasis<T>>,
    /// Components kept.
    pub k: usize,
    /// The solver the rule chose.
    pub method: Method,
    /// How the interaction matrices are formed.
    pub route: Route,
    /// Interactions reported per output.
    pub interactions: usize,
}

/// The JSON description of a job (see the module documentation).
pub fn describe<T: Real + Element>(
    job: &Job,
    r: &Resolved<'_, T>,
) -> anyhow::Result<serde_json::Value> {
    let tokenizer = job.tokenizer.as_deref().map(file_fingerprint).transpose()?;
    Ok(serde_json::json!({
        "command": match job.hosvd {
            Some(s) => format!("hosvd {s}"),
            None => "decompose".to_string(),
        },
        "model": file_fingerprint(&job.model)?,
        "layout": format!("{:?}", job.layout),
        "resolved_layout": r.info.layout.name(),
        "layer": r.info.layer.as_ref().map(|l| l.index),
        "outputs": job.outputs,
        "rows": job.rows,
        "directions": array_digest(r.directions.into_dyn()),
        "basis": job.basis.as_ref().map(|(p, t)| format!("{}:{t}", p.display())),
        "basis_digest": r.basis.map(|b| array_digest(b.decoder().into_dyn())),
        "k": r.k,
        "order": job.params.order.name(),
        "method": r.method.name(),
        "route": r.route.name(),
        "eigenvectors": job.params.eigenvectors,
        "interactions": r.interactions,
        "precision": <T as Real>::DTYPE,
        "tokenizer": tokenizer,
        "bilens_version": env!("CARGO_PKG_VERSION"),
    }))
}

/// The `run_id` a finished run of this job carries.
pub fn run_id(description: &serde_json::Value) -> String {
    format!("job-{}", job_id(description))
}

/// Whether `out` already holds the complete results of the job with this `run_id`.
pub fn complete(out: &Path, run_id: &str) -> Option<ResultsFile> {
    let r = ResultsFile::open(out).ok()?;
    (r.run_id() == Some(run_id)).then_some(r)
}

/// Deletes an interrupted run's state in `out` (for `--restart`).
pub fn discard_state(out: &Path) -> anyhow::Result<()> {
    for name in [PARTIAL_FILE, RESUME_FILE] {
        match std::fs::remove_file(out.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot remove {}", out.join(name).display())));
            }
        }
    }
    Ok(())
}

/// The chunk count after which [`ABORT_AFTER_CHUNKS`] aborts, if set.
pub fn abort_after() -> Option<usize> {
    std::env::var(ABORT_AFTER_CHUNKS).ok()?.parse().ok()
}
