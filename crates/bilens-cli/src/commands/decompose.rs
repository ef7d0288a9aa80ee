//! `bilens decompose MODEL --out DIR`: every output direction's interaction matrix,
//! eigendecomposed and streamed into a results directory.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bilens_decomp::{
    BilinearModel, DecomposeParams, Decomposition, Method, Order, Par, Real, Solver,
    class_directions, decompose_chunked, result_dims,
};
use bilens_io::{Element, LayoutSpec, ResultsMeta, ResultsShape, ResultsWriter, load_model};
use ndarray::{Array2, Array3, s};

use crate::args::{DecomposeArgs, MethodArg, OrderArg, Precision};
use crate::printer::Printer;

/// Memory a chunk of outputs may use for its results before it is streamed to disk.
const CHUNK_BYTES: usize = 256 << 20;

/// A resolved decomposition job: what to decompose and how, independent of precision.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The model file.
    pub model: &'a Path,
    /// How to find the layer in it.
    pub layout: LayoutSpec,
    /// The results directory.
    pub out: &'a Path,
    /// Per-output parameters (k, order, method...).
    pub params: DecomposeParams,
}

/// What a finished decomposition reports.
#[derive(Debug)]
pub struct Report {
    /// Output labels, in order.
    pub labels: Vec<String>,
    /// The first few kept eigenvalues of each output.
    pub top: Vec<Vec<f64>>,
    /// The method the solver rule chose.
    pub method: Method,
    /// Outputs on which Lanczos fell back to the full solver.
    pub fallbacks: usize,
    /// Time spent loading the model.
    pub load_time: Duration,
    /// Time spent decomposing and writing.
    pub decompose_time: Duration,
}

pub fn run(args: &DecomposeArgs, printer: &Printer) -> anyhow::Result<()> {
    let job = Job {
        model: &args.model,
        layout: super::layout::resolve(&args.layout)?,
        out: &args.out,
        params: DecomposeParams {
            k: args.k,
            order: match args.order {
                OrderArg::Abs => Order::AbsDescending,
                OrderArg::Descending => Order::Descending,
                OrderArg::Ascending => Order::Ascending,
            },
            method: match args.method {
                MethodArg::Auto => Method::Auto,
                MethodArg::Full => Method::Full,
                MethodArg::Lanczos => Method::Lanczos,
            },
            ..DecomposeParams::default()
        },
    };
    let report = match args.precision {
        Precision::F32 => run_job::<f32>(&job, printer)?,
        Precision::F64 => run_job::<f64>(&job, printer)?,
    };
    print_report(&report, job.out, printer);
    Ok(())
}

/// Prints where the results went and each output's leading eigenvalues.
pub fn print_report(report: &Report, out: &Path, printer: &Printer) {
    printer.data(format!(
        "decomposed {} outputs ({} method) into {} in {:.2} s (model loaded in {:.2} s)",
        report.labels.len(),
        report.method.name(),
        out.display(),
        report.decompose_time.as_secs_f64(),
        report.load_time.as_secs_f64()
    ));
    if report.fallbacks > 0 {
        printer.note(format!(
            "note: Lanczos did not converge on {} outputs; the full solver was used for them",
            report.fallbacks
        ));
    }
    let width = report
        .labels
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(6);
    printer.data(format!("{:>width$}  top eigenvalues (by |λ|)", "output"));
    for (label, top) in report.labels.iter().zip(&report.top) {
        let values: Vec<String> = top.iter().map(|v| format!("{v:+.4}")).collect();
        printer.data(format!("{label:>width$}  {}", values.join("  ")));
    }
}

/// Loads the model and runs the job in precision `T`.
pub fn run_job<T: Real + Element>(job: &Job<'_>, printer: &Printer) -> anyhow::Result<Report> {
    let start = Instant::now();
    let loaded = load_model::<T>(job.model, &job.layout)
        .with_context(|| format!("cannot load {}", job.model.display()))?;
    let load_time = start.elapsed();
    let model = &loaded.model;
    let layer = model.layer();
    let outputs = class_directions::<T>(layer.d_out());
    let labels: Vec<String> = (0..layer.d_out()).map(|o| o.to_string()).collect();

    let (width, k) = result_dims(layer, None, &job.params);
    let method = job
        .params
        .method
        .resolve::<T>(layer.d_in(), Some(k), &job.params.lanczos);
    let per_output = k * (width + model.d_input()) * std::mem::size_of::<T>();
    let params = DecomposeParams {
        k: Some(k),
        chunk_size: (CHUNK_BYTES / per_output.max(1)).clamp(rayon::current_num_threads(), 4096),
        ..job.params
    };
    let shape = ResultsShape {
        n_out: outputs.nrows(),
        k,
        d_in: width,
        d_input: model.embed().map(|e| e.ncols()),
        d_out: layer.d_out(),
        eigenvectors: params.eigenvectors,
    };
    let meta = ResultsMeta {
        model: job.model.display().to_string(),
        layout: loaded.info.layout.name().to_string(),
        method: method.name().to_string(),
        order: params.order,
        extra: [
            ("outputs".to_string(), "classes".to_string()),
            ("residual".to_string(), loaded.info.residual.to_string()),
            (
                "sign_convention".to_string(),
                if model.embed().is_some() {
                    "largest-magnitude entry of the input-space eigenvector positive"
                } else {
                    "largest-magnitude entry positive"
                }
                .to_string(),
            ),
        ]
        .into(),
    };
    let mut writer = ResultsWriter::<T>::create(job.out, shape, &meta)?;
    let bar = printer.bar(outputs.nrows() as u64, "decompose");
    let decompose_start = Instant::now();
    let mut fallbacks = 0;
    let mut top = Vec::with_capacity(outputs.nrows());
    decompose_chunked(
        layer,
        outputs.view(),
        None,
        &params,
        |first, mut part: Decomposition<T>| {
            let n = part.n_outputs();
            let mapped = input_space(model, &mut part);
            writer.write_decomposition(
                first,
                &part,
                outputs.slice(s![first..first + n, ..]),
                mapped.as_ref().map(|m| m.view()),
                |o| labels[o].clone(),
            )?;
            fallbacks += part
                .solvers
                .iter()
                .filter(|s| **s == Solver::LanczosFallback)
                .count();
            top.extend(
                part.eigenvalues
                    .rows()
                    .into_iter()
                    .map(|r| r.iter().take(4).map(|x| x.as_f64()).collect()),
            );
            bar.inc(n as u64);
            anyhow::Ok(())
        },
    )?;
    writer.set_metadata("lanczos_fallbacks", fallbacks.to_string());
    writer.finish()?;
    bar.finish_and_clear();
    Ok(Report {
        labels,
        top,
        method,
        fallbacks,
        load_time,
        decompose_time: decompose_start.elapsed(),
    })
}

/// Each output's eigenvectors mapped to the model input through the embedding,
/// `[n, k, d_input]`, by one GEMM, with signs fixed in input space (see
/// [`BilinearModel::map_components`]); `None` without an embedding or eigenvectors.
fn input_space<T: Real>(
    model: &BilinearModel<T>,
    part: &mut Decomposition<T>,
) -> Option<Array3<T>> {
    let vecs = part.eigenvectors.as_mut()?;
    let (n, k, d) = vecs.dim();
    let flat = vecs.view_mut().into_shape_with_order((n * k, d)).ok()?;
    let mapped: Array2<T> = model.map_components(flat, Par::rayon(0))?;
    let d_input = mapped.ncols();
    mapped.into_shape_with_order((n, k, d_input)).ok()
}
