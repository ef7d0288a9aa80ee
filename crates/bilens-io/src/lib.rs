//! # bilens-io: files to tensors and back
//!
//! Reads models (safetensors, memory-mapped) and datasets (IDX), writes results atomically.
#![deny(missing_docs)]

mod error;
mod idx;
mod write;

pub use error::{IoError, Result};
pub use idx::{ImageDataset, ImageSet, MNIST_FILES, load_image_dataset, read_idx};
pub use write::{Dtype, Element, SafetensorsWriter, TensorSpec, write_arrays, write_atomic};
