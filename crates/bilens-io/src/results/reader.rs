//! Reading a results directory (see [`crate::results`] for its layout): the summary parsed and
//! checked against the tensors' header on open, tensors read on request.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bilens_decomp::Real;
use ndarray::{Array2, Array3, ArrayD, Ix2, Ix3};

use super::meta::{ResultsMeta, StoredMeta};
use super::names::{self, EIGENVALUES, EIGENVECTORS, INPUT_EIGENVECTORS, OUTPUTS};
use super::summary::{ResultsShape, Summary};
use super::{DECOMPOSITION_FILE, FORMAT_VERSION, SUMMARY_FILE};
use crate::error::{IoError, Result};
use crate::header::TensorInfo;
use crate::tensor_file::TensorFile;
use crate::write::{Dtype, TensorSpec};

/// A results directory opened for reading: summary parsed, tensors mapped, nothing else read.
/// Tensors are read on request, whole or for a range of outputs, in any precision.
#[derive(Debug)]
pub struct ResultsFile {
    dir: PathBuf,
    file: TensorFile,
    summary: Summary,
    meta: StoredMeta,
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
    /// Every other float tensor (per-output extras and globals), by name.
    pub tensors: BTreeMap<String, ArrayD<f32>>,
    /// Every I64 tensor (feature indices), by name.
    pub index_tensors: BTreeMap<String, ArrayD<i64>>,
}

/// Reads a whole results directory (see [`ResultsFile`] to read parts of a large one).
pub fn read_results(dir: &Path) -> Result<Results> {
    let r = ResultsFile::open(dir)?;
    let n = r.summary.shape.n_out;
    let mut tensors = BTreeMap::new();
    let mut index_tensors = BTreeMap::new();
    for t in r.file.tensors() {
        if names::FIXED.contains(&t.name.as_str()) {
            continue;
        }
        if t.dtype == Dtype::I64.name() {
            index_tensors.insert(t.name.clone(), r.file.read_i64(&t.name)?);
        } else {
            tensors.insert(t.name.clone(), r.file.read_allowing_non_finite(&t.name)?);
        }
    }
    Ok(Results {
        tensors,
        index_tensors,
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
        let file = TensorFile::open(&file_path).map_err(|e| {
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
        // The declared extras and globals, with their dtypes.
        for spec in summary.extras.iter().chain(&summary.globals) {
            let found = file.info(&spec.name);
            if found.is_none_or(|t| t.shape != spec.shape || t.dtype != spec.dtype.name()) {
                let show = |t: Option<(&str, &[usize])>| {
                    t.map_or_else(|| "absent".to_string(), |(d, s)| format!("{d} {s:?}"))
                };
                return Err(problem(
                    file_path,
                    format!(
                        "tensor '{}' is {} but {SUMMARY_FILE} declares {}",
                        spec.name,
                        show(found.map(|t| (t.dtype.as_str(), t.shape.as_slice()))),
                        show(Some((spec.dtype.name(), spec.shape.as_slice())))
                    ),
                ));
            }
        }
        let meta = ResultsMeta::parse(&summary.metadata)
            .map_err(|e| problem(summary_path.clone(), format!("metadata {e}")))?;
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
            meta,
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

    /// What produced the results (the metadata, typed).
    pub fn meta(&self) -> &StoredMeta {
        &self.meta
    }

    /// The `run_id` both files share: a time-based id, or `job-` and the job's digest for a
    /// resumable run (the same job always has the same id).
    pub fn run_id(&self) -> &str {
        &self.meta.run_id
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

    /// The names of every tensor of `decomposition.safetensors`, sorted.
    pub fn tensor_names(&self) -> Vec<&str> {
        self.file
            .tensors()
            .iter()
            .map(|t| t.name.as_str())
            .collect()
    }

    /// The path of the tensors' file and where each tensor's data lies in it (name, dtype
    /// name, shape, absolute byte range), sorted by name: what a caller needs to map the
    /// results itself (the Python package hands numpy views of the file, not copies).
    pub fn tensor_locations(&self) -> (&Path, Vec<(&TensorInfo, Range<u64>)>) {
        let located = self
            .file
            .tensors()
            .iter()
            .filter_map(|t| Some((t, self.file.byte_range(&t.name)?)))
            .collect();
        (self.file.path(), located)
    }

    /// The per-output extra tensors declared by the writer (stored shapes `[n_out, ...]`).
    pub fn extras(&self) -> &[TensorSpec] {
        &self.summary.extras
    }

    /// The global tensors declared by the writer.
    pub fn globals(&self) -> &[TensorSpec] {
        &self.summary.globals
    }

    /// Any float tensor, whole, converted to `T`; `None` when the directory does not hold it.
    /// NaN is kept (it marks unknown values and padding). An I64 tensor is an error: read it
    /// with [`ResultsFile::index_tensor`].
    pub fn tensor<T: Real>(&self, name: &str) -> Result<Option<ArrayD<T>>> {
        match self.file.info(name) {
            None => Ok(None),
            Some(t) if t.dtype == Dtype::I64.name() => Err(IoError::Results {
                path: self.file.path().to_path_buf(),
                reason: format!(
                    "tensor '{name}' holds {} indices, not values; read it as an index tensor",
                    t.dtype
                ),
            }),
            Some(_) => self.file.read_allowing_non_finite::<T>(name).map(Some),
        }
    }

    /// An I64 tensor (feature indices), whole; `None` when the directory does not hold it.
    /// A float tensor is an error: read it with [`ResultsFile::tensor`].
    pub fn index_tensor(&self, name: &str) -> Result<Option<ArrayD<i64>>> {
        match self.file.info(name) {
            None => Ok(None),
            Some(t) if t.dtype != Dtype::I64.name() => Err(IoError::Results {
                path: self.file.path().to_path_buf(),
                reason: format!(
                    "tensor '{name}' holds {} values, not I64 indices; read it as a float tensor",
                    t.dtype
                ),
            }),
            Some(_) => self.file.read_i64(name).map(Some),
        }
    }

    /// Rows `range` (outputs) of any per-output float tensor, converted to `T`, NaN kept:
    /// what streams a results directory piece by piece (merging shards).
    ///
    /// # Panics
    /// If `range` is not within `0..n_out`.
    #[track_caller]
    pub fn float_rows<T: Real>(&self, name: &str, range: Range<usize>) -> Result<ArrayD<T>> {
        self.file.read_rows_allowing_non_finite::<T>(name, range)
    }

    /// Rows `range` (outputs) of a per-output I64 tensor.
    ///
    /// # Panics
    /// If `range` is not within `0..n_out`.
    #[track_caller]
    pub fn index_rows(&self, name: &str, range: Range<usize>) -> Result<ArrayD<i64>> {
        self.file.read_i64_rows(name, range)
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
