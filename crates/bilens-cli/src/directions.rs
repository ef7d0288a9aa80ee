//! `--outputs` and `--rows`: which output directions `u` to decompose, and their labels.

use std::path::Path;

use anyhow::Context;
use bilens_decomp::{Real, class_directions, contrast_direction, contrast_mean_direction};
use bilens_io::{parse_file_tensor, read_rows};
use ndarray::{Array2, Axis};

use crate::error::BadInput;
use crate::tokens::{TokenContext, token_directions};

/// The resolved output directions.
#[derive(Debug, Clone)]
pub struct Directions<T> {
    /// One direction per row, `[n, d_out]`.
    pub matrix: Array2<T>,
    /// A label per row (e.g. the class, the feature index, `3-5`).
    pub labels: Vec<String>,
    /// What they are, for metadata: `classes`, `FILE:TENSOR`, `contrast:3-5`.
    pub kind: String,
}

/// Parses `--outputs` and `--rows` and builds the directions for an output space of width
/// `d_out`.
///
/// - `classes` (default): the rows of the identity, one per output unit;
/// - `FILE:TENSOR`: every row of a tensor of a safetensors file (e.g. an SAE encoder
///   `[n_features, d_out]`; a `[d_out, n]` tensor is read by columns);
/// - `contrast:A-B`: `e_A - e_B`; `contrast:A-mean`: `e_A` minus the mean of the others;
/// - `tokens:ID,A-B,...` for a language model: the unembedding rows of tokens (and contrasts
///   of two), labelled by their strings when `tokens` has a vocabulary.
///
/// `--rows` keeps a subset, in order: `0..100` (end exclusive), `3,7,9`, or a mix.
pub fn resolve<T: Real>(
    outputs: &str,
    rows: Option<&str>,
    d_out: usize,
    tokens: &TokenContext,
) -> anyhow::Result<Directions<T>> {
    let (matrix, labels, kind) = if let Some(spec) = outputs.strip_prefix("tokens:") {
        let (matrix, labels) = token_directions::<T>(spec, outputs, tokens, d_out)?;
        (matrix, labels, outputs.to_string())
    } else if outputs == "classes" {
        (
            class_directions::<T>(d_out),
            (0..d_out).map(|o| o.to_string()).collect(),
            "classes".to_string(),
        )
    } else if let Some(c) = outputs.strip_prefix("contrast:") {
        let (a, b) = c.split_once('-').ok_or_else(|| contrast_error(outputs))?;
        let a = parse_output(a, d_out, outputs)?;
        let u = if b == "mean" {
            if d_out < 2 {
                return Err(BadInput::new(
                    format!("--outputs {outputs}: the model has a single output"),
                    "contrast two of several outputs",
                )
                .into());
            }
            contrast_mean_direction::<T>(d_out, a)
        } else {
            contrast_direction::<T>(d_out, a, parse_output(b, d_out, outputs)?)
        };
        (
            u.insert_axis(Axis(0)),
            vec![c.to_string()],
            outputs.to_string(),
        )
    } else if let Some((path, tensor)) = parse_file_tensor(outputs) {
        let read = read_rows::<T>(
            Path::new(&path),
            &tensor,
            d_out,
            "output directions (--outputs)",
        )
        .with_context(|| format!("cannot read the output directions {outputs}"))?;
        let n = read.rows.nrows();
        (
            read.rows,
            (0..n).map(|o| o.to_string()).collect(),
            outputs.to_string(),
        )
    } else {
        return Err(BadInput::new(
            format!("--outputs {outputs}: not a direction set bilens knows"),
            "use classes, FILE:TENSOR (e.g. sae.safetensors:encoder.weight), contrast:A-B, \
             contrast:A-mean, or tokens:ID,A-B for a language model's tokens",
        )
        .into());
    };
    match rows {
        None => Ok(Directions {
            matrix,
            labels,
            kind,
        }),
        Some(spec) => {
            let picked = parse_rows(spec, matrix.nrows())?;
            Ok(Directions {
                matrix: matrix.select(Axis(0), &picked),
                labels: picked.iter().map(|&r| labels[r].clone()).collect(),
                kind: format!("{kind} rows {spec}"),
            })
        }
    }
}

fn contrast_error(spec: &str) -> anyhow::Error {
    BadInput::new(
        format!("--outputs {spec}: a contrast is contrast:A-B or contrast:A-mean"),
        "e.g. --outputs contrast:3-5",
    )
    .into()
}

fn parse_output(s: &str, d_out: usize, spec: &str) -> Result<usize, BadInput> {
    match s.parse::<usize>() {
        Ok(o) if o < d_out => Ok(o),
        _ => Err(BadInput::new(
            format!("--outputs {spec}: '{s}' is not an output index below d_out = {d_out}"),
            format!("outputs are numbered 0..{d_out}"),
        )),
    }
}

/// `0..100`, `3,7,9`, `0..10,20`: indices below `n`, in the order given.
pub fn parse_rows(spec: &str, n: usize) -> Result<Vec<usize>, BadInput> {
    let bad = |what: String| {
        BadInput::new(
            format!("--rows {spec}: {what}"),
            "write rows as 0..100 (end exclusive), 3,7,9, or a mix such as 0..10,20",
        )
    };
    let mut rows = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let index = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("'{s}' is not a row index")))
        };
        if let Some((a, b)) = part.split_once("..") {
            let (a, b) = (index(a)?, index(b)?);
            if a >= b {
                return Err(bad(format!("the range {part} is empty")));
            }
            rows.extend(a..b);
        } else {
            rows.push(index(part)?);
        }
    }
    if let Some(&r) = rows.iter().find(|&&r| r >= n) {
        return Err(bad(format!(
            "row {r} is out of range: there are {n} directions"
        )));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_ranges_lists_and_errors() {
        assert_eq!(parse_rows("0..3,7", 10).unwrap(), vec![0, 1, 2, 7]);
        assert_eq!(parse_rows("9", 10).unwrap(), vec![9]);
        assert!(
            parse_rows("3..3", 10)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            parse_rows("12", 10)
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
        assert!(
            parse_rows("a", 10)
                .unwrap_err()
                .to_string()
                .contains("'a' is not a row index")
        );
    }

    #[test]
    fn contrasts_and_classes() {
        let none = TokenContext::default();
        let d = resolve::<f64>("contrast:3-5", None, 10, &none).unwrap();
        assert_eq!(d.labels, vec!["3-5"]);
        assert_eq!(d.matrix.row(0)[3], 1.0);
        assert_eq!(d.matrix.row(0)[5], -1.0);
        let m = resolve::<f64>("contrast:2-mean", None, 5, &none).unwrap();
        assert!((m.matrix.row(0).sum()).abs() < 1e-12);
        let c = resolve::<f32>("classes", Some("1,3"), 4, &none).unwrap();
        assert_eq!(c.labels, vec!["1", "3"]);
        assert_eq!(c.matrix.row(1)[3], 1.0);
        assert!(
            resolve::<f64>("contrast:3-12", None, 10, &none)
                .unwrap_err()
                .to_string()
                .contains("below d_out = 10")
        );
        assert!(resolve::<f64>("bogus", None, 10, &none).is_err());
    }
}
