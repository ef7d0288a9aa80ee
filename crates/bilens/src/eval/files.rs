//! How evaluations write their numbers: CSV and pretty JSON, each replaced atomically, so an
//! interrupted evaluation never leaves half a file.

use std::fmt::Write as _;
use std::path::Path;

use bilens_io::{IoError, write_atomic};

use crate::error::Result;

/// Creates `dir` (and parents), with an error that names it.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| {
        IoError::Os {
            path: dir.to_path_buf(),
            source,
        }
        .into()
    })
}

/// Writes a CSV file atomically: a header line and one line per row (fields are numbers or
/// plain names, so no quoting is needed).
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Writes `value` as pretty JSON atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let Ok(mut bytes) = serde_json::to_vec_pretty(value) else {
        unreachable!("evaluation reports have string keys and serialise")
    };
    bytes.push(b'\n');
    write_atomic(path, &bytes)?;
    Ok(())
}

/// A number for a CSV field: plain decimals, enough digits to round-trip an accuracy.
pub fn num(x: f64) -> String {
    let mut s = String::new();
    let _ = write!(s, "{x:.6}");
    s
}
