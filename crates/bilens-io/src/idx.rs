//! IDX datasets (the MNIST and Fashion-MNIST file format), raw or gzip-compressed.
//!
//! An IDX file is a big-endian header `0x00 0x00 <type> <ndim>`, `ndim` u32 dimensions, then
//! the data. bilens reads unsigned-byte files: images `[n, rows, cols]` and labels `[n]`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use bilens_decomp::Real;
use ndarray::{Array1, Array2};

use crate::error::{IoError, Result};

const UBYTE: u8 = 0x08;

/// A set of labelled grey-scale images, one flattened image per row.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// Pixels `[n, rows * cols]`, 0..=255, row-major within each image.
    pub images: Array2<u8>,
    /// Labels `[n]`.
    pub labels: Array1<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels scaled to `[0, 1]` (`p / 255`), `[n, rows * cols]`.
    pub fn pixels<T: Real>(&self) -> Array2<T> {
        let scale = T::of_f64(1.0 / 255.0);
        self.images.mapv(|p| T::of_f64(f64::from(p)) * scale)
    }

    /// Number of classes: one more than the largest label.
    pub fn n_classes(&self) -> usize {
        self.labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| usize::from(m) + 1)
    }
}

/// The train and test splits of an MNIST-style dataset.
#[derive(Clone, Debug)]
pub struct ImageDataset {
    /// The training split.
    pub train: ImageSet,
    /// The test split.
    pub test: ImageSet,
}

/// The four file stems of an MNIST-style directory.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Loads an MNIST-style directory holding the four IDX files, each raw or as `<name>.gz`.
pub fn load_image_dataset(dir: &Path) -> Result<ImageDataset> {
    if !dir.is_dir() {
        return Err(IoError::os(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "dataset directory not found"),
        ));
    }
    let find = |name: &str| -> Result<PathBuf> {
        let raw = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        if raw.is_file() {
            Ok(raw)
        } else if gz.is_file() {
            Ok(gz)
        } else {
            Err(IoError::MissingDatasetFile {
                dir: dir.to_path_buf(),
                name: name.to_string(),
            })
        }
    };
    let split = |images: &str, labels: &str| -> Result<ImageSet> {
        let (ipath, lpath) = (find(images)?, find(labels)?);
        let (idims, pixels) = read_idx(&ipath)?;
        let (ldims, labels) = read_idx(&lpath)?;
        if idims.len() != 3 {
            return Err(IoError::Idx {
                path: ipath,
                reason: format!("expected 3 dimensions [n, rows, cols], found {idims:?}"),
            });
        }
        if ldims.len() != 1 || ldims[0] != idims[0] {
            return Err(IoError::Idx {
                path: lpath,
                reason: format!(
                    "expected {} labels to match the images, found shape {ldims:?}",
                    idims[0]
                ),
            });
        }
        let (n, rows, cols) = (idims[0], idims[1], idims[2]);
        let images =
            Array2::from_shape_vec((n, rows * cols), pixels).map_err(|e| IoError::Idx {
                path: ipath,
                reason: e.to_string(),
            })?;
        Ok(ImageSet {
            images,
            labels: Array1::from(labels),
            rows,
            cols,
        })
    };
    Ok(ImageDataset {
        train: split(MNIST_FILES[0], MNIST_FILES[1])?,
        test: split(MNIST_FILES[2], MNIST_FILES[3])?,
    })
}

/// Reads one unsigned-byte IDX file (raw or gzip, detected by its magic bytes): its dimensions
/// and its data.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| IoError::os(path, e))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| IoError::Idx {
                path: path.to_path_buf(),
                reason: format!("corrupt gzip stream: {e}"),
            })?;
        bytes = out;
    }
    parse_idx(&bytes).map_err(|reason| IoError::Idx {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse_idx(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<u8>), String> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(
            "missing the IDX magic number (two zero bytes, a type byte, a rank byte)".into(),
        );
    }
    if bytes[2] != UBYTE {
        return Err(format!(
            "data type 0x{:02x} is not supported; bilens reads unsigned-byte (0x08) IDX files",
            bytes[2]
        ));
    }
    let ndim = usize::from(bytes[3]);
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!(
            "truncated header: {ndim} dimensions need {header} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let data = &bytes[header..];
    if data.len() != count {
        return Err(format!(
            "dimensions {dims:?} need {count} bytes of data, file has {}",
            data.len()
        ));
    }
    Ok((dims, data.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_tiny_idx_and_rejects_bad_ones() {
        let mut ok = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        ok.extend([1, 2, 3, 4, 5, 6]);
        assert_eq!(
            parse_idx(&ok).unwrap(),
            (vec![2, 3], vec![1, 2, 3, 4, 5, 6])
        );
        assert!(
            parse_idx(&ok[..10])
                .unwrap_err()
                .contains("truncated header")
        );
        assert!(parse_idx(&ok[..15]).unwrap_err().contains("need 6 bytes"));
        assert!(
            parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0])
                .unwrap_err()
                .contains("0x0d")
        );
        assert!(parse_idx(b"PK\x03\x04").unwrap_err().contains("magic"));
    }
}
