//! Resume state of a results directory being written, so that a long run killed part way
//! continues from its finished chunks when restarted with the same job.
//!
//! While a resumable [`ResultsWriter`](crate::ResultsWriter) runs, its directory holds
//!
//! ```text
//! DIR/decomposition.safetensors.partial   the tensors so far, at their final offsets
//! DIR/resume.jsonl                        a log: one line naming the job, then one line per
//!                                         finished chunk (its outputs' summaries and counters)
//! ```
//!
//! A chunk's line is appended (and synced) only after its tensors are synced, so every chunk
//! the log names is on disk; a line cut short by a crash is ignored and its chunk recomputed.
//! The job is identified by a digest of a JSON description of everything that determines the
//! results (model file, layout, output directions, basis, solver settings, version): the same
//! job resumes, a different one starts over and says what changed. On success the partial
//! file becomes `decomposition.safetensors` and the log is removed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::summary::OutputSummary;
use crate::error::{IoError, Result};
use crate::write::Element;

/// File name of the partial tensors of an interrupted run.
pub const PARTIAL_FILE: &str = "decomposition.safetensors.partial";
/// File name of the resume log.
pub const RESUME_FILE: &str = "resume.jsonl";
/// Version of the log format; a log of another version is discarded.
const LOG_FORMAT: u32 = 1;

/// What a resumable writer found in its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeState {
    /// No earlier state: the run starts from the beginning.
    Fresh,
    /// An interrupted run of the same job: these outputs are already written.
    Resumed {
        /// Outputs already written.
        outputs: usize,
        /// Chunks they came in.
        chunks: usize,
    },
    /// State left by a different job (or unusable), deleted; the run starts over.
    Discarded {
        /// Why, e.g. `the job differs: k was 16, now 32`.
        reason: String,
    },
}

/// The first line of the log.
#[derive(Serialize, Deserialize)]
pub(crate) struct LogHeader {
    pub resume_format: u32,
    pub job_id: String,
    pub job: serde_json::Value,
}

/// One finished chunk of consecutive outputs `first..first + summaries.len()`.
#[derive(Serialize, Deserialize)]
pub(crate) struct LogChunk {
    pub first: usize,
    pub summaries: Vec<OutputSummary>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
}

/// The identifier of a job description: the first 16 hex digits of the SHA-256 of its JSON
/// (keys sorted, so the same description always gives the same id).
pub fn job_id(job: &serde_json::Value) -> String {
    let text = serde_json::to_string(job).expect("a JSON value serialises");
    hex(&Sha256::digest(text.as_bytes()))[..16].to_string()
}

/// A short digest (16 hex digits of SHA-256) of an array's shape and little-endian values:
/// output directions or a feature basis, in a job description.
pub fn array_digest<E: Element>(a: ArrayViewD<'_, E>) -> String {
    let mut h = Sha256::new();
    for &d in a.shape() {
        h.update((d as u64).to_le_bytes());
    }
    let mut bytes = Vec::with_capacity(a.len() * 8);
    for &x in a.iter() {
        x.put(&mut bytes);
    }
    h.update(&bytes);
    hex(&h.finalize())[..16].to_string()
}

/// What identifies a file's content without reading it all, for a job description: its size,
/// modification time and the digest of its first 64 KiB (a safetensors header and more).
pub fn file_fingerprint(path: &Path) -> Result<serde_json::Value> {
    let meta = std::fs::metadata(path).map_err(|e| IoError::os(path, e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut head = vec![0u8; 64 << 10];
    let mut file = File::open(path).map_err(|e| IoError::os(path, e))?;
    let mut filled = 0;
    loop {
        let n = std::io::Read::read(&mut file, &mut head[filled..])
            .map_err(|e| IoError::os(path, e))?;
        filled += n;
        if n == 0 || filled == head.len() {
            break;
        }
    }
    Ok(serde_json::json!({
        "path": path.display().to_string(),
        "size": meta.len(),
        "modified_ns": modified.to_string(),
        "head_sha256": hex(&Sha256::digest(&head[..filled]))[..16],
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A log read back: its header, the chunks of complete lines, and the byte length of those
/// lines (where appending continues).
pub(crate) struct LogRead {
    pub header: LogHeader,
    pub chunks: Vec<LogChunk>,
    pub valid_len: u64,
}

/// Reads `DIR/resume.jsonl`. `Ok(None)` when there is none; `Err(reason)` when it exists but
/// cannot be used (then it is discarded by the caller). A last line without its newline is a
/// write the crash cut short: ignored.
pub(crate) fn read_log(dir: &Path) -> Result<Option<std::result::Result<LogRead, String>>> {
    let path = dir.join(RESUME_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::os(&path, e)),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = match std::str::from_utf8(&bytes[..complete]) {
        Ok(t) => t,
        Err(_) => return Ok(Some(Err(format!("{RESUME_FILE} is not text")))),
    };
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return Ok(Some(Err(format!("{RESUME_FILE} is empty"))));
    };
    let header: LogHeader = match serde_json::from_str(first) {
        Ok(h) => h,
        Err(e) => {
            return Ok(Some(Err(format!(
                "{RESUME_FILE} has no valid header ({e})"
            ))));
        }
    };
    if header.resume_format != LOG_FORMAT {
        return Ok(Some(Err(format!(
            "{RESUME_FILE} was written by another bilens version (format {})",
            header.resume_format
        ))));
    }
    let mut chunks = Vec::new();
    for (i, line) in lines.enumerate() {
        match serde_json::from_str::<LogChunk>(line) {
            Ok(c) => chunks.push(c),
            Err(e) => {
                return Ok(Some(Err(format!(
                    "{RESUME_FILE} line {} is damaged ({e})",
                    i + 2
                ))));
            }
        }
    }
    Ok(Some(Ok(LogRead {
        header,
        chunks,
        valid_len: complete as u64,
    })))
}

/// What differs between two job descriptions, for the message when a run starts over (or
/// shards do not merge): `the job differs: k was 16, now 32` (the first differing top-level
/// fields).
pub fn describe_difference(old: &serde_json::Value, new: &serde_json::Value) -> String {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return "the job description differs".into();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| match v {
        None => "absent".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .take(3)
        .map(|k| {
            let (x, y) = (show(a.get(k)), show(b.get(k)));
            if x.len() + y.len() > 120 {
                format!("{k} changed")
            } else {
                format!("{k} was {x}, now {y}")
            }
        })
        .collect();
    if diffs.is_empty() {
        "the job description differs".into()
    } else {
        format!("the job differs: {}", diffs.join("; "))
    }
}

/// The log of a run being written: appended to and synced chunk by chunk.
pub(crate) struct ResumeLog {
    path: PathBuf,
    file: File,
}

impl ResumeLog {
    /// Starts a new log in `dir` with its header line.
    pub fn create(dir: &Path, header: &LogHeader) -> Result<Self> {
        let path = dir.join(RESUME_FILE);
        let file = File::create(&path).map_err(|e| IoError::os(&path, e))?;
        let mut log = Self { path, file };
        log.append_line(header)?;
        Ok(log)
    }

    /// Continues the log in `dir` after its first `valid_len` bytes (dropping a torn line).
    pub fn reopen(dir: &Path, valid_len: u64) -> Result<Self> {
        let path = dir.join(RESUME_FILE);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| IoError::os(&path, e))?;
        file.set_len(valid_len).map_err(|e| IoError::os(&path, e))?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))
            .map_err(|e| IoError::os(&path, e))?;
        Ok(Self { path, file })
    }

    /// Appends one finished chunk, synced.
    pub fn append(&mut self, chunk: &LogChunk) -> Result<()> {
        self.append_line(chunk)
    }

    fn append_line<S: Serialize>(&mut self, value: &S) -> Result<()> {
        let mut line = serde_json::to_vec(value).expect("the log serialises");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| IoError::os(&self.path, e))
    }

    /// Deletes the log (the run finished).
    pub fn remove(self) -> Result<()> {
        drop(self.file);
        remove_if_present(&self.path)
    }
}

/// Deletes the resume state of an interrupted run in `dir` (its partial tensors and its log),
/// so that the next run starts over; nothing to delete is fine. The state of a run that is
/// still alive is never deleted: the directory's [`WriterLock`](crate::WriterLock) is taken
/// for the deletion, and a live holder is an [`IoError::Locked`].
pub fn discard_resume_state(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let _lock = super::lock::WriterLock::acquire(dir)?;
    remove_if_present(&dir.join(PARTIAL_FILE))?;
    remove_if_present(&dir.join(RESUME_FILE))
}

/// Removes a file, fine if it is not there.
pub(crate) fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::os(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_named() {
        let a = serde_json::json!({"k": 16, "model": "a.safetensors", "order": "abs"});
        let b = serde_json::json!({"k": 32, "model": "a.safetensors", "route": "direct", "order": "abs"});
        assert_eq!(
            describe_difference(&a, &b),
            "the job differs: k was 16, now 32; route was absent, now direct"
        );
        assert_eq!(job_id(&a), job_id(&a.clone()));
        assert_ne!(job_id(&a), job_id(&b));
        assert_eq!(job_id(&a).len(), 16);
    }

    #[test]
    fn array_digests_see_shape_and_values() {
        let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
        let b = a.clone().into_shape_with_order((1, 4)).unwrap();
        assert_ne!(
            array_digest(a.view().into_dyn()),
            array_digest(b.view().into_dyn())
        );
        let mut c = a.clone();
        c[(1, 1)] = 4.000_001;
        assert_ne!(
            array_digest(a.view().into_dyn()),
            array_digest(c.view().into_dyn())
        );
    }
}
