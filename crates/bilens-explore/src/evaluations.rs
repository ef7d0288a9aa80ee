//! Evaluations found beside the results: an approximation evaluation (`approx.json`: each
//! output's correlation with its true activation against the number of components K) and a
//! truncation evaluation (`truncation.json` and `truncation.csv`: test accuracy against the
//! number of components kept per class, per selection rule).
//!
//! Neither file records which results directory it belongs to beyond a path, so an evaluation
//! is taken only when it fits: an approximation must list the results' outputs with the same
//! labels in the same order (and, where its recorded results path still exists, name this
//! directory); a truncation must be of results whose outputs are the classes of the same model
//! file, one class column per output.

use std::path::{Path, PathBuf};

use bilens_io::{OutputSpec, ResultsFile};
use serde::{Deserialize, Serialize};

use crate::error::{ExploreError, Result};

/// File name of an approximation evaluation's report.
pub const APPROX_FILE: &str = "approx.json";
/// File name of a truncation evaluation's report.
pub const TRUNCATION_FILE: &str = "truncation.json";
/// File name of a truncation evaluation's per-class table.
pub const TRUNCATION_CSV: &str = "truncation.csv";

/// The K at which the index shows each output's approximation correlation.
pub const APPROX_INDEX_K: usize = 2;
/// A class counts as recovered when its accuracy is within this much (a fraction) of its
/// accuracy with every component, as `bilens eval truncation` counts the whole model.
const RECOVERY: f64 = 0.01;

/// The kind of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationKind {
    /// Correlation of each output's first K components with its true activation.
    Approximation,
    /// Accuracy of the model with each class truncated to k components.
    Truncation,
}

/// An evaluation the site shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundEvaluation {
    /// What it evaluates.
    pub kind: EvaluationKind,
    /// Its report file.
    pub path: PathBuf,
}

/// An evaluation found beside the results but not shown, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedEvaluation {
    /// Its report file.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: String,
}

/// An approximation evaluation's report, as `approx.json` holds it.
#[derive(Clone, Debug, Deserialize)]
struct ApproxFile {
    results: String,
    activations: String,
    n_inputs: usize,
    threshold: f64,
    k: Vec<usize>,
    mean: Vec<Option<f64>>,
    median: Vec<Option<f64>>,
    fraction_above: Vec<Option<f64>>,
    features: Vec<ApproxFeature>,
}

/// One output's curve in `approx.json`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub(crate) struct ApproxFeature {
    /// The output.
    pub index: usize,
    /// Its label.
    pub label: String,
    /// Its activation column.
    pub column: usize,
    /// Inputs on which it is active.
    pub n_active: usize,
    /// `correlations[K - 1]`; `None` where undefined.
    pub correlations: Vec<Option<f64>>,
}

/// The approximation evaluation as the site's overview shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ApproxSummary {
    /// The report it was read from.
    pub source: String,
    /// The activations file it used.
    pub activations: String,
    /// Inputs it used.
    pub n_inputs: usize,
    /// The threshold of `fraction_above`.
    pub threshold: f64,
    /// The K of the curves, `1..`.
    pub k: Vec<usize>,
    /// Mean, median and fraction above the threshold of the correlation at each K.
    pub mean: Vec<Option<f64>>,
    pub median: Vec<Option<f64>>,
    pub fraction_above: Vec<Option<f64>>,
}

/// An approximation evaluation that fits the results.
#[derive(Clone, Debug)]
pub(crate) struct Approx {
    pub summary: ApproxSummary,
    /// One per output, by index.
    pub features: Vec<ApproxFeature>,
}

impl ApproxFeature {
    /// The correlation at [`APPROX_INDEX_K`] components.
    pub fn at_index_k(&self) -> Option<f64> {
        self.correlations.get(APPROX_INDEX_K - 1).copied().flatten()
    }
}

/// `truncation.json`.
#[derive(Clone, Debug, Deserialize)]
struct TruncationFile {
    model: String,
    test_images: usize,
    components_per_class: usize,
    k: Vec<usize>,
    model_accuracy: f64,
    rules: Vec<RuleCurve>,
}

/// One selection rule's accuracy curve, of the whole model or of one class.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub(crate) struct RuleCurve {
    /// `abs`, `paired` or `activation`.
    pub rule: String,
    /// Accuracy (a fraction) at each k of the evaluation's `k`.
    pub accuracy: Vec<f64>,
    /// Accuracy with every component.
    pub accuracy_all: f64,
    /// For the whole model, the smallest k within one point of its accuracy (as the report
    /// says); for a class, the smallest k from which it stays within one point of
    /// `accuracy_all`. `None` if there is none on the curve.
    pub recovery_k: Option<usize>,
}

/// The truncation evaluation as the site's overview shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct TruncationSummary {
    /// The report it was read from.
    pub source: String,
    /// The model's test accuracy.
    pub model_accuracy: f64,
    /// Test images.
    pub test_images: usize,
    /// Components per class (k = all).
    pub components_per_class: usize,
    /// The k of the curves.
    pub k: Vec<usize>,
    /// The whole model's curve per rule.
    pub rules: Vec<RuleCurve>,
}

/// A truncation evaluation that fits the results.
#[derive(Clone, Debug)]
pub(crate) struct Truncation {
    pub summary: TruncationSummary,
    /// Per output (class), its own curve per rule; `None` without `truncation.csv`.
    pub classes: Option<Vec<Vec<RuleCurve>>>,
}

impl Truncation {
    /// The rule whose per-class recovery the index lists: `abs` (components by `|λ|`, the
    /// order results are stored in) when evaluated, else the first.
    pub fn index_rule(&self) -> Option<usize> {
        let rules = &self.summary.rules;
        rules
            .iter()
            .position(|r| r.rule == "abs")
            .or((!rules.is_empty()).then_some(0))
    }
}

/// The evaluations a site shows, and those found but left out.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evaluations {
    pub approx: Option<Approx>,
    pub truncation: Option<Truncation>,
    pub found: Vec<FoundEvaluation>,
    pub skipped: Vec<SkippedEvaluation>,
}

/// Reads the evaluations named in `explicit` (directories holding the reports, or the report
/// files; each must fit the results) and, with `discover`, those in the results directory,
/// its subdirectories and its sibling directories (taken when they fit, listed as skipped
/// otherwise).
pub(crate) fn gather(
    results: &ResultsFile,
    explicit: &[PathBuf],
    discover: bool,
) -> Result<Evaluations> {
    let mut found = Evaluations::default();
    for path in explicit {
        let reports = reports_at(path);
        if reports.is_empty() {
            return Err(ExploreError::Evaluation {
                path: path.clone(),
                reason: format!("holds neither {APPROX_FILE} nor {TRUNCATION_FILE}"),
            });
        }
        for (kind, report) in reports {
            let fail = |reason| ExploreError::Evaluation {
                path: report.clone(),
                reason,
            };
            if let Some(used) = found.has(kind) {
                return Err(fail(format!(
                    "a second {} evaluation (the first is {})",
                    kind_name(kind),
                    used.display()
                )));
            }
            found.keep(read(results, kind, &report).map_err(fail)?, report.clone());
        }
    }
    if discover {
        for (kind, report) in candidates(results.dir()) {
            if found.found.iter().any(|f| same_path(&f.path, &report)) {
                continue;
            }
            let outcome = read(results, kind, &report).and_then(|loaded| match found.has(kind) {
                Some(used) => Err(format!(
                    "another {} evaluation is shown: {}",
                    kind_name(kind),
                    used.display()
                )),
                None => Ok(loaded),
            });
            match outcome {
                Ok(loaded) => found.keep(loaded, report),
                Err(reason) => found.skipped.push(SkippedEvaluation {
                    path: report,
                    reason,
                }),
            }
        }
    }
    Ok(found)
}

/// An evaluation read and found to fit.
enum Loaded {
    Approx(Approx),
    Truncation(Truncation),
}

/// Reads `report` of `kind`; `Err(reason)` when it cannot be read or does not fit `results`.
fn read(
    results: &ResultsFile,
    kind: EvaluationKind,
    report: &Path,
) -> std::result::Result<Loaded, String> {
    Ok(match kind {
        EvaluationKind::Approximation => Loaded::Approx(read_approx(results, report)?),
        EvaluationKind::Truncation => Loaded::Truncation(read_truncation(results, report)?),
    })
}

impl Evaluations {
    /// The report of `kind` already taken, if any.
    fn has(&self, kind: EvaluationKind) -> Option<&Path> {
        self.found
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| f.path.as_path())
    }

    fn keep(&mut self, loaded: Loaded, path: PathBuf) {
        let kind = match loaded {
            Loaded::Approx(a) => {
                self.approx = Some(a);
                EvaluationKind::Approximation
            }
            Loaded::Truncation(t) => {
                self.truncation = Some(t);
                EvaluationKind::Truncation
            }
        };
        self.found.push(FoundEvaluation { kind, path });
    }
}

fn kind_name(kind: EvaluationKind) -> &'static str {
    match kind {
        EvaluationKind::Approximation => "approximation",
        EvaluationKind::Truncation => "truncation",
    }
}

/// The reports at `path`: the file itself when it is one, else the reports in the directory.
fn reports_at(path: &Path) -> Vec<(EvaluationKind, PathBuf)> {
    let kinds = [
        (EvaluationKind::Approximation, APPROX_FILE),
        (EvaluationKind::Truncation, TRUNCATION_FILE),
    ];
    if path.is_file() {
        let name = path.file_name().and_then(|n| n.to_str());
        return kinds
            .iter()
            .filter(|(_, file)| name == Some(*file))
            .map(|&(kind, _)| (kind, path.to_path_buf()))
            .collect();
    }
    kinds
        .iter()
        .map(|&(kind, file)| (kind, path.join(file)))
        .filter(|(_, p)| p.is_file())
        .collect()
}

/// Reports in the results directory, its subdirectories and its siblings, in a fixed order
/// (the directory itself first, then by path).
fn candidates(dir: &Path) -> Vec<(EvaluationKind, PathBuf)> {
    let mut dirs = vec![dir.to_path_buf()];
    let mut around: Vec<PathBuf> = subdirectories(dir);
    if let Some(parent) = dir.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        around.extend(
            subdirectories(parent)
                .into_iter()
                .filter(|d| !same_path(d, dir)),
        );
    }
    around.sort();
    dirs.extend(around);
    dirs.iter().flat_map(|d| reports_at(d)).collect()
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether two paths name the same file (by their canonical forms when both exist, else as
/// written).
fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> std::result::Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("not a bilens evaluation report: {e}"))
}

fn read_approx(results: &ResultsFile, report: &Path) -> std::result::Result<Approx, String> {
    let file: ApproxFile = read_json(report)?;
    let outputs = &results.summary().outputs;
    let recorded = PathBuf::from(&file.results);
    if recorded.exists() && !same_path(&recorded, results.dir()) {
        return Err(format!(
            "evaluates the results in {}, not {}",
            file.results,
            results.dir().display()
        ));
    }
    if file.features.len() != outputs.len() {
        return Err(format!(
            "lists {} outputs; the results have {}",
            file.features.len(),
            outputs.len()
        ));
    }
    if let Some((o, f)) = file
        .features
        .iter()
        .enumerate()
        .find(|(o, f)| f.index != *o || f.label != outputs[*o].label)
    {
        return Err(format!(
            "its output {o} is '{}' (index {}); in the results it is '{}'",
            f.label, f.index, outputs[o].label
        ));
    }
    Ok(Approx {
        summary: ApproxSummary {
            source: report.display().to_string(),
            activations: file.activations,
            n_inputs: file.n_inputs,
            threshold: file.threshold,
            k: file.k,
            mean: file.mean,
            median: file.median,
            fraction_above: file.fraction_above,
        },
        features: file.features,
    })
}

fn read_truncation(
    results: &ResultsFile,
    report: &Path,
) -> std::result::Result<Truncation, String> {
    let file: TruncationFile = read_json(report)?;
    let meta = &results.meta().meta;
    let classes = meta
        .outputs
        .as_ref()
        .is_some_and(|o| !o.hosvd && o.selection.spec == OutputSpec::Classes);
    if !classes {
        let outputs = meta
            .outputs
            .as_ref()
            .map_or(String::new(), |o| o.to_string());
        return Err(format!(
            "a truncation is per class, and these results' outputs are '{outputs}'"
        ));
    }
    let model = meta.model.as_str();
    if !same_path(Path::new(&file.model), Path::new(model)) {
        return Err(format!(
            "evaluates the model {}; the results are of {model}",
            file.model
        ));
    }
    let n_out = results.shape().n_out;
    let labels_are_classes = results
        .summary()
        .outputs
        .iter()
        .enumerate()
        .all(|(c, o)| o.label == c.to_string());
    let csv = report.with_file_name(TRUNCATION_CSV);
    let classes = if csv.is_file() && labels_are_classes {
        Some(class_curves(&csv, &file, n_out)?)
    } else {
        None
    };
    Ok(Truncation {
        summary: TruncationSummary {
            source: report.display().to_string(),
            model_accuracy: file.model_accuracy,
            test_images: file.test_images,
            components_per_class: file.components_per_class,
            k: file.k,
            rules: file.rules,
        },
        classes,
    })
}

/// Each class's accuracy curve per rule from `truncation.csv`
/// (`rule,k,accuracy,correct,total,components,class_0,…`: per rule, one row per k of the
/// report, then the row of k = all).
fn class_curves(
    csv: &Path,
    file: &TruncationFile,
    n_classes: usize,
) -> std::result::Result<Vec<Vec<RuleCurve>>, String> {
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let bad = |line: usize, what: &str| format!("{} line {}: {what}", csv.display(), line + 1);
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| h.split(',').collect())
        .unwrap_or_default();
    let first_class = header
        .iter()
        .position(|h| *h == "class_0")
        .ok_or_else(|| bad(0, "no class_0 column"))?;
    if header.len() - first_class != n_classes || header.first() != Some(&"rule") {
        return Err(format!(
            "{}: {} class columns; the results have {n_classes} classes",
            csv.display(),
            header.len().saturating_sub(first_class)
        ));
    }
    // rows[rule] = the class accuracies of each of its rows, in order.
    let mut rows: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(bad(i, "wrong number of fields"));
        }
        let values = cells[first_class..]
            .iter()
            .map(|c| {
                c.parse::<f64>()
                    .map_err(|_| bad(i, "a class accuracy is not a number"))
            })
            .collect::<std::result::Result<Vec<f64>, String>>()?;
        match rows.iter_mut().find(|(r, _)| r == cells[0]) {
            Some((_, v)) => v.push(values),
            None => rows.push((cells[0].to_string(), vec![values])),
        }
    }
    let per_k = file.k.len();
    let mut classes = vec![Vec::new(); n_classes];
    for (rule, values) in rows {
        if values.len() != per_k + 1 {
            return Err(format!(
                "{}: rule {rule} has {} rows; {} lists {per_k} values of k and k = all",
                csv.display(),
                values.len(),
                TRUNCATION_FILE
            ));
        }
        for (c, curves) in classes.iter_mut().enumerate() {
            let accuracy: Vec<f64> = values[..per_k].iter().map(|v| v[c]).collect();
            let accuracy_all = values[per_k][c];
            // From where the class stays within reach: at k = 0 every logit can be equal and
            // the ties all go to one class, whose accuracy is then 100% by accident.
            let within = |a: f64| a >= accuracy_all - RECOVERY;
            let recovery_k = accuracy
                .iter()
                .rposition(|&a| !within(a))
                .map_or(Some(0), |last| Some(last + 1))
                .and_then(|j| file.k.get(j).copied());
            curves.push(RuleCurve {
                rule: rule.clone(),
                accuracy,
                accuracy_all,
                recovery_k,
            });
        }
    }
    Ok(classes)
}
