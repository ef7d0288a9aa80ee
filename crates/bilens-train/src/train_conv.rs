//! Training the bilinear CNN, the trained model, and its checkpoint in the conv format.

use std::collections::BTreeMap;
use std::path::Path;

use bilens_io::{ImageDataset, IoError, write_arrays};
use ndarray::{Array2, ArrayView4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{ConvConfigJson, ConvShape, RecipeJson, TrainConfig, write_config_json};
use crate::conv::{ConvParams, to_channel_major};
use crate::error::{Result, TrainError};
use crate::im2col::Geometry;
use crate::network::Network;
use crate::train::{EpochReport, check_run, fit, sealed};

/// A trained bilinear CNN in f32, `logits = R vec(conv(K_a, x) ⊙ conv(K_b, x))`, with the
/// recipe, convolution and per-epoch history of the run that made it.
#[derive(Clone, Debug)]
pub struct TrainedConvModel {
    config: TrainConfig,
    params: ConvParams<f32>,
    history: Vec<EpochReport>,
}

/// Names of the tensors in `model.safetensors`: the conv checkpoint format.
const BLOCK: &str = "block.weight";
const HEAD: &str = "head.weight";

impl TrainedConvModel {
    /// The recipe it was trained with (`width` is the channel count `h`).
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The convolution: kernel, stride, padding.
    pub fn shape(&self) -> ConvShape {
        self.params.geometry.shape
    }

    /// One report per epoch, in order.
    pub fn history(&self) -> &[EpochReport] {
        &self.history
    }

    /// Channels `h` of each of conv_a and conv_b.
    pub fn channels(&self) -> usize {
        self.params.channels()
    }

    /// Output rows and columns of the convolution, `(H', W')`.
    pub fn out_size(&self) -> (usize, usize) {
        let g = &self.params.geometry;
        (g.out_height(), g.out_width())
    }

    /// Number of classes.
    pub fn d_output(&self) -> usize {
        self.params.d_output()
    }

    /// The fused kernels `[2h, c_in, k, k]`: channels `0..h` are conv_a, `h..2h` conv_b.
    pub fn kernels(&self) -> ArrayView4<'_, f32> {
        let g = &self.params.geometry;
        let k = g.shape.kernel;
        self.params
            .kernels
            .view()
            .into_shape_with_order((self.params.kernels.nrows(), g.in_channels, k, k))
            .expect("the kernels are c_in k² wide")
    }

    /// The head `R: [classes, h H' W']` over the features flattened as (channel, row, column),
    /// PyTorch's order.
    pub fn head(&self) -> Array2<f32> {
        to_channel_major(self.params.head.view(), self.channels())
    }

    /// Writes `dir/model.safetensors` (`block.weight [2h, c_in, k, k]`,
    /// `head.weight [classes, h H' W']`, F32, no biases) and `dir/config.json` (the conv
    /// format's `d_hidden`, `kernel_size`, `padding`, `stride`, `in_channels`, `image_size`,
    /// then `d_output`, `bias` and the recipe), creating `dir` if needed. Each file is written
    /// atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| IoError::Os {
            path: dir.to_path_buf(),
            source,
        })?;
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let head = self.head();
        write_arrays(
            &dir.join("model.safetensors"),
            &[
                (BLOCK, self.kernels().into_dyn()),
                (HEAD, head.view().into_dyn()),
            ],
            &metadata,
        )?;
        let (c, g) = (&self.config, &self.params.geometry);
        let json = ConvConfigJson {
            d_hidden: self.channels(),
            kernel_size: g.shape.kernel,
            padding: g.shape.padding,
            stride: g.shape.stride,
            in_channels: g.in_channels,
            image_size: g.height,
            d_output: self.d_output(),
            recipe: RecipeJson::of(c),
        };
        write_config_json(dir, &json)
    }
}

impl sealed::Sealed for TrainedConvModel {
    type Net = ConvParams<f32>;
    fn network(&self) -> &ConvParams<f32> {
        &self.params
    }
}

/// Trains a bilinear CNN (one bilinear convolution of `config.width` channels with `shape`,
/// a linear head) on `data.train` with `config`'s recipe, evaluating on `data.test` after every
/// epoch and calling `on_epoch` with the result. The same loop as [`train`](crate::train):
/// AdamW, the cosine schedule, input noise, one seed for everything.
///
/// The images are read as one channel; the checkpoint format records one image size, so they
/// must be square.
///
/// # Errors
/// [`TrainError::InvalidConfig`] for an out-of-range option, a convolution that does not fit
/// the images, or `layers`/`residual` set (a bilinear CNN has one convolution and no residual
/// path), all checked before any work; [`TrainError::Data`] for an unusable dataset or
/// non-square images; [`TrainError::Diverged`] if the loss stops being finite.
pub fn train_conv(
    config: &TrainConfig,
    shape: ConvShape,
    data: &ImageDataset,
    on_epoch: impl FnMut(&EpochReport),
) -> Result<TrainedConvModel> {
    let (_, d_output) = check_run(config, data)?;
    let one_conv = |option: &'static str, value: String| {
        Err(TrainError::InvalidConfig {
            option,
            value,
            reason: "a bilinear CNN has one convolution and no residual path".into(),
        })
    };
    if config.layers != 1 {
        return one_conv("layers", config.layers.to_string());
    }
    if config.residual {
        return one_conv("residual", "true".into());
    }
    let (rows, cols) = (data.train.rows, data.train.cols);
    if rows != cols || (data.test.rows, data.test.cols) != (rows, cols) {
        return Err(TrainError::Data {
            reason: format!(
                "the conv checkpoint records one image size, but the images are {rows}×{cols} \
                 (training) and {}×{} (test); a bilinear CNN here needs square images",
                data.test.rows, data.test.cols
            ),
        });
    }
    let geometry = Geometry::new(shape, 1, rows, cols)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let params = ConvParams::<f32>::init(&mut rng, geometry, config.width, d_output);
    let (params, history) = fit(params, rng, config, data, on_epoch)?;
    Ok(TrainedConvModel {
        config: config.clone(),
        params,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::evaluate;
    use crate::train::tests::toy_dataset;

    fn tiny(seed: u64) -> TrainConfig {
        TrainConfig {
            width: 4,
            epochs: 10,
            lr: 1e-2,
            weight_decay: 0.1,
            batch_size: 32,
            noise_std: 0.2,
            seed,
            residual: false,
            layers: 1,
        }
    }

    const SHAPE: ConvShape = ConvShape {
        kernel: 3,
        stride: 1,
        padding: 1,
    };

    /// The toy task (which quadrant of a 4×4 image is bright) is learnt; the same seed gives
    /// the same bits, another seed other weights; `evaluate` agrees with the last report.
    #[test]
    fn learns_deterministically_and_evaluates_like_its_reports() {
        let data = toy_dataset(200, 40, 5);
        let mut reports = Vec::new();
        let a = train_conv(&tiny(9), SHAPE, &data, |r| reports.push(r.clone())).unwrap();
        let b = train_conv(&tiny(9), SHAPE, &data, |_| {}).unwrap();
        let c = train_conv(&tiny(10), SHAPE, &data, |_| {}).unwrap();
        assert_eq!(a.params, b.params);
        assert_ne!(a.params, c.params);
        assert_eq!(a.history(), &reports[..]);
        assert_eq!(reports.len(), 10);
        let eval = evaluate(&a, &data.test).unwrap();
        assert_eq!(eval.accuracy, reports[9].test_accuracy);
        assert_eq!(eval.loss, reports[9].test_loss);
        assert!(eval.accuracy > 0.9, "{eval:?}");
        assert_eq!((a.channels(), a.out_size(), a.d_output()), (4, (4, 4), 4));
    }

    #[test]
    fn bad_recipes_and_images_are_named_errors_before_any_work() {
        let data = toy_dataset(50, 10, 1);
        let err = |c: TrainConfig, shape: ConvShape| {
            train_conv(&c, shape, &data, |_| panic!("no epoch may run"))
                .unwrap_err()
                .to_string()
        };
        let e = err(
            TrainConfig {
                layers: 3,
                ..tiny(1)
            },
            SHAPE,
        );
        assert!(
            e.contains("layers = 3") && e.contains("one convolution"),
            "{e}"
        );
        let e = err(
            TrainConfig {
                residual: true,
                ..tiny(1)
            },
            SHAPE,
        );
        assert!(e.contains("residual = true"), "{e}");
        let e = err(
            tiny(1),
            ConvShape {
                kernel: 7,
                stride: 1,
                padding: 1,
            },
        );
        assert!(e.contains("kernel = 7") && e.contains("4×4"), "{e}");
        let e = err(tiny(1), ConvShape { stride: 0, ..SHAPE });
        assert!(e.contains("stride = 0"), "{e}");
        let e = err(
            TrainConfig {
                width: 0,
                ..tiny(1)
            },
            SHAPE,
        );
        assert!(e.contains("width = 0"), "{e}");
        let mut wide = data.clone();
        for set in [&mut wide.train, &mut wide.test] {
            (set.rows, set.cols) = (2, 8);
        }
        let e = train_conv(&tiny(1), SHAPE, &wide, |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("2×8") && e.contains("square"), "{e}");
    }

    /// The files hold the conv checkpoint format: the fused kernels as `[2h, 1, k, k]` with
    /// conv_a first, the head over channel-major features, and the geometry in config.json.
    #[test]
    fn saved_files_have_the_conv_format() {
        let data = toy_dataset(64, 8, 3);
        let shape = ConvShape {
            kernel: 3,
            stride: 1,
            padding: 0,
        };
        let model = train_conv(
            &TrainConfig {
                epochs: 1,
                ..tiny(4)
            },
            shape,
            &data,
            |_| {},
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested").join("conv");
        model.save(&out).unwrap();

        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(names, ["block.weight", "head.weight"]);
        let read = |name: &str| -> (Vec<usize>, Vec<f32>) {
            let t = st.tensor(name).unwrap();
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
            let data = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (t.shape().to_vec(), data)
        };
        // 4×4 images, k = 3, no padding: 2×2 output positions.
        let (block_shape, block) = read("block.weight");
        assert_eq!(block_shape, [8, 1, 3, 3]);
        assert_eq!(block, model.kernels().iter().copied().collect::<Vec<_>>());
        assert_eq!(&block[..9], model.params.kernels.row(0).to_slice().unwrap());
        let (head_shape, head) = read("head.weight");
        assert_eq!(head_shape, [4, 16]);
        assert_eq!(head, model.head().iter().copied().collect::<Vec<_>>());

        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "d_hidden": 4, "kernel_size": 3, "padding": 0, "stride": 1, "in_channels": 1,
                "image_size": 4, "d_output": 4, "bias": false, "lr": 0.01, "wd": 0.1,
                "epochs": 1, "batch_size": 32, "seed": 4, "noise": 0.2
            })
        );
    }
}
