//! Which output directions a decomposition is of, as a typed value: parsed once from the text
//! a user writes, stored in results metadata as its canonical text ([`fmt::Display`]) and
//! read back ([`FromStr`]).
//!
//! | text | value | the directions `u` |
//! |---|---|---|
//! | `classes` | [`OutputSpec::Classes`] | the rows of the identity, one per output unit |
//! | `FILE:TENSOR` | [`OutputSpec::File`] | every row of a tensor, e.g. an SAE encoder `[n, d_out]` (a `[d_out, n]` tensor is read by columns) |
//! | `sae:DIR` | [`OutputSpec::File`] of role `encoder` | the encoder rows of the SAE saved in folder `DIR` (SAELens's `cfg.json` + `sae_weights.safetensors`, or the public bilinear code's; see [`SAE_ROLES`](crate::SAE_ROLES)) |
//! | `contrast:A-B` | [`OutputSpec::Contrast`] | `e_A − e_B`: what separates output A from B |
//! | `contrast:A-mean` | [`OutputSpec::Contrast`] | `e_A` minus the mean of the other outputs |
//! | `tokens:ID,A-B` | [`OutputSpec::Tokens`] | a language model's unembedding rows `u_t`, and `u_A − u_B` |
//! | `results:DIR` | [`OutputSpec::Results`] | the eigenvectors stored in another results directory, every output's in turn: the chain of a deep model, where block `i + 1`'s components are directions of the stream block `i` writes |
//!
//! A [`RowSet`] keeps a subset of the directions, in order (`0..100` end exclusive, `3,7,9`,
//! or a mix); an [`OutputSelection`] is the two together. Turning a selection into vectors
//! needs the model (its output width, its unembedding) and is the library facade's job; this
//! module only says what was asked for.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

/// A tensor of a file, written `FILE:TENSOR` (split at the last colon, so paths may hold
/// colons).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorRef {
    /// The file.
    pub path: PathBuf,
    /// The tensor's name in it.
    pub tensor: String,
}

impl fmt::Display for TensorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.tensor)
    }
}

impl FromStr for TensorRef {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s.rsplit_once(':') {
            Some((file, tensor)) if !file.is_empty() && !tensor.is_empty() => Ok(Self {
                path: PathBuf::from(file),
                tensor: tensor.to_string(),
            }),
            _ => Err(SpecError::new(
                s,
                "expected FILE:TENSOR",
                "name a file and one of its tensors, e.g. sae.safetensors:decoder.weight",
            )),
        }
    }
}

impl TensorRef {
    /// An input basis as a front end takes it: `FILE:TENSOR`, or `sae:DIR` for the decoder of
    /// the SAE saved in folder `DIR` (its role `decoder`, see [`crate::SAE_ROLES`]).
    pub fn parse_basis(text: &str) -> Result<Self, SpecError> {
        match text.strip_prefix("sae:").filter(|d| !d.is_empty()) {
            Some(dir) => Ok(Self {
                path: dir.into(),
                tensor: "decoder".into(),
            }),
            None => text.parse(),
        }
    }

    /// An SAE folder's `encoder` or `decoder` role becomes its version rescaled as SAELens's
    /// `fold_W_dec_norm` does (`encoder_folded`, `decoder_folded`), so that feature scales
    /// match the dashboards people compare against; whether this reference was one.
    pub fn fold_dec_norm(&mut self) -> bool {
        let role = self.path.is_dir() && matches!(self.tensor.as_str(), "encoder" | "decoder");
        if role {
            self.tensor.push_str("_folded");
        }
        role
    }
}

/// What a contrast's first output is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Against {
    /// Another output: `e_A − e_B`.
    Output(usize),
    /// The mean of every other output: `e_A − mean_{o ≠ A} e_o`.
    Mean,
}

/// One item of a token set: a token, or the contrast of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenItem {
    /// Token `t`'s unembedding row.
    One(usize),
    /// `u_a − u_b`.
    Contrast(usize, usize),
}

/// Which output directions to decompose (see the module table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum OutputSpec {
    /// One direction per output unit.
    #[default]
    Classes,
    /// Every row of a tensor of a file.
    File(TensorRef),
    /// `e_a` against another output or the mean of the others.
    Contrast {
        /// The output whose direction is positive.
        a: usize,
        /// What it is compared with.
        against: Against,
    },
    /// A language model's tokens (unembedding rows) and contrasts of two.
    Tokens(Vec<TokenItem>),
    /// The eigenvectors (in the layer's own space) stored in a results directory, output by
    /// output and each output's components in their stored order.
    Results(PathBuf),
}

impl OutputSpec {
    /// What one output of this kind is called in titles and reports: `class`, `token` or
    /// `output`.
    pub fn noun(&self) -> &'static str {
        match self {
            OutputSpec::Classes => "class",
            OutputSpec::Tokens(_) => "token",
            OutputSpec::Results(_) => "component",
            OutputSpec::File(_) | OutputSpec::Contrast { .. } => "output",
        }
    }
}

impl fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputSpec::Classes => f.write_str("classes"),
            OutputSpec::File(t) => t.fmt(f),
            OutputSpec::Results(dir) => write!(f, "results:{}", dir.display()),
            OutputSpec::Contrast { a, against } => {
                write!(f, "contrast:{}", contrast_label(*a, *against))
            }
            OutputSpec::Tokens(items) => {
                f.write_str("tokens:")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    match item {
                        TokenItem::One(t) => write!(f, "{t}")?,
                        TokenItem::Contrast(a, b) => write!(f, "{a}-{b}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// A contrast's label: `3-5`, `7-mean`.
pub fn contrast_label(a: usize, against: Against) -> String {
    match against {
        Against::Output(b) => format!("{a}-{b}"),
        Against::Mean => format!("{a}-mean"),
    }
}

impl FromStr for OutputSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        if s == "classes" {
            return Ok(OutputSpec::Classes);
        }
        if let Some(dir) = s.strip_prefix("results:") {
            if dir.is_empty() {
                return Err(SpecError::new(
                    s,
                    "no results directory after results:",
                    "name the directory `bilens decompose --out DIR` wrote, e.g. \
                     results:block2-results",
                ));
            }
            return Ok(OutputSpec::Results(PathBuf::from(dir)));
        }
        if let Some(spec) = s.strip_prefix("tokens:") {
            return parse_tokens(s, spec).map(OutputSpec::Tokens);
        }
        if let Some(c) = s.strip_prefix("contrast:") {
            let bad = |problem: String| {
                SpecError::new(
                    s,
                    problem,
                    "a contrast is contrast:A-B or contrast:A-mean, e.g. contrast:3-5",
                )
            };
            let (a, b) = c
                .split_once('-')
                .ok_or_else(|| bad("a contrast is contrast:A-B or contrast:A-mean".into()))?;
            let index = |x: &str| {
                x.parse::<usize>()
                    .map_err(|_| bad(format!("'{x}' is not an output index")))
            };
            let against = match b {
                "mean" => Against::Mean,
                _ => Against::Output(index(b)?),
            };
            return Ok(OutputSpec::Contrast {
                a: index(a)?,
                against,
            });
        }
        if let Some(dir) = s.strip_prefix("sae:").filter(|d| !d.is_empty()) {
            // Stored as DIR:encoder, which reads back to the same directions.
            return Ok(OutputSpec::File(TensorRef {
                path: PathBuf::from(dir),
                tensor: "encoder".into(),
            }));
        }
        s.parse::<TensorRef>().map(OutputSpec::File).map_err(|_| {
            SpecError::new(
                s,
                "not a direction set bilens knows",
                "use classes, FILE:TENSOR (e.g. sae.safetensors:encoder.weight), \
                     contrast:A-B, contrast:A-mean, tokens:ID,A-B for a language model's \
                     tokens, or results:DIR for the components stored in a results directory",
            )
        })
    }
}

/// The items of `tokens:SPEC` (`spec` is the part after the colon, `full` the whole text).
fn parse_tokens(full: &str, spec: &str) -> Result<Vec<TokenItem>, SpecError> {
    let bad = |problem: String| {
        SpecError::new(
            full,
            problem,
            "write token ids separated by commas, and A-B for the contrast of two tokens, e.g. \
             tokens:464,262 or tokens:3290-3797",
        )
    };
    let id = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("'{}' is not a token id", s.trim())))
    };
    spec.split(',')
        .map(|part| {
            if part.trim().is_empty() {
                return Err(bad("an empty item".into()));
            }
            Ok(match part.split_once('-') {
                Some((a, b)) => TokenItem::Contrast(id(a)?, id(b)?),
                None => TokenItem::One(id(part)?),
            })
        })
        .collect()
}

/// A subset of rows in a given order: ranges (`0..100`, end exclusive) and single indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RowSet(Vec<Range<usize>>);

impl RowSet {
    /// The rows as indices, in order, checked against the `n` rows there are.
    pub fn indices(&self, n: usize) -> Result<Vec<usize>, SpecError> {
        let rows: Vec<usize> = self.0.iter().cloned().flatten().collect();
        if let Some(&r) = rows.iter().find(|&&r| r >= n) {
            return Err(SpecError::new(
                &self.to_string(),
                format!("row {r} is out of range: there are {n} directions"),
                ROWS_HINT,
            ));
        }
        Ok(rows)
    }
}

const ROWS_HINT: &str = "write rows as 0..100 (end exclusive), 3,7,9, or a mix such as 0..10,20";

impl fmt::Display for RowSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.len() == 1 {
                write!(f, "{}", r.start)?;
            } else {
                write!(f, "{}..{}", r.start, r.end)?;
            }
        }
        Ok(())
    }
}

impl FromStr for RowSet {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let bad = |problem: String| SpecError::new(spec, problem, ROWS_HINT);
        let index = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("'{s}' is not a row index")))
        };
        spec.split(',')
            .map(str::trim)
            .map(|part| match part.split_once("..") {
                Some((a, b)) => {
                    let (a, b) = (index(a)?, index(b)?);
                    if a >= b {
                        return Err(bad(format!("the range {part} is empty")));
                    }
                    Ok(a..b)
                }
                None => index(part).map(|i| i..i + 1),
            })
            .collect::<Result<_, _>>()
            .map(RowSet)
    }
}

/// Output directions and, optionally, the subset of them kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OutputSelection {
    /// The direction set.
    pub spec: OutputSpec,
    /// The rows kept, when not all.
    pub rows: Option<RowSet>,
}

impl fmt::Display for OutputSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spec.fmt(f)?;
        if let Some(rows) = &self.rows {
            write!(f, " rows {rows}")?;
        }
        Ok(())
    }
}

impl FromStr for OutputSelection {
    type Err = SpecError;

    /// The inverse of [`fmt::Display`]: `SPEC` or `SPEC rows ROWS`.
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let (spec, rows) = match s.rsplit_once(" rows ") {
            Some((spec, rows)) => (spec, Some(rows.parse()?)),
            None => (s, None),
        };
        Ok(Self {
            spec: spec.parse()?,
            rows,
        })
    }
}

/// Text that does not describe what it should, with what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{text}': {problem}")]
pub struct SpecError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
    /// What to write instead, with an example.
    pub hint: String,
}

impl SpecError {
    /// An error about `text`.
    pub fn new(text: &str, problem: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            text: text.to_string(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) {
        let parsed: OutputSelection = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn canonical_texts_round_trip() {
        for text in [
            "classes",
            "classes rows 0..10,12",
            "sae.safetensors:encoder.weight",
            "C:/a b/sae.safetensors:W_enc rows 3",
            "contrast:3-5",
            "contrast:7-mean",
            "tokens:464,262-257",
            "results:runs/block 2",
            "results:runs/block2 rows 0..3",
        ] {
            round_trip(text);
        }
        assert_eq!(
            "tokens: 464, 262-257".parse::<OutputSpec>().unwrap(),
            OutputSpec::Tokens(vec![TokenItem::One(464), TokenItem::Contrast(262, 257)])
        );
    }

    #[test]
    fn rows_ranges_lists_and_errors() {
        let rows: RowSet = "0..3,7".parse().unwrap();
        assert_eq!(rows.indices(10).unwrap(), vec![0, 1, 2, 7]);
        assert!(
            rows.indices(5)
                .unwrap_err()
                .problem
                .contains("out of range")
        );
        assert!(
            "3..3"
                .parse::<RowSet>()
                .unwrap_err()
                .problem
                .contains("empty")
        );
        let e = "a".parse::<RowSet>().unwrap_err();
        assert!(e.problem.contains("'a' is not a row index"), "{e}");
    }

    #[test]
    fn malformed_specs_say_what_to_write() {
        let e = "tokens:12,the".parse::<OutputSpec>().unwrap_err();
        assert!(e.problem.contains("'the' is not a token id"), "{e}");
        assert!("tokens:".parse::<OutputSpec>().is_err());
        assert!("contrast:3".parse::<OutputSpec>().is_err());
        let e = "results:".parse::<OutputSpec>().unwrap_err();
        assert!(e.problem.contains("no results directory"), "{e}");
        let e = "bogus".parse::<OutputSpec>().unwrap_err();
        assert!(e.hint.contains("FILE:TENSOR"), "{e}");
    }
}
