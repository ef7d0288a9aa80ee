//! What a checkpoint's header says about one tensor, before any of its data is read.

/// Name, element type and shape of one tensor in a file (no data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blocks.0.weight`.
    pub name: String,
    /// The safetensors dtype name, e.g. `F32`, `BF16`, `I64`.
    pub dtype: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}
