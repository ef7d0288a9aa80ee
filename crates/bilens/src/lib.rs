//! # bilens: weight-based interpretability of bilinear MLPs
//!
//! A bilinear layer `y = P((W x) ⊙ (V x))` is a quadratic form in its input: for any output
//! direction `u` its interaction matrix `Q(u) = sym(Wᵀ diag(Pᵀu) V)` gives `uᵀy(x) = xᵀQ(u)x`
//! exactly, and the eigenvectors of `Q(u)` are the layer's computational components. This
//! crate is the library every front end calls (the `bilens` command line, the Python
//! package): it wires the mathematics ([`bilens_decomp`]), the files ([`bilens_io`]) and the
//! figures ([`bilens_plot`]) into the steps of an analysis.
//!
//! ## The path
//!
//! | step | call | what it does |
//! |---|---|---|
//! | open | [`Checkpoint::open`] ([`ModelFile`] for every layer) | maps the file once, finds the bilinear layer by a [`LayoutSpec`], reads nothing else |
//! | choose outputs | [`OutputSelection`] (`"classes"`, `"sae.safetensors:W_enc"`, `"contrast:3-5"`, `"tokens:464"`, with rows) | a typed value, parsed once, recorded in the results |
//! | decompose | [`decompose`] with [`DecomposeOptions`] | plans (k, method, route, chunk size, the job's identity) and streams every output's eigendecomposition into a results directory, resumably |
//! | read back | [`ResultsFile::open`] | the summary and typed metadata on open, tensors on request |
//! | draw | [`draw_results`] | spectra, eigenvector grids and an overview, PNG and SVG |
//! | many machines | [`DecomposeOptions::shard`], then [`merge_shards`] | each machine decomposes a slice of the outputs ([`Shard`], from `M/N` or a Slurm / Kubernetes environment); the slices merge into the directory one machine would have written |
//! | browse | [`explore`] | a static web explorer of the results, opened from `file://` |
//! | evaluate | [`eval`] | truncation, adversarial masks, explanations, consistency across models, approximation of features; each a typed report, CSV/JSON files and figures |
//!
//! Long calls report through a [`Progress`] ([`Silent`] reports nothing) and stop when it
//! asks them to; every failure is an [`Error`] in the API's terms.
//!
//! ## Example
//!
//! Open the shipped MNIST model, decompose the class logits into a directory, read the
//! results back and draw them:
//!
//! ```
//! # fn main() -> Result<(), bilens::Error> {
//! use bilens::{Checkpoint, DecomposeOptions, FigureOptions, ResultsFile, Silent};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let model = Checkpoint::open(bilens::shipped::model()?, &Default::default())?;
//! bilens::decompose(&model, &DecomposeOptions::new().k(16), &dir.path().join("results"), &Silent)?;
//!
//! let results = ResultsFile::open(&dir.path().join("results"))?;
//! let eigenvalues = results.eigenvalues::<f32>()?; // [10 classes, 16 components]
//! assert_eq!(eigenvalues.dim(), (10, 16));
//! let figures = bilens::draw_results(&results, &dir.path().join("figures"), &FigureOptions::default(), &Silent)?;
//! assert!(figures.iter().any(|f| f.ends_with("overview.png")));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod checkpoint;
mod decompose;
mod demo;
mod directions;
mod error;
pub mod eval;
mod explore;
mod figures;
mod layout;
mod merge;
mod progress;
pub mod shard;
pub mod shipped;
mod tokens;

pub use bilens_decomp::{Method, Order, Precision, Route, Sign};
pub use bilens_explore::{ComponentView, ExploreOptions, ImageShape, SiteReport};
pub use bilens_io::{
    Hint, Inspection, Layout, LayoutSpec, ModelInfo, OutputSelection, OutputSpec, ResultsFile,
    RowSet, SpecError, StoredMeta, TensorRef,
};
pub use checkpoint::{Checkpoint, ModelFile};
pub use decompose::{
    DecomposeOptions, DecomposeReport, ResumeMode, RunStatus, decompose, decompose_each_layer,
};
pub use demo::{DemoOptions, DemoReport, demo};
pub use directions::Directions;
pub use error::{Arg, Error, Result};
pub use explore::explore;
pub use figures::{FigureOptions, MAX_OUTPUT_FIGURES, draw_results, file_stems};
pub use layout::{LayoutConflict, LayoutKind, LayoutRequest, TensorNames};
pub use merge::{MergeReport, merge_shards};
pub use progress::{Progress, Silent, Task};
pub use shard::Shard;
pub use tokens::{LABELLED_COMPONENTS, TOKENS_PER_END};
