//! `bilens decompose MODEL --out DIR` and `bilens hosvd MODEL --out DIR`: every output
//! direction's (or HOSVD component's) interaction matrix, eigendecomposed and streamed into a
//! results directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bilens_decomp::{
    BilinearModel, DecomposeParams, Decomposition, Hosvd, InputBasis, Method, Order, Par, Real,
    Route, Solver, decompose_chunked, hosvd, result_dims,
};
use bilens_io::{
    Element, ExtraData, ExtraSpec, HosvdSummary, InteractionArrays, LayoutSpec, ResultsMeta,
    ResultsShape, ResultsWriter, load_model, parse_file_tensor, read_rows,
};
use ndarray::{Array2, Array3, s};

use crate::args::{
    DecomposeArgs, HosvdArgs, MethodArg, OrderArg, OutputsArgs, Precision, RouteArg, SolveArgs,
};
use crate::directions::{self, Directions};
use crate::error::BadInput;
use crate::printer::Printer;

/// Memory a chunk of outputs may use for its results before it is streamed to disk.
const CHUNK_BYTES: usize = 256 << 20;

/// Feature bases up to this size get their top interactions by default (the scan is
/// quadratic in the number of features).
const INTERACTIONS_DEFAULT_MAX_FEATURES: usize = 8192;

/// A resolved decomposition job, independent of precision.
#[derive(Debug, Clone)]
pub struct Job {
    /// The model file.
    pub model: PathBuf,
    /// How to find the layer in it.
    pub layout: LayoutSpec,
    /// The results directory.
    pub out: PathBuf,
    /// `--outputs`.
    pub outputs: String,
    /// `--rows`.
    pub rows: Option<String>,
    /// `--input-basis` as `(file, tensor)`.
    pub basis: Option<(PathBuf, String)>,
    /// `--interactions`, if given.
    pub interactions: Option<usize>,
    /// With `bilens hosvd`: the number of singular components.
    pub hosvd: Option<usize>,
    /// Per-output parameters (k, order, method, route...).
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
    /// How the interaction matrices were formed.
    pub route: Route,
    /// Outputs on which Lanczos fell back to the full solver.
    pub fallbacks: usize,
    /// The HOSVD singular values and the fraction of the tensor they hold, for `hosvd`.
    pub hosvd: Option<HosvdSummary>,
    /// Time spent loading the model and the directions.
    pub load_time: Duration,
    /// Time spent decomposing and writing.
    pub decompose_time: Duration,
}

impl Job {
    /// A job with default parameters for `model`, writing into `out`.
    pub fn new(model: &Path, out: &Path) -> Self {
        Self {
            model: model.to_path_buf(),
            layout: LayoutSpec::default(),
            out: out.to_path_buf(),
            outputs: "classes".into(),
            rows: None,
            basis: None,
            interactions: None,
            hosvd: None,
            params: DecomposeParams::default(),
        }
    }

    fn from_args(
        model: &Path,
        out: &Path,
        outputs: &OutputsArgs,
        solve: &SolveArgs,
        layout: &crate::args::LayoutArgs,
    ) -> anyhow::Result<Self> {
        let basis = match &solve.input_basis {
            None => None,
            Some(spec) => Some(parse_file_tensor(spec).ok_or_else(|| {
                BadInput::new(
                    format!("--input-basis {spec}: expected FILE:TENSOR"),
                    "e.g. --input-basis sae.safetensors:decoder.weight",
                )
            })?),
        };
        if solve.interactions.is_some() && basis.is_none() {
            return Err(BadInput::new(
                "--interactions needs --input-basis",
                "feature interactions are reported in a feature basis",
            )
            .into());
        }
        Ok(Self {
            layout: super::layout::resolve(layout)?,
            outputs: outputs.outputs.clone(),
            rows: outputs.rows.clone(),
            basis,
            interactions: solve.interactions,
            params: DecomposeParams {
                k: solve.k,
                eigenvectors: !solve.eigenvalues_only,
                order: match solve.order {
                    OrderArg::Abs => Order::AbsDescending,
                    OrderArg::Descending => Order::Descending,
                    OrderArg::Ascending => Order::Ascending,
                },
                method: match solve.method {
                    MethodArg::Auto => Method::Auto,
                    MethodArg::Full => Method::Full,
                    MethodArg::Lanczos => Method::Lanczos,
                },
                route: match solve.route {
                    RouteArg::Auto => Route::Auto,
                    RouteArg::Direct => Route::Direct,
                    RouteArg::Shared => Route::SharedBasis,
                },
                ..DecomposeParams::default()
            },
            ..Self::new(model, out)
        })
    }
}

pub fn run(args: &DecomposeArgs, printer: &Printer) -> anyhow::Result<()> {
    let job = Job::from_args(
        &args.model,
        &args.out,
        &args.outputs,
        &args.solve,
        &args.layout,
    )?;
    let report = run_precision(&job, args.solve.precision, printer)?;
    print_report(&report, &job.out, printer);
    Ok(())
}

pub fn run_hosvd(args: &HosvdArgs, printer: &Printer) -> anyhow::Result<()> {
    if args.components == 0 {
        return Err(
            BadInput::new("--components must be at least 1", "e.g. --components 10").into(),
        );
    }
    let job = Job {
        hosvd: Some(args.components),
        ..Job::from_args(
            &args.model,
            &args.out,
            &args.outputs,
            &args.solve,
            &args.layout,
        )?
    };
    let report = run_precision(&job, args.solve.precision, printer)?;
    print_report(&report, &job.out, printer);
    Ok(())
}

fn run_precision(job: &Job, precision: Precision, printer: &Printer) -> anyhow::Result<Report> {
    match precision {
        Precision::F32 => run_job::<f32>(job, printer),
        Precision::F64 => run_job::<f64>(job, printer),
    }
}

/// Prints where the results went and each output's leading eigenvalues.
pub fn print_report(report: &Report, out: &Path, printer: &Printer) {
    printer.data(format!(
        "decomposed {} outputs ({} method, {} route) into {} in {:.2} s (loading took {:.2} s)",
        report.labels.len(),
        report.method.name(),
        report.route.name(),
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
    if let Some(h) = &report.hosvd {
        let sv: Vec<String> = h
            .singular_values
            .iter()
            .take(10)
            .map(|s| format!("{s:.4}"))
            .collect();
        printer.data(format!("singular values: {}", sv.join("  ")));
        printer.data(format!(
            "these {} components hold {:.1}% of the tensor's squared norm",
            h.singular_values.len(),
            100.0 * h.fraction_kept
        ));
    }
    let shown = report.labels.len().min(20);
    let width = report
        .labels
        .iter()
        .take(shown)
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(6);
    printer.data(format!("{:>width$}  leading eigenvalues", "output"));
    for (label, top) in report.labels.iter().zip(&report.top).take(shown) {
        let values: Vec<String> = top.iter().map(|v| format!("{v:+.4}")).collect();
        printer.data(format!("{label:>width$}  {}", values.join("  ")));
    }
    if report.labels.len() > shown {
        printer.data(format!(
            "{:>width$}  ({} more in summary.json)",
            "...",
            report.labels.len() - shown
        ));
    }
}

/// The feature basis of `--input-basis`, read as `[d_in, n_features]`.
fn load_basis<T: Real>(
    job: &Job,
    d_in: usize,
    printer: &Printer,
) -> anyhow::Result<Option<InputBasis<T>>> {
    let Some((path, tensor)) = &job.basis else {
        return Ok(None);
    };
    let read = read_rows::<T>(path, tensor, d_in, "input basis (--input-basis)")
        .with_context(|| format!("cannot read the input basis {}:{tensor}", path.display()))?;
    if read.transposed {
        printer.note(format!(
            "note: {tensor} is [{d_in}, n_features]: its columns are the features"
        ));
    }
    // Rows are features; the basis wants them as columns.
    Ok(Some(InputBasis::new(read.rows.t().to_owned())))
}

/// Loads the model and runs the job in precision `T`.
pub fn run_job<T: Real + Element>(job: &Job, printer: &Printer) -> anyhow::Result<Report> {
    let start = Instant::now();
    let loaded = load_model::<T>(&job.model, &job.layout)
        .with_context(|| format!("cannot load {}", job.model.display()))?;
    let model = &loaded.model;
    let layer = model.layer();
    let mut dirs: Directions<T> =
        directions::resolve(&job.outputs, job.rows.as_deref(), layer.d_out())?;
    let basis = load_basis::<T>(job, layer.d_in(), printer)?;
    let components: Option<Hosvd<T>> = match job.hosvd {
        None => None,
        Some(s) => {
            let restrict = (dirs.kind != "classes").then(|| dirs.matrix.view());
            let h = hosvd(layer, restrict, s, Par::rayon(0))?;
            dirs = Directions {
                matrix: h.component_directions(),
                labels: (0..h.singular_values.len())
                    .map(|i| format!("s{i}"))
                    .collect(),
                kind: format!("hosvd of {}", dirs.kind),
            };
            Some(h)
        }
    };
    let load_time = start.elapsed();

    let interactions = match (&basis, job.interactions) {
        (Some(_), Some(m)) => m,
        (Some(b), None) if b.n_features() <= INTERACTIONS_DEFAULT_MAX_FEATURES => 10,
        _ => 0,
    };
    let (width, k) = result_dims(layer, basis.as_ref(), &job.params);
    let matrix_dim = basis
        .as_ref()
        .map_or(layer.d_in(), |b| b.max_components().min(b.n_features()));
    let method = job
        .params
        .method
        .resolve::<T>(matrix_dim, Some(k), &job.params.lanczos);
    let n = dirs.matrix.nrows();
    let route = job.params.route.resolve(layer, n, job.params.memory_budget);
    // Pictures in the model's input space only for the layer's own basis.
    let d_input = model.embed().filter(|_| basis.is_none()).map(|e| e.ncols());
    let per_output = k
        * (width + d_input.unwrap_or(0))
        * std::mem::size_of::<T>()
        * usize::from(job.params.eigenvectors)
        + 64;
    let params = DecomposeParams {
        k: Some(k),
        route,
        interactions,
        chunk_size: (CHUNK_BYTES / per_output).clamp(2 * rayon::current_num_threads(), 4096),
        ..job.params
    };
    let shape = ResultsShape {
        n_out: n,
        k,
        d_in: width,
        d_input,
        d_out: layer.d_out(),
        eigenvectors: params.eigenvectors,
    };
    let mut extras = ExtraSpec::spectrum_stats::<T>();
    if layer.has_biases() {
        extras.extend(ExtraSpec::bias_terms::<T>(width));
    }
    if interactions > 0 {
        extras.extend(ExtraSpec::interactions::<T>(interactions));
    }
    let globals = components
        .as_ref()
        .map(ResultsWriter::<T>::hosvd_globals)
        .unwrap_or_default();
    let mut meta_extra = vec![
        ("outputs".to_string(), dirs.kind.clone()),
        ("route".to_string(), route.name().to_string()),
        ("residual".to_string(), loaded.info.residual.to_string()),
        (
            "sign_convention".to_string(),
            sign_convention(d_input.is_some()).to_string(),
        ),
    ];
    if let Some((path, tensor)) = &job.basis {
        meta_extra.push((
            "input_basis".to_string(),
            format!("{}:{tensor}", path.display()),
        ));
    }
    if layer.has_biases() {
        meta_extra.push((
            "biases".to_string(),
            "folded: output = xᵀQx + 2 linear_termsᵀx + constants".to_string(),
        ));
    }
    let meta = ResultsMeta {
        model: job.model.display().to_string(),
        layout: loaded.info.layout.name().to_string(),
        method: method.name().to_string(),
        order: params.order,
        extra: meta_extra.into_iter().collect(),
    };
    let mut writer = ResultsWriter::<T>::create(&job.out, shape, &meta, &extras, &globals)?;
    let bar = printer.bar(
        n as u64,
        if job.hosvd.is_some() {
            "hosvd"
        } else {
            "decompose"
        },
    );
    let decompose_start = Instant::now();
    let mut fallbacks = 0;
    let mut top = Vec::with_capacity(n.min(64));
    let labels = &dirs.labels;
    decompose_chunked(
        layer,
        dirs.matrix.view(),
        basis.as_ref(),
        &params,
        |first, mut part: Decomposition<T>| {
            let c = part.n_outputs();
            let mapped = if d_input.is_some() {
                input_space(model, &mut part)
            } else {
                None
            };
            let inter = part
                .interactions
                .as_deref()
                .map(|t| InteractionArrays::new(t, interactions));
            let mut chunk_extras: Vec<(&str, ExtraData<'_, T>)> = Vec::new();
            if let (Some(q), Some(q0)) = (&part.linear_terms, &part.constants) {
                chunk_extras.push((
                    bilens_io::names::LINEAR_TERMS,
                    ExtraData::Float(q.view().into_dyn()),
                ));
                chunk_extras.push((
                    bilens_io::names::CONSTANTS,
                    ExtraData::Float(q0.view().into_dyn()),
                ));
            }
            if let Some(i) = &inter {
                chunk_extras.extend(i.extras());
            }
            writer.write_decomposition(
                first,
                &part,
                dirs.matrix.slice(s![first..first + c, ..]),
                mapped.as_ref().map(|m| m.view()),
                |o| labels[o].clone(),
                &chunk_extras,
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
                    .take(64usize.saturating_sub(top.len()))
                    .map(|r| r.iter().take(4).map(|x| x.as_f64()).collect()),
            );
            bar.inc(c as u64);
            anyhow::Ok(())
        },
    )?;
    let hosvd_summary = components.as_ref().map(HosvdSummary::new);
    if let Some(h) = &components {
        writer.write_hosvd(h)?;
    }
    writer.set_metadata("lanczos_fallbacks", fallbacks.to_string());
    writer.finish()?;
    bar.finish_and_clear();
    Ok(Report {
        labels: dirs.labels.clone(),
        top,
        method,
        route,
        fallbacks,
        hosvd: hosvd_summary,
        load_time,
        decompose_time: decompose_start.elapsed(),
    })
}

fn sign_convention(input_space: bool) -> &'static str {
    if input_space {
        "largest-magnitude entry of the input-space eigenvector positive"
    } else {
        "largest-magnitude entry positive"
    }
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
