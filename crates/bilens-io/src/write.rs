//! Writing files atomically: a streaming safetensors writer and whole-file text writes.
//!
//! Every file is written to a temporary file in the destination directory and renamed over the
//! destination only once complete and synced, so a crash leaves the previous file or none,
//! never half a file. The safetensors writer declares every tensor up front (the format puts
//! all offsets in the header) and then accepts data for any tensor at any element offset, so
//! results can be streamed to disk chunk by chunk without holding them in memory.
//!
//! A writer can also keep its temporary file under a known name
//! ([`SafetensorsWriter::create_resumable`]) and be reopened on it after a crash
//! ([`SafetensorsWriter::reopen`]): what was synced ([`SafetensorsWriter::sync`]) before the
//! crash is still there, and the header, which is deterministic for the same declarations and
//! metadata, proves the file is the one being resumed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use crate::error::{IoError, Result};

/// Element types bilens writes (serialised by their safetensors names, e.g. `"F32"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer (indices).
    I64,
}

impl Dtype {
    /// The safetensors name of the type.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }
}

/// A value that can be stored in a safetensors file.
pub trait Element: Copy {
    /// Its dtype.
    const DTYPE: Dtype;
    /// Appends its little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

impl Element for f32 {
    const DTYPE: Dtype = Dtype::F32;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for f64 {
    const DTYPE: Dtype = Dtype::F64;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for i64 {
    const DTYPE: Dtype = Dtype::I64;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The declared name, dtype and shape of one tensor of a file being written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape (row-major).
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// A new spec.
    pub fn new(name: impl Into<String>, dtype: Dtype, shape: &[usize]) -> Self {
        Self {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
        }
    }

    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

struct Slot {
    spec: TensorSpec,
    begin: u64,
    written: usize,
}

/// Where the data goes until [`SafetensorsWriter::finish`] renames it into place.
enum Backing {
    /// An anonymous temporary file, removed if the writer is dropped unfinished.
    Temporary(NamedTempFile),
    /// A file under a known name, kept if the writer is dropped unfinished (for resuming).
    Named(File, PathBuf),
}

impl Backing {
    fn file(&self) -> &File {
        match self {
            Backing::Temporary(t) => t.as_file(),
            Backing::Named(f, _) => f,
        }
    }
}

impl Write for Backing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Backing::Temporary(t) => t.write(buf),
            Backing::Named(f, _) => f.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Backing::Temporary(t) => t.flush(),
            Backing::Named(f, _) => f.flush(),
        }
    }
}

impl Seek for Backing {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Backing::Temporary(t) => t.seek(pos),
            Backing::Named(f, _) => f.seek(pos),
        }
    }
}

/// A safetensors file being written: every tensor declared up front, data streamed in at any
/// element offset, the file appearing at its destination only on [`SafetensorsWriter::finish`].
pub struct SafetensorsWriter {
    target: PathBuf,
    file: BufWriter<Backing>,
    data_start: u64,
    slots: Vec<Slot>,
    metadata: BTreeMap<String, String>,
    scratch: Vec<u8>,
}

/// Header bytes reserved (as the spaces the format allows after the JSON) for metadata added
/// with [`SafetensorsWriter::set_metadata`] once the data is written, e.g. what a run found.
const LATE_METADATA_RESERVE: usize = 1024;

impl std::fmt::Debug for SafetensorsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsWriter")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl SafetensorsWriter {
    /// Starts a file at `path` holding the declared tensors (stored in this order) and the
    /// string `metadata` (the safetensors `__metadata__` header).
    pub fn create(
        path: &Path,
        specs: Vec<TensorSpec>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let layout = Layout::new(path, specs, metadata)?;
        let dir = parent_dir(path);
        let tmp = NamedTempFile::new_in(&dir).map_err(|e| IoError::os(&dir, e))?;
        layout.start(path, Backing::Temporary(tmp))
    }

    /// Like [`SafetensorsWriter::create`], but the data is kept in `partial` (created or
    /// truncated) until [`SafetensorsWriter::finish`], and `partial` survives a crash or a drop
    /// so that [`SafetensorsWriter::reopen`] can continue it.
    pub fn create_resumable(
        path: &Path,
        partial: &Path,
        specs: Vec<TensorSpec>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let layout = Layout::new(path, specs, metadata)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(partial)
            .map_err(|e| IoError::os(partial, e))?;
        layout.start(path, Backing::Named(file, partial.to_path_buf()))
    }

    /// Reopens the `partial` file of an interrupted [`SafetensorsWriter::create_resumable`]
    /// with the same declarations and metadata. `None` (and nothing changed) when the file is
    /// not that one: its header or length differ. Nothing counts as written: the caller credits
    /// what it knows was synced with [`SafetensorsWriter::credit`].
    pub fn reopen(
        path: &Path,
        partial: &Path,
        specs: Vec<TensorSpec>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Option<Self>> {
        let layout = Layout::new(path, specs, metadata)?;
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(partial)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IoError::os(partial, e)),
        };
        let len = file.metadata().map_err(|e| IoError::os(partial, e))?.len();
        if len != layout.data_start + layout.data_len {
            return Ok(None);
        }
        let mut head = vec![0u8; layout.data_start as usize];
        std::io::Read::read_exact(&mut file, &mut head).map_err(|e| IoError::os(partial, e))?;
        if head != layout.head() {
            return Ok(None);
        }
        let Layout {
            slots,
            data_start,
            metadata,
            ..
        } = layout;
        Ok(Some(Self {
            target: path.to_path_buf(),
            file: BufWriter::with_capacity(1 << 20, Backing::Named(file, partial.to_path_buf())),
            data_start,
            slots,
            metadata,
            scratch: Vec::new(),
        }))
    }

    /// Counts `elements` of tensor `name` as written (data a reopened file already holds).
    pub fn credit(&mut self, name: &str, elements: usize) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.spec.name == name) {
            s.written += elements;
        }
    }

    /// Flushes buffered data and waits until the operating system has it on disk: after this
    /// returns, a crash loses nothing written so far.
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .flush()
            .and_then(|()| self.file.get_ref().file().sync_data())
            .map_err(|e| IoError::os(&self.target, e))
    }

    /// Adds or replaces a `__metadata__` entry after creation (written by
    /// [`SafetensorsWriter::finish`]); the header has room for about a kilobyte of them.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// Writes `data` into tensor `name` starting at element `first` (row-major flat index).
    pub fn write<T: Element>(&mut self, name: &str, first: usize, data: &[T]) -> Result<()> {
        let target = &self.target;
        let err = |reason: String| IoError::Write {
            path: target.clone(),
            tensor: name.to_string(),
            reason,
        };
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.spec.name == name)
            .ok_or_else(|| err("not declared when the file was created".into()))?;
        if slot.spec.dtype != T::DTYPE {
            return Err(err(format!(
                "declared {} but written as {}",
                slot.spec.dtype.name(),
                T::DTYPE.name()
            )));
        }
        let total = slot.spec.elements();
        if first + data.len() > total {
            return Err(err(format!(
                "elements {}..{} exceed its {total} elements",
                first,
                first + data.len()
            )));
        }
        self.scratch.clear();
        self.scratch.reserve(data.len() * T::DTYPE.size());
        for &x in data {
            x.put(&mut self.scratch);
        }
        let at = self.data_start + slot.begin + (first * T::DTYPE.size()) as u64;
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.write_all(&self.scratch))
            .map_err(|e| IoError::os(target, e))?;
        slot.written += data.len();
        Ok(())
    }

    /// Writes a whole tensor from an array (any layout; written in row-major order).
    pub fn write_array<T: Element>(&mut self, name: &str, a: ArrayViewD<'_, T>) -> Result<()> {
        let target = &self.target;
        let declared = self
            .slots
            .iter()
            .find(|s| s.spec.name == name)
            .map(|s| s.spec.shape.clone());
        if let Some(shape) = declared {
            if shape != a.shape() {
                return Err(IoError::Write {
                    path: target.clone(),
                    tensor: name.into(),
                    reason: format!("declared shape {shape:?} but given {:?}", a.shape()),
                });
            }
        }
        match a.as_slice() {
            Some(s) => self.write(name, 0, s),
            None => self.write(name, 0, &a.iter().copied().collect::<Vec<_>>()),
        }
    }

    /// Checks every tensor was fully written, syncs, and moves the file into place atomically.
    pub fn finish(mut self) -> Result<()> {
        for s in &self.slots {
            if s.written != s.spec.elements() {
                return Err(IoError::Write {
                    path: self.target.clone(),
                    tensor: s.spec.name.clone(),
                    reason: format!(
                        "only {} of {} elements were written",
                        s.written,
                        s.spec.elements()
                    ),
                });
            }
        }
        let mut json = header_json(&self.slots, &self.metadata);
        let room = (self.data_start - 8) as usize;
        if json.len() > room {
            return Err(IoError::Write {
                path: self.target.clone(),
                tensor: "__metadata__".into(),
                reason: format!(
                    "the metadata added after creation needs {} header bytes, {room} were reserved",
                    json.len()
                ),
            });
        }
        json.resize(room, b' ');
        self.file
            .seek(SeekFrom::Start(8))
            .and_then(|_| self.file.write_all(&json))
            .map_err(|e| IoError::os(&self.target, e))?;
        let target = self.target;
        let backing = self
            .file
            .into_inner()
            .map_err(|e| IoError::os(&target, e.into_error()))?;
        backing
            .file()
            .sync_all()
            .map_err(|e| IoError::os(&target, e))?;
        match backing {
            Backing::Temporary(tmp) => persist(tmp, &target),
            Backing::Named(file, partial) => {
                share(&file, &target)?;
                drop(file);
                std::fs::rename(&partial, &target).map_err(|e| IoError::os(&target, e))
            }
        }
    }
}

/// The declared tensors' places and the header, before any file exists.
struct Layout {
    slots: Vec<Slot>,
    metadata: BTreeMap<String, String>,
    /// The JSON header, padded.
    json: Vec<u8>,
    data_start: u64,
    data_len: u64,
}

impl Layout {
    fn new(
        path: &Path,
        specs: Vec<TensorSpec>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let mut slots = Vec::with_capacity(specs.len());
        let mut offset = 0u64;
        for spec in specs {
            if spec.name == "__metadata__" || slots.iter().any(|s: &Slot| s.spec.name == spec.name)
            {
                return Err(IoError::Write {
                    path: path.into(),
                    tensor: spec.name,
                    reason: "declared twice".into(),
                });
            }
            let bytes = (spec.elements() * spec.dtype.size()) as u64;
            slots.push(Slot {
                spec,
                begin: offset,
                written: 0,
            });
            offset += bytes;
        }
        let mut json = header_json(&slots, metadata);
        // The data section starts 8-byte aligned; the format pads the header with spaces.
        json.resize(
            (8 + json.len() + LATE_METADATA_RESERVE).next_multiple_of(8) - 8,
            b' ',
        );
        Ok(Self {
            slots,
            metadata: metadata.clone(),
            data_start: 8 + json.len() as u64,
            json,
            data_len: offset,
        })
    }

    /// The first `data_start` bytes of the file: header length and header.
    fn head(&self) -> Vec<u8> {
        let mut head = (self.json.len() as u64).to_le_bytes().to_vec();
        head.extend_from_slice(&self.json);
        head
    }

    /// Sizes `backing`, writes the header and returns the writer.
    fn start(self, path: &Path, backing: Backing) -> Result<SafetensorsWriter> {
        backing
            .file()
            .set_len(self.data_start + self.data_len)
            .map_err(|e| IoError::os(path, e))?;
        let mut file = BufWriter::with_capacity(1 << 20, backing);
        file.write_all(&self.head())
            .map_err(|e| IoError::os(path, e))?;
        Ok(SafetensorsWriter {
            target: path.to_path_buf(),
            file,
            data_start: self.data_start,
            slots: self.slots,
            metadata: self.metadata,
            scratch: Vec::new(),
        })
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The JSON header: every tensor's dtype, shape and byte range, and the metadata.
fn header_json(slots: &[Slot], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(metadata).expect("strings serialise"),
        );
    }
    for s in slots {
        let end = s.begin + (s.spec.elements() * s.spec.dtype.size()) as u64;
        header.insert(
            s.spec.name.clone(),
            serde_json::json!({"dtype": s.spec.dtype.name(), "shape": s.spec.shape, "data_offsets": [s.begin, end]}),
        );
    }
    serde_json::to_vec(&header).expect("a JSON map serialises")
}

/// Writes a safetensors file holding the given arrays (all of one element type) atomically.
pub fn write_arrays<T: Element>(
    path: &Path,
    tensors: &[(&str, ArrayViewD<'_, T>)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let specs = tensors
        .iter()
        .map(|(n, a)| TensorSpec::new(*n, T::DTYPE, a.shape()))
        .collect();
    let mut w = SafetensorsWriter::create(path, specs, metadata)?;
    for (n, a) in tensors {
        w.write_array(n, a.view())?;
    }
    w.finish()
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, synced, renamed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let mut tmp = NamedTempFile::new_in(&dir).map_err(|e| IoError::os(&dir, e))?;
    tmp.write_all(bytes).map_err(|e| IoError::os(path, e))?;
    tmp.as_file().sync_all().map_err(|e| IoError::os(path, e))?;
    persist(tmp, path)
}

/// Renames the finished temporary file over `target`, shared ([`share`]).
fn persist(tmp: NamedTempFile, target: &Path) -> Result<()> {
    share(tmp.as_file(), target)?;
    let file: File = tmp
        .persist(target)
        .map_err(|e| IoError::os(target, e.error))?;
    drop(file);
    Ok(())
}

/// Temporary files are created private (0600); results and models are meant to be shared,
/// so they get the usual 0644 before they are moved into place.
fn share(file: &File, target: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| IoError::os(target, e))?;
    }
    #[cfg(not(unix))]
    let _ = (file, target);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn streamed_chunks_read_back_with_the_reference_parser() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.safetensors");
        let big = Array3::from_shape_fn((5, 3, 4), |(a, b, c)| (a * 100 + b * 10 + c) as f32);
        let small = Array2::from_shape_fn((5, 3), |(a, b)| (a * 3 + b) as f64);
        let meta = BTreeMap::from([("method".to_string(), "full".to_string())]);
        let mut w = SafetensorsWriter::create(
            &path,
            vec![
                TensorSpec::new("big", Dtype::F32, &[5, 3, 4]),
                TensorSpec::new("small", Dtype::F64, &[5, 3]),
            ],
            &meta,
        )
        .unwrap();
        // Out of order, in chunks of two outputs.
        for start in [4usize, 0, 2] {
            let end = (start + 2).min(5);
            let chunk = big.slice(ndarray::s![start..end, .., ..]).to_owned();
            w.write("big", start * 12, chunk.as_slice().unwrap())
                .unwrap();
        }
        assert!(!path.exists(), "nothing appears before finish");
        w.write_array("small", small.view().into_dyn()).unwrap();
        w.set_metadata("fallbacks", "0");
        w.finish().unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("big").unwrap();
        assert_eq!(t.shape(), &[5, 3, 4]);
        let got: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(got, big.iter().copied().collect::<Vec<_>>());
        let (_, m) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(m.metadata().as_ref().unwrap()["method"], "full");
        assert_eq!(
            m.metadata().as_ref().unwrap()["fallbacks"],
            "0",
            "late metadata lands"
        );
    }

    #[test]
    fn incomplete_or_mismatched_writes_are_errors_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.safetensors");
        let mut w = SafetensorsWriter::create(
            &path,
            vec![TensorSpec::new("a", Dtype::F32, &[4])],
            &BTreeMap::new(),
        )
        .unwrap();
        assert!(
            w.write::<f64>("a", 0, &[1.0])
                .unwrap_err()
                .to_string()
                .contains("declared F32")
        );
        assert!(
            w.write::<f32>("b", 0, &[1.0])
                .unwrap_err()
                .to_string()
                .contains("not declared")
        );
        assert!(
            w.write::<f32>("a", 3, &[1.0, 2.0])
                .unwrap_err()
                .to_string()
                .contains("exceed")
        );
        w.write::<f32>("a", 0, &[1.0, 2.0]).unwrap();
        let e = w.finish().unwrap_err().to_string();
        assert!(e.contains("only 2 of 4"), "{e}");
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the temporary file is removed"
        );
    }
}
