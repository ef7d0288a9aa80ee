//! Sets of vectors named as `FILE:TENSOR` on the command line: output directions (SAE encoder
//! rows, probe directions, another layer's eigenvectors) and input bases (SAE decoders).
//!
//! Such matrices are saved both ways round: an SAE encoder as `nn.Linear` stores it is
//! `[n_features, d]` (one vector per row), a decoder `[d, n_features]` (one vector per
//! column). [`read_rows`] accepts either, as long as one dimension matches the width the
//! vectors must have, and always returns them as rows. A square tensor is ambiguous: it is taken
//! as rows, and a caller that knows it holds columns (a square decoder) transposes it.

use std::path::{Path, PathBuf};

use bilens_decomp::Real;
use ndarray::{Array2, Axis, Ix1, Ix2};

use crate::error::{IoError, Result};
use crate::sae;
use crate::tensor_file::TensorFile;

/// Vectors read by [`read_rows`].
#[derive(Clone, Debug, PartialEq)]
pub struct RowsRead<T> {
    /// The vectors as rows, `[n, width]`, row-major.
    pub rows: Array2<T>,
    /// Whether the tensor was stored `[width, n]` (one vector per column) and was transposed.
    pub transposed: bool,
}

/// Reads the vectors of length `width` held by tensor `tensor` of the file `path` (safetensors
/// or a PyTorch checkpoint), or, when `path` is a directory, the vectors of role `tensor`
/// (`encoder`, `decoder`, `encoder_folded`, `decoder_folded`) of the SAE saved there (see
/// [`SAE_ROLES`](crate::SAE_ROLES)).
///
/// A 2-dimensional tensor `[n, width]` gives its rows; `[width, n]` (with `n != width`) gives
/// its columns, with [`RowsRead::transposed`] set; `[width, width]` is taken as rows. A
/// 1-dimensional `[width]` tensor is one vector (`n = 1`). `what` names the vectors' role in
/// messages, e.g. `"output directions (--outputs)"`.
///
/// Errors: the file's own ([`IoError::NotFound`], [`IoError::NotSafetensors`]...),
/// [`IoError::MissingVectors`] (no such tensor), [`IoError::VectorShape`] (no dimension equals
/// `width`, or not a matrix), [`IoError::UnsupportedDtype`], [`IoError::NonFinite`].
pub fn read_rows<T: Real>(
    path: &Path,
    tensor: &str,
    width: usize,
    what: &str,
) -> Result<RowsRead<T>> {
    if sae::is_folder(path) {
        let (rows, weights) = sae::rows::<T>(path, tensor, what)?;
        if rows.ncols() != width {
            return Err(IoError::VectorShape {
                path: weights,
                tensor: tensor.to_string(),
                found: vec![rows.nrows(), rows.ncols()],
                what: what.to_string(),
                width,
            });
        }
        return Ok(RowsRead {
            rows,
            transposed: false,
        });
    }
    let file = TensorFile::open(path)?;
    let Some(info) = file.info(tensor) else {
        return Err(IoError::MissingVectors {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            what: what.to_string(),
            available: file.tensors().iter().map(|t| t.name.clone()).collect(),
        });
    };
    let shape_error = || IoError::VectorShape {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        found: info.shape.clone(),
        what: what.to_string(),
        width,
    };
    match info.shape.as_slice() {
        [n] if *n == width => {
            let v = file
                .read::<T>(tensor)?
                .into_dimensionality::<Ix1>()
                .expect("the shape was checked to have 1 dimension");
            Ok(RowsRead {
                rows: v.insert_axis(Axis(0)),
                transposed: false,
            })
        }
        [_, cols] if *cols == width => Ok(RowsRead {
            rows: read_matrix(&file, tensor)?,
            transposed: false,
        }),
        [rows, _] if *rows == width => Ok(RowsRead {
            rows: read_matrix(&file, tensor)?
                .reversed_axes()
                .as_standard_layout()
                .into_owned(),
            transposed: true,
        }),
        _ => Err(shape_error()),
    }
}

fn read_matrix<T: Real>(file: &TensorFile, tensor: &str) -> Result<Array2<T>> {
    Ok(file
        .read::<T>(tensor)?
        .into_dimensionality::<Ix2>()
        .expect("the shape was checked to have 2 dimensions"))
}

/// Splits a `FILE:TENSOR` argument at its **last** `:`, so that a path containing colons
/// still works (a tensor name containing one does not). `None` when there is no `:` or either
/// side is empty.
///
/// ```
/// use std::path::PathBuf;
/// use bilens_io::parse_file_tensor;
///
/// assert_eq!(
///     parse_file_tensor("runs/2024-01-01T10:00/sae.safetensors:encoder.weight"),
///     Some((PathBuf::from("runs/2024-01-01T10:00/sae.safetensors"), "encoder.weight".into()))
/// );
/// assert_eq!(parse_file_tensor("sae.safetensors"), None);
/// assert_eq!(parse_file_tensor("sae.safetensors:"), None);
/// ```
pub fn parse_file_tensor(spec: &str) -> Option<(PathBuf, String)> {
    let (file, tensor) = spec.rsplit_once(':')?;
    if file.is_empty() || tensor.is_empty() {
        return None;
    }
    Some((PathBuf::from(file), tensor.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_last_colon() {
        assert_eq!(
            parse_file_tensor("a:b:c"),
            Some((PathBuf::from("a:b"), "c".to_string()))
        );
        assert_eq!(parse_file_tensor(":enc"), None);
        assert_eq!(parse_file_tensor(""), None);
        assert_eq!(parse_file_tensor(":"), None);
    }
}
