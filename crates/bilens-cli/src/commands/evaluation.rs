//! What the paper's evaluations share: an image classifier with its dataset, every class's
//! full eigendecomposition (in the layer's input space and in pixels), and the CSV and JSON
//! files they write.
//!
//! Evaluations compute in f64: the weights are widened from the file's f32, so that "all
//! components rebuild the model" holds to ~1e-12 and ties in the argmax cannot differ between
//! the model and its decomposition.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bilens_decomp::{BilinearModel, DecomposeParams, Method, Par, decompose, linalg};
use bilens_io::{ImageDataset, ImageSet, load_image_dataset, load_model, write_atomic};
use ndarray::{Array2, Array3, ArrayView2, Axis, s};

use crate::args::LayoutArgs;
use crate::error::BadInput;
use crate::printer::Printer;

/// An image classifier in f64 and where it came from.
#[derive(Debug, Clone)]
pub struct ImageModel {
    /// The model file.
    pub path: PathBuf,
    /// The model, widened to f64.
    pub model: BilinearModel<f64>,
}

impl ImageModel {
    /// Loads `path` with the layout flags.
    pub fn load(path: &Path, layout: &LayoutArgs) -> anyhow::Result<Self> {
        let spec = super::layout::resolve(layout)?;
        let loaded = load_model::<f64>(path, &spec)
            .with_context(|| format!("cannot load {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            model: loaded.model,
        })
    }

    /// Number of classes (outputs).
    pub fn n_classes(&self) -> usize {
        self.model.layer().d_out()
    }
}

/// Loads an MNIST-style dataset directory.
pub fn load_data(dir: &Path) -> anyhow::Result<ImageDataset> {
    load_image_dataset(dir).with_context(|| format!("cannot load the dataset in {}", dir.display()))
}

/// Checks that `model` reads images of `set`'s size and has an output for every label.
pub fn check_compatible(model: &ImageModel, set: &ImageSet, data: &Path) -> anyhow::Result<()> {
    let pixels = set.rows * set.cols;
    let d_input = model.model.d_input();
    if d_input != pixels {
        return Err(BadInput::new(
            format!(
                "{} reads {d_input} inputs but the images in {} have {pixels} pixels",
                model.path.display(),
                data.display()
            ),
            "evaluate an image model (with an embedding of the image's width) on its own dataset",
        )
        .into());
    }
    if set.n_classes() > model.n_classes() {
        return Err(BadInput::new(
            format!(
                "the dataset in {} has {} classes but {} only {} outputs",
                data.display(),
                set.n_classes(),
                model.path.display(),
                model.n_classes()
            ),
            "evaluate the model on the dataset it was trained for",
        )
        .into());
    }
    Ok(())
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
    pub fn of(model: &BilinearModel<f64>) -> anyhow::Result<Self> {
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
        let mut vectors = dec
            .eigenvectors
            .context("the decomposition was asked for eigenvectors")?;
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
        let row = self.values.row(c);
        let mut idx: Vec<usize> = (0..row.len())
            .filter(|&i| if positive { row[i] > 0.0 } else { row[i] < 0.0 })
            .collect();
        idx.sort_by(|&a, &b| {
            let (x, y) = (row[a], row[b]);
            if positive {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        });
        idx
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

/// Tells the user which files an evaluation wrote (stdout, one line).
pub fn print_written(files: &[PathBuf], printer: &Printer) {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    printer.data(format!("wrote {}", names.join(", ")));
}

/// Creates `dir` (and parents), with an error that names it.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes a CSV file atomically: a header line and one line per row (fields are numbers or
/// plain names, so no quoting is needed).
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Writes pretty JSON atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).context("a JSON value serialises")?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)?;
    Ok(())
}

/// A number for a CSV field: plain decimals, enough digits to round-trip an accuracy.
pub fn num(x: f64) -> String {
    let mut s = String::new();
    let _ = write!(s, "{x:.6}");
    s
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
