//! The results directory: the only contract between `bilens decompose` and everything that
//! reads its output (`bilens plot`, notebooks).
//!
//! ```text
//! DIR/decomposition.safetensors   F32 (or F64) tensors, row o = output direction o:
//!     eigenvalues         [n_out, k]           in the order named by the `order` metadata
//!     eigenvectors        [n_out, k, d_in]     rows, unit norm, in the bilinear layer's input
//!     input_eigenvectors  [n_out, k, d_input]  Eᵀv: the eigenvectors in the model's input
//!                                              space (e.g. 784 pixels), models with an embedding
//!     outputs             [n_out, d_out]       the output directions u
//!   __metadata__ (strings): model, layout, method, k, order, precision, bilens_version,
//!     format_version, run_id, and any extra keys of the writer
//! DIR/summary.json                the metadata, the shape, and per output: index, label, top
//!                                 eigenvalues, effective rank, fraction of ‖Q‖_F² kept, ‖Q‖_F²
//! ```
//!
//! The eigenvector tensors are absent when only spectra were computed. A numpy reader needs
//! nothing but `safetensors.numpy.load_file(DIR + "/decomposition.safetensors")`.
//!
//! Writes are atomic and streamed: [`ResultsWriter`] declares every tensor up front, takes
//! chunks of consecutive outputs in any order straight into a temporary file, and on
//! [`ResultsWriter::finish`] moves the tensors into place and then writes `summary.json`. Both
//! files carry the same `run_id`, so a crash between the two renames (a new decomposition
//! beside an old summary) is detected by [`ResultsFile::open`] rather than misread.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bilens_decomp::{Decomposition, Order, Real, effective_rank, norm_fraction};
use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, Ix2, Ix3};
use serde::{Deserialize, Serialize};

use crate::error::{IoError, Result};
use crate::safetensors_file::SafetensorsFile;
use crate::write::{Element, SafetensorsWriter, TensorSpec, write_atomic};

/// File name of the tensors in a results directory.
pub const DECOMPOSITION_FILE: &str = "decomposition.safetensors";
/// File name of the summary in a results directory.
pub const SUMMARY_FILE: &str = "summary.json";
/// How many leading eigenvalues each output's summary lists (all of them when `k` is smaller).
pub const SUMMARY_TOP: usize = 20;
/// Version of the results layout; readers refuse directories written by a newer one.
pub const FORMAT_VERSION: u32 = 1;

const EIGENVALUES: &str = "eigenvalues";
const EIGENVECTORS: &str = "eigenvectors";
const INPUT_EIGENVECTORS: &str = "input_eigenvectors";
const OUTPUTS: &str = "outputs";

/// Metadata keys the writer sets itself; extra keys may not reuse them.
const RESERVED: [&str; 9] = [
    "model",
    "layout",
    "method",
    "k",
    "order",
    "precision",
    "bilens_version",
    "format_version",
    "run_id",
];

/// The sizes of a results directory's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultsShape {
    /// Number of output directions.
    pub n_out: usize,
    /// Components kept per output.
    pub k: usize,
    /// Input width of the bilinear layer (length of an eigenvector).
    pub d_in: usize,
    /// Width of the model input when the model has an embedding (length of an input-space
    /// eigenvector); `None` without one.
    pub d_input: Option<usize>,
    /// Width of an output direction.
    pub d_out: usize,
    /// Whether eigenvectors are stored (false when only spectra were computed).
    pub eigenvectors: bool,
}

/// What produced the results, written into both files' metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsMeta {
    /// The model file, as the user named it.
    pub model: String,
    /// The layout it was read with (`image`, `single`).
    pub layout: String,
    /// The decomposition method (e.g. `full`).
    pub method: String,
    /// The order of the kept components.
    pub order: Order,
    /// Any further string metadata (e.g. `outputs: classes`); keys may not collide with the
    /// writer's own.
    pub extra: BTreeMap<String, String>,
}

/// The summary of one output direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSummary {
    /// Index of the output direction (row of every tensor).
    pub index: usize,
    /// A human label, e.g. the class `"7"`.
    pub label: String,
    /// The first [`SUMMARY_TOP`] kept eigenvalues (all of them if fewer), in stored order.
    pub top_eigenvalues: Vec<f64>,
    /// Effective rank `(‖λ‖₁/‖λ‖₂)²` of the **whole** spectrum; `None` when not every
    /// eigenvalue was computed.
    pub effective_rank: Option<f64>,
    /// Fraction of `‖Q‖_F² = Σλ²` held by the `k` kept components (1 when all are kept).
    pub fraction_kept: f64,
    /// `‖Q(u)‖_F²`, the squared Frobenius norm of the interaction matrix.
    pub frobenius_sq: f64,
}

impl OutputSummary {
    /// The summary of output `index` from its kept eigenvalues and the spectrum-wide sums
    /// `Σλ²` (`norm_sq`) and `Σ|λ|` (`abs_sum`, when known).
    pub fn new<T: Real>(
        index: usize,
        label: impl Into<String>,
        kept: ArrayView1<'_, T>,
        norm_sq: f64,
        abs_sum: Option<f64>,
    ) -> Self {
        Self {
            index,
            label: label.into(),
            top_eigenvalues: kept.iter().take(SUMMARY_TOP).map(|x| x.as_f64()).collect(),
            effective_rank: abs_sum.map(|a| effective_rank(a, norm_sq)),
            fraction_kept: norm_fraction(kept, norm_sq),
            frobenius_sq: norm_sq,
        }
    }
}

/// The content of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The same string metadata as the safetensors header.
    pub metadata: BTreeMap<String, String>,
    /// Tensor sizes.
    pub shape: ResultsShape,
    /// One record per output direction, by index.
    pub outputs: Vec<OutputSummary>,
}

/// A chunk of consecutive outputs `first..first + n` for [`ResultsWriter::write_chunk`].
#[derive(Clone, Debug)]
pub struct ResultsChunk<'a, T> {
    /// Index of the chunk's first output.
    pub first: usize,
    /// `[n, k]`.
    pub eigenvalues: ArrayView2<'a, T>,
    /// `[n, k, d_in]`, present exactly when the results store eigenvectors.
    pub eigenvectors: Option<ArrayView3<'a, T>>,
    /// `[n, k, d_input]`, present exactly when eigenvectors are stored and the model has an
    /// embedding.
    pub input_eigenvectors: Option<ArrayView3<'a, T>>,
    /// The chunk's output directions `[n, d_out]`.
    pub outputs: ArrayView2<'a, T>,
    /// One summary per output, indices `first..first + n` in order.
    pub summaries: Vec<OutputSummary>,
}

/// Writes a results directory, streaming chunks of outputs to disk; see the module docs.
pub struct ResultsWriter<T> {
    dir: PathBuf,
    file_path: PathBuf,
    shape: ResultsShape,
    file: SafetensorsWriter,
    metadata: BTreeMap<String, String>,
    summaries: Vec<Option<OutputSummary>>,
    _precision: std::marker::PhantomData<T>,
}

impl<T> std::fmt::Debug for ResultsWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsWriter")
            .field("dir", &self.dir)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl<T: Real + Element> ResultsWriter<T> {
    /// Starts writing results of `shape` into `dir` (created if needed), stored in precision
    /// `T`. Nothing appears at the final paths before [`ResultsWriter::finish`].
    pub fn create(dir: &Path, shape: ResultsShape, meta: &ResultsMeta) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| IoError::os(dir, e))?;
        let file_path = dir.join(DECOMPOSITION_FILE);
        let mut metadata = BTreeMap::from([
            ("model".to_string(), meta.model.clone()),
            ("layout".to_string(), meta.layout.clone()),
            ("method".to_string(), meta.method.clone()),
            ("k".to_string(), shape.k.to_string()),
            ("order".to_string(), meta.order.name().to_string()),
            ("precision".to_string(), <T as Real>::DTYPE.to_string()),
            (
                "bilens_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("run_id".to_string(), run_id()),
        ]);
        for (key, value) in &meta.extra {
            if RESERVED.contains(&key.as_str()) {
                return Err(IoError::Write {
                    path: file_path,
                    tensor: "__metadata__".into(),
                    reason: format!("extra key '{key}' would overwrite the writer's own"),
                });
            }
            metadata.insert(key.clone(), value.clone());
        }
        let ResultsShape {
            n_out,
            k,
            d_in,
            d_out,
            ..
        } = shape;
        let mut specs = vec![TensorSpec::new(
            EIGENVALUES,
            <T as Element>::DTYPE,
            &[n_out, k],
        )];
        if shape.eigenvectors {
            specs.push(TensorSpec::new(
                EIGENVECTORS,
                <T as Element>::DTYPE,
                &[n_out, k, d_in],
            ));
            if let Some(d_input) = shape.d_input {
                specs.push(TensorSpec::new(
                    INPUT_EIGENVECTORS,
                    <T as Element>::DTYPE,
                    &[n_out, k, d_input],
                ));
            }
        }
        specs.push(TensorSpec::new(
            OUTPUTS,
            <T as Element>::DTYPE,
            &[n_out, d_out],
        ));
        let file = SafetensorsWriter::create(&file_path, specs, &metadata)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file_path,
            shape,
            file,
            metadata,
            summaries: vec![None; n_out],
            _precision: std::marker::PhantomData,
        })
    }

    /// The declared sizes.
    pub fn shape(&self) -> ResultsShape {
        self.shape
    }

    /// Writes one chunk of consecutive outputs (chunks may come in any order; each output
    /// exactly once).
    pub fn write_chunk(&mut self, chunk: ResultsChunk<'_, T>) -> Result<()> {
        let ResultsShape {
            n_out,
            k,
            d_in,
            d_input,
            d_out,
            eigenvectors,
        } = self.shape;
        let first = chunk.first;
        let n = chunk.eigenvalues.nrows();
        let err = |tensor: &str, reason: String| IoError::Write {
            path: self.file_path.clone(),
            tensor: tensor.to_string(),
            reason,
        };
        if first + n > n_out {
            return Err(err(
                EIGENVALUES,
                format!(
                    "chunk of outputs {first}..{} exceeds the {n_out} declared",
                    first + n
                ),
            ));
        }
        let check = |tensor: &str, found: &[usize], expected: &[usize]| {
            if found == expected {
                Ok(())
            } else {
                Err(err(
                    tensor,
                    format!("chunk has shape {found:?}, expected {expected:?}"),
                ))
            }
        };
        check(EIGENVALUES, chunk.eigenvalues.shape(), &[n, k])?;
        check(OUTPUTS, chunk.outputs.shape(), &[n, d_out])?;
        match (&chunk.eigenvectors, eigenvectors) {
            (Some(v), true) => check(EIGENVECTORS, v.shape(), &[n, k, d_in])?,
            (None, false) => {}
            (Some(_), false) => {
                return Err(err(EIGENVECTORS, "given but not declared".into()));
            }
            (None, true) => return Err(err(EIGENVECTORS, "declared but not given".into())),
        }
        match (
            &chunk.input_eigenvectors,
            eigenvectors.then_some(d_input).flatten(),
        ) {
            (Some(v), Some(d)) => check(INPUT_EIGENVECTORS, v.shape(), &[n, k, d])?,
            (None, None) => {}
            (Some(_), None) => {
                return Err(err(INPUT_EIGENVECTORS, "given but not declared".into()));
            }
            (None, Some(_)) => {
                return Err(err(INPUT_EIGENVECTORS, "declared but not given".into()));
            }
        }
        if chunk.summaries.len() != n
            || chunk
                .summaries
                .iter()
                .enumerate()
                .any(|(i, s)| s.index != first + i)
        {
            return Err(err(
                "summary",
                format!(
                    "expected one summary per output {first}..{}, in order",
                    first + n
                ),
            ));
        }
        if let Some(o) = (first..first + n).find(|&o| self.summaries[o].is_some()) {
            return Err(err(EIGENVALUES, format!("output {o} was already written")));
        }
        write_rows(
            &mut self.file,
            EIGENVALUES,
            first,
            chunk.eigenvalues.into_dyn(),
        )?;
        if let Some(v) = chunk.eigenvectors {
            write_rows(&mut self.file, EIGENVECTORS, first, v.into_dyn())?;
        }
        if let Some(v) = chunk.input_eigenvectors {
            write_rows(&mut self.file, INPUT_EIGENVECTORS, first, v.into_dyn())?;
        }
        write_rows(&mut self.file, OUTPUTS, first, chunk.outputs.into_dyn())?;
        for s in chunk.summaries {
            let o = s.index;
            self.summaries[o] = Some(s);
        }
        Ok(())
    }

    /// Writes a chunk straight from [`bilens_decomp::decompose_chunked`]'s output: `part`
    /// covers outputs `first..`, `outputs` are those outputs' directions, `input_eigenvectors`
    /// their eigenvectors mapped through the embedding, and `label(o)` names output `o`.
    pub fn write_decomposition(
        &mut self,
        first: usize,
        part: &Decomposition<T>,
        outputs: ArrayView2<'_, T>,
        input_eigenvectors: Option<ArrayView3<'_, T>>,
        label: impl Fn(usize) -> String,
    ) -> Result<()> {
        let summaries = (0..part.n_outputs())
            .map(|o| {
                OutputSummary::new(
                    first + o,
                    label(first + o),
                    part.eigenvalues.row(o),
                    part.norm_sq[o],
                    part.abs_sum.as_ref().map(|a| a[o]),
                )
            })
            .collect();
        self.write_chunk(ResultsChunk {
            first,
            eigenvalues: part.eigenvalues.view(),
            eigenvectors: part.eigenvectors.as_ref().map(|v| v.view()),
            input_eigenvectors,
            outputs,
            summaries,
        })
    }

    /// Adds metadata known only once the run is over (e.g. how often a solver fell back), to
    /// both files.
    pub fn set_metadata(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        self.file.set_metadata(key, value.clone());
        self.metadata.insert(key.to_string(), value);
    }

    /// Checks every output was written, moves `decomposition.safetensors` into place, then
    /// writes `summary.json` (each atomically).
    pub fn finish(self) -> Result<()> {
        let missing: Vec<usize> = (0..self.shape.n_out)
            .filter(|&o| self.summaries[o].is_none())
            .collect();
        if let Some(&o) = missing.first() {
            return Err(IoError::Write {
                path: self.file_path,
                tensor: EIGENVALUES.into(),
                reason: format!(
                    "{} of {} outputs were never written (the first is output {o})",
                    missing.len(),
                    self.shape.n_out
                ),
            });
        }
        let summary = Summary {
            format_version: FORMAT_VERSION,
            metadata: self.metadata,
            shape: self.shape,
            outputs: self.summaries.into_iter().flatten().collect(),
        };
        let mut json = serde_json::to_vec_pretty(&summary).expect("the summary serialises");
        json.push(b'\n');
        self.file.finish()?;
        write_atomic(&self.dir.join(SUMMARY_FILE), &json)
    }
}

/// Writes the rows of `a` (leading axis = outputs) at output `first` of tensor `name`.
fn write_rows<T: Element>(
    file: &mut SafetensorsWriter,
    name: &str,
    first: usize,
    a: ArrayViewD<'_, T>,
) -> Result<()> {
    let row: usize = a.shape().iter().skip(1).product();
    match a.as_slice() {
        Some(s) => file.write(name, first * row, s),
        None => file.write(name, first * row, &a.iter().copied().collect::<Vec<_>>()),
    }
}

/// An identifier shared by the two files of one run (time and process), so that files from
/// different runs are never read as one result.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// A results directory opened for reading: summary parsed, tensors mapped, nothing else read.
/// Tensors are read on request, whole or for a range of outputs, in any precision.
#[derive(Debug)]
pub struct ResultsFile {
    dir: PathBuf,
    file: SafetensorsFile,
    summary: Summary,
}

/// A results directory read whole, arrays in `f32` whatever the stored precision.
#[derive(Clone, Debug)]
pub struct Results {
    /// The directory.
    pub dir: PathBuf,
    /// The safetensors `__metadata__` (same as `summary.metadata`).
    pub metadata: BTreeMap<String, String>,
    /// The parsed `summary.json`.
    pub summary: Summary,
    /// `[n_out, k]`.
    pub eigenvalues: Array2<f32>,
    /// `[n_out, k, d_in]`, when stored.
    pub eigenvectors: Option<Array3<f32>>,
    /// `[n_out, k, d_input]`, when stored.
    pub input_eigenvectors: Option<Array3<f32>>,
    /// `[n_out, d_out]`.
    pub outputs: Array2<f32>,
}

/// Reads a whole results directory (see [`ResultsFile`] to read parts of a large one).
pub fn read_results(dir: &Path) -> Result<Results> {
    let r = ResultsFile::open(dir)?;
    let n = r.summary.shape.n_out;
    Ok(Results {
        dir: dir.to_path_buf(),
        metadata: r.file.metadata().clone(),
        eigenvalues: r.eigenvalues()?,
        eigenvectors: r.eigenvectors(0..n)?,
        input_eigenvectors: r.input_eigenvectors(0..n)?,
        outputs: r.outputs()?,
        summary: r.summary,
    })
}

impl ResultsFile {
    /// Opens `dir`, parses `summary.json` and the tensors' header and checks they agree.
    pub fn open(dir: &Path) -> Result<Self> {
        let problem = |path: PathBuf, reason: String| IoError::Results { path, reason };
        if !dir.exists() {
            return Err(problem(dir.into(), "no such results directory".into()));
        }
        if !dir.is_dir() {
            return Err(problem(
                dir.into(),
                "not a directory; a results directory holds decomposition.safetensors and \
                 summary.json"
                    .into(),
            ));
        }
        let file_path = dir.join(DECOMPOSITION_FILE);
        let summary_path = dir.join(SUMMARY_FILE);
        for p in [&file_path, &summary_path] {
            if !p.is_file() {
                return Err(problem(
                    p.clone(),
                    "missing: not a bilens results directory, or the decomposition did not \
                     finish"
                        .into(),
                ));
            }
        }
        let file = SafetensorsFile::open(&file_path).map_err(|e| {
            // Keep the file's own diagnosis, under the results-directory hint.
            let message = e.to_string();
            let prefix = format!("{}: ", file_path.display());
            problem(
                file_path.clone(),
                message
                    .strip_prefix(&prefix)
                    .unwrap_or(&message)
                    .to_string(),
            )
        })?;
        let text =
            std::fs::read_to_string(&summary_path).map_err(|e| IoError::os(&summary_path, e))?;
        let summary: Summary = serde_json::from_str(&text)
            .map_err(|e| problem(summary_path.clone(), format!("not a bilens summary: {e}")))?;
        if summary.format_version > FORMAT_VERSION {
            return Err(problem(
                summary_path,
                format!(
                    "written by a newer bilens (results format {}, this version reads up to \
                     {FORMAT_VERSION})",
                    summary.format_version
                ),
            ));
        }
        if file.metadata().get("run_id") != summary.metadata.get("run_id") {
            return Err(problem(
                dir.into(),
                format!(
                    "{DECOMPOSITION_FILE} and {SUMMARY_FILE} come from different runs (an \
                     interrupted write?)"
                ),
            ));
        }
        let s = summary.shape;
        let mut expected = vec![
            (EIGENVALUES, Some(vec![s.n_out, s.k])),
            (OUTPUTS, Some(vec![s.n_out, s.d_out])),
            (
                EIGENVECTORS,
                s.eigenvectors.then(|| vec![s.n_out, s.k, s.d_in]),
            ),
            (
                INPUT_EIGENVECTORS,
                s.d_input
                    .filter(|_| s.eigenvectors)
                    .map(|d| vec![s.n_out, s.k, d]),
            ),
        ];
        for (name, shape) in expected.drain(..) {
            let found = file.info(name).map(|t| t.shape.clone());
            if found != shape {
                let show = |x: &Option<Vec<usize>>| {
                    x.as_ref()
                        .map_or_else(|| "absent".to_string(), |v| format!("{v:?}"))
                };
                return Err(problem(
                    file_path,
                    format!(
                        "tensor '{name}' is {} but {SUMMARY_FILE} implies {}",
                        show(&found),
                        show(&shape)
                    ),
                ));
            }
        }
        if summary.outputs.len() != s.n_out {
            return Err(problem(
                summary_path,
                format!(
                    "lists {} outputs but its shape says n_out = {}",
                    summary.outputs.len(),
                    s.n_out
                ),
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            summary,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `summary.json`.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The string metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.summary.metadata
    }

    /// The tensor sizes.
    pub fn shape(&self) -> ResultsShape {
        self.summary.shape
    }

    /// All eigenvalues `[n_out, k]`.
    pub fn eigenvalues<T: Real>(&self) -> Result<Array2<T>> {
        Ok(self
            .file
            .read::<T>(EIGENVALUES)?
            .into_dimensionality::<Ix2>()
            .expect("shape checked on open"))
    }

    /// All output directions `[n_out, d_out]`.
    pub fn outputs<T: Real>(&self) -> Result<Array2<T>> {
        Ok(self
            .file
            .read::<T>(OUTPUTS)?
            .into_dimensionality::<Ix2>()
            .expect("shape checked on open"))
    }

    /// The eigenvectors of outputs `range` (`[len, k, d_in]`), `None` when not stored.
    ///
    /// # Panics
    /// If `range` is not within `0..n_out`.
    #[track_caller]
    pub fn eigenvectors<T: Real>(&self, range: Range<usize>) -> Result<Option<Array3<T>>> {
        self.slab(EIGENVECTORS, range)
    }

    /// The input-space eigenvectors of outputs `range` (`[len, k, d_input]`), `None` when not
    /// stored.
    ///
    /// # Panics
    /// If `range` is not within `0..n_out`.
    #[track_caller]
    pub fn input_eigenvectors<T: Real>(&self, range: Range<usize>) -> Result<Option<Array3<T>>> {
        self.slab(INPUT_EIGENVECTORS, range)
    }

    #[track_caller]
    fn slab<T: Real>(&self, name: &str, range: Range<usize>) -> Result<Option<Array3<T>>> {
        if self.file.info(name).is_none() {
            return Ok(None);
        }
        Ok(Some(
            self.file
                .read_rows::<T>(name, range)?
                .into_dimensionality::<Ix3>()
                .expect("shape checked on open"),
        ))
    }
}
