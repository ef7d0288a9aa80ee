//! Shards: one job split over many machines, each machine decomposing a contiguous slice of
//! the output directions into its own results directory ([`DecomposeOptions::shard`]), and
//! the slices merged back ([`crate::merge_shards`]) into the directory a single machine would
//! have written.
//!
//! ## Slices
//!
//! The outputs are cut at chunk boundaries: with `n` outputs in chunks of `c`
//! (`⌈n/c⌉` chunks), shard `M` of `N` takes chunks `⌊(M-1)·⌈n/c⌉/N⌋ .. ⌊M·⌈n/c⌉/N⌋`. Each
//! shard then computes exactly the chunks a single run of the same chunk size computes, so the
//! merged bytes equal that run's (the chunk size is part of a shard's job and the merge checks
//! that every shard used the same one). A job with fewer chunks than shards is refused rather
//! than giving a shard nothing to do.
//!
//! ## On a scheduler
//!
//! [`Shard::from_env`] reads a Slurm job array (`SLURM_ARRAY_TASK_ID`,
//! `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job
//! (`JOB_COMPLETION_INDEX`, whose shard count the caller gives).
//!
//! [`DecomposeOptions::shard`]: crate::DecomposeOptions::shard

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::error::{Arg, Error, Result};

/// Slurm's index of this task in a job array.
pub const SLURM_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
/// Slurm's lowest index of the job array.
pub const SLURM_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
/// Slurm's number of tasks in the job array.
pub const SLURM_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
/// Slurm's step between array indices (1 when absent).
pub const SLURM_TASK_STEP: &str = "SLURM_ARRAY_TASK_STEP";
/// Kubernetes' 0-based index of a pod of an Indexed Job.
pub const K8S_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Shard `index` of `count` (1-based, as `M/N` is written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// `M`, from 1 to `count`.
    pub index: usize,
    /// `N`, the number of shards.
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count`; `None` unless `1 <= index <= count`.
    pub fn new(index: usize, count: usize) -> Option<Self> {
        (index >= 1 && index <= count).then_some(Self { index, count })
    }

    /// Every shard of a job of `count` shards, in order.
    pub fn all(count: usize) -> impl Iterator<Item = Shard> {
        (1..=count).map(move |index| Shard { index, count })
    }

    /// The shard a scheduler assigned to this process, from its environment (`var` looks a
    /// variable up, e.g. `|k| std::env::var(k).ok()`): a Slurm job array, or a Kubernetes
    /// Indexed Job with `count` shards. Under Slurm, a given `count` makes the task id the
    /// shard number itself (the array is `--array=1-N`): a task resubmitted alone
    /// (`sbatch --array=2`) is an array of one task, and only the count given says that it is
    /// still shard 2 of N, so that it resumes its directory and merges with the others.
    pub fn from_env(var: impl Fn(&str) -> Option<String>, count: Option<usize>) -> Result<Self> {
        let number = |name: &str| -> Result<Option<usize>> {
            var(name)
                .map(|v| {
                    v.trim().parse::<usize>().map_err(|_| {
                        Error::argument(
                            Arg::Shard,
                            "auto",
                            format!("{name} is '{v}', not a whole number"),
                            "run inside a Slurm job array or a Kubernetes Indexed Job, or give \
                             the shard as M/N",
                        )
                    })
                })
                .transpose()
        };
        let bad =
            |problem: String, hint: &str| Err(Error::argument(Arg::Shard, "auto", problem, hint));
        if let (Some(id), Some(n)) = (number(SLURM_TASK_ID)?, count) {
            return Shard::new(id, n).map_or_else(
                || {
                    bad(
                        format!("task {id} of the job array is not a shard of {n} (1 to {n})"),
                        "with a shard count, submit the array as --array=1-N (task ids are the \
                         shard numbers)",
                    )
                },
                Ok,
            );
        }
        if let Some(id) = number(SLURM_TASK_ID)? {
            let min = number(SLURM_TASK_MIN)?.unwrap_or(0);
            let Some(n) = number(SLURM_TASK_COUNT)? else {
                return bad(
                    format!("{SLURM_TASK_ID} is set but {SLURM_TASK_COUNT} is not"),
                    "submit the shards as one job array (sbatch --array=1-N)",
                );
            };
            if number(SLURM_TASK_STEP)?.unwrap_or(1) != 1 {
                return bad(
                    format!("the job array has a step ({SLURM_TASK_STEP}) other than 1"),
                    "submit the shards as a contiguous job array (sbatch --array=1-N)",
                );
            }
            return match id.checked_sub(min).and_then(|i| Shard::new(i + 1, n)) {
                Some(s) => Ok(s),
                None => bad(
                    format!(
                        "task {id} of an array of {n} from {min} is not a contiguous index \
                         (an array like 1,5,9 cannot be shards)"
                    ),
                    "submit the shards as a contiguous job array (sbatch --array=1-N)",
                ),
            };
        }
        if let Some(i) = number(K8S_COMPLETION_INDEX)? {
            let Some(n) = count else {
                return Err(Error::argument(
                    Arg::Shards,
                    "",
                    format!("{K8S_COMPLETION_INDEX} is set, so the number of shards is needed"),
                    "give the Indexed Job's completions as the shard count",
                ));
            };
            return match Shard::new(i + 1, n) {
                Some(s) => Ok(s),
                None => bad(
                    format!("{K8S_COMPLETION_INDEX} is {i} but there are only {n} shards"),
                    "make the shard count the Indexed Job's completions",
                ),
            };
        }
        bad(
            format!(
                "none of {SLURM_TASK_ID} (a Slurm job array) or {K8S_COMPLETION_INDEX} (a \
                 Kubernetes Indexed Job) is set"
            ),
            "run inside a Slurm job array or a Kubernetes Indexed Job, or give the shard as M/N",
        )
    }

    /// The outputs of this shard among `n` outputs in chunks of `chunk` (see the module
    /// docs), or an error when there are fewer chunks than shards.
    pub fn outputs(&self, n: usize, chunk: usize) -> Result<Range<usize>> {
        let chunks = n.div_ceil(chunk.max(1));
        if chunks < self.count {
            return Err(Error::argument(
                Arg::Shard,
                self.to_string(),
                format!(
                    "the {n} outputs make {chunks} chunks of {chunk}: too few for {} shards",
                    self.count
                ),
                format!(
                    "use at most {chunks} shards, or a smaller chunk (at most {} outputs) for \
                     every shard and for any single run to compare with",
                    n / self.count
                ),
            ));
        }
        let at = |m: usize| (m * chunks / self.count * chunk).min(n);
        Ok(at(self.index - 1)..at(self.index))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `M/N` with `1 <= M <= N`.
    fn from_str(s: &str) -> Result<Self> {
        let parsed = s
            .split_once('/')
            .and_then(|(m, n)| Some((m.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((m, n)) => Shard::new(m, n).ok_or_else(|| {
                Error::argument(
                    Arg::Shard,
                    s,
                    format!("shard {m} of {n} does not exist"),
                    format!("shards are numbered from 1 to N, e.g. 1/{}", n.max(1)),
                )
            }),
            None => Err(Error::argument(
                Arg::Shard,
                s,
                "is not M/N",
                "give the shard as M/N (e.g. 2/8: the second of eight), or auto",
            )),
        }
    }
}

/// Metadata keys of a shard's results directory.
mod keys {
    pub const SHARD: &str = "shard";
    pub const OUTPUTS: &str = "shard_outputs";
    pub const OF: &str = "shard_of";
    pub const CHUNK: &str = "shard_chunk";
    pub const JOB: &str = "shard_job";
    pub const ALL: [&str; 5] = [SHARD, OUTPUTS, OF, CHUNK, JOB];
}

/// What a shard's results directory records besides the results of its slice: which shard,
/// which outputs of how many, the chunk size, and the description of the whole job (whose
/// digest is the merged results' identity).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ShardMeta {
    pub shard: Shard,
    pub outputs: Range<usize>,
    pub n_out: usize,
    pub chunk: usize,
    pub job: serde_json::Value,
}

impl ShardMeta {
    /// The metadata pairs.
    pub fn entries(&self) -> BTreeMap<String, String> {
        [
            (keys::SHARD, self.shard.to_string()),
            (
                keys::OUTPUTS,
                format!("{}..{}", self.outputs.start, self.outputs.end),
            ),
            (keys::OF, self.n_out.to_string()),
            (keys::CHUNK, self.chunk.to_string()),
            (keys::JOB, self.job.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Reads the pairs back: `None` when `extra` has no shard keys (not a shard), `Err` with
    /// the reason when they are damaged.
    pub fn parse(extra: &BTreeMap<String, String>) -> Option<Result<Self, String>> {
        extra.get(keys::SHARD)?;
        let get = |k: &str| extra.get(k).ok_or_else(|| format!("no '{k}' entry"));
        let number = |k: &str| -> Result<usize, String> {
            get(k)?
                .parse()
                .map_err(|_| format!("'{k}' is not a number"))
        };
        Some((|| {
            let (a, b) = get(keys::OUTPUTS)?
                .split_once("..")
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| format!("'{}' is not a range", keys::OUTPUTS))?;
            Ok(Self {
                shard: get(keys::SHARD)?
                    .parse()
                    .map_err(|e: Error| e.to_string())?,
                outputs: a..b,
                n_out: number(keys::OF)?,
                chunk: number(keys::CHUNK)?,
                job: serde_json::from_str(get(keys::JOB)?)
                    .map_err(|e| format!("'{}' is not JSON ({e})", keys::JOB))?,
            })
        })())
    }

    /// `extra` without the shard keys: the whole job's own metadata.
    pub fn strip(extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        extra
            .iter()
            .filter(|(k, _)| !keys::ALL.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn slices_cover_every_output_once_on_chunk_boundaries() {
        for (n, chunk, count) in [
            (10, 1, 3),
            (100, 7, 4),
            (512, 64, 8),
            (513, 64, 3),
            (5, 5, 1),
        ] {
            let mut next = 0;
            for s in Shard::all(count) {
                let r = s.outputs(n, chunk).unwrap();
                assert_eq!(r.start, next, "n {n} chunk {chunk} shard {s}");
                assert!(r.start % chunk == 0 && !r.is_empty());
                next = r.end;
            }
            assert_eq!(next, n);
        }
        let err = Shard::new(1, 4).unwrap().outputs(10, 5).unwrap_err();
        assert!(
            err.to_string()
                .contains("2 chunks of 5: too few for 4 shards"),
            "{err}"
        );
    }

    #[test]
    fn shards_parse_and_refuse() {
        assert_eq!("2/8".parse::<Shard>().unwrap(), Shard::new(2, 8).unwrap());
        assert_eq!(Shard::new(3, 4).unwrap().to_string(), "3/4");
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn schedulers_assign_shards() {
        let slurm = [
            (SLURM_TASK_ID, "7"),
            (SLURM_TASK_MIN, "5"),
            (SLURM_TASK_COUNT, "4"),
        ];
        assert_eq!(
            Shard::from_env(env(&slurm), None).unwrap(),
            Shard::new(3, 4).unwrap()
        );
        // With the count given, the task id is the shard number: 7 is past 4 shards...
        assert!(Shard::from_env(env(&slurm), Some(4)).is_err());
        // ...and a task resubmitted alone (`--array=2`, an array of one) is still shard 2/4.
        let resubmitted = [
            (SLURM_TASK_ID, "2"),
            (SLURM_TASK_MIN, "2"),
            (SLURM_TASK_COUNT, "1"),
        ];
        assert_eq!(
            Shard::from_env(env(&resubmitted), Some(4)).unwrap(),
            Shard::new(2, 4).unwrap()
        );
        assert_eq!(
            Shard::from_env(env(&resubmitted), None).unwrap(),
            Shard::new(1, 1).unwrap()
        );
        let k8s = [(K8S_COMPLETION_INDEX, "0")];
        assert_eq!(
            Shard::from_env(env(&k8s), Some(2)).unwrap(),
            Shard::new(1, 2).unwrap()
        );
        let err = Shard::from_env(env(&k8s), None).unwrap_err();
        assert!(
            err.to_string().contains("number of shards is needed"),
            "{err}"
        );
        let err = Shard::from_env(env(&[]), None).unwrap_err();
        assert!(err.to_string().contains("SLURM_ARRAY_TASK_ID"), "{err}");
        let stepped = [
            (SLURM_TASK_ID, "3"),
            (SLURM_TASK_COUNT, "2"),
            (SLURM_TASK_STEP, "2"),
        ];
        assert!(Shard::from_env(env(&stepped), None).is_err());
    }
}
