//! Opening models and decomposing them: `bilens.open`, the `Model` class, and the tensors
//! file behind `bilens.Layer` (arrays written once as a safetensors file, so an array layer
//! goes through exactly the path a checkpoint does: the same layout checks, the same job
//! identity, the same evaluations).

use std::path::PathBuf;
use std::str::FromStr;

use bilens::{
    Arg, Checkpoint, DecomposeOptions, Error, LayoutKind, LayoutRequest, ModelFile,
    OutputSelection, ResumeMode, Shard, SpecError, TensorNames, TensorRef,
};
use bilens_io::{ModelInfo, OutputSpec, write_arrays};
use ndarray::ArrayViewD;
use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::errors::{argument, to_py};
use crate::watch;

/// A specification given as a string (`outputs="contrast:3-5"`) as the library's typed value,
/// or the library's error about argument `arg` (with its own hint).
pub fn parse_spec<T: FromStr<Err = SpecError>>(arg: Arg, value: &str) -> PyResult<T> {
    value
        .parse()
        .map_err(|e| to_py(bilens::Error::spec(arg, e)))
}

/// A name given as a string (`method="lanczos"`) as the library's typed value, or an error
/// naming the keyword and the accepted values.
pub fn parse<T: FromStr>(keyword: &str, value: &str) -> PyResult<T>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| {
        argument(
            keyword,
            value,
            &e.to_string(),
            "pass one of the names listed",
        )
    })
}

/// A model file with its bilinear layer found (`bilens.open`), or an array layer
/// (`bilens.Layer`, backed by the tensors file the Python side wrote).
#[pyclass(frozen, module = "bilens._bilens")]
#[derive(Debug)]
pub struct Model {
    checkpoint: Checkpoint,
}

impl Model {
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }
}

/// Opens the checkpoint at `path` and finds its bilinear layer.
#[pyfunction]
#[pyo3(signature = (path, layout="auto", layer=None, residual=None, w=None, v=None, p=None,
                    embed=None, w_bias=None, v_bias=None, norm_gain=None, key=None))]
#[allow(clippy::too_many_arguments, reason = "the keywords of bilens.open")]
pub fn open(
    path: PathBuf,
    layout: &str,
    layer: Option<usize>,
    residual: Option<bool>,
    w: Option<String>,
    v: Option<String>,
    p: Option<String>,
    embed: Option<String>,
    w_bias: Option<String>,
    v_bias: Option<String>,
    norm_gain: Option<String>,
    key: Option<String>,
) -> PyResult<Model> {
    let request = LayoutRequest {
        kind: parse::<LayoutKind>("layout", layout)?,
        layer,
        residual,
        names: TensorNames {
            w,
            v,
            p,
            embed,
            w_bias,
            v_bias,
            norm_gain,
        },
    };
    let spec = request.resolve().map_err(to_py)?;
    let checkpoint = ModelFile::open_key(&path, key.as_deref())
        .and_then(|file| file.checkpoint(&spec))
        .map_err(to_py)?;
    Ok(Model { checkpoint })
}

/// Every tensor of the file at `path` and the layer the `auto` layout finds in it (or why
/// none), as JSON.
#[pyfunction]
#[pyo3(signature = (path, key=None))]
pub fn inspect(path: PathBuf, key: Option<String>) -> PyResult<String> {
    let file = ModelFile::open_key(&path, key.as_deref()).map_err(to_py)?;
    let inspection = file.inspect(&Default::default());
    let tensors: Vec<Value> = inspection
        .tensors
        .iter()
        .map(|t| json!({"name": t.name, "dtype": t.dtype, "shape": t.shape}))
        .collect();
    let (model, problem) = match &inspection.model {
        Ok(info) => (info_json(info), Value::Null),
        Err(e) => (Value::Null, Value::String(e.to_string())),
    };
    Ok(json!({
        "path": inspection.path,
        "tensors": tensors,
        "metadata": inspection.metadata,
        "model": model,
        "problem": problem,
    })
    .to_string())
}

/// Writes named arrays (all f32, or all f64) as a safetensors file: the file behind
/// `bilens.Layer` and behind output directions given as an array.
#[pyfunction]
pub fn write_tensors(
    path: PathBuf,
    names: Vec<String>,
    arrays: Vec<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let written = match arrays
        .first()
        .map(|a| a.extract::<PyReadonlyArrayDyn<'_, f64>>())
    {
        Some(Ok(_)) => write_as::<f64>(&path, &names, &arrays)?,
        _ => write_as::<f32>(&path, &names, &arrays)?,
    };
    written.map_err(|e| to_py(e.into()))
}

/// [`write_tensors`] with every array of element type `T` (the Python side makes them so).
fn write_as<T: bilens_io::Element + numpy::Element>(
    path: &std::path::Path,
    names: &[String],
    arrays: &[Bound<'_, PyAny>],
) -> PyResult<bilens_io::Result<()>> {
    let arrays = arrays
        .iter()
        .map(|a| a.extract::<PyReadonlyArrayDyn<'_, T>>())
        .collect::<PyResult<Vec<_>>>()?;
    let views: Vec<(&str, ArrayViewD<'_, T>)> = names
        .iter()
        .map(String::as_str)
        .zip(arrays.iter().map(|a| a.as_array()))
        .collect();
    Ok(write_arrays(path, &views, &Default::default()))
}

#[pymethods]
impl Model {
    /// The layer as found, as JSON: layout, where each matrix comes from, dimensions, notes.
    fn info_json(&self) -> String {
        info_json(self.checkpoint.info()).to_string()
    }

    /// The layout as a text line for `repr`.
    fn describe(&self) -> String {
        self.checkpoint.info().to_string()
    }

    /// Decomposes into the results directory `out`; returns the run's report as JSON.
    #[pyo3(signature = (out, outputs="classes", k=None, method="auto", basis=None,
                        precision="f32", order="abs", eigenvalues_only=false, hosvd=None,
                        tokenizer=None, interactions=None, chunk=None, route="auto",
                        restart=false, shard=None, fold_dec_norm=false, progress=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "the keywords of Model.decompose_to"
    )]
    fn decompose_to(
        &self,
        py: Python<'_>,
        out: PathBuf,
        outputs: &str,
        k: Option<usize>,
        method: &str,
        basis: Option<&str>,
        precision: &str,
        order: &str,
        eigenvalues_only: bool,
        hosvd: Option<usize>,
        tokenizer: Option<PathBuf>,
        interactions: Option<usize>,
        chunk: Option<usize>,
        route: &str,
        restart: bool,
        shard: Option<&str>,
        fold_dec_norm: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let mut options = DecomposeOptions {
            outputs: parse_spec::<OutputSelection>(Arg::Outputs, outputs)?,
            basis: basis
                .map(|b| {
                    TensorRef::parse_basis(b).map_err(|e| to_py(Error::spec(Arg::InputBasis, e)))
                })
                .transpose()?,
            k,
            order: parse("order", order)?,
            method: parse("method", method)?,
            route: parse("route", route)?,
            eigenvalues_only,
            precision: parse("precision", precision)?,
            interactions,
            hosvd,
            tokenizer,
            chunk,
            resume: if restart {
                ResumeMode::Restart
            } else {
                ResumeMode::SkipComplete
            },
            shard: shard
                .map(|s| s.parse::<Shard>().map_err(to_py))
                .transpose()?,
        };
        if fold_dec_norm {
            let output = match &mut options.outputs.spec {
                OutputSpec::File(t) => t.fold_dec_norm(),
                _ => false,
            };
            let input = options.basis.as_mut().is_some_and(TensorRef::fold_dec_norm);
            if !(output || input) {
                return Err(argument(
                    "fold_dec_norm",
                    "True",
                    "applies to SAE folders given as outputs=\"sae:DIR\" or basis=\"sae:DIR\"",
                    "name the SAE folder with sae:DIR, or leave fold_dec_norm out",
                ));
            }
        }
        let checkpoint = &self.checkpoint;
        let report = watch::run(py, progress.as_ref(), |p| {
            bilens::decompose(checkpoint, &options, &out, p)
        })?;
        Ok(json!({
            "labels": report.labels,
            "method": report.method.to_string(),
            "route": report.route.to_string(),
            "fallbacks": report.fallbacks,
            "load_seconds": report.load_time.as_secs_f64(),
            "decompose_seconds": report.decompose_time.as_secs_f64(),
            "status": match report.status {
                bilens::RunStatus::Computed => "computed".to_string(),
                bilens::RunStatus::Resumed(n) => format!("resumed after {n} outputs"),
                bilens::RunStatus::AlreadyComplete => "already complete".to_string(),
            },
        })
        .to_string())
    }
}

/// What `bilens inspect` says about a layer, as a JSON object.
fn info_json(info: &ModelInfo) -> Value {
    let source = |s: &Option<bilens_io::Source>| s.as_ref().map(ToString::to_string);
    json!({
        "path": info.path,
        "layout": info.layout.to_string(),
        "layer": info.layer.as_ref().map(|l| l.index),
        "layers": info.layer.as_ref().map(|l| l.available.clone()),
        "residual": info.residual,
        "tensors": {
            "w": info.w.to_string(),
            "v": info.v.to_string(),
            "p": info.p.to_string(),
            "embed": source(&info.embed),
            "w_bias": source(&info.w_bias),
            "v_bias": source(&info.v_bias),
            "norm_gain": source(&info.norm_gain),
            "norm_bias": source(&info.norm_bias),
            "linear": source(&info.linear),
        },
        "d_input": info.d_input,
        "d_in": info.d_in,
        "d_hidden": info.d_hidden,
        "d_out": info.d_out,
        "approximation": info.approximation,
        "config": info.config,
        "conv": info.conv.map(|c| json!({
            "view": c.view.name(),
            "channels": c.channels,
            "in_channels": c.geometry.in_channels,
            "image_size": c.geometry.image_size,
            "kernel_size": c.geometry.kernel_size,
            "stride": c.geometry.stride,
            "padding": c.geometry.padding,
            "output_size": c.output_size,
        })),
        "notes": info.notes,
    })
}
