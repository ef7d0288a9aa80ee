//! Per-output decomposition: for each output direction `u`, form `Q(u)` and eigendecompose it.
//!
//! Outputs are independent, so they run in parallel with rayon while each task's kernels stay
//! single-threaded (`Par::Seq`): nesting two levels of threads was measured 3-6x slower.
//! Outputs are processed in chunks and each finished chunk is handed to a sink, so memory is
//! bounded by the chunk size and not by the number of outputs. Per chunk, the big shared
//! products (the hidden coefficients `U P`, the shared-basis combination, the bias terms) are
//! single GEMMs over the chunk, run with the kernels' own parallelism.

use faer::Par;
use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayViewMut3, Axis, s};
use rayon::prelude::*;

use crate::basis::{InputBasis, TopInteractions};
use crate::eigen::{Solver, Spectrum, eigh};
use crate::error::DecompError;
use crate::interaction::{interaction_from_coefficients, linear_terms, upper_triangle_finite};
use crate::layer::BilinearLayer;
use crate::linalg;
use crate::params::{DecomposeParams, Parallelism};
use crate::placement::PlacedBuffer;
use crate::scalar::Real;
use crate::shared::{FORM_GROUP, InteractionBasis, Route};
use crate::symmetric;

/// Outputs handed to the threads together inside a chunk on the direct route.
const BATCH: usize = 128;

/// Bytes of interaction matrices the shared route forms at once (one pass of the basis through
/// memory per batch: larger batches stream it fewer times and make a better GEMM; 1 GiB is 256
/// matrices of d_in = 1024 in f32).
const SHARED_BATCH_BYTES: usize = 1 << 30;

/// Most outputs per shared-route batch (beyond this the GEMM gains nothing).
const SHARED_BATCH_MAX: usize = 512;

/// The decomposition of a set of output directions.
///
/// Row `o` of every array belongs to output `o` (row `o` of the outputs matrix). Vectors live
/// in the layer's input space (`d_in`), or in feature space (`n_features`) with a basis.
#[derive(Clone, Debug)]
pub struct Decomposition<T> {
    /// Kept eigenvalues `[n_out, k]`, in the requested order.
    pub eigenvalues: Array2<T>,
    /// Kept eigenvectors `[n_out, k, width]` (each `[k, width]` slab holds one output's
    /// eigenvectors as rows, sign-fixed), or `None` when not requested.
    pub eigenvectors: Option<Array3<T>>,
    /// `‖Q(u)‖_F² = Σ λ²` over the whole spectrum, per output `[n_out]`.
    pub norm_sq: Array1<f64>,
    /// `Σ |λ|` over the whole spectrum per output `[n_out]`, when every eigenvalue was computed.
    pub abs_sum: Option<Array1<f64>>,
    /// The solver that produced each output's spectrum `[n_out]`.
    pub solvers: Vec<Solver>,
    /// With biases, the linear term `q` of each output (`uᵀy = xᵀQx + 2qᵀx + q0`), rows
    /// `[n_out, width]` (in feature space `Dᵀq` with a basis).
    pub linear_terms: Option<Array2<T>>,
    /// With biases, the constant `q0` of each output `[n_out]`.
    pub constants: Option<Array1<T>>,
    /// With a basis and `interactions > 0`, each output's largest self and cross interactions.
    pub interactions: Option<Vec<TopInteractions<T>>>,
}

/// What one output's task produces.
struct OutputResult<T> {
    spectrum: Spectrum<T>,
    interactions: Option<TopInteractions<T>>,
}

impl<T: Real> Decomposition<T> {
    /// Number of output directions.
    pub fn n_outputs(&self) -> usize {
        self.eigenvalues.nrows()
    }

    /// Number of kept components per output.
    pub fn k(&self) -> usize {
        self.eigenvalues.ncols()
    }

    fn from_results(results: Vec<OutputResult<T>>, k: usize, width: usize, vectors: bool) -> Self {
        let n = results.len();
        let mut eigenvalues = Array2::zeros((n, k));
        let mut eigenvectors = vectors.then(|| Array3::zeros((n, k, width)));
        let mut norm_sq = Array1::zeros(n);
        let all_sums = results.iter().all(|r| r.spectrum.abs_sum.is_some());
        let mut abs_sum = all_sums.then(|| Array1::zeros(n));
        let solvers = results.iter().map(|r| r.spectrum.solver).collect();
        let mut interactions = Vec::new();
        for (o, r) in results.into_iter().enumerate() {
            let sp = r.spectrum;
            eigenvalues.row_mut(o).assign(&sp.values);
            if let (Some(all), Some(v)) = (eigenvectors.as_mut(), sp.vectors.as_ref()) {
                all.index_axis_mut(Axis(0), o).assign(v);
            }
            norm_sq[o] = sp.norm_sq;
            if let (Some(a), Some(s)) = (abs_sum.as_mut(), sp.abs_sum) {
                a[o] = s;
            }
            interactions.extend(r.interactions);
        }
        Self {
            eigenvalues,
            eigenvectors,
            norm_sq,
            abs_sum,
            solvers,
            linear_terms: None,
            constants: None,
            interactions: (!interactions.is_empty() && interactions.len() == n)
                .then_some(interactions),
        }
    }

    /// Concatenates chunk results along the output axis.
    fn concat(parts: Vec<Self>) -> Self {
        fn cat<A: Clone, D: ndarray::RemoveAxis>(
            views: Option<Vec<ndarray::ArrayView<'_, A, D>>>,
        ) -> Option<ndarray::Array<A, D>> {
            views.map(|v| {
                ndarray::concatenate(Axis(0), &v).expect("chunks share their trailing shape")
            })
        }
        let all =
            |f: fn(&Self) -> ndarray::ArrayView2<'_, T>| parts.iter().map(f).collect::<Vec<_>>();
        Self {
            eigenvalues: cat(Some(all(|p| p.eigenvalues.view()))).expect("present"),
            eigenvectors: cat(parts
                .iter()
                .map(|p| p.eigenvectors.as_ref().map(|v| v.view()))
                .collect()),
            norm_sq: cat(Some(parts.iter().map(|p| p.norm_sq.view()).collect())).expect("present"),
            abs_sum: cat(parts
                .iter()
                .map(|p| p.abs_sum.as_ref().map(|a| a.view()))
                .collect()),
            solvers: parts
                .iter()
                .flat_map(|p| p.solvers.iter().copied())
                .collect(),
            linear_terms: cat(parts
                .iter()
                .map(|p| p.linear_terms.as_ref().map(|a| a.view()))
                .collect()),
            constants: cat(parts
                .iter()
                .map(|p| p.constants.as_ref().map(|a| a.view()))
                .collect()),
            interactions: parts
                .iter()
                .map(|p| p.interactions.clone())
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat()),
        }
    }
}

/// Decomposes every output direction (rows of `outputs`, `[n_out, d_out]`) and returns all
/// results at once. For many outputs prefer [`decompose_chunked`], whose memory is bounded.
pub fn decompose<T: Real>(
    layer: &BilinearLayer<T>,
    outputs: ArrayView2<'_, T>,
    basis: Option<&InputBasis<T>>,
    params: &DecomposeParams,
) -> Result<Decomposition<T>, DecompError> {
    let mut parts = Vec::new();
    decompose_chunked(layer, outputs, basis, params, |_, part| {
        parts.push(part);
        Ok::<(), DecompError>(())
    })?;
    if parts.is_empty() {
        let (d, k) = result_dims(layer, basis, params);
        return Ok(Decomposition::from_results(
            Vec::new(),
            k,
            d,
            params.eigenvectors,
        ));
    }
    Ok(Decomposition::concat(parts))
}

/// The eigenvector width and the number of kept components: `d_in` (or the basis's feature
/// count) and `k` capped at what the matrix can have.
pub fn result_dims<T: Real>(
    layer: &BilinearLayer<T>,
    basis: Option<&InputBasis<T>>,
    params: &DecomposeParams,
) -> (usize, usize) {
    let (d, max_k) = match basis {
        Some(b) => (b.n_features(), b.max_components()),
        None => (layer.d_in(), layer.d_in()),
    };
    (d, params.k.unwrap_or(max_k).min(max_k))
}

/// Decomposes the output directions chunk by chunk, calling `sink(first_output, chunk)` for
/// each finished chunk in order, and returns the route used. With [`Parallelism::AcrossOutputs`]
/// the sink runs on a pool thread while the next chunk is computed. Peak memory is that of two
/// chunks (the one being delivered and the one being computed), one `d_in x d_in` matrix and
/// one `d_hidden x d_in` scratch per thread, and, when the shared route is taken, the shared
/// basis and one batch of formed matrices (at most 1 GiB).
///
/// With a `basis` (`D: [d_in, n_features]`), each output's matrix is `sym(Dᵀ Q D)` and the
/// eigenvectors live in feature space (see [`InputBasis`]).
pub fn decompose_chunked<T: Real, E: From<DecompError> + Send>(
    layer: &BilinearLayer<T>,
    outputs: ArrayView2<'_, T>,
    basis: Option<&InputBasis<T>>,
    params: &DecomposeParams,
    sink: impl FnMut(usize, Decomposition<T>) -> Result<(), E> + Send,
) -> Result<Route, E> {
    decompose_chunked_until(layer, outputs, basis, params, &|| false, sink)
}

/// [`decompose_chunked`] that asks `stop()` before each output's eigendecomposition (and
/// between the tiles of a shared basis) and returns [`DecompError::Stopped`] as soon as it
/// says so: the chunk being computed is dropped
/// (the sink has every chunk before it), and a caller waits for at most one output per thread,
/// not for a whole chunk (a chunk of 128 Lanczos solves is seconds; one solve is milliseconds
/// to a tenth of a second).
pub fn decompose_chunked_until<T: Real, E: From<DecompError> + Send>(
    layer: &BilinearLayer<T>,
    outputs: ArrayView2<'_, T>,
    basis: Option<&InputBasis<T>>,
    params: &DecomposeParams,
    stop: &(dyn Fn() -> bool + Sync),
    mut sink: impl FnMut(usize, Decomposition<T>) -> Result<(), E> + Send,
) -> Result<Route, E> {
    assert_eq!(
        outputs.ncols(),
        layer.d_out(),
        "outputs must be [n_out, d_out] with d_out = {}",
        layer.d_out()
    );
    assert!(params.chunk_size > 0, "chunk_size must be positive");
    if let Some(b) = basis {
        assert_eq!(
            b.d_in(),
            layer.d_in(),
            "the basis must map into the layer's d_in"
        );
    }
    let d = layer.d_in();
    let (width, k) = result_dims(layer, basis, params);
    let n = outputs.nrows();
    let big = params.parallelism.kernels();
    let route = params.route.resolve(layer, n, params.memory_budget);
    let shared = match route {
        Route::SharedBasis => {
            Some(InteractionBasis::new_until(layer, big, stop).ok_or(DecompError::Stopped)?)
        }
        _ => None,
    };
    let params = DecomposeParams {
        k: Some(k),
        ..*params
    };
    // The shared route forms a batch of full matrices at once into one reused buffer; the
    // direct route needs a [d_hidden, d_in] scratch and a [d_in, d_in] matrix per thread.
    let batch = match shared {
        Some(_) => (SHARED_BATCH_BYTES / (d * d * std::mem::size_of::<T>()))
            .clamp(1, SHARED_BATCH_MAX)
            .min(params.chunk_size)
            .min(n.max(1)),
        None => BATCH,
    };
    // On a page boundary, so that every matrix of the batch starts on a cache line whenever
    // d² numbers are whole lines (d = 1024: each on a page), as Lanczos's products want it
    // (otherwise it copies the matrix there; see `placement`).
    let mut formed = shared
        .as_ref()
        .map(|_| PlacedBuffer::<T>::zeros(batch * d * d, 0));
    let params = &params;
    let mut compute = |start: usize, end: usize| -> Result<Computed<T>, DecompError> {
        let chunk = outputs.slice(s![start..end, ..]);
        // c = Pᵀu for the whole chunk in one GEMM: [n_chunk, d_out] x [d_out, d_hidden]; the
        // shared route only needs it for the bias terms.
        let coeffs =
            (shared.is_none() || layer.has_biases()).then(|| linalg::matmul(chunk, layer.p(), big));
        let mut results = Vec::with_capacity(end - start);
        for b0 in (start..end).step_by(batch) {
            let b1 = (b0 + batch).min(end);
            let batch_results: Result<Vec<_>, DecompError> = match (&shared, formed.as_mut()) {
                (Some(interaction), Some(formed)) => {
                    // Each group of FORM_GROUP outputs is formed on one thread (sequential
                    // GEMMs) and its matrices solved straight after, the other threads stealing
                    // those solves: no barrier between formation and the eigensolvers, and the
                    // threads stay busy while one of them forms.
                    let group =
                        |(g, (mut qs, us)): (usize, (ArrayViewMut3<'_, T>, ArrayView2<'_, T>))| {
                            // Formation writes what the solvers read on one thread (`eigh`);
                            // the input-basis projection reads whole matrices.
                            interaction.form_into(us, qs.view_mut(), Par::Seq);
                            if basis.is_some() {
                                qs.outer_iter_mut().for_each(symmetric::mirror_upper);
                            }
                            let first = b0 + g * FORM_GROUP;
                            let one = |(i, q): (usize, ArrayView2<'_, T>)| {
                                if stop() {
                                    return Err(DecompError::Stopped);
                                }
                                if !upper_triangle_finite(q.view()) {
                                    return Err(DecompError::NonFinite { output: first + i });
                                }
                                solve_one(q, basis, params)
                            };
                            match params.parallelism {
                                Parallelism::AcrossOutputs => qs
                                    .outer_iter()
                                    .into_par_iter()
                                    .enumerate()
                                    .map(one)
                                    .collect::<Result<Vec<_>, _>>(),
                                Parallelism::Sequential => {
                                    qs.outer_iter().enumerate().map(one).collect()
                                }
                            }
                        };
                    let qs = ArrayViewMut3::from_shape(
                        (b1 - b0, d, d),
                        &mut formed.as_mut_slice()[..(b1 - b0) * d * d],
                    )
                    .expect("the batch buffer holds a batch")
                    .into_axis_chunks_iter_mut(Axis(0), FORM_GROUP);
                    let us = outputs
                        .slice(s![b0..b1, ..])
                        .into_axis_chunks_iter(Axis(0), FORM_GROUP);
                    let formed: Result<Vec<_>, _> = match params.parallelism {
                        Parallelism::AcrossOutputs => {
                            qs.into_par_iter().zip(us).enumerate().map(group).collect()
                        }
                        Parallelism::Sequential => qs.zip(us).enumerate().map(group).collect(),
                    };
                    formed.map(|g| g.into_iter().flatten().collect())
                }
                _ => {
                    let coeffs = coeffs.as_ref().expect("computed for the direct route");
                    let init = || {
                        (
                            Array2::<T>::zeros((layer.d_hidden(), d)),
                            Array2::<T>::zeros((d, d)),
                        )
                    };
                    let one = |o: usize, scratch: &mut (Array2<T>, Array2<T>)| {
                        if stop() {
                            return Err(DecompError::Stopped);
                        }
                        let (buf, q) = scratch;
                        interaction_from_coefficients(
                            layer,
                            coeffs.row(o - start),
                            buf,
                            q.view_mut(),
                            Par::Seq,
                        );
                        if !upper_triangle_finite(q.view()) {
                            return Err(DecompError::NonFinite { output: o });
                        }
                        solve_one(q.view(), basis, params)
                    };
                    match params.parallelism {
                        Parallelism::AcrossOutputs => (b0..b1)
                            .into_par_iter()
                            .map_init(init, |scratch, o| one(o, scratch))
                            .collect(),
                        Parallelism::Sequential => {
                            let mut scratch = init();
                            (b0..b1).map(|o| one(o, &mut scratch)).collect()
                        }
                    }
                }
            };
            results.extend(batch_results?);
        }
        let terms = layer.has_biases().then(|| {
            let coeffs = coeffs.as_ref().expect("computed when the layer has biases");
            let (q, q0) = linear_terms(layer, coeffs.view(), big);
            let q = match basis {
                Some(b) => linalg::matmul(q.view(), b.decoder(), big),
                None => q,
            };
            (q, q0)
        });
        Ok(Computed {
            start,
            results,
            terms,
        })
    };
    // Assembling a chunk's arrays and the sink's work (writing it, for the command line) are
    // serial: ~2 s per 1024 outputs of d_in 1024 on a 2-vCPU VM, most of it first touches of
    // fresh pages, during which the other threads would idle (measured: 10% of the headline
    // run). Across outputs, chunk i is therefore delivered while chunk i + 1 is computed, the
    // rayon pool sharing its threads between the two.
    let mut deliver = |done: Computed<T>| -> Result<(), E> {
        let mut part = Decomposition::from_results(done.results, k, width, params.eigenvectors);
        if let Some((q, q0)) = done.terms {
            part.linear_terms = Some(q);
            part.constants = Some(q0);
        }
        sink(done.start, part)
    };
    let mut pending = None;
    for start in (0..n).step_by(params.chunk_size) {
        let end = (start + params.chunk_size).min(n);
        let previous = pending.take();
        let computed = match params.parallelism {
            Parallelism::AcrossOutputs => {
                let (computed, delivered) = rayon::join(
                    || compute(start, end),
                    || previous.map(&mut deliver).transpose(),
                );
                // A sink's error comes first: it happened to the earlier chunk.
                delivered?;
                computed
            }
            Parallelism::Sequential => {
                previous.map(&mut deliver).transpose()?;
                compute(start, end)
            }
        };
        pending = Some(computed?);
    }
    pending.map(&mut deliver).transpose()?;
    Ok(route)
}

/// A chunk's results as its tasks return them, before they are assembled into a
/// [`Decomposition`]; with biases, the chunk's linear terms and constants.
struct Computed<T> {
    start: usize,
    results: Vec<OutputResult<T>>,
    terms: Option<(Array2<T>, Array1<T>)>,
}

/// One output's spectrum (in feature space with a basis) and, when asked, its top
/// interactions.
fn solve_one<T: Real>(
    q: ArrayView2<'_, T>,
    basis: Option<&InputBasis<T>>,
    params: &DecomposeParams,
) -> Result<OutputResult<T>, DecompError> {
    let (order, vectors, method) = (params.order, params.eigenvectors, params.method);
    Ok(match basis {
        None => OutputResult {
            spectrum: eigh(
                q,
                params.k,
                order,
                vectors,
                method,
                &params.lanczos,
                Par::Seq,
            )?,
            interactions: None,
        },
        Some(b) => OutputResult {
            spectrum: b.eigen(q, params, Par::Seq)?,
            interactions: (params.interactions > 0)
                .then(|| b.top_interactions(q, params.interactions, Par::Seq)),
        },
    })
}
