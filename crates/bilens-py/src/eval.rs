//! The evaluations from Python. Each runs the library's evaluation, which writes its tables
//! (CSV, JSON) and figures (PNG, SVG) into a directory, and returns the files; the Python side
//! reads the tables into columns (and pandas, when installed) and shows the figures inline.

use std::path::{Path, PathBuf};

use bilens::eval::{
    AdversarialOptions, ApproxOptions, BottleneckOptions, ConsistencyOptions, ExplainOptions,
    ImageEvaluation, TruncationOptions,
};
use bilens::{Arg, LayoutSpec, ModelFile, RowSet, Sign};
use pyo3::prelude::*;

use crate::model::{Model, parse, parse_spec};
use crate::watch;

/// The model as `bilens.open` opened it (its state dict `key=` included) with the dataset.
fn image_evaluation(model: &Model, data: &Path) -> bilens::Result<ImageEvaluation> {
    ImageEvaluation::open(model.checkpoint(), data)
}

/// Accuracy of the model on the test set of `data` when each class logit keeps only its top
/// k components, for each rule and k up to `max_k`.
#[pyfunction]
#[pyo3(signature = (model, data, out, max_k=30, rules=vec!["abs".to_string(), "paired".to_string(), "activation".to_string()], progress=None))]
#[allow(
    clippy::too_many_arguments,
    reason = "the keywords of Model.truncation"
)]
pub fn truncation(
    py: Python<'_>,
    model: PyRef<'_, Model>,
    data: PathBuf,
    out: PathBuf,
    max_k: usize,
    rules: Vec<String>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<PathBuf>> {
    let options = TruncationOptions {
        max_k,
        rules: rules
            .iter()
            .map(|r| parse("rules", r))
            .collect::<PyResult<_>>()?,
    };
    let model = &*model;
    watch::run(py, progress.as_ref(), |p| {
        let eval = image_evaluation(model, &data)?;
        Ok(bilens::eval::truncation(&eval, &options, &out, p)?.files)
    })
}

/// Accuracy of the whole network on the test set of `data` when one block's tensor keeps only
/// its top-S HOSVD components (each block in turn).
#[pyfunction]
#[pyo3(signature = (model, data, out, ranks=None, eigenvectors=None, progress=None))]
pub fn bottleneck(
    py: Python<'_>,
    model: PyRef<'_, Model>,
    data: PathBuf,
    out: PathBuf,
    ranks: Option<Vec<usize>>,
    eigenvectors: Option<usize>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<PathBuf>> {
    let options = BottleneckOptions {
        ranks,
        eigenvectors,
    };
    let model = &*model;
    watch::run(py, progress.as_ref(), |p| {
        Ok(bilens::eval::bottleneck(model.checkpoint(), &data, &options, &out, p)?.files)
    })
}

/// Adversarial masks from each target class's top eigenvectors added to test images, against
/// random masks of the same norm.
#[pyfunction]
#[pyo3(signature = (model, data, out, targets=None, components=10, mask=0, max_strength=15.0,
                    steps=30, baselines=5, seed=0, progress=None))]
#[allow(
    clippy::too_many_arguments,
    reason = "the keywords of Model.adversarial"
)]
pub fn adversarial(
    py: Python<'_>,
    model: PyRef<'_, Model>,
    data: PathBuf,
    out: PathBuf,
    targets: Option<&str>,
    components: usize,
    mask: usize,
    max_strength: f64,
    steps: usize,
    baselines: usize,
    seed: u64,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<PathBuf>> {
    let options = AdversarialOptions {
        targets: targets
            .map(|t| parse_spec::<RowSet>(Arg::Targets, t))
            .transpose()?,
        components,
        mask,
        max_strength,
        steps,
        baselines,
        seed,
    };
    let model = &*model;
    watch::run(py, progress.as_ref(), |p| {
        let eval = image_evaluation(model, &data)?;
        Ok(bilens::eval::adversarial(&eval, &options, &out, p)?.files)
    })
}

/// One test image's logit split into its components.
#[pyfunction]
#[pyo3(signature = (model, data, out, index=0, class_=None, top=5))]
pub fn explain(
    py: Python<'_>,
    model: PyRef<'_, Model>,
    data: PathBuf,
    out: PathBuf,
    index: usize,
    class_: Option<usize>,
    top: usize,
) -> PyResult<Vec<PathBuf>> {
    let options = ExplainOptions {
        index,
        class: class_,
        top,
    };
    let model = &*model;
    watch::run(py, None, |_| {
        let eval = image_evaluation(model, &data)?;
        Ok(bilens::eval::explain(&eval, &options, &out)?.files)
    })
}

/// How alike the top eigenvectors of several image models are; `key` names the state dict of
/// PyTorch checkpoints.
#[pyfunction]
#[pyo3(signature = (models, out, top=20, sign="positive", residual=None, key=None, progress=None))]
#[allow(
    clippy::too_many_arguments,
    reason = "the keywords of bilens.consistency"
)]
pub fn consistency(
    py: Python<'_>,
    models: Vec<PathBuf>,
    out: PathBuf,
    top: usize,
    sign: &str,
    residual: Option<bool>,
    key: Option<String>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<PathBuf>> {
    let options = ConsistencyOptions {
        top,
        sign: parse::<Sign>("sign", sign)?,
    };
    let spec = LayoutSpec::Image {
        residual,
        layer: None,
    };
    watch::run(py, progress.as_ref(), |p| {
        let models = models
            .iter()
            .map(|m| ModelFile::open_key(m, key.as_deref())?.checkpoint(&spec))
            .collect::<bilens::Result<Vec<_>>>()?;
        Ok(bilens::eval::consistency(&models, &options, &out, p)?.files)
    })
}

/// How well each output feature's top K components track its true activation.
#[pyfunction]
#[pyo3(signature = (results, activations, out, inputs_tensor="inputs", activations_tensor="activations", max_k=64, threshold=0.75, progress=None))]
#[allow(
    clippy::too_many_arguments,
    reason = "the keywords of Results.approximation"
)]
pub fn approximation(
    py: Python<'_>,
    results: PathBuf,
    activations: PathBuf,
    out: PathBuf,
    inputs_tensor: &str,
    activations_tensor: &str,
    max_k: usize,
    threshold: f64,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<PathBuf>> {
    let options = ApproxOptions {
        inputs_tensor: inputs_tensor.to_string(),
        activations_tensor: activations_tensor.to_string(),
        max_k,
        threshold,
    };
    watch::run(py, progress.as_ref(), |p| {
        Ok(bilens::eval::approximation(&results, &activations, &options, &out, p)?.files)
    })
}

/// The model's accuracy on the test set of `data`: `(correct, total)`.
#[pyfunction]
pub fn accuracy(
    py: Python<'_>,
    model: PyRef<'_, Model>,
    data: PathBuf,
) -> PyResult<(usize, usize)> {
    let checkpoint = model.checkpoint().clone();
    let a = watch::run(py, None, |_| {
        bilens::eval::test_accuracy(&checkpoint, &data)
    })?;
    Ok((a.correct, a.total))
}
