//! One writer per results directory: an exclusive lock on `DIR/writer.lock`, held for as long
//! as a [`ResultsWriter`](crate::ResultsWriter) lives.
//!
//! Without it, a second run started into a directory that a first is still writing (on a
//! cluster: a requeued task overlapping its predecessor) reads the first run's resume log as
//! an interrupted run of another job, deletes it, and both fail. The lock is an advisory
//! `flock` on an open file, so the operating system releases it when its process dies
//! however it dies: a killed run's directory is free again at once and resumes as before.
//! The file holds the holder's pid, host and start time, read back into the
//! [`IoError::Locked`] that a refused writer gets, and is removed when the writer is done.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoError, Result};

/// File name of the lock in a results directory.
pub const LOCK_FILE: &str = "writer.lock";

/// The exclusive right to write one results directory, released on drop (or when the
/// process ends).
#[derive(Debug)]
pub struct WriterLock {
    dir: PathBuf,
    path: PathBuf,
    file: File,
}

impl WriterLock {
    /// Takes the lock of `dir` (which must exist), or fails at once with
    /// [`IoError::Locked`] naming the live holder. Never waits.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        // The holder removes the file when it is done: a lock taken on a file that was
        // removed (or replaced) meanwhile guards nothing, so look again.
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| IoError::os(&path, e))?;
            #[allow(
                clippy::incompatible_msrv,
                reason = "File::try_lock is stable since 1.89; the README asks for 1.89 while \
                          rust-version stays at 1.85 until the let-chain lints it would enable \
                          are fixed across the workspace"
            )]
            let locked = file.try_lock();
            match locked {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = match holder.trim() {
                        "" => "a process that has not yet said who it is".to_string(),
                        h => h.to_string(),
                    };
                    return Err(IoError::Locked {
                        dir: dir.to_path_buf(),
                        holder,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(IoError::os(&path, e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            let me = format!(
                "pid {} on host {}, started {}\n",
                std::process::id(),
                host_name(),
                utc_now()
            );
            file.set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(me.as_bytes()))
                .and_then(|()| file.sync_data())
                .map_err(|e| IoError::os(&path, e))?;
            return Ok(Self {
                dir: dir.to_path_buf(),
                path,
                file,
            });
        }
    }

    /// The directory this lock guards.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Removed while still held, so that nobody locks the file being removed (a waiter
        // that opened it before sees it gone and opens a new one). Failing to remove it is
        // harmless: the next writer takes it over.
        let _ = std::fs::remove_file(&self.path);
        #[allow(clippy::incompatible_msrv, reason = "see WriterLock::acquire")]
        let _ = self.file.unlock();
    }
}

/// Whether `path` still names the open `file` (not removed or replaced since it was opened).
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Without inode numbers, whether the path still exists.
#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// This machine's name, for the holder line (`unknown` where it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The current time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, <https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_792), (2026, 12, 5));
    }

    #[test]
    fn a_second_writer_is_refused_and_the_lock_is_free_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path()).unwrap();
        let err = WriterLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("another bilens run is writing this directory")
                && text.contains(&format!("pid {}", std::process::id()))
                && text.contains("UTC"),
            "{text}"
        );
        drop(first);
        assert!(!dir.path().join(LOCK_FILE).exists());
        drop(WriterLock::acquire(dir.path()).unwrap());
    }
}
