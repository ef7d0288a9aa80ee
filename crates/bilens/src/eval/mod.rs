//! The paper's evaluations of a decomposition, each as compute → typed report → files
//! (CSV and JSON, written atomically) → figures (PNG and SVG):
//!
//! | evaluation | call | what it measures |
//! |---|---|---|
//! | test accuracy | [`test_accuracy`], [`Accuracy::of`] | the model's own accuracy on an MNIST-style test set (a deep model run whole, [`ImageStack`]) |
//! | truncation | [`truncation()`] | accuracy when each class logit keeps only k of its components |
//! | bottleneck | [`bottleneck()`] | accuracy of the whole network when one block's tensor keeps only its top-S HOSVD components (each block of a deep model in turn) |
//! | adversarial | [`adversarial()`] | masks from a class's top eigenvectors added to test images, against permuted masks |
//! | explain | [`explain()`] | one test image's logit split into its components |
//! | consistency | [`consistency()`] | how alike the top eigenvectors of several models are |
//! | approximation | [`approximation()`] | how well each output feature's top K components track its true activation |
//! | top inputs | [`top_inputs()`] | the test images that most activate each component of an image block (how a deep model's hidden-stream components are read) |
//!
//! The image evaluations start from an [`ImageEvaluation`] (a model and its dataset, checked
//! to fit). Each one-call function decomposes what it needs; a caller running several
//! evaluations of one model (the reproduction) computes the [`ClassComponents`] once and
//! calls each module's `compute` and `write` itself.
//!
//! ```no_run
//! # fn main() -> Result<(), bilens::Error> {
//! use bilens::Checkpoint;
//! use bilens::eval::{ImageEvaluation, TruncationOptions, truncation};
//!
//! let model = Checkpoint::open(bilens::shipped::model()?, &Default::default())?;
//! let eval = ImageEvaluation::open(&model, &bilens::shipped::mnist()?)?;
//! let curves = truncation(&eval, &TruncationOptions::default(), "truncation".as_ref(), &bilens::Silent)?;
//! println!("model accuracy {:.2}%", 100.0 * curves.report.model_accuracy());
//! # Ok(())
//! # }
//! ```

pub mod adversarial;
pub mod approx;
pub mod bottleneck;
pub mod consistency;
pub mod explain;
mod files;
mod image;
mod stack;
pub mod top_inputs;
pub mod truncation;

use std::path::PathBuf;

pub use adversarial::{Adversarial, AdversarialOptions, MaskParams, TargetCurve, adversarial};
pub use approx::{ApproxOptions, Approximation, approximation};
pub use bottleneck::{BlockBottleneck, Bottleneck, BottleneckOptions, TruncatedBlock, bottleneck};
pub use consistency::{Consistency, ConsistencyOptions, consistency};
pub use explain::{Contribution, ExplainOptions, Explanation, explain};
pub use files::{ensure_dir, num, write_csv, write_json};
pub use image::{
    Accuracy, ClassComponents, ImageEvaluation, ImageModel, check_compatible, class_labels,
    correct_predictions, image_shape, layer_moment, load_dataset, pixel_moment, pixels,
    test_accuracy,
};
pub use stack::ImageStack;
pub use top_inputs::{TopInputs, TopInputsOptions, top_inputs};
pub use truncation::{RECOVERY_POINTS, Truncation, TruncationOptions, truncation};

/// An evaluation's report and the files it wrote (CSV and JSON first, then the PNG of each
/// figure; every figure also has an SVG beside it).
#[derive(Clone, Debug)]
pub struct Evaluated<T> {
    /// What the evaluation found.
    pub report: T,
    /// The files written.
    pub files: Vec<PathBuf>,
}
