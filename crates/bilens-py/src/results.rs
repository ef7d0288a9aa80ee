//! Results directories from Python: where each tensor lies (the Python side maps the file
//! with numpy, so arrays come back as views of the file, not copies), figures, the explorer,
//! merging shards.

use std::path::PathBuf;

use bilens::{ExploreOptions, FigureOptions, ImageShape, ResultsFile};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::errors::{argument, to_py};
use crate::watch;

/// Opens the results directory `dir` (checking that its summary and tensors agree) and
/// returns, as JSON, its summary and the file, dtype, shape and byte range of every tensor.
#[pyfunction]
pub fn locate(dir: PathBuf) -> PyResult<String> {
    let results = ResultsFile::open(&dir).map_err(|e| to_py(e.into()))?;
    let (file, located) = results.tensor_locations();
    let tensors: serde_json::Map<String, Value> = located
        .into_iter()
        .map(|(t, bytes)| {
            (
                t.name.clone(),
                json!({"dtype": t.dtype, "shape": t.shape, "offset": bytes.start,
                       "length": bytes.end - bytes.start}),
            )
        })
        .collect();
    let summary = serde_json::to_value(results.summary())
        .map_err(|e| crate::errors::InternalError::new_err(e.to_string()))?;
    Ok(json!({"file": file, "tensors": tensors, "summary": summary}).to_string())
}

/// Draws the results in `results` into `out` (spectra, eigenvector grids, an overview; PNG
/// and SVG) and returns the PNG paths.
#[pyfunction]
#[pyo3(signature = (results, out, per_sign=None, image_shape=None, progress=None))]
pub fn draw(
    py: Python<'_>,
    results: PathBuf,
    out: PathBuf,
    per_sign: Option<usize>,
    image_shape: Option<(usize, usize, usize)>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<PathBuf>> {
    let mut options = FigureOptions {
        image_shape: image_shape.map(|(channels, height, width)| ImageShape {
            channels,
            height,
            width,
        }),
        ..FigureOptions::default()
    };
    if let Some(n) = per_sign {
        options.per_sign = n;
    }
    watch::run(py, progress.as_ref(), |p| {
        let opened = ResultsFile::open(&results)?;
        bilens::draw_results(&opened, &out, &options, p)
    })
}

/// Writes the static explorer of `results` into `site`; returns its report as JSON.
#[pyfunction]
#[pyo3(signature = (results, site, image_shape=None, evaluations=Vec::new(), title=None,
                    progress=None))]
pub fn explore(
    py: Python<'_>,
    results: PathBuf,
    site: PathBuf,
    image_shape: Option<(usize, usize, usize)>,
    evaluations: Vec<PathBuf>,
    title: Option<String>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let mut options = ExploreOptions {
        image_shape: image_shape.map(|(channels, height, width)| ImageShape {
            channels,
            height,
            width,
        }),
        title,
        ..ExploreOptions::default()
    };
    if !evaluations.is_empty() {
        options.evaluations = evaluations;
    }
    let report = watch::run(py, progress.as_ref(), |p| {
        bilens::explore(&results, &site, &options, p)
    })?;
    Ok(json!({
        "site": report.site,
        "entry": report.entry,
        "outputs": report.outputs,
        "files": report.files,
        "bytes": report.bytes,
    })
    .to_string())
}

/// Merges the shard directories `shards` into the results directory `out`; returns
/// `(shards, outputs, already_complete)`.
#[pyfunction]
#[pyo3(signature = (shards, out, progress=None))]
pub fn merge(
    py: Python<'_>,
    shards: Vec<PathBuf>,
    out: PathBuf,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<(usize, usize, bool)> {
    if shards.is_empty() {
        return Err(argument(
            "shards",
            "[]",
            "names no shard directory",
            "give the directories the shards wrote",
        ));
    }
    let report = watch::run(py, progress.as_ref(), |p| {
        bilens::merge_shards(&shards, &out, p)
    })?;
    Ok((report.shards, report.outputs, report.already_complete))
}
