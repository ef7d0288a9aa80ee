//! Merging shards: the results directories of a job's shards (see [`crate::shard`]) checked
//! to be one job covered exactly once, then streamed chunk by chunk into the results
//! directory a single run of the job writes, byte for byte.

use std::path::{Path, PathBuf};

use bilens_decomp::{Precision, Real};
use bilens_io::{
    Dtype, Element, ExtraData, ExtraSpec, PARTIAL_FILE, RESUME_FILE, ResultsChunk, ResultsFile,
    ResultsShape, ResultsWriter, TensorSpec, job_id, names,
};
use ndarray::{ArrayD, Ix2, Ix3};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::shard::{Shard, ShardMeta};

/// What [`merge_shards`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeReport {
    /// The number of shards merged.
    pub shards: usize,
    /// The outputs of the merged results.
    pub outputs: usize,
    /// Whether `out` already held these merged results (nothing was written).
    pub already_complete: bool,
}

/// One shard directory, opened and read.
struct Piece {
    dir: PathBuf,
    results: ResultsFile,
    shard: ShardMeta,
}

/// Merges the results directories of every shard of one job into `out`, which then holds
/// exactly the files a single run of the job (with the shards' chunk size) writes. The
/// shards may come in any order. Memory is bounded by one chunk of outputs.
///
/// Refused, with an [`Error::Merge`] naming the directories and what to rerun: a directory
/// that is not a shard, a shard whose run is incomplete, shards of different jobs or of
/// different bilens versions, a shard given twice, a shard missing.
pub fn merge_shards(dirs: &[PathBuf], out: &Path, progress: &dyn Progress) -> Result<MergeReport> {
    let pieces = check(dirs)?;
    let first = &pieces[0];
    let n_out = first.shard.n_out;
    let run_id = format!("job-{}", job_id(&first.shard.job));
    if ResultsFile::open(out).is_ok_and(|r| r.run_id() == run_id) {
        return Ok(MergeReport {
            shards: pieces.len(),
            outputs: n_out,
            already_complete: true,
        });
    }
    match first.results.meta().precision {
        Precision::F32 => write::<f32>(&pieces, out, progress)?,
        Precision::F64 => write::<f64>(&pieces, out, progress)?,
    }
    Ok(MergeReport {
        shards: pieces.len(),
        outputs: n_out,
        already_complete: false,
    })
}

fn refuse(problem: String, hint: impl Into<String>) -> Error {
    Error::Merge {
        problem,
        hint: hint.into(),
    }
}

/// Opens every directory and checks that together they are every shard of one job, once;
/// returns them in shard order.
fn check(dirs: &[PathBuf]) -> Result<Vec<Piece>> {
    if dirs.is_empty() {
        return Err(refuse(
            "no shard directories to merge".into(),
            "give every shard's results directory",
        ));
    }
    let mut pieces = Vec::with_capacity(dirs.len());
    for dir in dirs {
        pieces.push(open(dir)?);
    }
    pieces.sort_by_key(|p| p.shard.shard.index);
    let first = &pieces[0];
    let name = |p: &Piece| p.dir.display().to_string();
    for p in &pieces[1..] {
        let (a, b) = (
            &first.results.meta().bilens_version,
            &p.results.meta().bilens_version,
        );
        if a != b {
            return Err(refuse(
                format!(
                    "{} was written by bilens {b} but {} by bilens {a}: shards of different \
                     versions do not merge into one result",
                    name(p),
                    name(first)
                ),
                "rerun every shard with one bilens version",
            ));
        }
        if p.shard.job != first.shard.job
            || p.shard.shard.count != first.shard.shard.count
            || p.shard.chunk != first.shard.chunk
        {
            let difference = if p.shard.job != first.shard.job {
                bilens_io::describe_difference(&first.shard.job, &p.shard.job)
            } else {
                format!(
                    "it is shard {} in chunks of {}, {} is shard {} in chunks of {}",
                    p.shard.shard,
                    p.shard.chunk,
                    name(first),
                    first.shard.shard,
                    first.shard.chunk
                )
            };
            return Err(refuse(
                format!(
                    "{} belongs to another job than {} ({difference})",
                    name(p),
                    name(first)
                ),
                format!(
                    "merge the shards of one job: rerun {}'s shard with the options of the \
                     others, or leave it out",
                    name(p)
                ),
            ));
        }
    }
    for pair in pieces.windows(2) {
        if pair[0].shard.shard == pair[1].shard.shard {
            return Err(refuse(
                format!(
                    "{} and {} are both shard {} (outputs {:?}): each output must come from \
                     one shard",
                    name(&pair[0]),
                    name(&pair[1]),
                    pair[0].shard.shard,
                    pair[0].shard.outputs
                ),
                "give each shard's directory once",
            ));
        }
    }
    let count = first.shard.shard.count;
    let (n_out, chunk) = (first.shard.n_out, first.shard.chunk);
    let missing: Vec<Shard> = Shard::all(count)
        .filter(|s| !pieces.iter().any(|p| p.shard.shard == *s))
        .collect();
    if let Some(s) = missing.first() {
        let outputs = s.outputs(n_out, chunk)?;
        let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return Err(refuse(
            format!(
                "shard {} is missing (outputs {}..{} of {n_out}){}",
                list.join(", shard "),
                outputs.start,
                outputs.end,
                if missing.len() > 1 {
                    format!("; {} shards of {count} are missing", missing.len())
                } else {
                    String::new()
                }
            ),
            format!(
                "run the missing shard ({s}, with the options of the others) and merge again \
                 with its directory"
            ),
        ));
    }
    for p in &pieces {
        let expected = p.shard.shard.outputs(n_out, chunk)?;
        if p.shard.outputs != expected || p.results.shape().n_out != expected.len() {
            return Err(refuse(
                format!(
                    "{} says it holds outputs {:?} as shard {}, which is {expected:?}",
                    name(p),
                    p.shard.outputs,
                    p.shard.shard
                ),
                format!("rerun shard {} into a fresh directory", p.shard.shard),
            ));
        }
    }
    Ok(pieces)
}

/// Opens one shard directory; an interrupted run or a directory that is not a shard is
/// refused by name.
fn open(dir: &Path) -> Result<Piece> {
    let shown = dir.display();
    if dir.join(RESUME_FILE).exists() || dir.join(PARTIAL_FILE).exists() {
        return Err(refuse(
            format!(
                "{shown}: the shard's run is incomplete (it was interrupted or is still running)"
            ),
            format!(
                "rerun that shard's command into {shown} (it resumes from its finished chunks), \
                 then merge again"
            ),
        ));
    }
    let results = ResultsFile::open(dir)?;
    let shard = match ShardMeta::parse(&results.meta().meta.extra) {
        Some(Ok(s)) => s,
        Some(Err(reason)) => {
            return Err(refuse(
                format!("{shown}: damaged shard metadata ({reason})"),
                "rerun that shard into a fresh directory",
            ));
        }
        None => {
            return Err(refuse(
                format!("{shown}: not a shard's results (no shard metadata)"),
                "merge the directories written by a job's shards; a single run's directory is \
                 already whole",
            ));
        }
    };
    Ok(Piece {
        dir: dir.to_path_buf(),
        results,
        shard,
    })
}

/// Streams every piece into one resumable writer for the whole job.
fn write<T: Real + Element>(pieces: &[Piece], out: &Path, progress: &dyn Progress) -> Result<()> {
    let first = &pieces[0];
    let stored = first.results.meta();
    let mut meta = stored.meta.clone();
    meta.extra = ShardMeta::strip(&meta.extra);
    let shape = ResultsShape {
        n_out: first.shard.n_out,
        ..first.results.shape()
    };
    let extras: Vec<ExtraSpec> = first
        .results
        .extras()
        .iter()
        .map(|t| ExtraSpec::new(t.name.clone(), t.dtype, &t.shape[1..]))
        .collect();
    let globals: Vec<TensorSpec> = first.results.globals().to_vec();
    let (mut writer, _) = ResultsWriter::<T>::create_resumable(
        out,
        shape,
        &meta,
        &extras,
        &globals,
        &first.shard.job,
    )?;
    let task = progress.task("merge", shape.n_out as u64);
    let pending = writer.pending();
    let is_pending = |o: usize| pending.iter().any(|r| r.contains(&o));
    let chunk = first.shard.chunk;
    for p in pieces {
        let offset = p.shard.outputs.start;
        let n = p.shard.outputs.len();
        for local in (0..n).step_by(chunk) {
            let end = (local + chunk).min(n);
            if !is_pending(offset + local) {
                task.advance((end - local) as u64);
                continue;
            }
            if local == 0 {
                writer.add_lanczos_fallbacks(p.results.meta().lanczos_fallbacks.unwrap_or(0));
            }
            write_chunk(&mut writer, p, local..end, &extras)?;
            task.advance((end - local) as u64);
            if progress.should_stop() {
                return Err(Error::Interrupted);
            }
        }
    }
    for g in &globals {
        if g.dtype == Dtype::I64 {
            if let Some(a) = first.results.index_tensor(&g.name)? {
                writer.write_global(&g.name, a.view())?;
            }
        } else if let Some(a) = first.results.tensor::<T>(&g.name)? {
            writer.write_global(&g.name, a.view())?;
        }
    }
    if let Some(h) = &first.results.summary().hosvd {
        writer.set_hosvd_summary(h.clone());
    }
    writer.finish()?;
    Ok(())
}

/// Copies outputs `rows` of one shard into the writer at their place in the whole job.
fn write_chunk<T: Real + Element>(
    writer: &mut ResultsWriter<T>,
    p: &Piece,
    rows: std::ops::Range<usize>,
    extras: &[ExtraSpec],
) -> Result<()> {
    let r = &p.results;
    let offset = p.shard.outputs.start;
    let float = |name: &str| r.float_rows::<T>(name, rows.clone());
    let eigenvalues = float(names::EIGENVALUES)?.into_dimensionality::<Ix2>();
    let outputs = float(names::OUTPUTS)?.into_dimensionality::<Ix2>();
    let slab = |name: &str| -> Result<Option<ndarray::Array3<T>>> {
        let stored = r.tensor_names().contains(&name);
        Ok(match stored {
            true => Some(
                float(name)?
                    .into_dimensionality::<Ix3>()
                    .map_err(shape_error)?,
            ),
            false => None,
        })
    };
    let eigenvectors = slab(names::EIGENVECTORS)?;
    let input_eigenvectors = slab(names::INPUT_EIGENVECTORS)?;
    let (eigenvalues, outputs) = (
        eigenvalues.map_err(shape_error)?,
        outputs.map_err(shape_error)?,
    );
    let mut data: Vec<(&str, Extra<T>)> = Vec::with_capacity(extras.len());
    for e in extras {
        let rows = rows.clone();
        data.push((
            e.name.as_str(),
            match e.dtype {
                Dtype::I64 => Extra::Index(r.index_rows(&e.name, rows)?),
                _ => Extra::Float(r.float_rows::<T>(&e.name, rows)?),
            },
        ));
    }
    let summaries = r.summary().outputs[rows.clone()]
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.index += offset;
            s
        })
        .collect();
    writer.write_chunk(ResultsChunk {
        first: offset + rows.start,
        eigenvalues: eigenvalues.view(),
        eigenvectors: eigenvectors.as_ref().map(|v| v.view()),
        input_eigenvectors: input_eigenvectors.as_ref().map(|v| v.view()),
        outputs: outputs.view(),
        summaries,
        extras: data
            .iter()
            .map(|(name, d)| {
                (
                    *name,
                    match d {
                        Extra::Float(a) => ExtraData::Float(a.view()),
                        Extra::Index(a) => ExtraData::Index(a.view()),
                    },
                )
            })
            .collect(),
    })?;
    Ok(())
}

/// An extra's rows, owned.
enum Extra<T> {
    Float(ArrayD<T>),
    Index(ArrayD<i64>),
}

/// A stored tensor whose rank is not its declared one: the reader checked shapes on open, so
/// this is a damaged file.
fn shape_error(e: ndarray::ShapeError) -> Error {
    refuse(
        format!("a shard's tensor has an unexpected rank ({e})"),
        "rerun that shard into a fresh directory",
    )
}
