//! The training loop, evaluation, and the trained model with its save format.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use bilens_decomp::{BilinearLayer, BilinearModel, Par, Real};
use bilens_io::{ImageDataset, ImageSet, IoError, write_arrays};
use ndarray::{Array2, ArrayView2, s};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::{ImageConfigJson, RecipeJson, TrainConfig, write_config_json};
use crate::error::{Result, TrainError};
use crate::model::{Params, cross_entropy};
use crate::network::Network;
use crate::noise::BatchFiller;
use crate::optim::AdamW;
use crate::schedule::cosine_lr;

/// What one epoch achieved, handed to the caller's callback as soon as the epoch ends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochReport {
    /// This epoch, counted from 1.
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Mean over this epoch's steps of the batch loss, measured on the noisy batches during
    /// the forward pass of each step (as the paper's code reports it), so it runs above the
    /// clean-data loss.
    pub train_loss: f64,
    /// Fraction of this epoch's (noisy) training images classified correctly at the step that
    /// saw them.
    pub train_accuracy: f64,
    /// Mean cross-entropy on the clean test split after the epoch.
    pub test_loss: f64,
    /// Fraction of the clean test split classified correctly after the epoch.
    pub test_accuracy: f64,
    /// The learning rate this epoch used.
    pub lr: f64,
    /// Wall-clock seconds of the epoch, test evaluation included.
    pub seconds: f64,
}

/// Loss and accuracy of a model on an image set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Number of images.
    pub n: usize,
}

/// A trained classifier in f32, `x_0 = E x`, `x_{i+1} = g_i(x_i) [+ x_i]` through its blocks,
/// `logits = H x_L`, with the configuration and per-epoch history of the run that made it.
#[derive(Clone, Debug)]
pub struct TrainedModel {
    config: TrainConfig,
    params: Params<f32>,
    history: Vec<EpochReport>,
}

/// Names of the tensors in `model.safetensors`: the public code's `image` model.
const EMBED: &str = "embed.weight";
const HEAD: &str = "head.weight";

/// The name of block `i`'s fused weight.
fn block_name(i: usize) -> String {
    format!("blocks.{i}.weight")
}

impl TrainedModel {
    /// The configuration it was trained with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// One report per epoch, in order.
    pub fn history(&self) -> &[EpochReport] {
        &self.history
    }

    /// Hidden width `h`.
    pub fn width(&self) -> usize {
        self.params.width()
    }

    /// Input width (pixels per image).
    pub fn d_input(&self) -> usize {
        self.params.d_input()
    }

    /// Number of classes.
    pub fn d_output(&self) -> usize {
        self.params.d_output()
    }

    /// The embedding `E: [h, d_input]`.
    pub fn embed(&self) -> ArrayView2<'_, f32> {
        self.params.embed.view()
    }

    /// Number of bilinear blocks.
    pub fn layers(&self) -> usize {
        self.params.layers()
    }

    /// The first block's fused `[W; V]: [2h, h]` (W in rows `0..h`): the only one of the
    /// paper's classifier.
    pub fn block(&self) -> ArrayView2<'_, f32> {
        self.params.blocks[0].view()
    }

    /// Every block's fused `[W_i; V_i]`, in the order the stream passes them.
    pub fn blocks(&self) -> impl Iterator<Item = ArrayView2<'_, f32>> {
        self.params.blocks.iter().map(|b| b.view())
    }

    /// The first block's left factor `W: [h, h]`.
    pub fn w(&self) -> ArrayView2<'_, f32> {
        self.block().slice_move(s![..self.width(), ..])
    }

    /// The first block's right factor `V: [h, h]`.
    pub fn v(&self) -> ArrayView2<'_, f32> {
        self.block().slice_move(s![self.width().., ..])
    }

    /// The head `H: [d_output, h]`.
    pub fn head(&self) -> ArrayView2<'_, f32> {
        self.params.head.view()
    }

    /// The model as the decomposition crate sees it: embedding `E`, bilinear layer
    /// `(W, V, P = H)`, and, for a residual block, the linear term `L = H`; `None` for a model
    /// of several blocks, which is no single bilinear layer (save it and decompose it block by
    /// block with the image layout).
    pub fn to_bilinear_model(&self) -> Option<BilinearModel<f32>> {
        if self.layers() != 1 {
            return None;
        }
        let layer = BilinearLayer::new(
            self.w().to_owned(),
            self.v().to_owned(),
            self.params.head.clone(),
        );
        let linear = self.config.residual.then(|| self.params.head.clone());
        Some(BilinearModel::new(
            Some(self.params.embed.clone()),
            layer,
            linear,
        ))
    }

    /// Writes `dir/model.safetensors` (`embed.weight [h, d_input]`, `blocks.{i}.weight [2h, h]`
    /// for each block, `head.weight [d_output, h]`, all F32, PyTorch `[out, in]` layout) and
    /// `dir/config.json`
    /// (the public code's `image.Config` fields plus `noise`), creating `dir` if needed. Each
    /// file is written atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| IoError::Os {
            path: dir.to_path_buf(),
            source,
        })?;
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let names: Vec<String> = (0..self.layers()).map(block_name).collect();
        let mut tensors = vec![(EMBED, self.params.embed.view().into_dyn())];
        for (name, block) in names.iter().zip(&self.params.blocks) {
            tensors.push((name.as_str(), block.view().into_dyn()));
        }
        tensors.push((HEAD, self.params.head.view().into_dyn()));
        write_arrays(&dir.join("model.safetensors"), &tensors, &metadata)?;
        let c = &self.config;
        let json = ImageConfigJson {
            d_hidden: self.width(),
            n_layer: self.layers(),
            d_input: self.d_input(),
            d_output: self.d_output(),
            residual: c.residual,
            recipe: RecipeJson::of(c),
        };
        write_config_json(dir, &json)
    }
}

/// Checks that a split is usable: labels and images agree, it is not empty.
fn check_split(set: &ImageSet, name: &str) -> Result<()> {
    let data = |reason: String| Err(TrainError::Data { reason });
    if set.images.nrows() != set.labels.len() {
        return data(format!(
            "the {name} split has {} images but {} labels",
            set.images.nrows(),
            set.labels.len()
        ));
    }
    if set.is_empty() || set.images.ncols() == 0 {
        return data(format!("the {name} split is empty"));
    }
    Ok(())
}

/// Checks the dataset and the recipe before any work, and returns the model's input width
/// (the dataset's pixel count) and number of classes (largest label + 1 over both splits).
pub(crate) fn check_run(config: &TrainConfig, data: &ImageDataset) -> Result<(usize, usize)> {
    let (train_set, test_set) = (&data.train, &data.test);
    check_split(train_set, "training")?;
    check_split(test_set, "test")?;
    config.validate(train_set.len())?;
    let d_input = train_set.images.ncols();
    if test_set.images.ncols() != d_input {
        return Err(TrainError::Data {
            reason: format!(
                "training images have {d_input} pixels but test images have {}",
                test_set.images.ncols()
            ),
        });
    }
    Ok((d_input, train_set.n_classes().max(test_set.n_classes())))
}

/// Trains the paper's classifier on `data.train` with `config`, evaluating on `data.test`
/// after every epoch and calling `on_epoch` with the result (the caller renders progress; this
/// crate prints nothing).
///
/// The model's input width is the dataset's pixel count and it has one output per class
/// (largest label + 1 over both splits). The big matrix products run on the current rayon
/// pool (`Par::rayon(0)`), so `pool.install(|| train(..))` chooses the thread count.
/// Determinism: the same config, data and machine give bit-identical weights.
///
/// # Errors
/// [`TrainError::InvalidConfig`] for an out-of-range option (checked before any work),
/// [`TrainError::Data`] for an unusable dataset, [`TrainError::Diverged`] if the loss stops
/// being finite.
pub fn train(
    config: &TrainConfig,
    data: &ImageDataset,
    on_epoch: impl FnMut(&EpochReport),
) -> Result<TrainedModel> {
    let (d_input, d_output) = check_run(config, data)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let params = Params::<f32>::init(
        &mut rng,
        d_input,
        config.width,
        config.layers,
        d_output,
        config.residual,
    );
    let (params, history) = fit(params, rng, config, data, on_epoch)?;
    Ok(TrainedModel {
        config: config.clone(),
        params,
        history,
    })
}

/// The training loop every model shares: `config.epochs` epochs of AdamW steps on shuffled
/// batches of noisy training images (the last incomplete batch dropped) under the per-epoch
/// cosine schedule, then a clean pass over the test split, reported to `on_epoch`.
///
/// `rng` is the run's generator after `net` was initialised from it: it then draws the noise
/// key and each epoch's shuffle, so one seed fixes the whole run. All buffers are allocated
/// once, the forward and backward ones by `net`.
pub(crate) fn fit<N: Network<f32>>(
    mut net: N,
    mut rng: ChaCha8Rng,
    config: &TrainConfig,
    data: &ImageDataset,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<(N, Vec<EpochReport>)> {
    let (train_set, test_set) = (&data.train, &data.test);
    let batch = config.batch_size;
    let par = Par::rayon(0);
    let filler = BatchFiller::<f32>::new(config.noise_std, rng.random());
    let mut opt = AdamW::<f32>::new(config.weight_decay, &net.sizes());
    let mut grads = net.zeros_like();
    let mut work = net.work(batch);
    let mut x = Array2::<f32>::zeros((batch, net.d_input()));
    let mut labels = vec![0u8; batch];
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    let steps = train_set.len() / batch;
    let mut history = Vec::with_capacity(config.epochs);
    let mut step = 0u64;

    for epoch in 0..config.epochs {
        let start = Instant::now();
        let lr = cosine_lr(config.lr, epoch, config.epochs);
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for idx in order.chunks_exact(batch) {
            filler.fill(x.view_mut(), train_set.images.view(), idx, Some(step));
            for (l, &i) in labels.iter_mut().zip(idx) {
                *l = train_set.labels[i];
            }
            let (loss, right) = net.loss_and_grad(x.view(), &labels, &mut work, &mut grads, par);
            loss_sum += loss;
            correct += right;
            opt.step(lr, net.slices_mut().into_iter().zip(grads.slices()));
            step += 1;
        }
        let train_loss = loss_sum / steps as f64;
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch: epoch + 1,
                loss: train_loss,
            });
        }
        let test = evaluate_with(&net, test_set, &filler, &mut work, &mut x, par);
        let report = EpochReport {
            epoch: epoch + 1,
            epochs: config.epochs,
            train_loss,
            train_accuracy: correct as f64 / (steps * batch) as f64,
            test_loss: test.loss,
            test_accuracy: test.accuracy,
            lr,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_epoch(&report);
        history.push(report);
    }
    Ok((net, history))
}

/// A classifier this crate trained, which [`evaluate`] measures: [`TrainedModel`] or
/// [`TrainedConvModel`](crate::TrainedConvModel).
pub trait Classifier: sealed::Sealed {}

impl<M: sealed::Sealed> Classifier for M {}

pub(crate) mod sealed {
    use crate::network::Network;

    /// The network inside a trained classifier (private: outside callers cannot implement
    /// [`Classifier`](super::Classifier) for their own types).
    pub trait Sealed {
        /// Its parameters and passes.
        type Net: Network<f32>;
        /// The trained network.
        fn network(&self) -> &Self::Net;
    }
}

impl sealed::Sealed for TrainedModel {
    type Net = Params<f32>;
    fn network(&self) -> &Params<f32> {
        &self.params
    }
}

/// Loss and accuracy of `model` on the clean images of `set`.
///
/// # Errors
/// [`TrainError::Data`] if the images do not have the model's input width, a label is not one
/// of its classes, or the set is empty.
pub fn evaluate(model: &impl Classifier, set: &ImageSet) -> Result<Evaluation> {
    let net = model.network();
    check_split(set, "evaluation")?;
    if set.images.ncols() != net.d_input() {
        return Err(TrainError::Data {
            reason: format!(
                "the images have {} pixels but the model reads {}",
                set.images.ncols(),
                net.d_input()
            ),
        });
    }
    if set.n_classes() > net.d_output() {
        return Err(TrainError::Data {
            reason: format!(
                "label {} is not one of the model's {} classes",
                set.n_classes() - 1,
                net.d_output()
            ),
        });
    }
    let chunk = set.len().min(2048);
    let mut work = net.work(chunk);
    let mut x = Array2::zeros((chunk, net.d_input()));
    let filler = BatchFiller::new(0.0, [0; 32]);
    Ok(evaluate_with(
        net,
        set,
        &filler,
        &mut work,
        &mut x,
        Par::rayon(0),
    ))
}

/// Evaluation in chunks of the buffers' capacity (the rows of `x`), reusing the training
/// buffers.
fn evaluate_with<T: Real, N: Network<T>>(
    net: &N,
    set: &ImageSet,
    filler: &BatchFiller<T>,
    work: &mut N::Work,
    x: &mut Array2<T>,
    par: Par,
) -> Evaluation {
    let n = set.len();
    let cap = x.nrows();
    let all: Vec<usize> = (0..n).collect();
    let labels = set.labels.as_slice().expect("labels are contiguous");
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for (c, idx) in all.chunks(cap).enumerate() {
        let rows = idx.len();
        let mut xs = x.slice_mut(s![..rows, ..]);
        filler.fill(xs.view_mut(), set.images.view(), idx, None);
        let logits = net.logits(xs.view(), work, par);
        let (loss, right) = cross_entropy(logits, &labels[c * cap..c * cap + rows], None);
        loss_sum += loss * rows as f64;
        correct += right;
    }
    Evaluation {
        loss: loss_sum / n as f64,
        accuracy: correct as f64 / n as f64,
        n,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::Array1;

    /// A tiny learnable dataset: 4x4 images whose bright quadrant is the label.
    pub(crate) fn toy_dataset(n_train: usize, n_test: usize, seed: u64) -> ImageDataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut split = |n: usize| {
            let labels = Array1::from_shape_fn(n, |i| (i % 4) as u8);
            let images = Array2::from_shape_fn((n, 16), |(i, j)| {
                let (r, c) = (j / 4, j % 4);
                let quadrant = (r / 2) * 2 + c / 2;
                let base = if quadrant == usize::from(labels[i]) {
                    200
                } else {
                    30
                };
                base + rng.random_range(0..50u8)
            });
            ImageSet {
                images,
                labels,
                rows: 4,
                cols: 4,
            }
        };
        ImageDataset {
            train: split(n_train),
            test: split(n_test),
        }
    }

    fn tiny_config(seed: u64) -> TrainConfig {
        TrainConfig {
            width: 8,
            epochs: 3,
            lr: 1e-2,
            weight_decay: 0.1,
            batch_size: 32,
            noise_std: 0.4,
            seed,
            residual: false,
            layers: 1,
        }
    }

    #[test]
    fn same_seed_gives_bit_identical_weights() {
        let data = toy_dataset(200, 40, 5);
        let config = |seed| TrainConfig {
            epochs: 10,
            ..tiny_config(seed)
        };
        let mut reports = Vec::new();
        let a = train(&config(9), &data, |r| reports.push(r.clone())).unwrap();
        let b = train(&config(9), &data, |_| {}).unwrap();
        let c = train(&config(10), &data, |_| {}).unwrap();
        assert_eq!(a.params, b.params);
        assert_ne!(a.params, c.params);
        let bits = |m: &TrainedModel| -> Vec<u32> {
            m.params
                .slices()
                .iter()
                .flat_map(|s| s.iter().map(|x| x.to_bits()))
                .collect()
        };
        assert_eq!(bits(&a), bits(&b));
        // Reports: one per epoch, counted from 1, the schedule's rates, and the model learns.
        assert_eq!(reports.len(), 10);
        assert!(
            reports
                .iter()
                .enumerate()
                .all(|(i, r)| r.epoch == i + 1 && r.epochs == 10)
        );
        assert_eq!(reports[0].lr, 1e-2);
        assert_eq!(reports[9].lr, cosine_lr(1e-2, 9, 10));
        assert_eq!(a.history(), &reports[..]);
        let eval = evaluate(&a, &data.test).unwrap();
        assert_eq!(eval.accuracy, reports[9].test_accuracy);
        assert_eq!(eval.loss, reports[9].test_loss);
        assert!(eval.accuracy > 0.9, "{eval:?}");
    }

    #[test]
    fn invalid_options_and_data_are_clear_errors() {
        let data = toy_dataset(50, 10, 1);
        let err = |c: TrainConfig| train(&c, &data, |_| {}).unwrap_err().to_string();
        let e = err(TrainConfig {
            width: 0,
            ..tiny_config(1)
        });
        assert!(e.contains("width = 0"), "{e}");
        let e = err(TrainConfig {
            batch_size: 64,
            ..tiny_config(1)
        });
        assert!(
            e.contains("batch_size = 64") && e.contains("50 training images"),
            "{e}"
        );
        let e = err(TrainConfig {
            lr: f64::NAN,
            ..tiny_config(1)
        });
        assert!(e.contains("lr = NaN"), "{e}");
        let e = err(TrainConfig {
            noise_std: -1.0,
            ..tiny_config(1)
        });
        assert!(e.contains("noise_std"), "{e}");
        let e = err(TrainConfig {
            lr: 0.5,
            weight_decay: 2.0,
            ..tiny_config(1)
        });
        assert!(e.contains("lr * weight_decay"), "{e}");
        let e = err(TrainConfig {
            layers: 0,
            ..tiny_config(1)
        });
        assert!(e.contains("layers = 0"), "{e}");

        let mut bad = data.clone();
        bad.test.images = Array2::zeros((10, 9));
        let e = train(&tiny_config(1), &bad, |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("16 pixels") && e.contains("9"), "{e}");

        let model = train(
            &TrainConfig {
                epochs: 1,
                ..tiny_config(1)
            },
            &data,
            |_| {},
        )
        .unwrap();
        let mut other = data.test.clone();
        other.labels[0] = 7;
        let e = evaluate(&model, &other).unwrap_err().to_string();
        assert!(e.contains("label 7") && e.contains("4 classes"), "{e}");
    }

    #[test]
    fn divergence_is_reported_not_returned_as_weights() {
        let data = toy_dataset(64, 8, 2);
        let e = train(
            &TrainConfig {
                lr: 1e30,
                weight_decay: 0.0,
                ..tiny_config(1)
            },
            &data,
            |_| {},
        )
        .unwrap_err();
        assert!(matches!(e, TrainError::Diverged { .. }), "{e}");
    }

    #[test]
    fn saved_files_have_the_public_image_layout() {
        let data = toy_dataset(64, 8, 3);
        let config = TrainConfig {
            epochs: 1,
            residual: true,
            ..tiny_config(4)
        };
        let model = train(&config, &data, |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested").join("model");
        model.save(&out).unwrap();

        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(names, ["blocks.0.weight", "embed.weight", "head.weight"]);
        for (name, want, shape) in [
            ("embed.weight", model.embed(), [8, 16]),
            ("blocks.0.weight", model.block(), [16, 8]),
            ("head.weight", model.head(), [4, 8]),
        ] {
            let t = st.tensor(name).unwrap();
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
            assert_eq!(t.shape(), shape, "{name}");
            let got: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            assert_eq!(got, want.iter().copied().collect::<Vec<_>>(), "{name}");
        }
        // W is the first half of the fused block.
        assert_eq!(model.w(), model.block().slice(s![..8, ..]));
        assert_eq!(model.v(), model.block().slice(s![8.., ..]));

        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "d_hidden": 8, "n_layer": 1, "d_input": 16, "d_output": 4,
                "residual": true, "bias": false, "lr": 0.01, "wd": 0.1, "epochs": 1,
                "batch_size": 32, "seed": 4, "noise": 0.4
            })
        );
    }

    #[test]
    fn bilinear_model_view_reproduces_the_logits() {
        let data = toy_dataset(64, 8, 6);
        for residual in [false, true] {
            let config = TrainConfig {
                epochs: 1,
                residual,
                ..tiny_config(2)
            };
            let model = train(&config, &data, |_| {}).unwrap();
            let x = data.test.pixels::<f32>();
            let bm = model.to_bilinear_model().unwrap();
            let got = bm.forward(x.view(), Par::Seq);
            let mut work = model.params.work(8);
            let logits = model.params.logits(x.view(), &mut work, Par::Seq);
            let diff = (&got - &logits).mapv(f32::abs);
            assert!(
                diff.iter().all(|&d| d < 1e-4),
                "residual={residual}: {diff}"
            );
        }
    }

    /// A three-block residual model learns the toy task, saves every block in the public
    /// layout with `n_layer = 3`, and its recipe reads back; it is no single bilinear layer.
    #[test]
    fn deep_models_train_and_save_every_block() {
        let data = toy_dataset(200, 40, 7);
        let config = TrainConfig {
            epochs: 10,
            residual: true,
            layers: 3,
            ..tiny_config(3)
        };
        let model = train(&config, &data, |_| {}).unwrap();
        assert_eq!(model.layers(), 3);
        assert!(model.to_bilinear_model().is_none());
        let eval = evaluate(&model, &data.test).unwrap();
        assert!(eval.accuracy > 0.9, "{eval:?}");
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(
            names,
            [
                "blocks.0.weight",
                "blocks.1.weight",
                "blocks.2.weight",
                "embed.weight",
                "head.weight"
            ]
        );
        for (i, block) in model.blocks().enumerate() {
            let t = st.tensor(&format!("blocks.{i}.weight")).unwrap();
            let got: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            assert_eq!(got, block.iter().copied().collect::<Vec<_>>(), "block {i}");
        }
        assert_eq!(crate::saved_recipe(dir.path()), Some(config));
    }
}
