//! What to compute for each output direction, shared by the per-output decomposition and the
//! feature-basis route.

use faer::Par;

use crate::eigen::{Method, Order};
use crate::lanczos::LanczosParams;
use crate::shared::Route;

/// How independent outputs are spread over threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// Rayon across outputs (global pool), single-threaded kernels inside each task.
    #[default]
    AcrossOutputs,
    /// Everything on the calling thread.
    Sequential,
}

impl Parallelism {
    /// The kernel parallelism for one large shared product of a chunk.
    pub(crate) fn kernels(self) -> Par {
        match self {
            Parallelism::AcrossOutputs => Par::rayon(0),
            Parallelism::Sequential => Par::Seq,
        }
    }
}

/// What to compute for each output direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecomposeParams {
    /// Number of components kept per output; `None` keeps all.
    pub k: Option<usize>,
    /// Order of the kept components.
    pub order: Order,
    /// Whether to compute eigenvectors (spectra alone are several times cheaper).
    pub eigenvectors: bool,
    /// Eigensolver.
    pub method: Method,
    /// Lanczos tuning (used when the method resolves to Lanczos).
    pub lanczos: LanczosParams,
    /// How each `Q(u)` is formed.
    pub route: Route,
    /// Bytes the shared-basis route may use for its basis (see [`Route::resolve`]).
    pub memory_budget: usize,
    /// With a feature basis, how many of the largest self and cross interactions to report per
    /// output (0: none; the scan costs `2 n_features² d_in` flops per output).
    pub interactions: usize,
    /// Thread layout.
    pub parallelism: Parallelism,
    /// Outputs per chunk handed to the sink.
    pub chunk_size: usize,
}

impl Default for DecomposeParams {
    fn default() -> Self {
        Self {
            k: None,
            order: Order::AbsDescending,
            eigenvectors: true,
            method: Method::Auto,
            lanczos: LanczosParams::default(),
            route: Route::Auto,
            memory_budget: 4 << 30,
            interactions: 0,
            parallelism: Parallelism::AcrossOutputs,
            chunk_size: 64,
        }
    }
}
