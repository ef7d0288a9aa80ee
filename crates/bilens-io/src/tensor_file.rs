//! Reading tensor files: safetensors files and PyTorch checkpoints, told apart by content,
//! memory-mapped, only the requested tensors ever touched.
//!
//! Opening a file maps it and parses its header (safetensors, by the `safetensors` crate) or
//! its pickle (a `.pt`/`.pth`/`.bin` checkpoint, by the restricted unpickler of
//! [`crate::torch`], which executes nothing); no tensor data is read. Each
//! [`TensorFile::read`] decodes one tensor (or a range of its rows) into `f32`/`f64`,
//! converting from F32, F64, F16 or BF16 and rejecting NaN and infinity, so a checkpoint larger
//! than memory can be inspected and have single layers loaded from it. A PyTorch tensor may be
//! strided (a transposed view saved as is): its elements are gathered by their strides.
//!
//! When the reference parser rejects a safetensors file, [`diagnose`] works out what is
//! actually wrong (a different file format, a truncated download, an inconsistent header) so
//! that the error says so in words rather than as a parser code.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bilens_decomp::Real;
use memmap2::Mmap;
use ndarray::{Array2, ArrayD, IxDyn};
use safetensors::{Dtype as StDtype, SafeTensors};

use crate::decode::{SUPPORTED, decode, unravel};
use crate::error::{Hint, IoError, Result};
use crate::header::TensorInfo;
use crate::torch::{self, PickledConfig};

#[derive(Clone, Debug)]
struct Entry {
    /// The element type; `None` for a tensor listed but not readable (a quantized PyTorch
    /// tensor, a storage type bilens does not know).
    dtype: Option<StDtype>,
    /// Offset in the file of the first element.
    begin: usize,
    /// Strides in elements, when the tensor is not stored contiguously in row-major order.
    strides: Option<Vec<usize>>,
}

/// The container format of a [`TensorFile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// A safetensors file.
    Safetensors,
    /// A PyTorch checkpoint written by `torch.save` (zip or legacy format).
    Torch,
}

/// An open tensor file (safetensors or a PyTorch checkpoint): its header parsed, its data
/// mapped but not read.
pub struct TensorFile {
    path: PathBuf,
    map: Mmap,
    format: FileFormat,
    entries: BTreeMap<String, Entry>,
    infos: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
    /// A config object pickled beside a checkpoint's weights.
    pickled_config: Option<PickledConfig>,
    /// Bytes of tensor data decoded so far (see [`TensorFile::bytes_read`]).
    bytes_read: AtomicU64,
}

impl std::fmt::Debug for TensorFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorFile")
            .field("path", &self.path)
            .field("tensors", &self.infos.len())
            .finish_non_exhaustive()
    }
}

/// Maps `file` into memory read-only.
///
/// # Safety
/// A memory map is only sound while no one else modifies or truncates the file; the `unsafe`
/// is that promise. bilens never writes a file it has open for reading (its writers create a
/// new file and rename it over the old one, which leaves an existing mapping intact). If another
/// program truncates the file while it is mapped, reads may fault (SIGBUS), which is the accepted
/// trade-off of every mmap-based checkpoint loader (safetensors, candle, numpy's memmap): copying
/// the file instead would make models larger than memory unreadable.
#[allow(
    unsafe_code,
    reason = "the one memory map of the crate; see the Safety section"
)]
fn map_read_only(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: see the function's `# Safety` section: the mapping is read-only and bilens does
    // not modify files it reads.
    unsafe { Mmap::map(file) }
}

impl TensorFile {
    /// Opens and maps `path` and parses its header: a safetensors file, or a PyTorch
    /// checkpoint whose state dict is found automatically (see [`TensorFile::open_key`]).
    ///
    /// Errors name the file and say what is wrong: [`IoError::NotFound`],
    /// [`IoError::NotSafetensors`] (another format, a directory), [`IoError::Truncated`],
    /// [`IoError::CorruptHeader`], [`IoError::Checkpoint`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_key(path, None)
    }

    /// [`TensorFile::open`], with the top-level key of a PyTorch checkpoint that holds the
    /// state dict (`None`: the checkpoint itself when it holds tensors, else the first of
    /// `model_state_dict`, `state_dict`, `model` that does). A key given for a safetensors
    /// file is an error: its tensors are not nested.
    pub fn open_key(path: &Path, key: Option<&str>) -> Result<Self> {
        if path.is_dir() {
            let candidate = path.join("model.safetensors");
            let reason = if candidate.is_file() {
                format!("it is a directory (did you mean {}?)", candidate.display())
            } else {
                "it is a directory".to_string()
            };
            return Err(IoError::NotSafetensors {
                path: path.into(),
                reason,
            });
        }
        let file = File::open(path).map_err(|e| IoError::os(path, e))?;
        let len = file.metadata().map_err(|e| IoError::os(path, e))?.len();
        if len < 8 {
            // Too short to hold the header length; no need to map it (and an empty file
            // cannot be mapped on every platform).
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(|e| IoError::os(path, e))?;
            if torch::detect(&bytes) {
                // Too short for any checkpoint: the reader says where it ends.
                torch::read(path, &bytes, key)?;
            }
            return Err(diagnose(path, &bytes, None));
        }
        let map = map_read_only(&file).map_err(|e| IoError::os(path, e))?;
        if torch::detect(&map) {
            return Self::from_checkpoint(path, map, key);
        }
        if let Some(key) = key {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "a state dict key ('{key}') was given, but the file is not a PyTorch \
                     checkpoint: a safetensors file's tensors are not nested"
                ),
                hint: Hint::Text("leave out the key".into()),
            });
        }
        let (header_len, meta) =
            SafeTensors::read_metadata(&map).map_err(|e| diagnose(path, &map, Some(e)))?;
        let data_start = 8 + header_len;
        let mut entries = BTreeMap::new();
        for (name, info) in meta.tensors() {
            entries.insert(
                name,
                Entry {
                    dtype: Some(info.dtype),
                    begin: data_start + info.data_offsets.0,
                    strides: None,
                },
            );
        }
        let infos: Vec<TensorInfo> = meta
            .tensors()
            .into_iter()
            .map(|(name, info)| TensorInfo {
                name,
                dtype: info.dtype.to_string(),
                shape: info.shape.clone(),
            })
            .collect();
        let metadata = meta
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Self::new(
            path,
            map,
            FileFormat::Safetensors,
            entries,
            infos,
            metadata,
            None,
        ))
    }

    /// A PyTorch checkpoint: tensors located by [`torch::read`], checked there against the
    /// file.
    fn from_checkpoint(path: &Path, map: Mmap, key: Option<&str>) -> Result<Self> {
        let checkpoint = torch::read(path, &map, key)?;
        let mut entries = BTreeMap::new();
        let mut infos = Vec::with_capacity(checkpoint.tensors.len());
        for t in checkpoint.tensors {
            let contiguous = contiguous_strides(&t.shape);
            let strided = t
                .shape
                .iter()
                .zip(t.strides.iter().zip(&contiguous))
                .any(|(&d, (s, c))| d > 1 && s != c);
            infos.push(TensorInfo {
                name: t.name.clone(),
                dtype: match &t.dtype {
                    Ok(d) => d.to_string(),
                    Err(what) => what.clone(),
                },
                shape: t.shape,
            });
            entries.insert(
                t.name,
                Entry {
                    dtype: t.dtype.ok(),
                    begin: t.begin,
                    strides: strided.then_some(t.strides),
                },
            );
        }
        Ok(Self::new(
            path,
            map,
            FileFormat::Torch,
            entries,
            infos,
            checkpoint.metadata,
            checkpoint.config,
        ))
    }

    fn new(
        path: &Path,
        map: Mmap,
        format: FileFormat,
        entries: BTreeMap<String, Entry>,
        mut infos: Vec<TensorInfo>,
        metadata: BTreeMap<String, String>,
        pickled_config: Option<PickledConfig>,
    ) -> Self {
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            path: path.to_path_buf(),
            map,
            format,
            entries,
            infos,
            metadata,
            pickled_config,
            bytes_read: AtomicU64::new(0),
        }
    }

    /// Whether the file is a safetensors file or a PyTorch checkpoint.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// A config object (or dict) pickled beside a checkpoint's weights, as data.
    pub(crate) fn pickled_config(&self) -> Option<&PickledConfig> {
        self.pickled_config.as_ref()
    }

    /// Bytes of tensor data this handle has decoded so far. The file is memory-mapped and only
    /// the byte ranges of the tensors (or rows) asked for are touched, so this is what was read
    /// of the data section: loading one layer of a many-layer checkpoint reads that layer's
    /// tensors and nothing else (the loader tests check it).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    fn count(&self, bytes: usize) {
        self.bytes_read.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The file's path, as given to [`TensorFile::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor of the file, sorted by name.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }

    /// The tensor called `name`, if the file holds one.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.infos
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.infos[i])
    }

    /// Where the data of tensor `name` lies in the file, as absolute byte offsets: for readers
    /// that map the file themselves (numpy's `memmap` in the Python package) instead of copying
    /// the tensor out. `None` when the tensor's bytes are not one contiguous row-major range (a
    /// strided PyTorch view) or its element type is not known, so that a caller copies it out
    /// with [`TensorFile::read`] instead.
    pub fn byte_range(&self, name: &str) -> Option<Range<u64>> {
        let e = self.entries.get(name)?;
        if e.strides.is_some() {
            return None;
        }
        let len = self.info(name)?.elements() * (e.dtype?.bitsize() / 8);
        Some(e.begin as u64..(e.begin + len) as u64)
    }

    /// The tensor called `name`, or an [`IoError::MissingTensor`] that lists what the file holds.
    pub fn require(&self, name: &str) -> Result<&TensorInfo> {
        self.info(name).ok_or_else(|| IoError::MissingTensor {
            path: self.path.clone(),
            tensor: name.to_string(),
            available: self.infos.iter().map(|t| t.name.clone()).collect(),
        })
    }

    /// The string metadata of the header (`__metadata__`), empty when there is none.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Reads a whole tensor, converted to `T`.
    ///
    /// Errors: [`IoError::MissingTensor`], [`IoError::UnsupportedDtype`] (anything but F32,
    /// F64, F16 and BF16), [`IoError::NonFinite`] (a NaN or infinite value: weights that would
    /// make every derived number meaningless).
    pub fn read<T: Real>(&self, name: &str) -> Result<ArrayD<T>> {
        let rows = self.require(name)?.shape.first().copied().unwrap_or(1);
        self.read_rows(name, 0..rows)
    }

    /// Reads a tensor that must be a matrix (2 dimensions), converted to `T`.
    pub fn read_matrix<T: Real>(&self, name: &str) -> Result<Array2<T>> {
        let info = self.require(name)?;
        if info.shape.len() != 2 {
            return Err(IoError::ShapeMismatch {
                path: self.path.clone(),
                tensor: name.to_string(),
                expected: "[_, _]".into(),
                found: info.shape.clone(),
                why: "a weight matrix has 2 dimensions".into(),
            });
        }
        let a = self.read::<T>(name)?;
        Ok(a.into_dimensionality()
            .expect("the shape was checked to have 2 dimensions"))
    }

    /// Reads the rows `rows` (a range of the first axis) of a tensor, converted to `T`; only
    /// those rows' bytes are touched. A 0-dimensional tensor has the single row `0..1`.
    ///
    /// # Panics
    /// If `rows` is not within the tensor's first dimension (the caller takes ranges from
    /// [`TensorFile::info`]).
    #[track_caller]
    pub fn read_rows<T: Real>(&self, name: &str, rows: Range<usize>) -> Result<ArrayD<T>> {
        self.read_rows_checked(name, rows, Finite::Require)
    }

    /// Reads a whole tensor, converted to `T`, keeping NaN and infinity: results tensors use
    /// NaN for "unknown" and for padding, where a weight must be finite.
    pub(crate) fn read_allowing_non_finite<T: Real>(&self, name: &str) -> Result<ArrayD<T>> {
        let rows = self.require(name)?.shape.first().copied().unwrap_or(1);
        self.read_rows_checked(name, 0..rows, Finite::Allow)
    }

    /// [`TensorFile::read_rows`] keeping NaN and infinity (results tensors).
    #[track_caller]
    pub(crate) fn read_rows_allowing_non_finite<T: Real>(
        &self,
        name: &str,
        rows: Range<usize>,
    ) -> Result<ArrayD<T>> {
        self.read_rows_checked(name, rows, Finite::Allow)
    }

    #[track_caller]
    fn read_rows_checked<T: Real>(
        &self,
        name: &str,
        rows: Range<usize>,
        finite: Finite,
    ) -> Result<ArrayD<T>> {
        let info = self.require(name)?;
        let entry = &self.entries[name];
        let n_rows = info.shape.first().copied().unwrap_or(1);
        assert!(
            rows.start <= rows.end && rows.end <= n_rows,
            "read_rows: rows {rows:?} outside 0..{n_rows} of tensor '{name}'"
        );
        let Some(dtype) = entry.dtype.filter(|d| SUPPORTED.contains(d)) else {
            return Err(IoError::UnsupportedDtype {
                path: self.path.clone(),
                tensor: name.to_string(),
                dtype: info.dtype.clone(),
            });
        };
        let bytes = self.row_bytes(info, entry, dtype, rows.clone());
        self.count(bytes.len());
        let decoded = decode::<T>(dtype, &bytes).expect("dtype checked as supported");
        let mut shape = info.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = rows.len();
        }
        if let (Some(flat), Finite::Require) = (decoded.first_non_finite, finite) {
            let mut first = unravel(flat, &shape);
            if let Some(r) = first.first_mut() {
                *r += rows.start;
            }
            return Err(IoError::NonFinite {
                path: self.path.clone(),
                tensor: name.to_string(),
                count: decoded.non_finite,
                total: decoded.values.len(),
                first,
            });
        }
        Ok(ArrayD::from_shape_vec(IxDyn(&shape), decoded.values)
            .expect("the header was validated: data length matches the shape"))
    }

    /// Reads a whole I64 tensor (indices bilens writes into results); only I64 is accepted.
    pub(crate) fn read_i64(&self, name: &str) -> Result<ArrayD<i64>> {
        let rows = self.require(name)?.shape.first().copied().unwrap_or(1);
        self.read_i64_rows(name, 0..rows)
    }

    /// Rows `rows` of an I64 tensor.
    ///
    /// # Panics
    /// If `rows` is not within the tensor's first dimension.
    #[track_caller]
    pub(crate) fn read_i64_rows(&self, name: &str, rows: Range<usize>) -> Result<ArrayD<i64>> {
        let info = self.require(name)?;
        let entry = &self.entries[name];
        if entry.dtype != Some(StDtype::I64) {
            return Err(IoError::UnsupportedDtype {
                path: self.path.clone(),
                tensor: name.to_string(),
                dtype: info.dtype.clone(),
            });
        }
        let n_rows = info.shape.first().copied().unwrap_or(1);
        assert!(
            rows.start <= rows.end && rows.end <= n_rows,
            "read_i64_rows: rows {rows:?} outside 0..{n_rows} of tensor '{name}'"
        );
        let bytes = self.row_bytes(info, entry, StDtype::I64, rows.clone());
        self.count(bytes.len());
        let mut shape = info.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = rows.len();
        }
        let values = bytes
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                i64::from_le_bytes(a)
            })
            .collect();
        Ok(ArrayD::from_shape_vec(IxDyn(&shape), values)
            .expect("the header was validated: data length matches the shape"))
    }

    /// The bytes of rows `rows` of a tensor in row-major order: a slice of the map when the
    /// tensor is contiguous, else its elements gathered by their strides (a PyTorch view saved
    /// as is). Extents were checked when the file was opened.
    fn row_bytes(
        &self,
        info: &TensorInfo,
        entry: &Entry,
        dtype: StDtype,
        rows: Range<usize>,
    ) -> Cow<'_, [u8]> {
        let width = dtype.bitsize() / 8;
        let Some(strides) = &entry.strides else {
            let row_bytes = info.shape.iter().skip(1).product::<usize>() * width;
            let begin = entry.begin + rows.start * row_bytes;
            return Cow::Borrowed(&self.map[begin..begin + rows.len() * row_bytes]);
        };
        let inner = &info.shape[1..];
        let n: usize = rows.len() * inner.iter().product::<usize>();
        let mut out = Vec::with_capacity(n * width);
        let mut index = vec![0usize; inner.len()];
        for r in rows {
            index.fill(0);
            loop {
                if inner.contains(&0) {
                    break;
                }
                let element = r * strides[0]
                    + index
                        .iter()
                        .zip(&strides[1..])
                        .map(|(i, s)| i * s)
                        .sum::<usize>();
                let at = entry.begin + element * width;
                out.extend_from_slice(&self.map[at..at + width]);
                // Odometer over the inner dimensions, last fastest.
                let mut d = inner.len();
                loop {
                    if d == 0 {
                        break;
                    }
                    d -= 1;
                    index[d] += 1;
                    if index[d] < inner[d] {
                        break;
                    }
                    index[d] = 0;
                }
                if index.iter().all(|&i| i == 0) {
                    break;
                }
            }
        }
        Cow::Owned(out)
    }
}

/// Row-major strides (in elements) of a contiguous tensor of shape `shape`.
fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1].max(1);
    }
    strides
}

/// Whether a read refuses NaN and infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finite {
    /// Weights: a non-finite value is an [`IoError::NonFinite`].
    Require,
    /// Results: NaN marks unknown values and padding.
    Allow,
}

/// Largest header the reference parser accepts (100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Explains why `bytes` (the whole file) is not a readable safetensors file. `err` is the
/// reference parser's verdict, used when no more specific explanation is found.
fn diagnose(path: &Path, bytes: &[u8], err: Option<safetensors::SafeTensorError>) -> IoError {
    let path = path.to_path_buf();
    let not = |reason: String| IoError::NotSafetensors {
        path: path.clone(),
        reason,
    };
    let truncated = |reason: String| IoError::Truncated {
        path: path.clone(),
        reason,
    };
    let corrupt = |reason: String| IoError::CorruptHeader {
        path: path.clone(),
        reason,
    };
    let len = bytes.len();
    if len < 8 {
        if let Some(kind) = looks_like(bytes) {
            return not(format!("it looks like {kind}"));
        }
        return truncated(if len == 0 {
            "the file is empty".into()
        } else {
            format!("the file is only {len} bytes, shorter than the 8-byte header length")
        });
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let after = (len - 8) as u64;
    let header_starts_json = bytes[8..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if n > MAX_HEADER || n > after || !header_starts_json {
        if let Some(kind) = looks_like(bytes) {
            return not(format!("it looks like {kind}"));
        }
        if n <= MAX_HEADER && header_starts_json {
            return truncated(format!(
                "the header declares {n} bytes but only {after} follow the 8-byte length"
            ));
        }
        return not(format!(
            "its first 8 bytes do not give a plausible header length ({n} bytes in a file of \
             {len} bytes) followed by a JSON header"
        ));
    }
    let n = n as usize;
    let header = &bytes[8..8 + n];
    let text = match std::str::from_utf8(header) {
        Ok(t) => t,
        Err(e) => return corrupt(format!("the header is not valid UTF-8 ({e})")),
    };
    let json: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return corrupt(format!("the header is not valid JSON: {e}")),
    };
    let Some(object) = json.as_object() else {
        return corrupt("the header is not a JSON object".into());
    };
    let mut spans = Vec::new();
    for (name, value) in object {
        if name == "__metadata__" {
            if serde_json::from_value::<BTreeMap<String, String>>(value.clone()).is_err() {
                return corrupt("__metadata__ must map strings to strings".into());
            }
            continue;
        }
        let info: safetensors::tensor::TensorInfo = match serde_json::from_value(value.clone()) {
            Ok(i) => i,
            Err(e) => return corrupt(format!("tensor '{name}': {e}")),
        };
        let (b, e) = info.data_offsets;
        let needed = info
            .shape
            .iter()
            .try_fold(info.dtype.bitsize(), |a, &d| a.checked_mul(d))
            .map(|bits| bits.div_ceil(8));
        let Some(needed) = needed else {
            return corrupt(format!(
                "tensor '{name}': shape {:?} is too large to address",
                info.shape
            ));
        };
        if e < b || e - b != needed {
            return corrupt(format!(
                "tensor '{name}': {} {:?} needs {needed} bytes but its data_offsets [{b}, {e}] \
                 span {}",
                info.dtype,
                info.shape,
                e as i128 - b as i128
            ));
        }
        spans.push((b, e, name.clone()));
    }
    spans.sort();
    let mut at = 0;
    for (b, e, name) in &spans {
        if *b != at {
            return corrupt(format!(
                "tensor '{name}' starts at data byte {b} but the tensors before it end at {at} \
                 (overlapping or out-of-order data_offsets)"
            ));
        }
        at = *e;
    }
    let available = len - 8 - n;
    if at > available {
        return truncated(format!(
            "the header declares {at} bytes of tensor data but only {available} follow it (the \
             file is {len} bytes, {} expected)",
            8 + n + at
        ));
    }
    if at < available {
        return corrupt(format!(
            "{} bytes follow the last tensor's data (the tensors cover {at} of {available} \
             data bytes)",
            available - at
        ));
    }
    corrupt(match err {
        Some(e) => e.to_string(),
        None => "unrecognised problem".into(),
    })
}

/// Recognises common file formats that get passed where a safetensors file is expected (zip
/// archives and pickles never get here: they are read as PyTorch checkpoints).
fn looks_like(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 7] = [
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
        (
            b"\x89HDF\r\n\x1a\n",
            "an HDF5 file (e.g. a Keras .h5 model)",
        ),
        (b"\x93NUMPY", "a NumPy .npy array"),
        (b"GGUF", "a GGUF model file"),
        (b"%PDF", "a PDF document"),
    ];
    for (magic, kind) in SIGNATURES {
        if bytes.starts_with(magic) {
            return Some(kind);
        }
    }
    let prefix = &bytes[..bytes.len().min(512)];
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => Some(t),
        // A multi-byte character cut by the prefix is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&prefix[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    match text {
        Some(t)
            if !t.is_empty()
                && t.chars()
                    .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')) =>
        {
            Some(match t.trim_start().chars().next() {
                Some('{' | '[') => "a JSON file",
                _ => "a text file",
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_other_formats() {
        assert_eq!(
            looks_like(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("a PNG image")
        );
        assert_eq!(looks_like(b"{\"d_hidden\": 64}"), Some("a JSON file"));
        assert_eq!(looks_like("héllo\n".as_bytes()), Some("a text file"));
        assert_eq!(looks_like(&[0x10, 0, 0, 0, 0, 0, 0, 0, b'{']), None);
    }
}
