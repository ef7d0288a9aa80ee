//! What a finished decomposition run reports.

use std::time::Duration;

use bilens_decomp::{Method, Route};
use bilens_io::HosvdSummary;

/// How a run went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Every output computed in this run.
    Computed,
    /// An interrupted run continued: this many outputs came from it.
    Resumed(usize),
    /// The results were already complete for this job; nothing was computed.
    AlreadyComplete,
}

/// What a finished decomposition reports.
#[derive(Clone, Debug)]
pub struct DecomposeReport {
    /// Output labels, in order.
    pub labels: Vec<String>,
    /// The first four kept eigenvalues of each of the first 64 outputs.
    pub top: Vec<Vec<f64>>,
    /// The method the solver rule chose.
    pub method: Method,
    /// How the interaction matrices were formed.
    pub route: Route,
    /// Outputs on which Lanczos fell back to the full solver.
    pub fallbacks: usize,
    /// The HOSVD singular values and the fraction of the tensor they hold, for a HOSVD run.
    pub hosvd: Option<HosvdSummary>,
    /// Time spent loading the model and the directions.
    pub load_time: Duration,
    /// Time spent decomposing and writing.
    pub decompose_time: Duration,
    /// Whether the run was fresh, resumed, or had nothing to do.
    pub status: RunStatus,
}
