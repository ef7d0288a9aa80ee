//! Where the targets put the bytes they are given: the loader opens paths (it memory-maps
//! files and reads a sibling `config.json`), so each input is written to a per-process scratch
//! directory, in memory (`/dev/shm`) when the system has one.

use std::path::PathBuf;

/// The scratch directory of this process, created on first use.
pub fn dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("bilens-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Writes `bytes` to `name` in the scratch directory (replacing it) and returns its path.
pub fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// Removes `name` from the scratch directory if it is there.
#[allow(dead_code)] // not every target uses it
pub fn remove(name: &str) {
    let _ = std::fs::remove_file(dir().join(name));
}
