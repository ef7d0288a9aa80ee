//! # bilens-train: the paper's bilinear image classifier, trained offline
//!
//! Trains the MNIST model of Pearce et al., "Bilinear MLPs enable weight-based mechanistic
//! interpretability" (ICLR 2025, section 4), so that its figures can be reproduced without
//! PyTorch or a download:
//!
//! ```text
//! e = E x                      E: [h, 784]   embedding, no bias
//! g = (W e) ⊙ (V e)            [W; V]: [2h, h], one fused matrix, no bias
//! z = g        (or e + g when residual)
//! logits = H z                 H: [10, h]    head, no bias
//! ```
//!
//! and its deeper variants as the public code builds them ([`TrainConfig::layers`] blocks on
//! one stream, `x_{i+1} = g_i(x_i)`, or `x_i + g_i(x_i)` when residual, the head reading the
//! last), which bilens decomposes block by block.
//!
//! [`train_conv`] trains the bilinear CNN of the public bilinear-conv code, one bilinear
//! convolution and a linear head over its flattened features, with the same loop (optimiser,
//! schedule, noise, seed):
//!
//! ```text
//! g = conv(K_a, x) ⊙ conv(K_b, x)      [K_a; K_b]: [2h, 1, k, k], one fused kernel, no bias
//! logits = R vec(g)                    R: [10, h H' W'] over (channel, row, column)
//! ```
//!
//! Its convolutions are im2col + one GEMM each way; bilens lifts the trained layer to a
//! bilinear layer over the pixels and decomposes it like the MLP.
//!
//! ## The recipe ([`TrainConfig::default`])
//!
//! Cross-entropy; AdamW (PyTorch semantics: decoupled decay every step, β = (0.9, 0.999),
//! ε = 1e-8, bias correction) at lr 1e-3 with weight decay 1.0; batches of 2048, the last
//! incomplete batch dropped, reshuffled every epoch; the learning rate annealed by a cosine
//! per epoch, `lr_t = lr (1 + cos(π t / T)) / 2`; Gaussian noise of std 0.4 on every pixel of
//! training batches (pixels in `[0, 1]`; test images are clean); `nn.Linear` initialisation,
//! uniform in `±1/√fan_in`. Weight decay and input noise are what make the eigenvectors of the
//! trained model readable (few large eigenvalues, smooth strokes); without them the model
//! reaches similar accuracy with features that are hard to read.
//!
//! ## How it is computed
//!
//! Batch-major arrays (`[n, features]`) make every layer, forward and backward, one GEMM over
//! the whole batch through [`bilens_decomp::linalg::gemm`] (faer, on the current rayon pool):
//! three forward and five backward products, `≈ 4 n h·784 + 12 n h²` flops per step (9.8 GFLOP
//! for n = 2048, h = 512). The gradients are written by hand (no autodiff) and checked against
//! central differences for every parameter in f64, for both models; training runs in f32. All
//! buffers are allocated once per run. One seed fixes initialisation, shuffling and noise: the same seed,
//! data and machine give bit-identical weights.
//!
//! ## Example
//!
//! ```
//! use bilens_io::{ImageDataset, ImageSet};
//! use bilens_train::{TrainConfig, evaluate, train};
//! use ndarray::{Array1, Array2};
//!
//! // Two classes of 2x2 images: bright on the left or on the right.
//! let set = |n: usize| {
//!     let labels = Array1::from_shape_fn(n, |i| (i % 2) as u8);
//!     let images = Array2::from_shape_fn((n, 4), |(i, j)| {
//!         if (j % 2) as u8 == labels[i] { 250 } else { 5 }
//!     });
//!     ImageSet { images, labels, rows: 2, cols: 2 }
//! };
//! let data = ImageDataset { train: set(64), test: set(16) };
//! let config = TrainConfig { width: 4, epochs: 5, batch_size: 16, lr: 1e-2, ..Default::default() };
//! let mut last = 0.0;
//! let model = train(&config, &data, |report| last = report.test_accuracy)?;
//! assert_eq!(evaluate(&model, &data.test)?.accuracy, last);
//! assert_eq!(model.block().dim(), (8, 4)); // [W; V]
//! # Ok::<(), bilens_train::TrainError>(())
//! ```
#![deny(missing_docs)]

mod config;
mod conv;
mod error;
mod grad;
mod im2col;
mod model;
mod network;
mod noise;
mod optim;
mod schedule;
mod train;
mod train_conv;

pub use config::{ConvShape, DEFAULT_EPOCHS, TrainConfig, saved_recipe};
pub use error::{Result, TrainError};
pub use schedule::cosine_lr;
pub use train::{Classifier, EpochReport, Evaluation, TrainedModel, evaluate, train};
pub use train_conv::{TrainedConvModel, train_conv};
