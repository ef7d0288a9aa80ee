//! # bilens-io: files to tensors and back
//!
//! - **Models**: [`TensorFile`] memory-maps a checkpoint and reads only the tensors asked
//!   for, converting F32/F64/F16/BF16 to `f32` or `f64` and rejecting NaN/Inf. [`load_model`]
//!   finds the bilinear layer through a layout ([`LayoutSpec`]: the paper's `image` models, a
//!   `single` named layer, one layer's MLP of a bilinear transformer (`lm`) or of a Llama-style
//!   gated model read bilinearly (`gated`, labelled an approximation), or `auto` detection),
//!   checks every shape against the others before reading, folds in what can be folded exactly
//!   (block biases `b, c`, a norm gain `γ` and shift `β`), and returns a
//!   [`bilens_decomp::BilinearModel`]. [`inspect_model`] does the same from the header alone;
//!   [`model_layers`] lists a transformer's layers.
//! - **Tokens**: [`Vocab`] reads a Hugging Face `tokenizer.json`'s vocabulary as display
//!   strings; [`ModelInfo::tokens`] says where a language model's embedding and unembedding
//!   are.
//! - **Activations**: [`read_activations`] reads recorded layer inputs and feature activations
//!   for checking a decomposition against data.
//! - **Vectors**: [`read_rows`] reads a set of vectors named `FILE:TENSOR`
//!   ([`parse_file_tensor`]) — output directions such as an SAE encoder, or an input basis such
//!   as its decoder — stored as rows or as columns.
//! - **Datasets**: [`load_image_dataset`] reads MNIST-style IDX files, raw or gzipped.
//! - **Results**: [`ResultsWriter`] streams a decomposition into a results directory
//!   (`decomposition.safetensors` + `summary.json`, written atomically), with optional
//!   per-output extras ([`ExtraSpec`]: bias terms, statistics, top feature interactions) and
//!   global tensors (a HOSVD spectrum); [`read_results`] and [`ResultsFile`] read it back. This
//!   directory is the contract between `bilens decompose`, `bilens hosvd`, `bilens plot` and
//!   notebooks; the tensors are listed in [`names`]. [`ResultsWriter::create_resumable`]
//!   survives being killed: the same job continues from its finished chunks.
//!
//! Errors are [`IoError`]s whose message reads `<file>: <what is wrong>`; [`IoError::hint`]
//! says what to do about it.
//!
//! ## Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use bilens_io::{LayoutSpec, load_model, write_arrays};
//! use ndarray::array;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("layer.safetensors");
//! // y = (x0 + x1)(x0 - x1) = x0² - x1², saved under names `auto` recognises.
//! let w = array![[1.0f32, 1.0]].into_dyn();
//! let v = array![[1.0f32, -1.0]].into_dyn();
//! let p = array![[1.0f32]].into_dyn();
//! write_arrays(&path, &[("w", w.view()), ("v", v.view()), ("p", p.view())], &BTreeMap::new())?;
//!
//! let loaded = load_model::<f64>(&path, &LayoutSpec::default())?;
//! assert_eq!(loaded.info.layout.name(), "single");
//! let y = loaded.model.forward(array![[3.0, 1.0]].view(), bilens_decomp::Par::Seq);
//! assert_eq!(y[[0, 0]], 8.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod activations;
mod config;
mod decode;
mod error;
mod header;
mod idx;
mod layout;
mod output_spec;
mod results;
mod sae;
mod tensor_file;
mod tokenizer;
mod torch;
mod vectors;
mod write;

pub use activations::{ACTIVATIONS, Activations, INPUTS, read_activations};
pub use error::{Hint, IoError, Result};
pub use header::TensorInfo;
pub use idx::{ImageDataset, ImageSet, MNIST_FILES, load_image_dataset, read_idx};
pub use layout::{
    ConvInfo, ConvView, Inspection, LayerChoice, Layout, LayoutSpec, LoadedModel, ModelInfo,
    Source, TokenAxis, TokenMatrices, describe_model, inspect_model, load_model, model_layers,
    read_model,
};
pub use output_spec::{
    Against, OutputSelection, OutputSpec, RowSet, SpecError, TensorRef, TokenItem, contrast_label,
};
pub use results::{
    ComponentTokens, Contents, CrossInteraction, DECOMPOSITION_FILE, DecompositionChunk, ExtraData,
    ExtraSpec, FORMAT_VERSION, HosvdSummary, InteractionArrays, LOCK_FILE, OutputSummary,
    OutputsMeta, PARTIAL_FILE, RESUME_FILE, Results, ResultsChunk, ResultsFile, ResultsMeta,
    ResultsShape, ResultsWriter, ResumeState, SUMMARY_FILE, SUMMARY_TOP, SelfInteraction,
    SignConvention, StoredMeta, Summary, TokenLabels, TokenScore, WriterLock, array_digest,
    describe_difference, discard_resume_state, file_fingerprint, job_id, names, read_results,
};
pub use sae::{SAE_ROLES, SaeBiases, sae_biases};
pub use tensor_file::{FileFormat, TensorFile};
pub use tokenizer::Vocab;
pub use vectors::{RowsRead, parse_file_tensor, read_rows};
pub use write::{Dtype, Element, SafetensorsWriter, TensorSpec, write_arrays, write_atomic};
