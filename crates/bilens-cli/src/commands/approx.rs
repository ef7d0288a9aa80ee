//! `bilens eval approx RESULTS --activations FILE --out DIR`: how well each output feature's
//! first K components approximate its true activation (the paper's Section 5, Figure 9).
//!
//! For every output of the results (e.g. every SAE encoder row given as `--outputs`), the
//! Pearson correlation between the feature's recorded activation and
//! `Σ_{k≤K} λ_k (v_kᵀx)² (+ 2qᵀx + q0 with biases)` over the inputs where the feature is active,
//! for K = 1..max-k ([`bilens_decomp::approximation_correlations`]); then the mean, median and
//! fraction above a threshold at each K.
//!
//! Which activation column belongs to which output: column `o` for output `o` when the file has
//! as many columns as the results have outputs; otherwise each output's label, which for
//! `FILE:TENSOR` outputs is its row in the tensor (`--rows 100..200` gives labels 100..199),
//! names its column.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use bilens_decomp::{
    ApproximationSummary, Components, FeatureApproximation, Par, Real, approximation_correlations,
    summarize_approximations,
};
use bilens_io::{ResultsFile, names, read_activations, write_atomic};
use bilens_plot::{LineChart, Reference, Series, line_chart};
use ndarray::{Array1, Axis, Ix1, Ix2};
use rayon::prelude::*;
use serde::Serialize;

use crate::args::ApproxArgs;
use crate::error::BadInput;
use crate::printer::Printer;

/// The K at which the summary's headline figures are reported (the paper's "two
/// components").
const HEADLINE_K: usize = 2;

/// One feature's curve, as `approx.json` lists it.
#[derive(Serialize)]
struct FeatureRecord<'a> {
    index: usize,
    label: &'a str,
    column: usize,
    n_active: usize,
    /// `correlations[K - 1]`; `null` where undefined.
    correlations: Vec<Option<f64>>,
}

#[derive(Serialize)]
struct Report<'a> {
    results: String,
    activations: String,
    n_inputs: usize,
    max_k: usize,
    threshold: f64,
    /// Mean correlation at K = 2 over the features where it is defined.
    mean_at_2: Option<f64>,
    /// Fraction of those features with correlation above the threshold at K = 2.
    fraction_above_at_2: Option<f64>,
    k: Vec<usize>,
    mean: Vec<Option<f64>>,
    median: Vec<Option<f64>>,
    fraction_above: Vec<Option<f64>>,
    defined: &'a [usize],
    features: Vec<FeatureRecord<'a>>,
}

pub fn run(args: &ApproxArgs, printer: &Printer) -> anyhow::Result<()> {
    if args.max_k == 0 {
        return Err(BadInput::new("--max-k must be at least 1", "e.g. --max-k 64").into());
    }
    if !args.threshold.is_finite() {
        return Err(BadInput::new("--threshold must be a number", "e.g. --threshold 0.75").into());
    }
    let results = ResultsFile::open(&args.results)
        .with_context(|| format!("cannot read results in {}", args.results.display()))?;
    match results.meta().precision {
        bilens::Precision::F64 => run_in::<f64>(args, &results, printer),
        bilens::Precision::F32 => run_in::<f32>(args, &results, printer),
    }
}

fn run_in<T: Real>(
    args: &ApproxArgs,
    results: &ResultsFile,
    printer: &Printer,
) -> anyhow::Result<()> {
    let shape = results.shape();
    if !shape.eigenvectors {
        return Err(BadInput::new(
            format!(
                "{} holds eigenvalues only: the approximation needs the eigenvectors",
                args.results.display()
            ),
            "decompose again without --eigenvalues-only",
        )
        .into());
    }
    let data = read_activations::<T>(
        &args.activations,
        &args.inputs_tensor,
        &args.activations_tensor,
    )
    .with_context(|| format!("cannot read the activations {}", args.activations.display()))?;
    let width = data.inputs.ncols();
    // The eigenvectors in the inputs' space: the layer's own, or mapped through the embedding.
    let input_space = if width == shape.d_in {
        false
    } else if shape.d_input == Some(width) {
        true
    } else {
        let basis = results.meta().meta.input_basis.is_some();
        return Err(BadInput::new(
            format!(
                "{}: '{}' has {width} columns but the eigenvectors have {}{}",
                args.activations.display(),
                args.inputs_tensor,
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
        )
        .into());
    };
    let labels: Vec<&str> = results
        .summary()
        .outputs
        .iter()
        .map(|o| o.label.as_str())
        .collect();
    let columns = feature_columns(
        &labels,
        data.activations.ncols(),
        &args.activations,
        &args.activations_tensor,
    )?;
    let linear = results
        .tensor::<T>(names::LINEAR_TERMS)?
        .map(|a| a.into_dimensionality::<Ix2>())
        .transpose()
        .context("linear_terms is [n_out, d]")?;
    let constants = results
        .tensor::<T>(names::CONSTANTS)?
        .map(|a| a.into_dimensionality::<Ix1>())
        .transpose()
        .context("constants is [n_out]")?;
    if input_space && linear.is_some() {
        return Err(BadInput::new(
            "the results have linear terms in the layer's input space, which inputs in the \
             model's input space cannot use",
            "give the layer's inputs (after the embedding) as the inputs",
        )
        .into());
    }
    let eigenvalues = results.eigenvalues::<T>()?;
    let bar = printer.bar(shape.n_out as u64, "approx");
    let curves: Vec<FeatureApproximation> = (0..shape.n_out)
        .into_par_iter()
        .map(|o| -> anyhow::Result<FeatureApproximation> {
            let slab = if input_space {
                results.input_eigenvectors::<T>(o..o + 1)?
            } else {
                results.eigenvectors::<T>(o..o + 1)?
            }
            .context("eigenvectors are stored")?;
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
                args.max_k,
                Par::Seq,
            );
            bar.inc(1);
            Ok(f)
        })
        .collect::<anyhow::Result<_>>()?;
    bar.finish_and_clear();
    let summary = summarize_approximations(&curves, args.threshold);
    write_outputs(
        args,
        &labels,
        &columns,
        &curves,
        &summary,
        data.inputs.nrows(),
    )?;
    print_summary(args, &curves, &summary, data.inputs.nrows(), printer);
    Ok(())
}

/// The activation column of each output (see the module documentation).
fn feature_columns(
    labels: &[&str],
    columns: usize,
    file: &Path,
    tensor: &str,
) -> Result<Vec<usize>, BadInput> {
    if columns == labels.len() {
        return Ok((0..labels.len()).collect());
    }
    labels
        .iter()
        .map(|l| match l.parse::<usize>() {
            Ok(c) if c < columns => Ok(c),
            _ => Err(BadInput::new(
                format!(
                    "{}: '{tensor}' has {columns} columns for {} outputs, and output label '{l}' \
                     does not name one of them",
                    file.display(),
                    labels.len()
                ),
                "give one activation column per output of the results, in order, or all of the \
                 direction set's features (outputs decomposed with --rows are matched by their \
                 row)",
            )),
        })
        .collect()
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn write_outputs(
    args: &ApproxArgs,
    labels: &[&str],
    columns: &[usize],
    curves: &[FeatureApproximation],
    s: &ApproximationSummary,
    n_inputs: usize,
) -> anyhow::Result<()> {
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let k_max = s.mean.len();
    let at = |v: &[f64]| v.get(HEADLINE_K - 1).copied().and_then(finite);
    let report = Report {
        results: args.results.display().to_string(),
        activations: args.activations.display().to_string(),
        n_inputs,
        max_k: args.max_k,
        threshold: args.threshold,
        mean_at_2: at(&s.mean),
        fraction_above_at_2: at(&s.fraction_above),
        k: (1..=k_max).collect(),
        mean: s.mean.iter().copied().map(finite).collect(),
        median: s.median.iter().copied().map(finite).collect(),
        fraction_above: s.fraction_above.iter().copied().map(finite).collect(),
        defined: &s.defined,
        features: curves
            .iter()
            .enumerate()
            .map(|(o, f)| FeatureRecord {
                index: o,
                label: labels[o],
                column: columns[o],
                n_active: f.n_active,
                correlations: f.correlations.iter().copied().map(finite).collect(),
            })
            .collect(),
    };
    let mut json = serde_json::to_vec_pretty(&report).context("serialising approx.json")?;
    json.push(b'\n');
    write_atomic(&out.join("approx.json"), &json)?;

    let cell = |x: f64| {
        if x.is_finite() {
            format!("{x}")
        } else {
            String::new()
        }
    };
    let mut csv = String::from("k,mean,median,fraction_above,defined\n");
    for kk in 0..k_max {
        let _ = writeln!(
            csv,
            "{},{},{},{},{}",
            kk + 1,
            cell(s.mean[kk]),
            cell(s.median[kk]),
            cell(s.fraction_above[kk]),
            s.defined[kk]
        );
    }
    write_atomic(&out.join("approx_summary.csv"), csv.as_bytes())?;
    let mut csv = String::from("index,label,column,n_active");
    for kk in 1..=k_max {
        let _ = write!(csv, ",k{kk}");
    }
    csv.push('\n');
    for (o, f) in curves.iter().enumerate() {
        let _ = write!(
            csv,
            "{o},{},{},{}",
            csv_field(labels[o]),
            columns[o],
            f.n_active
        );
        for kk in 0..k_max {
            let _ = write!(
                csv,
                ",{}",
                f.correlations.get(kk).map_or(String::new(), |&c| cell(c))
            );
        }
        csv.push('\n');
    }
    write_atomic(&out.join("approx_features.csv"), csv.as_bytes())?;

    if k_max > 0 {
        let x: Array1<f64> = (1..=k_max).map(|k| k as f64).collect();
        let mean = Array1::from(s.mean.clone());
        let median = Array1::from(s.median.clone());
        let above = Array1::from(s.fraction_above.clone());
        let above_name = format!("fraction above {}", args.threshold);
        let series = [
            Series {
                name: "mean correlation",
                x: x.view(),
                y: mean.view(),
            },
            Series {
                name: "median correlation",
                x: x.view(),
                y: median.view(),
            },
            Series {
                name: &above_name,
                x: x.view(),
                y: above.view(),
            },
        ];
        let title = format!(
            "approximating {} features by their top K components",
            curves.len()
        );
        let mut chart = LineChart::new(
            &title,
            "components K",
            "correlation on active inputs (or fraction of features)",
            &series,
        );
        chart.reference = Some(Reference {
            name: "threshold",
            y: args.threshold,
        });
        // Correlations can be negative: the axis reaches down to the lowest value shown.
        let lowest = s
            .mean
            .iter()
            .chain(&s.median)
            .copied()
            .filter(|x| x.is_finite())
            .fold(0.0f64, f64::min);
        chart.y_range = Some(((lowest * 10.0).floor() / 10.0, 1.0));
        line_chart(&out.join("approx"), &chart)?;
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma, quote or space at an end.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn print_summary(
    args: &ApproxArgs,
    curves: &[FeatureApproximation],
    s: &ApproximationSummary,
    n_inputs: usize,
    printer: &Printer,
) {
    let never = curves.iter().filter(|f| f.n_active < 2).count();
    printer.data(format!(
        "{} features, {n_inputs} inputs; written to {}",
        curves.len(),
        args.out.display()
    ));
    let at = |v: &[f64]| v.get(HEADLINE_K - 1).copied().filter(|x| x.is_finite());
    if let (Some(mean), Some(above)) = (at(&s.mean), at(&s.fraction_above)) {
        printer.data(format!(
            "at K = {HEADLINE_K}: mean correlation {mean:.3}, {:.1}% of features above {}",
            100.0 * above,
            args.threshold
        ));
    }
    if never > 0 {
        printer.note(format!(
            "note: {never} features are active on fewer than two inputs: no correlation for them"
        ));
    }
    printer.data(format!(
        "{:>4}  {:>6}  {:>6}  {:>8}",
        "K",
        "mean",
        "median",
        format!(">{}", args.threshold)
    ));
    let show = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "-".to_string()
        }
    };
    for kk in (0..s.mean.len()).filter(|&k| k < 8 || (k + 1) % 8 == 0 || k + 1 == s.mean.len()) {
        printer.data(format!(
            "{:>4}  {:>6}  {:>6}  {:>8}",
            kk + 1,
            show(s.mean[kk]),
            show(s.median[kk]),
            show(s.fraction_above[kk])
        ));
    }
}
