//! Activations recorded from a model, for checking a decomposition against data
//! (`bilens eval approx`): one safetensors file holding the layer's inputs and the true
//! activations of the output features on them.
//!
//! ```text
//! inputs       [n, d]          the layer's inputs, in the space of the stored eigenvectors
//! activations  [n, features]   each output feature's true activation on those inputs
//! ```
//!
//! The tensor names are the defaults `inputs` and `activations`; others can be named.

use std::path::Path;

use bilens_decomp::Real;
use ndarray::{Array2, Ix2};

use crate::error::{IoError, Result};
use crate::tensor_file::TensorFile;

/// Default name of the inputs tensor.
pub const INPUTS: &str = "inputs";
/// Default name of the activations tensor.
pub const ACTIVATIONS: &str = "activations";

/// Inputs and activations read by [`read_activations`].
#[derive(Clone, Debug, PartialEq)]
pub struct Activations<T> {
    /// `[n, d]`.
    pub inputs: Array2<T>,
    /// `[n, features]`.
    pub activations: Array2<T>,
}

/// Reads tensors `inputs` `[n, d]` and `activations` `[n, features]` of `path`, checking both
/// are matrices with the same number of rows (and finite).
pub fn read_activations<T: Real>(
    path: &Path,
    inputs: &str,
    activations: &str,
) -> Result<Activations<T>> {
    let file = TensorFile::open(path)?;
    let matrix = |name: &str, what: &str| -> Result<Array2<T>> {
        let Some(info) = file.info(name) else {
            return Err(IoError::MissingVectors {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                what: what.to_string(),
                available: file.tensors().iter().map(|t| t.name.clone()).collect(),
            });
        };
        if info.shape.len() != 2 {
            return Err(IoError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                expected: "[n, _]".into(),
                found: info.shape.clone(),
                why: format!("the {what} hold one row per input"),
            });
        }
        Ok(file
            .read::<T>(name)?
            .into_dimensionality::<Ix2>()
            .expect("the shape was checked to have 2 dimensions"))
    };
    let x = matrix(inputs, "layer inputs")?;
    let a = matrix(activations, "feature activations")?;
    if a.nrows() != x.nrows() {
        return Err(IoError::ShapeMismatch {
            path: path.to_path_buf(),
            tensor: activations.to_string(),
            expected: format!("[{}, _]", x.nrows()),
            found: a.shape().to_vec(),
            why: format!(
                "one row of activations per input, and '{inputs}' has {} rows",
                x.nrows()
            ),
        });
    }
    Ok(Activations {
        inputs: x,
        activations: a,
    })
}
