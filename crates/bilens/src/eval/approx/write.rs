//! The approximation evaluation's files: `approx.json`, the summary and per-feature CSV
//! files, and the figure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bilens_io::write_atomic;
use bilens_plot::{LineChart, Reference, Series, line_chart};
use ndarray::Array1;
use serde::Serialize;

use super::Approximation;
use crate::error::Result;
use crate::eval::files::{ensure_dir, write_json};

/// The K at which the summary's headline figures are reported (the paper's "two
/// components").
pub const HEADLINE_K: usize = 2;

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

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Writes `approx.json`, `approx_summary.csv`, `approx_features.csv` and (when there is a
/// curve) the figure `approx.{png,svg}` into `out`; returns their paths (the PNG for the
/// figure).
pub fn write(a: &Approximation, out: &Path) -> Result<Vec<PathBuf>> {
    let (labels, columns, curves, s) = (&a.labels, &a.columns, &a.curves, &a.summary);
    ensure_dir(out)?;
    let k_max = s.mean.len();
    let at = |v: &[f64]| v.get(HEADLINE_K - 1).copied().and_then(finite);
    let report = Report {
        results: a.results.display().to_string(),
        activations: a.activations.display().to_string(),
        n_inputs: a.n_inputs,
        max_k: a.options.max_k,
        threshold: a.options.threshold,
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
                label: &labels[o],
                column: columns[o],
                n_active: f.n_active,
                correlations: f.correlations.iter().copied().map(finite).collect(),
            })
            .collect(),
    };
    let json = out.join("approx.json");
    write_json(&json, &report)?;

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
    let summary_csv = out.join("approx_summary.csv");
    write_atomic(&summary_csv, csv.as_bytes())?;
    let mut csv = String::from("index,label,column,n_active");
    for kk in 1..=k_max {
        let _ = write!(csv, ",k{kk}");
    }
    csv.push('\n');
    for (o, f) in curves.iter().enumerate() {
        let _ = write!(
            csv,
            "{o},{},{},{}",
            csv_field(&labels[o]),
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
    let features_csv = out.join("approx_features.csv");
    write_atomic(&features_csv, csv.as_bytes())?;
    let mut files = vec![json, summary_csv, features_csv];

    if k_max > 0 {
        let x: Array1<f64> = (1..=k_max).map(|k| k as f64).collect();
        let mean = Array1::from(s.mean.clone());
        let median = Array1::from(s.median.clone());
        let above = Array1::from(s.fraction_above.clone());
        let above_name = format!("fraction above {}", a.options.threshold);
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
            y: a.options.threshold,
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
        files.push(line_chart(&out.join("approx"), &chart)?.png);
    }
    Ok(files)
}

/// A CSV field, quoted when it holds a comma, quote or space at an end.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
