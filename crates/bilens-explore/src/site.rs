//! The site on disk: written whole into a temporary sibling directory, then put in place by
//! renaming, so that the site directory is always either the previous site or the new one
//! (and, for the instant between two renames, absent), never half of one.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{ExploreError, Result};

/// The directory of data files inside a site.
pub(crate) const DATA_DIR: &str = "data";
/// The site's description, whose presence (with [`FORMAT`]) marks a directory as a site this
/// crate may replace.
pub(crate) const SITE_KEY: &str = "site";
/// The `format` of `data/site.json`.
pub(crate) const FORMAT: &str = "bilens-explore";

/// A site being written: a temporary directory beside the final one, deleted if dropped
/// before [`SiteDir::commit`].
#[derive(Debug)]
pub(crate) struct SiteDir {
    target: PathBuf,
    temp: tempfile::TempDir,
    files: usize,
    bytes: u64,
}

impl SiteDir {
    /// Starts a site that will replace `target`: checks that `target` may be replaced (absent,
    /// an empty directory, or a site written here) and does not overlap `results`, and makes
    /// the temporary directory.
    pub fn create(target: &Path, results: &Path) -> Result<Self> {
        check_overlap(target, results)?;
        if target.exists() && !replaceable(target) {
            return Err(ExploreError::NotASite {
                path: target.to_path_buf(),
            });
        }
        let parent = parent_of(target);
        std::fs::create_dir_all(&parent).map_err(|e| ExploreError::write(&parent, e))?;
        let name = target
            .file_name()
            .map_or_else(|| "site".into(), |n| n.to_string_lossy().into_owned());
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.explore-"))
            .tempdir_in(&parent)
            .map_err(|e| ExploreError::write(&parent, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            files: 0,
            bytes: 0,
        })
    }

    /// Writes `contents` at `relative` inside the site.
    pub fn write(&mut self, relative: &str, contents: &[u8]) -> Result<()> {
        let path = self.temp.path().join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ExploreError::write(dir, e))?;
        }
        std::fs::write(&path, contents).map_err(|e| ExploreError::write(&path, e))?;
        self.files += 1;
        self.bytes += contents.len() as u64;
        Ok(())
    }

    /// Writes one data record twice: `data/KEY.json` for any tool, and `data/KEY.js`, the same
    /// JSON as the argument of `bilensData("KEY", …);`, which the pages load with a script
    /// tag (browsers refuse `fetch()` of local files from a `file://` page).
    pub fn write_data(&mut self, key: &str, value: &impl Serialize) -> Result<()> {
        let json = serde_json::to_string(value).map_err(|e| {
            ExploreError::write(
                self.temp.path().join(DATA_DIR).join(format!("{key}.json")),
                std::io::Error::other(e),
            )
        })?;
        let script = format!(
            "bilensData({}, {json});\n",
            serde_json::Value::String(key.into())
        );
        self.write(&format!("{DATA_DIR}/{key}.json"), json.as_bytes())?;
        self.write(&format!("{DATA_DIR}/{key}.js"), script.as_bytes())
    }

    /// Files and bytes written so far.
    pub fn size(&self) -> (usize, u64) {
        (self.files, self.bytes)
    }

    /// Puts the site in place of the target: the previous site (if any) is renamed aside, the
    /// new one renamed to the target, and the previous one deleted.
    pub fn commit(self) -> Result<()> {
        let parent = parent_of(&self.target);
        let built = self.temp.keep();
        let fail = |path: &Path, e: std::io::Error| {
            let _ = std::fs::remove_dir_all(&built);
            ExploreError::write(path, e)
        };
        let previous = if self.target.exists() {
            let aside = tempfile::Builder::new()
                .prefix(".previous-site-")
                .tempdir_in(&parent)
                .map_err(|e| fail(&parent, e))?
                .keep();
            // The directory made only reserves a fresh name; the rename takes its place.
            std::fs::remove_dir(&aside).map_err(|e| fail(&aside, e))?;
            std::fs::rename(&self.target, &aside).map_err(|e| fail(&self.target, e))?;
            Some(aside)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(&built, &self.target) {
            // Put the previous site back rather than leave none.
            if let Some(aside) = &previous {
                let _ = std::fs::rename(aside, &self.target);
            }
            return Err(fail(&self.target, e));
        }
        if let Some(aside) = previous {
            std::fs::remove_dir_all(&aside).map_err(|e| ExploreError::write(&aside, e))?;
        }
        Ok(())
    }
}

/// The directory a site is created in (`.` for a bare name).
fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether an existing `target` may be replaced: an empty directory, or one holding the
/// `data/site.json` of a site written here.
fn replaceable(target: &Path) -> bool {
    if !target.is_dir() {
        return false;
    }
    let empty = std::fs::read_dir(target).is_ok_and(|mut d| d.next().is_none());
    if empty {
        return true;
    }
    let description = target.join(DATA_DIR).join(format!("{SITE_KEY}.json"));
    std::fs::read_to_string(description)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(FORMAT))
}

/// Refuses a site that is the results directory, inside it, or holds it.
fn check_overlap(target: &Path, results: &Path) -> Result<()> {
    let Ok(results_abs) = results.canonicalize() else {
        return Ok(());
    };
    let target_abs = absolute(target);
    if target_abs.starts_with(&results_abs) || results_abs.starts_with(&target_abs) {
        return Err(ExploreError::Overlap {
            site: target.to_path_buf(),
            results: results.to_path_buf(),
        });
    }
    Ok(())
}

/// `path` made absolute with its existing ancestors resolved (symbolic links included), for
/// comparing a path that may not exist yet with one that does.
fn absolute(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut p = path.to_path_buf();
    loop {
        if let Ok(c) = p.canonicalize() {
            return rest.iter().rev().fold(c, |acc, part| acc.join(part));
        }
        match (p.file_name().map(|n| n.to_os_string()), p.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                p = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
            _ => return path.to_path_buf(),
        }
    }
}
