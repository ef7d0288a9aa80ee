//! How well each output feature's first K components approximate its true activation (the paper's Section 5, Figure 9).
//!
//! For every output of the results (e.g. every SAE encoder row given as the outputs), the
//! Pearson correlation between the feature's recorded activation and
//! `Σ_{k≤K} λ_k (v_kᵀx)² (+ 2qᵀx + q0 with biases)` over the inputs where the feature is active,
//! for K = 1..max_k ([`bilens_decomp::approximation_correlations`]); then the mean, median and
//! fraction above a threshold at each K.
//!
//! Which activation column belongs to which output: column `o` for output `o` when the file has
//! as many columns as the results have outputs; otherwise each output's label, which for
//! `FILE:TENSOR` outputs is its row in the tensor (rows `100..200` give labels 100..199),
//! names its column.

mod write;

use std::path::{Path, PathBuf};

use bilens_decomp::{
    ApproximationSummary, Components, FeatureApproximation, Par, Real, approximation_correlations,
    summarize_approximations,
};
use bilens_io::{IoError, ResultsFile, names, read_activations};
use ndarray::{Array1, Axis, Ix1, Ix2};
use rayon::prelude::*;

pub use self::write::HEADLINE_K;
use super::Evaluated;
use crate::error::{Arg, Error, Result};
use crate::progress::Progress;

/// Which tensors hold the recorded activations, and the curve's extent.
#[derive(Clone, Debug, PartialEq)]
pub struct ApproxOptions {
    /// The tensor of layer inputs, in the space of the eigenvectors (the normalised MLP
    /// input; the input SAE's feature activations for results in a feature basis).
    pub inputs_tensor: String,
    /// The tensor of true feature activations.
    pub activations_tensor: String,
    /// Largest number of components K on the curve.
    pub max_k: usize,
    /// The correlation counted as a good approximation in the summary.
    pub threshold: f64,
}

impl Default for ApproxOptions {
    fn default() -> Self {
        Self {
            inputs_tensor: "inputs".into(),
            activations_tensor: "activations".into(),
            max_k: 64,
            threshold: 0.75,
        }
    }
}

/// Every feature's approximation curve and their summary.
#[derive(Clone, Debug)]
pub struct Approximation {
    /// The results directory.
    pub results: PathBuf,
    /// The activations file.
    pub activations: PathBuf,
    /// What was computed.
    pub options: ApproxOptions,
    /// Inputs the correlations are over.
    pub n_inputs: usize,
    /// Each output's label, as the results record it.
    pub labels: Vec<String>,
    /// Each output's column of the activations.
    pub columns: Vec<usize>,
    /// Each output's curve.
    pub curves: Vec<FeatureApproximation>,
    /// Mean, median and fraction above the threshold at each K.
    pub summary: ApproximationSummary,
}

/// How well the first K components of each output in the results directory `results`
/// approximate the true activations recorded in `activations` (a safetensors file of the
/// layer's inputs `[n, d]` and the features' activations `[n, features]`), for K =
/// 1..max_k; `approx.json`, `approx_summary.csv`, `approx_features.csv` and the figure
/// `approx.{png,svg}` are written into `out`.
pub fn approximation(
    results: &Path,
    activations: &Path,
    options: &ApproxOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Evaluated<Approximation>> {
    if options.max_k == 0 {
        return Err(Error::argument(
            Arg::MaxK,
            "0",
            "must be at least 1",
            "e.g. 64",
        ));
    }
    if !options.threshold.is_finite() {
        return Err(Error::argument(
            Arg::Threshold,
            options.threshold.to_string(),
            "must be a number",
            "e.g. 0.75",
        ));
    }
    let file = ResultsFile::open(results).map_err(|e| {
        Error::from(e).context(format!("cannot read results in {}", results.display()))
    })?;
    let report = match file.meta().precision {
        bilens_decomp::Precision::F64 => {
            compute::<f64>(results, &file, activations, options, progress)?
        }
        bilens_decomp::Precision::F32 => {
            compute::<f32>(results, &file, activations, options, progress)?
        }
    };
    let files = write::write(&report, out)?;
    Ok(Evaluated { report, files })
}

fn malformed(results: &Path, reason: &str) -> Error {
    IoError::Results {
        path: results.to_path_buf(),
        reason: reason.into(),
    }
    .into()
}

fn compute<T: Real>(
    results_dir: &Path,
    results: &ResultsFile,
    activations: &Path,
    options: &ApproxOptions,
    progress: &dyn Progress,
) -> Result<Approximation> {
    let shape = results.shape();
    if !shape.eigenvectors {
        return Err(Error::argument(
            Arg::Results,
            results_dir.display().to_string(),
            "holds eigenvalues only: the approximation needs the eigenvectors",
            "decompose again with eigenvectors",
        ));
    }
    let data = read_activations::<T>(
        activations,
        &options.inputs_tensor,
        &options.activations_tensor,
    )
    .map_err(|e| {
        Error::from(e).context(format!(
            "cannot read the activations {}",
            activations.display()
        ))
    })?;
    let width = data.inputs.ncols();
    // The eigenvectors in the inputs' space: the layer's own, or mapped through the embedding.
    let input_space = if width == shape.d_in {
        false
    } else if shape.d_input == Some(width) {
        true
    } else {
        let basis = results.meta().meta.input_basis.is_some();
        return Err(Error::argument(
            Arg::Activations,
            activations.display().to_string(),
            format!(
                "'{}' has {width} columns but the eigenvectors have {}{}",
                options.inputs_tensor,
                shape.d_in,
                shape.d_input.map_or(String::new(), |d| format!(
                    " (or {d} in the model's input space)"
                ))
            ),
            if basis {
                "these results are in a feature basis: give the input SAE's feature activations \
                 [n, n_features] as the inputs"
            } else {
                "give the layer's inputs as the decomposition sees them (for a transformer, the \
                 normalised residual stream the MLP reads)"
            },
        ));
    };
    let labels: Vec<String> = results
        .summary()
        .outputs
        .iter()
        .map(|o| o.label.clone())
        .collect();
    let columns = feature_columns(
        &labels,
        data.activations.ncols(),
        activations,
        &options.activations_tensor,
    )?;
    let linear = results
        .tensor::<T>(names::LINEAR_TERMS)?
        .map(|a| a.into_dimensionality::<Ix2>())
        .transpose()
        .map_err(|_| malformed(results_dir, "linear_terms is not [n_out, d]"))?;
    let constants = results
        .tensor::<T>(names::CONSTANTS)?
        .map(|a| a.into_dimensionality::<Ix1>())
        .transpose()
        .map_err(|_| malformed(results_dir, "constants is not [n_out]"))?;
    if input_space && linear.is_some() {
        return Err(Error::argument(
            Arg::Activations,
            activations.display().to_string(),
            "the results have linear terms in the layer's input space, which inputs in the \
             model's input space cannot use",
            "give the layer's inputs (after the embedding) as the inputs",
        ));
    }
    let eigenvalues = results.eigenvalues::<T>()?;
    let task = progress.task("approx", shape.n_out as u64);
    let curves: Vec<FeatureApproximation> = (0..shape.n_out)
        .into_par_iter()
        .map(|o| -> Result<FeatureApproximation> {
            let slab = if input_space {
                results.input_eigenvectors::<T>(o..o + 1)?
            } else {
                results.eigenvectors::<T>(o..o + 1)?
            }
            .ok_or_else(|| malformed(results_dir, "no eigenvectors stored"))?;
            let vectors = slab.index_axis(Axis(0), 0);
            let activation: Array1<T> = data.activations.column(columns[o]).to_owned();
            let c = Components {
                eigenvalues: eigenvalues.row(o),
                eigenvectors: vectors,
                linear: linear.as_ref().map(|q| q.row(o)),
                constant: constants.as_ref().map(|q| q[o]),
            };
            let f = approximation_correlations(
                &c,
                data.inputs.view(),
                activation.view(),
                options.max_k,
                Par::Seq,
            );
            task.advance(1);
            Ok(f)
        })
        .collect::<Result<_>>()?;
    drop(task);
    let summary = summarize_approximations(&curves, options.threshold);
    Ok(Approximation {
        results: results_dir.to_path_buf(),
        activations: activations.to_path_buf(),
        options: options.clone(),
        n_inputs: data.inputs.nrows(),
        labels,
        columns,
        curves,
        summary,
    })
}

/// The activation column of each output (see the module documentation).
fn feature_columns(
    labels: &[String],
    columns: usize,
    file: &Path,
    tensor: &str,
) -> Result<Vec<usize>> {
    if columns == labels.len() {
        return Ok((0..labels.len()).collect());
    }
    labels
        .iter()
        .map(|l| match l.parse::<usize>() {
            Ok(c) if c < columns => Ok(c),
            _ => Err(Error::argument(
                Arg::Activations,
                file.display().to_string(),
                format!(
                    "'{tensor}' has {columns} columns for {} outputs, and output label '{l}' \
                     does not name one of them",
                    labels.len()
                ),
                "give one activation column per output of the results, in order, or all of the \
                 direction set's features (outputs decomposed with a subset of rows are matched \
                 by their row)",
            )),
        })
        .collect()
}
