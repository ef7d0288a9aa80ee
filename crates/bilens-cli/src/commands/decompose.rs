//! `bilens decompose MODEL --out DIR` and `bilens hosvd MODEL --out DIR`: every output
//! direction's (or HOSVD component's) interaction matrix, eigendecomposed and streamed into a
//! results directory.
//!
//! Runs are resumable: the results directory keeps the finished chunks of a run that was
//! killed, and the same command continues from them (see [`super::checkpoint`]). With
//! `--layer all` each layer of a transformer gets its own directory, `OUT/layer-I`, and layers
//! already complete are skipped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bilens_decomp::{
    BilinearModel, DecomposeParams, Decomposition, Hosvd, InputBasis, Method, Order, Par, Real,
    Route, Solver, decompose_chunked, hosvd, result_dims,
};
use bilens_io::{
    Element, ExtraData, ExtraSpec, HosvdSummary, InteractionArrays, LayoutSpec, ResultsMeta,
    ResultsShape, ResultsWriter, ResumeState, SafetensorsFile, load_model, model_layers, names,
    parse_file_tensor, read_rows,
};
use ndarray::{Array2, Array3, s};

use super::checkpoint::{self, Resolved};
use crate::args::{
    DecomposeArgs, HosvdArgs, MethodArg, OrderArg, OutputsArgs, Precision, RouteArg, RunArgs,
    SolveArgs,
};
use crate::directions::{self, Directions};
use crate::error::BadInput;
use crate::printer::Printer;
use crate::tokens::{self, ComponentLabeller, LABELLED_COMPONENTS, TOKENS_PER_END, TokenContext};

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
    /// `--tokenizer`: token strings for labels.
    pub tokenizer: Option<PathBuf>,
    /// What to do with an earlier run's state or results in the results directory.
    pub resume: ResumeMode,
    /// `--chunk`: outputs per chunk (default: by memory).
    pub chunk: Option<usize>,
}

/// What a run does with what an earlier run left in its results directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeMode {
    /// Continue an interrupted run of the same job; recompute results that are complete.
    Continue,
    /// Continue an interrupted run, and keep results already complete for the same job
    /// (nothing to do): what `bilens decompose` does.
    SkipComplete,
    /// Discard any earlier state and start over (`--restart`).
    Restart,
}

/// How a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Every output computed in this run.
    Computed,
    /// An interrupted run continued: this many outputs came from it.
    Resumed(usize),
    /// The results were already complete for this job; nothing was computed.
    AlreadyComplete,
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
    /// Whether the run was fresh, resumed, or had nothing to do.
    pub status: RunStatus,
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
            tokenizer: None,
            resume: ResumeMode::Continue,
            chunk: None,
        }
    }

    /// The same job on layer `layer` of a layered model, into `OUT/layer-LAYER`.
    pub fn for_layer(&self, layer: usize) -> Self {
        let layout = match &self.layout {
            LayoutSpec::Lm { .. } => LayoutSpec::Lm { layer: Some(layer) },
            LayoutSpec::Gated { .. } => LayoutSpec::Gated { layer: Some(layer) },
            LayoutSpec::Auto { residual, .. } => LayoutSpec::Auto {
                residual: *residual,
                layer: Some(layer),
            },
            other => other.clone(),
        };
        Self {
            layout,
            out: self.out.join(format!("layer-{layer}")),
            ..self.clone()
        }
    }

    fn from_args(
        model: &Path,
        out: &Path,
        outputs: &OutputsArgs,
        solve: &SolveArgs,
        layout: LayoutSpec,
        run: &RunArgs,
    ) -> anyhow::Result<Self> {
        if run.chunk == Some(0) {
            return Err(BadInput::new("--chunk must be at least 1", "e.g. --chunk 256").into());
        }
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
            layout,
            tokenizer: run.tokenizer.clone(),
            resume: if run.restart {
                ResumeMode::Restart
            } else {
                ResumeMode::SkipComplete
            },
            chunk: run.chunk,
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
    let (layout, all) = super::layout::resolve_layers(&args.layout)?;
    let job = Job::from_args(
        &args.model,
        &args.out,
        &args.outputs,
        &args.solve,
        layout,
        &args.run,
    )?;
    run_layers(&job, all, args.solve.precision, printer)
}

pub fn run_hosvd(args: &HosvdArgs, printer: &Printer) -> anyhow::Result<()> {
    if args.components == 0 {
        return Err(
            BadInput::new("--components must be at least 1", "e.g. --components 10").into(),
        );
    }
    let (layout, all) = super::layout::resolve_layers(&args.layout)?;
    let job = Job {
        hosvd: Some(args.components),
        ..Job::from_args(
            &args.model,
            &args.out,
            &args.outputs,
            &args.solve,
            layout,
            &args.run,
        )?
    };
    run_layers(&job, all, args.solve.precision, printer)
}

/// Runs `job`, or with `all` the same job on every layer of the model, each into its own
/// directory.
fn run_layers(job: &Job, all: bool, precision: Precision, printer: &Printer) -> anyhow::Result<()> {
    if !all {
        let report = run_precision(job, precision, printer)?;
        print_report(&report, &job.out, printer);
        return Ok(());
    }
    let layers = {
        let file = SafetensorsFile::open(&job.model)
            .with_context(|| format!("cannot load {}", job.model.display()))?;
        model_layers(&file, &job.layout)
            .with_context(|| format!("cannot list the layers of {}", job.model.display()))?
    };
    printer.note(format!(
        "{} layers, one results directory each: {}/layer-I",
        layers.len(),
        job.out.display()
    ));
    for layer in layers {
        let layer_job = job.for_layer(layer);
        printer.data(format!("layer {layer}:"));
        let report = run_precision(&layer_job, precision, printer)
            .with_context(|| format!("layer {layer}"))?;
        print_report(&report, &layer_job.out, printer);
    }
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
    match report.status {
        RunStatus::AlreadyComplete => printer.note(format!(
            "{} already holds the complete results of this job: nothing to do (--restart \
             recomputes them)",
            out.display()
        )),
        RunStatus::Resumed(n) => printer.note(format!(
            "resumed an interrupted run: {n} of {} outputs were already done",
            report.labels.len()
        )),
        RunStatus::Computed => {}
    }
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
    // A label with spaces at its ends (a token such as " the") is quoted to show them.
    let labels: Vec<String> = report
        .labels
        .iter()
        .take(shown)
        .map(|l| {
            if l.starts_with(' ') || l.ends_with(' ') {
                format!("'{l}'")
            } else {
                l.clone()
            }
        })
        .collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    printer.data(format!("{:>width$}  leading eigenvalues", "output"));
    for (label, top) in labels.iter().zip(&report.top) {
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

/// Loads the model and runs the job in precision `T`: resumes an interrupted run of the same
/// job in the results directory, or (with [`ResumeMode::SkipComplete`]) finds it complete.
pub fn run_job<T: Real + Element>(job: &Job, printer: &Printer) -> anyhow::Result<Report> {
    let start = Instant::now();
    let loaded = load_model::<T>(&job.model, &job.layout)
        .with_context(|| format!("cannot load {}", job.model.display()))?;
    let model = &loaded.model;
    let layer = model.layer();
    if let Some(a) = &loaded.info.approximation {
        printer.note(format!("note: approximation: {a}"));
    }
    let token_ctx = TokenContext {
        model: job.model.clone(),
        matrices: loaded.info.tokens.clone(),
        vocab: job
            .tokenizer
            .as_deref()
            .map(tokens::read_vocab)
            .transpose()?,
    };
    let mut dirs: Directions<T> =
        directions::resolve(&job.outputs, job.rows.as_deref(), layer.d_out(), &token_ctx)?;
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
    let labeller = match (&job.tokenizer, job.params.eigenvectors) {
        (Some(_), true) => {
            let l = ComponentLabeller::<T>::new(&token_ctx)?;
            if l.is_none() {
                printer.note(
                    "note: the model file has no token embedding of the layer's width: \
                     components are not labelled by tokens",
                );
            }
            l
        }
        (Some(_), false) => {
            printer.note(
                "note: with --eigenvalues-only there are no components to label by tokens \
                 (token outputs keep their strings)",
            );
            None
        }
        (None, _) => None,
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
        chunk_size: job.chunk.unwrap_or_else(|| {
            (CHUNK_BYTES / per_output).clamp(2 * rayon::current_num_threads(), 4096)
        }),
        ..job.params
    };
    let description = checkpoint::describe(
        job,
        &Resolved {
            info: &loaded.info,
            directions: dirs.matrix.view(),
            basis: basis.as_ref(),
            k,
            method,
            route,
            interactions,
        },
    )?;
    let report = |top: Vec<Vec<f64>>, fallbacks: usize, status, decompose_time| Report {
        labels: dirs.labels.clone(),
        top,
        method,
        route,
        fallbacks,
        hosvd: components.as_ref().map(HosvdSummary::new),
        load_time,
        decompose_time,
        status,
    };
    match job.resume {
        ResumeMode::SkipComplete => {
            if let Some(done) = checkpoint::complete(&job.out, &checkpoint::run_id(&description)) {
                let top = leading(done.summary().outputs.iter());
                let fallbacks = done
                    .metadata()
                    .get(FALLBACKS)
                    .and_then(|f| f.parse().ok())
                    .unwrap_or(0);
                return Ok(report(
                    top,
                    fallbacks,
                    RunStatus::AlreadyComplete,
                    Duration::ZERO,
                ));
            }
        }
        ResumeMode::Restart => checkpoint::discard_state(&job.out)?,
        ResumeMode::Continue => {}
    }

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
    let labelled = k.min(LABELLED_COMPONENTS);
    let per_end = token_ctx
        .matrices
        .as_ref()
        .map_or(TOKENS_PER_END, |m| m.vocab_size.min(TOKENS_PER_END));
    if labeller.is_some() {
        extras.push(ExtraSpec::index(names::TOP_TOKENS, &[labelled, per_end]));
        extras.push(ExtraSpec::index(names::BOTTOM_TOKENS, &[labelled, per_end]));
    }
    let globals = components
        .as_ref()
        .map(ResultsWriter::<T>::hosvd_globals)
        .unwrap_or_default();
    let meta = ResultsMeta {
        model: job.model.display().to_string(),
        layout: loaded.info.layout.name().to_string(),
        method: method.name().to_string(),
        order: params.order,
        extra: metadata_extra(
            job,
            &loaded.info,
            &dirs,
            route,
            d_input.is_some(),
            layer.has_biases(),
        ),
    };
    let (mut writer, state) = ResultsWriter::<T>::create_resumable(
        &job.out,
        shape,
        &meta,
        &extras,
        &globals,
        &description,
    )?;
    let status = match &state {
        ResumeState::Resumed { outputs, .. } => RunStatus::Resumed(*outputs),
        ResumeState::Discarded { reason } => {
            printer.note(format!(
                "note: {} held an interrupted run of another job, discarded ({reason}); \
                 starting over",
                job.out.display()
            ));
            RunStatus::Computed
        }
        ResumeState::Fresh => RunStatus::Computed,
    };
    let bar = printer.bar(
        n as u64,
        if job.hosvd.is_some() {
            "hosvd"
        } else {
            "decompose"
        },
    );
    bar.inc((n - writer.pending().iter().map(|r| r.len()).sum::<usize>()) as u64);
    let decompose_start = Instant::now();
    let labels = &dirs.labels;
    let abort_after = checkpoint::abort_after();
    let mut chunks_written = 0;
    for pending in writer.pending() {
        decompose_chunked(
            layer,
            dirs.matrix.slice(s![pending.clone(), ..]),
            basis.as_ref(),
            &params,
            |local, mut part: Decomposition<T>| {
                let first = pending.start + local;
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
                let token_labels = match (&labeller, &part.eigenvectors) {
                    (Some(l), Some(v)) => {
                        Some(l.label(part.eigenvalues.view(), v.view(), basis.as_ref()))
                    }
                    _ => None,
                };
                let token_ids = token_labels
                    .as_ref()
                    .map(|t| tokens::token_arrays(t, labelled, per_end));
                let mut chunk_extras: Vec<(&str, ExtraData<'_, T>)> = Vec::new();
                if let (Some(q), Some(q0)) = (&part.linear_terms, &part.constants) {
                    chunk_extras.push((names::LINEAR_TERMS, ExtraData::Float(q.view().into_dyn())));
                    chunk_extras.push((names::CONSTANTS, ExtraData::Float(q0.view().into_dyn())));
                }
                if let Some(i) = &inter {
                    chunk_extras.extend(i.extras());
                }
                if let Some((top, bottom)) = &token_ids {
                    chunk_extras.push((names::TOP_TOKENS, ExtraData::Index(top.view().into_dyn())));
                    chunk_extras.push((
                        names::BOTTOM_TOKENS,
                        ExtraData::Index(bottom.view().into_dyn()),
                    ));
                }
                let fallbacks = part
                    .solvers
                    .iter()
                    .filter(|s| **s == Solver::LanczosFallback)
                    .count();
                writer.add_count(FALLBACKS, fallbacks as u64);
                writer.write_decomposition_with(
                    first,
                    &part,
                    dirs.matrix.slice(s![first..first + c, ..]),
                    mapped.as_ref().map(|m| m.view()),
                    |o| labels[o].clone(),
                    &chunk_extras,
                    |summary| {
                        if let Some(t) = &token_labels {
                            summary.component_tokens = Some(t[summary.index - first].clone());
                        }
                    },
                )?;
                bar.inc(c as u64);
                chunks_written += 1;
                if abort_after == Some(chunks_written) {
                    // The test hook: die as a killed process would, without unwinding.
                    std::process::abort();
                }
                anyhow::Ok(())
            },
        )?;
    }
    let top = leading(writer.summaries());
    let fallbacks = writer.count(FALLBACKS) as usize;
    if let Some(h) = &components {
        writer.write_hosvd(h)?;
    }
    writer.finish()?;
    bar.finish_and_clear();
    Ok(report(top, fallbacks, status, decompose_start.elapsed()))
}

/// The metadata key counting Lanczos fallbacks.
const FALLBACKS: &str = "lanczos_fallbacks";

/// The first outputs' leading eigenvalues, for the printed report.
fn leading<'a>(summaries: impl Iterator<Item = &'a bilens_io::OutputSummary>) -> Vec<Vec<f64>> {
    summaries
        .take(64)
        .map(|s| s.top_eigenvalues.iter().take(4).copied().collect())
        .collect()
}

/// The results metadata beyond the writer's own keys.
fn metadata_extra<T>(
    job: &Job,
    info: &bilens_io::ModelInfo,
    dirs: &Directions<T>,
    route: Route,
    input_space: bool,
    biases: bool,
) -> std::collections::BTreeMap<String, String> {
    let mut extra = vec![
        ("outputs".to_string(), dirs.kind.clone()),
        ("route".to_string(), route.name().to_string()),
        ("residual".to_string(), info.residual.to_string()),
        (
            "sign_convention".to_string(),
            sign_convention(input_space).to_string(),
        ),
    ];
    if let Some(l) = &info.layer {
        extra.push(("layer".to_string(), l.index.to_string()));
    }
    if let Some(a) = &info.approximation {
        extra.push(("approximation".to_string(), a.clone()));
    }
    if let Some(t) = &job.tokenizer {
        extra.push(("tokenizer".to_string(), t.display().to_string()));
    }
    if let Some((path, tensor)) = &job.basis {
        extra.push((
            "input_basis".to_string(),
            format!("{}:{tensor}", path.display()),
        ));
    }
    if biases {
        extra.push((
            "biases".to_string(),
            "folded: output = xᵀQx + 2 linear_termsᵀx + constants".to_string(),
        ));
    }
    extra.into_iter().collect()
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
