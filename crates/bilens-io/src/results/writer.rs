//! The streaming writer of a results directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bilens_decomp::{Hosvd, Real};
use ndarray::{Array1, ArrayView2, ArrayView3, ArrayViewD};

use super::extras::{ExtraData, ExtraSpec, fill_summaries, stat_column};
use super::meta::ResultsMeta;
use super::names::{self, EIGENVALUES, EIGENVECTORS, INPUT_EIGENVECTORS, OUTPUTS};
use super::plan::Plan;
use super::resume::{LogChunk, ResumeLog};
use super::summary::{HosvdSummary, OutputSummary, ResultsShape, Summary};
use super::{FORMAT_VERSION, SUMMARY_FILE};
use crate::error::{IoError, Result};
use crate::write::{Element, SafetensorsWriter, TensorSpec, write_atomic};

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
    /// The rows `[n, trailing...]` of every declared extra, by name (the statistics of
    /// [`ExtraSpec::spectrum_stats`] may be left out: they are filled from `summaries`).
    pub extras: Vec<(&'a str, ExtraData<'a, T>)>,
}

/// Writes a results directory, streaming chunks of outputs to disk; see the module docs.
pub struct ResultsWriter<T> {
    /// Held for the writer's life: one writer per directory.
    pub(super) _lock: super::lock::WriterLock,
    pub(super) dir: PathBuf,
    pub(super) file_path: PathBuf,
    pub(super) shape: ResultsShape,
    pub(super) file: SafetensorsWriter,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) summaries: Vec<Option<OutputSummary>>,
    /// Declared extras, with their stored shapes `[n_out, trailing...]`.
    pub(super) extras: Vec<TensorSpec>,
    /// Declared globals and whether each was written.
    pub(super) globals: Vec<(TensorSpec, bool)>,
    pub(super) hosvd: Option<HosvdSummary>,
    /// The resume log of a resumable writer.
    pub(super) log: Option<ResumeLog>,
    /// Counters ([`ResultsWriter::add_count`]): totals, and what the next logged chunk adds.
    pub(super) counts: BTreeMap<String, u64>,
    pub(super) pending_counts: BTreeMap<String, u64>,
    pub(super) _precision: std::marker::PhantomData<T>,
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
    /// `T`, with the per-output `extras` and the `globals` declared (both may be empty).
    /// Nothing appears at the final paths before [`ResultsWriter::finish`].
    ///
    /// A float extra must be declared in the results' precision (its rows are `T`); names may
    /// not repeat or reuse the four tensors every results directory has.
    pub fn create(
        dir: &Path,
        shape: ResultsShape,
        meta: &ResultsMeta,
        extras: &[ExtraSpec],
        globals: &[TensorSpec],
    ) -> Result<Self> {
        let plan = Plan::new::<T>(dir, shape, meta, extras, globals, run_id())?;
        let lock = plan.lock()?;
        let file = SafetensorsWriter::create(&plan.file_path, plan.specs.clone(), &plan.metadata)?;
        Ok(plan.into_writer(lock, file, None))
    }

    /// The outputs not written yet, as ranges of consecutive outputs in order (everything for
    /// a fresh writer; what an interrupted run left for a resumed one).
    pub fn pending(&self) -> Vec<std::ops::Range<usize>> {
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for (o, s) in self.summaries.iter().enumerate() {
            if s.is_some() {
                continue;
            }
            match ranges.last_mut() {
                Some(r) if r.end == o => r.end = o + 1,
                _ => ranges.push(o..o + 1),
            }
        }
        ranges
    }

    /// The summaries of the outputs written so far (including resumed ones), by index.
    pub fn summaries(&self) -> impl Iterator<Item = &OutputSummary> {
        self.summaries.iter().flatten()
    }

    /// Adds `n` to counter `key` (e.g. solver fallbacks), carried with the next chunk into the
    /// resume log so that a resumed run's total includes the chunks before the interruption.
    /// Every counter is written into both files' metadata on [`ResultsWriter::finish`].
    pub fn add_count(&mut self, key: &str, n: u64) {
        *self.counts.entry(key.to_string()).or_default() += n;
        *self.pending_counts.entry(key.to_string()).or_default() += n;
    }

    /// The total of counter `key` so far.
    pub fn count(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// The declared sizes.
    pub fn shape(&self) -> ResultsShape {
        self.shape
    }

    /// The global tensors of a computed HOSVD, to declare at [`ResultsWriter::create`] and
    /// write with [`ResultsWriter::write_hosvd`]: `singular_values [S]`,
    /// `output_vectors [S, d_out]` and, for a restricted HOSVD, `output_coefficients [S, n]`.
    pub fn hosvd_globals(h: &Hosvd<T>) -> Vec<TensorSpec> {
        let float = <T as Element>::DTYPE;
        let mut specs = vec![
            TensorSpec::new(names::SINGULAR_VALUES, float, h.singular_values.shape()),
            TensorSpec::new(names::OUTPUT_VECTORS, float, h.output_vectors.shape()),
        ];
        if let Some(c) = &h.coefficients {
            specs.push(TensorSpec::new(
                names::OUTPUT_COEFFICIENTS,
                float,
                c.shape(),
            ));
        }
        specs
    }

    /// Writes one chunk of consecutive outputs (chunks may come in any order; each output
    /// exactly once).
    ///
    /// Every declared extra must be given, with rows `[n, trailing...]` of its declared kind,
    /// except the statistics of [`ExtraSpec::spectrum_stats`], which are filled from the
    /// chunk's summaries when left out (NaN for an unknown effective rank). Summary fields
    /// left `None` are filled from the extras that hold them: `linear_term_norm` from
    /// `linear_terms`, `constant` from `constants`, and the top interactions (at most
    /// [`SUMMARY_TOP`](crate::SUMMARY_TOP), padding skipped) from the interaction tensors.
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

        // Extras: the statistics left out are computed from the summaries.
        let float = <T as Element>::DTYPE;
        let given = |name: &str| chunk.extras.iter().any(|(g, _)| *g == name);
        let filled: Vec<(&str, Array1<T>)> = self
            .extras
            .iter()
            .filter(|e| {
                e.dtype == float && names::STATS.contains(&e.name.as_str()) && !given(&e.name)
            })
            .map(|e| (e.name.as_str(), stat_column(&e.name, &chunk.summaries)))
            .collect();
        let mut extras: Vec<(&str, ExtraData<'_, T>)> =
            chunk.extras.iter().map(|(n, d)| (*n, d.view())).collect();
        extras.extend(
            filled
                .iter()
                .map(|(name, a)| (*name, ExtraData::Float(a.view().into_dyn()))),
        );
        for (i, (name, data)) in extras.iter().enumerate() {
            let Some(spec) = self.extras.iter().find(|e| e.name == *name) else {
                return Err(err(
                    name,
                    "given with a chunk but not declared as a per-output extra".into(),
                ));
            };
            if extras[..i].iter().any(|(other, _)| other == name) {
                return Err(err(name, "given twice in one chunk".into()));
            }
            let kind = data.dtype_name(float);
            if kind != spec.dtype.name() {
                return Err(err(
                    name,
                    format!("declared {} but given as {kind}", spec.dtype.name()),
                ));
            }
            let mut expected = spec.shape.clone();
            expected[0] = n;
            check(name, data.shape(), &expected)?;
        }
        if let Some(missing) = self
            .extras
            .iter()
            .find(|e| !extras.iter().any(|(g, _)| *g == e.name))
        {
            return Err(err(&missing.name, "declared but not given".into()));
        }
        let mut summaries = chunk.summaries;
        fill_summaries(&mut summaries, &extras);

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
        for (name, data) in extras {
            match data {
                ExtraData::Float(a) => write_rows(&mut self.file, name, first, a)?,
                ExtraData::Index(a) => write_rows(&mut self.file, name, first, a)?,
            }
        }
        if let Some(log) = &mut self.log {
            // The tensors first: a chunk the log names must be on disk.
            self.file.sync()?;
            log.append(&LogChunk {
                first,
                summaries: summaries.clone(),
                counts: std::mem::take(&mut self.pending_counts),
            })?;
        }
        for s in summaries {
            let o = s.index;
            self.summaries[o] = Some(s);
        }
        Ok(())
    }

    /// Writes a global tensor declared at creation, whole (each exactly once).
    pub fn write_global<E: Element>(&mut self, name: &str, a: ArrayViewD<'_, E>) -> Result<()> {
        let err = |reason: &str| IoError::Write {
            path: self.file_path.clone(),
            tensor: name.to_string(),
            reason: reason.to_string(),
        };
        let Some(i) = self.globals.iter().position(|(g, _)| g.name == name) else {
            return Err(err("not declared as a global tensor"));
        };
        if self.globals[i].1 {
            return Err(err("already written"));
        }
        self.file.write_array(name, a)?;
        self.globals[i].1 = true;
        Ok(())
    }

    /// Writes the globals of [`ResultsWriter::hosvd_globals`] and records the spectrum in the
    /// summary ([`ResultsWriter::set_hosvd_summary`]).
    pub fn write_hosvd(&mut self, h: &Hosvd<T>) -> Result<()> {
        self.write_global(names::SINGULAR_VALUES, h.singular_values.view().into_dyn())?;
        self.write_global(names::OUTPUT_VECTORS, h.output_vectors.view().into_dyn())?;
        if let Some(c) = &h.coefficients {
            self.write_global(names::OUTPUT_COEFFICIENTS, c.view().into_dyn())?;
        }
        self.set_hosvd_summary(HosvdSummary::new(h));
        Ok(())
    }

    /// Records a HOSVD spectrum in `summary.json`.
    pub fn set_hosvd_summary(&mut self, summary: HosvdSummary) {
        self.hosvd = Some(summary);
    }

    /// Adds metadata known only once the run is over (e.g. how often a solver fell back), to
    /// both files.
    pub fn set_metadata(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        self.file.set_metadata(key, value.clone());
        self.metadata.insert(key.to_string(), value);
    }

    /// Checks every output and global was written, moves `decomposition.safetensors` into
    /// place, then writes `summary.json` (each atomically). A resumable writer's log is removed
    /// once the tensors are in place.
    pub fn finish(mut self) -> Result<()> {
        for (key, value) in std::mem::take(&mut self.counts) {
            self.set_metadata(&key, value.to_string());
        }
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
        if let Some((g, _)) = self.globals.iter().find(|(_, written)| !written) {
            return Err(IoError::Write {
                path: self.file_path,
                tensor: g.name.clone(),
                reason: "declared as a global tensor but never written".into(),
            });
        }
        let summary = Summary {
            format_version: FORMAT_VERSION,
            metadata: self.metadata,
            shape: self.shape,
            extras: self.extras,
            globals: self.globals.into_iter().map(|(g, _)| g).collect(),
            hosvd: self.hosvd,
            outputs: self.summaries.into_iter().flatten().collect(),
        };
        let mut json = serde_json::to_vec_pretty(&summary).expect("the summary serialises");
        json.push(b'\n');
        self.file.finish()?;
        if let Some(log) = self.log {
            log.remove()?;
        }
        write_atomic(&self.dir.join(SUMMARY_FILE), &json)
    }
}

/// Writes the rows of `a` (leading axis = outputs) at output `first` of tensor `name`.
fn write_rows<E: Element>(
    file: &mut SafetensorsWriter,
    name: &str,
    first: usize,
    a: ArrayViewD<'_, E>,
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
