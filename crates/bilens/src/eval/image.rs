//! What the image evaluations share: an image classifier in f64 with its dataset, the test
//! accuracy, and every class's full eigendecomposition (in the layer's input space and in
//! pixels).
//!
//! Evaluations compute in f64: the weights are widened from the file's f32, so that "all
//! components rebuild the model" holds to ~1e-12 and ties in the argmax cannot differ between
//! the model and its decomposition.

use std::path::{Path, PathBuf};

use bilens_decomp::{
    BilinearModel, DecomposeParams, Method, Par, Real, Sign, argmax_rows, decompose, linalg,
    top_by_sign,
};
use bilens_io::{ImageDataset, ImageSet, Layout, ModelInfo, load_image_dataset};
use ndarray::{Array2, Array3, ArrayView2, Axis, s};

use super::stack::ImageStack;
use crate::checkpoint::Checkpoint;
use crate::error::{Arg, Error, Result};
use crate::progress::Progress;

/// An image classifier in f64 and where it came from.
#[derive(Debug, Clone)]
pub struct ImageModel {
    /// The model file.
    pub path: PathBuf,
    /// The model, widened to f64.
    pub model: BilinearModel<f64>,
}

impl ImageModel {
    /// Reads the model of `checkpoint` (a file opened with [`crate::ModelFile::open_key`],
    /// so a PyTorch checkpoint's state dict is the one its caller chose).
    pub fn open(checkpoint: &Checkpoint) -> Result<Self> {
        let path = checkpoint.file().path();
        let model = checkpoint
            .model::<f64>()
            .map_err(|e| e.context(format!("cannot load {}", path.display())))?;
        one_block(path, checkpoint.info())?;
        Ok(Self {
            path: path.to_path_buf(),
            model,
        })
    }

    /// Number of classes (outputs).
    pub fn n_classes(&self) -> usize {
        self.model.layer().d_out()
    }
}

/// An image classifier with the dataset it is evaluated on, checked to fit each other.
#[derive(Debug, Clone)]
pub struct ImageEvaluation {
    /// The model.
    pub model: ImageModel,
    /// The dataset.
    pub data: ImageDataset,
    /// The dataset's directory.
    pub data_dir: PathBuf,
}

impl ImageEvaluation {
    /// Reads the model of `checkpoint` and the MNIST-style dataset in `data`, and checks that
    /// the model reads its images and has an output for each of its labels.
    pub fn open(checkpoint: &Checkpoint, data: &Path) -> Result<Self> {
        let model = ImageModel::open(checkpoint)?;
        let dataset = load_dataset(data)?;
        check_compatible(&model.model, &dataset.test, data)?;
        Ok(Self {
            model,
            data: dataset,
            data_dir: data.to_path_buf(),
        })
    }

    /// Every class's full eigendecomposition, telling `progress` what it does.
    pub fn components(&self, progress: &dyn Progress) -> Result<ClassComponents> {
        progress.note(&format!(
            "decomposing every class of {} (full spectrum, f64)",
            self.model.path.display()
        ));
        ClassComponents::of(&self.model.model)
    }
}

/// Refuses an image model of several blocks: these evaluations run the loaded block as the
/// whole classifier (`logits = P g(E x) + L E x`), which for a deep model is one link of the
/// chain, not the model, so accuracies and truncations would be of something else.
fn one_block(path: &Path, info: &ModelInfo) -> Result<()> {
    match &info.layer {
        Some(l) if info.layout == Layout::Image => Err(Error::argument(
            Arg::Model,
            path.display().to_string(),
            format!(
                "the model has {} bilinear blocks; this evaluation treats one block as the whole \
                 classifier, which only a one-block model is",
                l.available.len()
            ),
            "evaluate a one-block image model here; for a deep model, its test accuracy is `bilens \
             eval MODEL`, its truncation block by block `bilens eval bottleneck MODEL`, and its \
             blocks are decomposed one by one (bilens decompose --layer I, with --outputs \
             results:DIR for the chain)",
        )),
        _ => Ok(()),
    }
}

/// Loads an MNIST-style dataset directory.
pub fn load_dataset(dir: &Path) -> Result<ImageDataset> {
    load_image_dataset(dir).map_err(|e| {
        Error::from(e).context(format!("cannot load the dataset in {}", dir.display()))
    })
}

/// Checks that `model` reads images of `set`'s size and has an output for every label
/// (`data` names the dataset in the error).
pub fn check_compatible<T: Real>(
    model: &BilinearModel<T>,
    set: &ImageSet,
    data: &Path,
) -> Result<()> {
    check_fits(model.d_input(), model.layer().d_out(), set, data)
}

/// Checks that a model reading `d_input` inputs with `n_classes` outputs fits `set`.
pub(super) fn check_fits(
    d_input: usize,
    n_classes: usize,
    set: &ImageSet,
    data: &Path,
) -> Result<()> {
    let pixels = set.rows * set.cols;
    if d_input != pixels {
        return Err(Error::argument(
            Arg::Data,
            data.display().to_string(),
            format!("the model reads {d_input} inputs but the images have {pixels} pixels"),
            "evaluate an image model (with an embedding of the image's width) on its own dataset",
        ));
    }
    if set.n_classes() > n_classes {
        return Err(Error::argument(
            Arg::Data,
            data.display().to_string(),
            format!(
                "the dataset has {} classes but the model only {n_classes} outputs",
                set.n_classes()
            ),
            "evaluate the model on the dataset it was trained for",
        ));
    }
    Ok(())
}

/// How many images of `set` the model classifies correctly (argmax of its outputs, the first
/// of equal outputs). The one count of test accuracy: the command line's, the demo's and
/// the reproduction's.
pub fn correct_predictions<T: Real>(model: &BilinearModel<T>, set: &ImageSet) -> usize {
    let logits = model.forward(set.pixels::<T>().view(), Par::rayon(0));
    argmax_rows(logits.view())
        .iter()
        .zip(set.labels.iter())
        .filter(|(p, l)| **p == usize::from(**l))
        .count()
}

/// Test accuracy of an image model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accuracy {
    /// Images classified correctly.
    pub correct: usize,
    /// Images.
    pub total: usize,
}

impl Accuracy {
    /// Of `model` on `set`, after checking they fit (`data` names the dataset in errors).
    pub fn of<T: Real>(model: &BilinearModel<T>, set: &ImageSet, data: &Path) -> Result<Self> {
        check_compatible(model, set, data)?;
        Ok(Self {
            correct: correct_predictions(model, set),
            total: set.len(),
        })
    }

    /// The fraction correct (0 for an empty set).
    pub fn fraction(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// The test accuracy of the image model of `checkpoint` on the MNIST-style dataset in `data`
/// (in f32, as the model was trained); a model of several blocks is run whole.
pub fn test_accuracy(checkpoint: &Checkpoint, data: &Path) -> Result<Accuracy> {
    let model = checkpoint.file().path();
    let loaded = checkpoint
        .model::<f32>()
        .map_err(|e| e.context(format!("cannot load {}", model.display())))?;
    if one_block(model, checkpoint.info()).is_err() {
        // A deep model: the whole network, block after block.
        let stack = ImageStack::<f32>::open(checkpoint)
            .map_err(|e| e.context(format!("cannot load {}", model.display())))?;
        let dataset = load_dataset(data)?;
        check_fits(stack.d_input(), stack.n_classes(), &dataset.test, data)?;
        return Ok(Accuracy {
            correct: stack.correct(&dataset.test),
            total: dataset.test.len(),
        });
    }
    let dataset = load_dataset(data)?;
    Accuracy::of(&loaded, &dataset.test, data)
}

/// Every class's components: the full eigendecomposition of `Q(e_c)` for each class `c`.
#[derive(Debug, Clone)]
pub struct ClassComponents {
    /// Eigenvalues `[C, d]`, descending `|λ|` in each row.
    pub values: Array2<f64>,
    /// Eigenvectors in the layer's input space `[C, d, d_in]` (rows, orthonormal).
    pub vectors: Array3<f64>,
    /// The same components in the model's input space (pixels), `Eᵀv`, `[C, d, d_input]`;
    /// the layer-space vectors when the model has no embedding. Signs are fixed here (the
    /// largest pixel positive) and the layer-space rows flipped with them.
    pub pixels: Array3<f64>,
}

impl ClassComponents {
    /// Decomposes every class of `model` (full spectrum, f64).
    pub fn of(model: &BilinearModel<f64>) -> Result<Self> {
        let layer = model.layer();
        let classes = Array2::eye(layer.d_out());
        let dec = decompose(
            layer,
            classes.view(),
            None,
            &DecomposeParams {
                method: Method::Full,
                ..DecomposeParams::default()
            },
        )?;
        let Some(mut vectors) = dec.eigenvectors else {
            unreachable!("a full decomposition keeps its eigenvectors")
        };
        let (c, d, _) = vectors.dim();
        let mut pixels = Array3::zeros((c, d, model.d_input()));
        for (o, mut v) in vectors.axis_iter_mut(Axis(0)).enumerate() {
            match model.map_components(v.view_mut(), Par::rayon(0)) {
                Some(p) => pixels.index_axis_mut(Axis(0), o).assign(&p),
                None => pixels.index_axis_mut(Axis(0), o).assign(&v),
            }
        }
        Ok(Self {
            values: dec.eigenvalues,
            vectors,
            pixels,
        })
    }

    /// Number of components per class.
    pub fn d(&self) -> usize {
        self.values.ncols()
    }

    /// The indices of class `c`'s components of one sign, strongest first (positive:
    /// largest `λ` first; negative: most negative first).
    pub fn by_sign(&self, c: usize, positive: bool) -> Vec<usize> {
        let sign = if positive {
            Sign::Positive
        } else {
            Sign::Negative
        };
        top_by_sign(self.values.row(c), sign, usize::MAX)
    }

    /// The pixel pictures `[k, d_input]` of class `c`'s components `idx`.
    pub fn pictures(&self, c: usize, idx: &[usize]) -> Array2<f64> {
        self.pixels.slice(s![c, .., ..]).select(Axis(0), idx)
    }
}

/// Pixels of a set in `[0, 1]`, f64, `[n, d_input]`.
pub fn pixels(set: &ImageSet) -> Array2<f64> {
    set.pixels::<f64>()
}

/// The uncentred second moment `xᵀx / n` of a set's pixels, `[d_input, d_input]`, by f32
/// GEMMs over chunks of images accumulated in f64 (it only ranks components, and the
/// training set is 60 000 images).
pub fn pixel_moment(set: &ImageSet) -> Array2<f64> {
    const CHUNK: usize = 8192;
    let d = set.images.ncols();
    let mut acc = Array2::<f64>::zeros((d, d));
    let n = set.len();
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let x = set
            .images
            .slice(s![start..end, ..])
            .mapv(|p| f32::from(p) / 255.0);
        let g = linalg::matmul(x.t(), x.view(), Par::rayon(0));
        acc.zip_mut_with(&g, |a, &b| *a += f64::from(b));
    }
    acc / n.max(1) as f64
}

/// The second moment of the layer inputs `e = E x` from that of the pixels: `E S Eᵀ`.
pub fn layer_moment(model: &BilinearModel<f64>, pixel_moment: ArrayView2<'_, f64>) -> Array2<f64> {
    match model.embed() {
        Some(e) => {
            let es = linalg::matmul(e, pixel_moment, Par::rayon(0));
            linalg::matmul(es.view(), e.t(), Par::rayon(0))
        }
        None => pixel_moment.to_owned(),
    }
}

/// The image shape for figures: the set's own.
pub fn image_shape(set: &ImageSet) -> bilens_plot::ImageShape {
    bilens_plot::ImageShape::new(set.rows, set.cols)
}

/// Short labels of the classes: the Fashion-MNIST names for a 10-class 28×28 set called
/// `fashion`, else the class index.
pub fn class_labels(n: usize, fashion: bool) -> Vec<String> {
    const FASHION: [&str; 10] = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ];
    (0..n)
        .map(|c| match (fashion && n == 10).then(|| FASHION[c]) {
            Some(name) => name.to_string(),
            None => c.to_string(),
        })
        .collect()
}
