//! Resumable results: a writer for a described job that survives being killed (see
//! [`super::resume`] for the log it keeps).

use std::path::Path;

use bilens_decomp::Real;

use super::extras::ExtraSpec;
use super::lock::WriterLock;
use super::meta::ResultsMeta;
use super::names::{EIGENVALUES, EIGENVECTORS, INPUT_EIGENVECTORS, OUTPUTS};
use super::plan::Plan;
use super::resume::{
    LogChunk, LogHeader, LogRead, PARTIAL_FILE, RESUME_FILE, ResumeLog, ResumeState,
    describe_difference, job_id, read_log, remove_if_present,
};
use super::summary::ResultsShape;
use super::writer::ResultsWriter;
use crate::error::Result;
use crate::write::{Element, SafetensorsWriter, TensorSpec};

impl<T: Real + Element> ResultsWriter<T> {
    /// Like [`ResultsWriter::create`], for the job described by `job` (a JSON object of
    /// everything that determines the results), resuming an interrupted run of the same job
    /// in `dir` when there is one: its finished chunks are kept and [`ResultsWriter::pending`]
    /// lists the outputs left. State of a different job is deleted, and the returned
    /// [`ResumeState`] says why.
    ///
    /// The directory's [`WriterLock`](crate::WriterLock) is taken first and held until the
    /// writer is dropped: while another live process writes `dir` this fails at once with
    /// [`IoError::Locked`](crate::IoError::Locked) and touches nothing.
    pub fn create_resumable(
        dir: &Path,
        shape: ResultsShape,
        meta: &ResultsMeta,
        extras: &[ExtraSpec],
        globals: &[TensorSpec],
        job: &serde_json::Value,
    ) -> Result<(Self, ResumeState)> {
        let id = job_id(job);
        let plan = Plan::new::<T>(dir, shape, meta, extras, globals, format!("job-{id}"))?;
        let lock = plan.lock()?;
        let partial = dir.join(PARTIAL_FILE);
        let (lock, state) = match read_log(dir)? {
            None => (lock, ResumeState::Fresh),
            Some(found) => match Self::resume(plan.clone(), lock, &partial, &id, job, found)? {
                Ok(resumed) => return Ok(resumed),
                Err((lock, reason)) => (lock, ResumeState::Discarded { reason }),
            },
        };
        Self::start_resumable(plan, lock, &partial, job, &id, state)
    }

    /// Continues the run a resume log describes, or says why it cannot (`Err` with the lock
    /// handed back and the reason: another job, a damaged log, a partial file that is not the
    /// logged one).
    fn resume(
        plan: Plan,
        lock: WriterLock,
        partial: &Path,
        id: &str,
        job: &serde_json::Value,
        found: std::result::Result<LogRead, String>,
    ) -> Result<std::result::Result<(Self, ResumeState), (WriterLock, String)>> {
        let log = match found {
            Ok(log) if log.header.job_id == id => log,
            Ok(log) => return Ok(Err((lock, describe_difference(&log.header.job, job)))),
            Err(reason) => return Ok(Err((lock, reason))),
        };
        let reopened = SafetensorsWriter::reopen(
            &plan.file_path,
            partial,
            plan.specs.clone(),
            &plan.metadata,
        )?;
        let Some(file) = reopened else {
            return Ok(Err((
                lock,
                format!("{PARTIAL_FILE} is missing or does not match {RESUME_FILE}"),
            )));
        };
        let dir = plan.dir.clone();
        let log_file = ResumeLog::reopen(&dir, log.valid_len)?;
        let mut writer = plan.into_writer(lock, file, Some(log_file));
        // On an inconsistent log the writer is dropped, keeping its lock, and the caller
        // starts over (which truncates the partial file).
        match writer.replay(log.chunks) {
            Ok(state) => Ok(Ok((writer, state))),
            Err(reason) => Ok(Err((writer._lock, reason))),
        }
    }

    fn start_resumable(
        plan: Plan,
        lock: WriterLock,
        partial: &Path,
        job: &serde_json::Value,
        id: &str,
        state: ResumeState,
    ) -> Result<(Self, ResumeState)> {
        let dir = plan.dir.clone();
        remove_if_present(&dir.join(RESUME_FILE))?;
        let file = SafetensorsWriter::create_resumable(
            &plan.file_path,
            partial,
            plan.specs.clone(),
            &plan.metadata,
        )?;
        let log = ResumeLog::create(
            &dir,
            &LogHeader {
                resume_format: 1,
                job_id: id.to_string(),
                job: job.clone(),
            },
        )?;
        Ok((plan.into_writer(lock, file, Some(log)), state))
    }

    /// Takes back the chunks of a resume log: their summaries, counters and rows (credited as
    /// written). An inconsistent log is an `Err` with the reason.
    fn replay(&mut self, chunks: Vec<LogChunk>) -> std::result::Result<ResumeState, String> {
        let n_chunks = chunks.len();
        let mut outputs = 0;
        for chunk in chunks {
            let n = chunk.summaries.len();
            let fits = chunk.first + n <= self.shape.n_out
                && chunk
                    .summaries
                    .iter()
                    .enumerate()
                    .all(|(i, s)| s.index == chunk.first + i)
                && (chunk.first..chunk.first + n).all(|o| self.summaries[o].is_none());
            if !fits {
                return Err(format!(
                    "{RESUME_FILE} lists outputs {}..{} twice or beyond the {} declared",
                    chunk.first,
                    chunk.first + n,
                    self.shape.n_out
                ));
            }
            for (name, row) in self.row_sizes() {
                self.file.credit(&name, n * row);
            }
            for (k, v) in chunk.counts {
                *self.counts.entry(k).or_default() += v;
            }
            for s in chunk.summaries {
                let o = s.index;
                self.summaries[o] = Some(s);
            }
            outputs += n;
        }
        Ok(if n_chunks == 0 {
            ResumeState::Fresh
        } else {
            ResumeState::Resumed {
                outputs,
                chunks: n_chunks,
            }
        })
    }

    /// Every per-output tensor with the number of elements one output's row holds.
    fn row_sizes(&self) -> Vec<(String, usize)> {
        let s = self.shape;
        let mut rows = vec![
            (EIGENVALUES.to_string(), s.k),
            (OUTPUTS.to_string(), s.d_out),
        ];
        if s.eigenvectors {
            rows.push((EIGENVECTORS.to_string(), s.k * s.d_in));
            if let Some(d) = s.d_input {
                rows.push((INPUT_EIGENVECTORS.to_string(), s.k * d));
            }
        }
        for e in &self.extras {
            rows.push((e.name.clone(), e.shape.iter().skip(1).product()));
        }
        rows
    }
}
