//! Per-output decomposition: for each output direction `u`, form `Q(u)` and eigendecompose it.
//!
//! Outputs are independent, so they run in parallel with rayon while each task's kernels stay
//! single-threaded (`Par::Seq`): nesting two levels of threads was measured 3-6x slower.
//! Outputs are processed in chunks and each finished chunk is handed to a sink, so memory is
//! bounded by the chunk size and not by the number of outputs.

use faer::Par;
use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, s};
use rayon::prelude::*;

use crate::basis::InputBasis;
use crate::eigen::{Method, Order, Solver, Spectrum, eigh};
use crate::error::DecompError;
use crate::interaction::interaction_from_coefficients;
use crate::lanczos::LanczosParams;
use crate::layer::BilinearLayer;
use crate::linalg;
use crate::scalar::Real;

/// How independent outputs are spread over threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// Rayon across outputs (global pool), single-threaded kernels inside each task.
    #[default]
    AcrossOutputs,
    /// Everything on the calling thread.
    Sequential,
}

/// What to compute for each output direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecomposeParams {
    /// Number of components kept per output; `None` keeps all `d_in`.
    pub k: Option<usize>,
    /// Order of the kept components.
    pub order: Order,
    /// Whether to compute eigenvectors (spectra alone are several times cheaper).
    pub eigenvectors: bool,
    /// Eigensolver.
    pub method: Method,
    /// Lanczos tuning (used when the method resolves to Lanczos).
    pub lanczos: LanczosParams,
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
            parallelism: Parallelism::AcrossOutputs,
            chunk_size: 64,
        }
    }
}

/// The decomposition of a set of output directions.
///
/// Row `o` of every array belongs to output `o` (row `o` of the outputs matrix).
#[derive(Clone, Debug)]
pub struct Decomposition<T> {
    /// Kept eigenvalues `[n_out, k]`, in the requested order.
    pub eigenvalues: Array2<T>,
    /// Kept eigenvectors `[n_out, k, d_in]` (each `[k, d_in]` slab holds one output's
    /// eigenvectors as rows, sign-fixed), or `None` when not requested.
    pub eigenvectors: Option<Array3<T>>,
    /// `‖Q(u)‖_F² = Σ λ²` over the whole spectrum, per output `[n_out]`.
    pub norm_sq: Array1<f64>,
    /// `Σ |λ|` over the whole spectrum per output `[n_out]`, when every eigenvalue was computed.
    pub abs_sum: Option<Array1<f64>>,
    /// The solver that produced each output's spectrum `[n_out]`.
    pub solvers: Vec<Solver>,
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

    fn from_spectra(spectra: Vec<Spectrum<T>>, k: usize, d: usize, vectors: bool) -> Self {
        let n = spectra.len();
        let mut eigenvalues = Array2::zeros((n, k));
        let mut eigenvectors = vectors.then(|| Array3::zeros((n, k, d)));
        let mut norm_sq = Array1::zeros(n);
        let mut abs_sum = Some(Array1::zeros(n));
        let solvers = spectra.iter().map(|sp| sp.solver).collect();
        for (o, sp) in spectra.into_iter().enumerate() {
            eigenvalues.row_mut(o).assign(&sp.values);
            if let (Some(all), Some(v)) = (eigenvectors.as_mut(), sp.vectors.as_ref()) {
                all.index_axis_mut(Axis(0), o).assign(v);
            }
            norm_sq[o] = sp.norm_sq;
            abs_sum = match (abs_sum, sp.abs_sum) {
                (Some(mut a), Some(s)) => {
                    a[o] = s;
                    Some(a)
                }
                _ => None,
            };
        }
        Self {
            eigenvalues,
            eigenvectors,
            norm_sq,
            abs_sum,
            solvers,
        }
    }

    /// Concatenates chunk results along the output axis.
    fn concat(parts: Vec<Self>) -> Self {
        let views = |f: fn(&Self) -> ndarray::ArrayView2<'_, T>| {
            ndarray::concatenate(Axis(0), &parts.iter().map(f).collect::<Vec<_>>())
                .expect("chunks share their trailing shape")
        };
        let eigenvalues = views(|p| p.eigenvalues.view());
        let eigenvectors = parts
            .iter()
            .map(|p| p.eigenvectors.as_ref().map(|v| v.view()))
            .collect::<Option<Vec<_>>>()
            .map(|v| ndarray::concatenate(Axis(0), &v).expect("chunks share their trailing shape"));
        let cat1 = |v: Vec<ndarray::ArrayView1<'_, f64>>| {
            ndarray::concatenate(Axis(0), &v).expect("1-d concatenation")
        };
        let norm_sq = cat1(parts.iter().map(|p| p.norm_sq.view()).collect());
        let abs_sum = parts
            .iter()
            .map(|p| p.abs_sum.as_ref().map(|a| a.view()))
            .collect::<Option<Vec<_>>>()
            .map(cat1);
        let solvers = parts
            .iter()
            .flat_map(|p| p.solvers.iter().copied())
            .collect();
        Self {
            eigenvalues,
            eigenvectors,
            norm_sq,
            abs_sum,
            solvers,
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
        return Ok(Decomposition::from_spectra(
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
/// each finished chunk in order. Peak memory is that of one chunk plus one `d_in x d_in`
/// matrix and one `d_hidden x d_in` scratch per thread.
///
/// With a `basis` (`D: [d_in, n_features]`), each output's matrix is `sym(Dᵀ Q D)` and the
/// eigenvectors live in feature space (see [`InputBasis`]).
pub fn decompose_chunked<T: Real, E: From<DecompError>>(
    layer: &BilinearLayer<T>,
    outputs: ArrayView2<'_, T>,
    basis: Option<&InputBasis<T>>,
    params: &DecomposeParams,
    mut sink: impl FnMut(usize, Decomposition<T>) -> Result<(), E>,
) -> Result<(), E> {
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
    for start in (0..n).step_by(params.chunk_size) {
        let end = (start + params.chunk_size).min(n);
        let chunk = outputs.slice(s![start..end, ..]);
        // c = Pᵀu for the whole chunk in one GEMM: [n_chunk, d_out] x [d_out, d_hidden].
        let coeffs = linalg::matmul(chunk, layer.p(), Par::Seq);
        let one = |o: usize, scratch: &mut (Array2<T>, Array2<T>)| {
            let (buf, q) = scratch;
            interaction_from_coefficients(layer, coeffs.row(o), buf, q.view_mut(), Par::Seq);
            if !q.iter().all(|x| x.is_finite()) {
                return Err(DecompError::NonFinite { output: start + o });
            }
            let (order, vectors, method) = (params.order, params.eigenvectors, params.method);
            match basis {
                None => eigh(
                    q.view(),
                    Some(k),
                    order,
                    vectors,
                    method,
                    &params.lanczos,
                    Par::Seq,
                ),
                Some(b) => b.eigen(q.view(), params, Par::Seq),
            }
        };
        let init = || {
            (
                Array2::<T>::zeros((layer.d_hidden(), d)),
                Array2::<T>::zeros((d, d)),
            )
        };
        let spectra: Result<Vec<_>, DecompError> = match params.parallelism {
            Parallelism::AcrossOutputs => (0..end - start)
                .into_par_iter()
                .map_init(init, |scratch, o| one(o, scratch))
                .collect(),
            Parallelism::Sequential => {
                let mut scratch = init();
                (0..end - start).map(|o| one(o, &mut scratch)).collect()
            }
        };
        sink(
            start,
            Decomposition::from_spectra(spectra?, k, width, params.eigenvectors),
        )?;
    }
    Ok(())
}
