//! What a decomposition run is asked to do: a plain options value, built field by field or
//! with the chainable setters.

use std::path::PathBuf;

use bilens_decomp::{Method, Order, Precision, Route};
use bilens_io::{OutputSelection, TensorRef};

use crate::shard::Shard;

/// What a run does with what an earlier run left in its results directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResumeMode {
    /// Continue an interrupted run of the same job; recompute results that are complete.
    Continue,
    /// Continue an interrupted run, and keep results already complete for the same job
    /// (nothing to do).
    #[default]
    SkipComplete,
    /// Discard any earlier state and start over.
    Restart,
}

/// A decomposition job: which output directions, how each matrix is solved, what is stored.
///
/// ```
/// use bilens::{DecomposeOptions, Method, OutputSelection};
///
/// let options = DecomposeOptions::new()
///     .outputs("contrast:3-5".parse::<OutputSelection>()?)
///     .k(16)
///     .method(Method::Full);
/// assert_eq!(options.k, Some(16));
/// # Ok::<(), bilens::SpecError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecomposeOptions {
    /// The output directions (default: one per output unit).
    pub outputs: OutputSelection,
    /// A feature basis of the input `D [d_in, n_features]` (e.g. an SAE decoder): each matrix
    /// is decomposed as `Dᵀ Q D` and eigenvectors live in feature space.
    pub basis: Option<TensorRef>,
    /// Components kept per output, in `order` (default: all).
    pub k: Option<usize>,
    /// The order of the kept components.
    pub order: Order,
    /// The eigensolver.
    pub method: Method,
    /// How each interaction matrix is formed.
    pub route: Route,
    /// Spectra and statistics only, no eigenvectors (several times cheaper).
    pub eigenvalues_only: bool,
    /// Working and stored precision.
    pub precision: Precision,
    /// With a basis: the largest self and cross interactions reported per output (default:
    /// 10 for bases of at most 8192 features, else none).
    pub interactions: Option<usize>,
    /// Decompose this many HOSVD components of the interaction tensor restricted to the
    /// outputs, instead of the outputs themselves.
    pub hosvd: Option<usize>,
    /// A Hugging Face `tokenizer.json`: token outputs and components labelled by strings.
    pub tokenizer: Option<PathBuf>,
    /// Outputs per chunk, the unit of streaming and of resuming (default: by memory).
    pub chunk: Option<usize>,
    /// What to do with an earlier run's state.
    pub resume: ResumeMode,
    /// Only this shard's slice of the outputs (see [`crate::shard`]): the results directory
    /// then holds that slice, for [`crate::merge_shards`].
    pub shard: Option<Shard>,
}

impl DecomposeOptions {
    /// The defaults: every output unit, every component, by descending `|λ|`, f32.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`DecomposeOptions::outputs`].
    pub fn outputs(mut self, outputs: OutputSelection) -> Self {
        self.outputs = outputs;
        self
    }

    /// Sets [`DecomposeOptions::basis`].
    pub fn basis(mut self, basis: TensorRef) -> Self {
        self.basis = Some(basis);
        self
    }

    /// Sets [`DecomposeOptions::k`].
    pub fn k(mut self, k: usize) -> Self {
        self.k = Some(k);
        self
    }

    /// Sets [`DecomposeOptions::order`].
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Sets [`DecomposeOptions::method`].
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets [`DecomposeOptions::route`].
    pub fn route(mut self, route: Route) -> Self {
        self.route = route;
        self
    }

    /// Sets [`DecomposeOptions::eigenvalues_only`].
    pub fn eigenvalues_only(mut self, only: bool) -> Self {
        self.eigenvalues_only = only;
        self
    }

    /// Sets [`DecomposeOptions::precision`].
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Sets [`DecomposeOptions::interactions`].
    pub fn interactions(mut self, m: usize) -> Self {
        self.interactions = Some(m);
        self
    }

    /// Sets [`DecomposeOptions::hosvd`].
    pub fn hosvd(mut self, components: usize) -> Self {
        self.hosvd = Some(components);
        self
    }

    /// Sets [`DecomposeOptions::tokenizer`].
    pub fn tokenizer(mut self, path: impl Into<PathBuf>) -> Self {
        self.tokenizer = Some(path.into());
        self
    }

    /// Sets [`DecomposeOptions::chunk`].
    pub fn chunk(mut self, outputs: usize) -> Self {
        self.chunk = Some(outputs);
        self
    }

    /// Sets [`DecomposeOptions::shard`].
    pub fn shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Sets [`DecomposeOptions::resume`].
    pub fn resume(mut self, mode: ResumeMode) -> Self {
        self.resume = mode;
        self
    }
}
