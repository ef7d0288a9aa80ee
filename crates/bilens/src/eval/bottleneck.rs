//! Deep truncation, the per-block "bottleneck": the test accuracy of the whole network when
//! one block's interaction tensor is replaced by its top-S HOSVD components (and, optionally,
//! each component by its top-k eigenvectors), for every block and S (docs/MATH.md section 10,
//! last bullet; the 2024 public image code's bottleneck evaluation).
//!
//! Block `i` reads the stream `x` and writes `P_i g̃(x) + L_i x`, where `g(x) = (W x) ⊙ (V x)`
//! is its tensor on the hidden stream (`P_i` is the identity before the last block and the head
//! after it; `L_i` is the residual term). The tensor truncated is `g`'s, in the block's own
//! hidden space (not the head's class space, where a 10-class head would leave at most 10
//! components): its HOSVD `B = Σ_s σ_s u_s ⊗ Q_s` is the one `bilens decompose --layer I
//! --hosvd S` reports. Because the `u_s` are the left singular vectors of the flattened tensor,
//! keeping the top S is exactly projecting the block's quadratic output on them,
//! `g̃(x) = Σ_{s<S} u_s u_sᵀ g(x)`; with `k` eigenvectors per component each `u_sᵀ g(x) =
//! xᵀ Q(u_s) x` is replaced by `Σ_{j<k} λ_{s,j} (v_{s,j}ᵀ x)²`. Block biases add terms linear in
//! `x` (and a constant) that are not part of the interaction tensor: they are kept whole, as
//! every other evaluation keeps the linear part. With every component (S = the block's width,
//! all eigenvectors) the network is the model itself, image by image.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bilens_decomp::{
    BilinearLayer, DecomposeParams, Method, Par, argmax_rows, decompose, hosvd, linalg,
};
use bilens_io::ImageSet;
use bilens_plot::{LineChart, Reference, Series, line_chart};
use ndarray::{Array1, Array2, ArrayView2, Zip, s};
use serde_json::json;

use super::Evaluated;
use super::files::{ensure_dir, num, write_csv, write_json};
use super::image::{check_fits, load_dataset};
use super::stack::ImageStack;
use crate::checkpoint::Checkpoint;
use crate::error::{Arg, Error, Result};
use crate::progress::Progress;

/// Images projected on the kept eigenvectors per GEMM: bounds the working set to
/// `CHUNK · (components · k)` numbers.
const CHUNK: usize = 2048;

/// What a bottleneck evaluation computes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BottleneckOptions {
    /// The numbers of HOSVD components kept, the same for every block; `None`: 0, the powers
    /// of two below each block's width, and its width (every component).
    pub ranks: Option<Vec<usize>>,
    /// Eigenvectors kept per component (largest `|λ|` first); `None` keeps each component's
    /// whole interaction matrix.
    pub eigenvectors: Option<usize>,
}

/// The accuracy curve of one block.
#[derive(Clone, Debug)]
pub struct BlockBottleneck {
    /// The block.
    pub block: usize,
    /// Its number of HOSVD components (its hidden width).
    pub width: usize,
    /// Components whose singular value is not negligible (`σ_s > 1e-12 σ_0`).
    pub rank: usize,
    /// The numbers of components kept, ascending.
    pub ranks: Vec<usize>,
    /// The fraction of the tensor's squared Frobenius norm kept, `Σ_{s<S} σ_s² / Σ σ_s²`, per
    /// entry of `ranks`.
    pub norm_kept: Vec<f64>,
    /// Test images classified correctly, per entry of `ranks`.
    pub correct: Vec<usize>,
    /// Test images whose prediction equals the model's, per entry of `ranks`.
    pub same_as_model: Vec<usize>,
}

/// The bottleneck curves of a model.
#[derive(Clone, Debug)]
pub struct Bottleneck {
    /// One curve per block, in order.
    pub blocks: Vec<BlockBottleneck>,
    /// Eigenvectors kept per component (`None`: all).
    pub eigenvectors: Option<usize>,
    /// Test images.
    pub n: usize,
    /// Correct predictions of the model itself (f64 forward pass).
    pub model_correct: usize,
    /// Seconds the computation took.
    pub seconds: f64,
}

impl Bottleneck {
    /// The model's own accuracy.
    pub fn model_accuracy(&self) -> f64 {
        self.model_correct as f64 / self.n.max(1) as f64
    }
}

impl BlockBottleneck {
    /// The accuracy at entry `j` of `ranks`, out of `n` images.
    pub fn accuracy(&self, j: usize, n: usize) -> f64 {
        self.correct[j] as f64 / n.max(1) as f64
    }
}

/// The bottleneck curves of the image model `checkpoint` opened (one block or several; every
/// block is read from the same file) on the test split of the MNIST-style dataset in `data`;
/// writes `bottleneck.{csv,json}` and the figure `bottleneck.{png,svg}` into `out`.
pub fn bottleneck(
    checkpoint: &Checkpoint,
    data: &Path,
    options: &BottleneckOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Evaluated<Bottleneck>> {
    let model = checkpoint.file().path();
    let stack = ImageStack::<f64>::open(checkpoint)
        .map_err(|e| e.context(format!("cannot load {}", model.display())))?;
    let dataset = load_dataset(data)?;
    check_fits(stack.d_input(), stack.n_classes(), &dataset.test, data)?;
    let report = compute(&stack, &dataset.test, options, progress)?;
    let files = write(&report, out, &model.display().to_string())?;
    Ok(Evaluated { report, files })
}

/// The bottleneck curves of `stack` on `set`.
///
/// Errors name [`Arg::Ranks`] for a rank past a block's width and [`Arg::Eigenvectors`] for
/// `k = 0`.
pub fn compute(
    stack: &ImageStack<f64>,
    set: &ImageSet,
    options: &BottleneckOptions,
    progress: &dyn Progress,
) -> Result<Bottleneck> {
    let start = Instant::now();
    check_options(stack, options)?;
    let pixels = set.pixels::<f64>();
    let labels: Vec<usize> = set.labels.iter().map(|&l| usize::from(l)).collect();
    let model_pred = argmax_rows(stack.logits(pixels.view()).view());
    let task = progress.task("bottleneck", stack.len() as u64);
    let mut blocks = Vec::with_capacity(stack.len());
    for i in 0..stack.len() {
        let truncated = TruncatedBlock::new(stack, i, pixels.view(), options.eigenvectors)?;
        let ranks = match &options.ranks {
            Some(r) => r.clone(),
            None => default_ranks(truncated.width()),
        };
        let mut curve = BlockBottleneck {
            block: i,
            width: truncated.width(),
            rank: truncated.rank(),
            ranks: ranks.clone(),
            norm_kept: Vec::with_capacity(ranks.len()),
            correct: Vec::with_capacity(ranks.len()),
            same_as_model: Vec::with_capacity(ranks.len()),
        };
        for &r in &ranks {
            let logits = truncated.logits(r);
            let pred = argmax_rows(logits.view());
            curve.norm_kept.push(truncated.norm_kept(r));
            curve
                .correct
                .push(pred.iter().zip(&labels).filter(|(p, l)| p == l).count());
            curve
                .same_as_model
                .push(pred.iter().zip(&model_pred).filter(|(p, m)| p == m).count());
        }
        blocks.push(curve);
        task.advance(1);
    }
    drop(task);
    let model_correct = model_pred
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(Bottleneck {
        blocks,
        eigenvectors: options.eigenvectors,
        n: labels.len(),
        model_correct,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Refuses ranks past the narrowest block and `k = 0`, before any work.
fn check_options(stack: &ImageStack<f64>, options: &BottleneckOptions) -> Result<()> {
    if options.eigenvectors == Some(0) {
        return Err(Error::argument(
            Arg::Eigenvectors,
            "0",
            "keeps no eigenvector of any component",
            "keep at least 1 per component, or leave it out to keep each component whole",
        ));
    }
    if let Some(ranks) = &options.ranks {
        if ranks.is_empty() {
            return Err(Error::argument(
                Arg::Ranks,
                "",
                "lists no number of components",
                "e.g. 0,1,2,4,8,16",
            ));
        }
        for i in 0..stack.len() {
            let width = stack.block(i).layer().d_hidden();
            if let Some(&r) = ranks.iter().find(|&&r| r > width) {
                return Err(Error::argument(
                    Arg::Ranks,
                    r.to_string(),
                    format!("block {i} has only {width} HOSVD components (its hidden width)"),
                    format!(
                        "give numbers up to {width}, or leave it out for each block's own ladder"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// 0, the powers of two below `width`, and `width`.
fn default_ranks(width: usize) -> Vec<usize> {
    let mut ranks = vec![0];
    ranks.extend(
        std::iter::successors(Some(1usize), |r| r.checked_mul(2)).take_while(|&r| r < width),
    );
    ranks.push(width);
    ranks
}

/// One block of a network truncated through its HOSVD, on a fixed batch of images: the
/// network's logits with that block keeping any number of components.
#[derive(Debug)]
pub struct TruncatedBlock<'a> {
    /// The network.
    stack: &'a ImageStack<f64>,
    /// Which block is truncated.
    block: usize,
    /// What the block reads for each image, `[n, d_in]`.
    x: Array2<f64>,
    /// Singular values, descending, `[width]`.
    sigma: Array1<f64>,
    /// Output vectors `u_s` as rows, `[width, width]` (an orthonormal basis of the hidden
    /// stream).
    u: Array2<f64>,
    /// `u_sᵀ g(x)` or its top-k eigenvector estimate, per image and component `[n, width]`.
    coefficients: Array2<f64>,
    /// What the biases add to the hidden stream (`g` with biases minus `g` without) `[n, width]`,
    /// or `None` without biases.
    bias_part: Option<Array2<f64>>,
}

impl<'a> TruncatedBlock<'a> {
    /// Block `block` of `stack` for the images `pixels` (`[n, d_input]`), each component of its
    /// HOSVD whole (`eigenvectors: None`) or by its top `k` eigenvectors by `|λ|`.
    ///
    /// # Panics
    /// If `block` is not a block of `stack` or `pixels` is not `[n, d_input]`.
    #[track_caller]
    pub fn new(
        stack: &'a ImageStack<f64>,
        block: usize,
        pixels: ArrayView2<'_, f64>,
        eigenvectors: Option<usize>,
    ) -> Result<Self> {
        let par = Par::rayon(0);
        let x = stack.stream(pixels, block);
        let layer = stack.block(block).layer();
        let width = layer.d_hidden();
        // The block's tensor on its hidden stream: P = I, no biases.
        let tensor = BilinearLayer::new(
            layer.w().to_owned(),
            layer.v().to_owned(),
            Array2::eye(width),
        );
        let h = hosvd(&tensor, None, width, par)?;
        let g = tensor.hidden(x.view(), par);
        let coefficients = match eigenvectors {
            None => linalg::matmul(g.view(), h.output_vectors.t(), par),
            Some(k) => top_eigen_coefficients(&tensor, h.output_vectors.view(), x.view(), k)?,
        };
        let bias_part = layer.has_biases().then(|| layer.hidden(x.view(), par) - &g);
        Ok(Self {
            stack,
            block,
            x,
            sigma: h.singular_values,
            u: h.output_vectors,
            coefficients,
            bias_part,
        })
    }

    /// The block's number of components (its hidden width).
    pub fn width(&self) -> usize {
        self.sigma.len()
    }

    /// The singular values of its HOSVD, descending.
    pub fn singular_values(&self) -> &Array1<f64> {
        &self.sigma
    }

    /// Components whose singular value is not negligible (`σ_s > 1e-12 σ_0`).
    pub fn rank(&self) -> usize {
        let top = self.sigma.first().copied().unwrap_or(0.0);
        self.sigma.iter().filter(|&&s| s > 1e-12 * top).count()
    }

    /// The fraction of the tensor's squared Frobenius norm in its top `r` components.
    pub fn norm_kept(&self, r: usize) -> f64 {
        let total: f64 = self.sigma.iter().map(|s| s * s).sum();
        if total == 0.0 {
            return 1.0;
        }
        self.sigma.iter().take(r).map(|s| s * s).sum::<f64>() / total
    }

    /// The network's logits `[n, classes]` with this block keeping its top `r` components:
    /// the block writes `P g̃ + L x`, `g̃` the hidden stream rebuilt from those components plus
    /// the bias terms, and the later blocks run on that.
    ///
    /// # Panics
    /// If `r` is more than [`TruncatedBlock::width`].
    #[track_caller]
    pub fn logits(&self, r: usize) -> Array2<f64> {
        assert!(r <= self.width(), "{r} of {} components", self.width());
        let par = Par::rayon(0);
        let model = self.stack.block(self.block);
        let mut g = match &self.bias_part {
            Some(b) => b.clone(),
            None => Array2::zeros((self.x.nrows(), self.width())),
        };
        linalg::gemm(
            g.view_mut(),
            true,
            self.coefficients.slice(s![.., ..r]),
            self.u.slice(s![..r, ..]),
            1.0,
            par,
        );
        let mut out = linalg::matmul(g.view(), model.layer().p().t(), par);
        if let Some(l) = model.linear() {
            linalg::gemm(out.view_mut(), true, self.x.view(), l.t(), 1.0, par);
        }
        if self.block + 1 < self.stack.len() {
            self.stack.run_from(out.view(), self.block + 1)
        } else {
            out
        }
    }
}

/// `Σ_{j<k} λ_{s,j} (v_{s,j}ᵀ x)²` for every image and component `s`, the top `k` eigenvectors
/// (by `|λ|`) of each `Q(u_s)`: `[n, components]`.
fn top_eigen_coefficients(
    tensor: &BilinearLayer<f64>,
    directions: ArrayView2<'_, f64>,
    x: ArrayView2<'_, f64>,
    k: usize,
) -> Result<Array2<f64>> {
    let d = tensor.d_in();
    let k = k.min(d);
    let dec = decompose(
        tensor,
        directions,
        None,
        &DecomposeParams {
            k: Some(k),
            method: Method::Full,
            ..DecomposeParams::default()
        },
    )?;
    let Some(vectors) = dec.eigenvectors else {
        unreachable!("eigenvectors were requested")
    };
    let components = directions.nrows();
    let Ok(flat) = vectors
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((components * k, d))
    else {
        unreachable!("a decomposition's eigenvectors are [outputs, k, d]")
    };
    let mut out = Array2::zeros((x.nrows(), components));
    for start in (0..x.nrows()).step_by(CHUNK) {
        let end = (start + CHUNK).min(x.nrows());
        let proj = linalg::matmul(x.slice(s![start..end, ..]), flat.t(), Par::rayon(0));
        Zip::from(out.slice_mut(s![start..end, ..]).rows_mut())
            .and(proj.rows())
            .par_for_each(|mut row, p| {
                for (c, value) in row.iter_mut().enumerate() {
                    let lambda = dec.eigenvalues.row(c);
                    *value = (0..k).map(|j| lambda[j] * p[c * k + j].powi(2)).sum();
                }
            });
    }
    Ok(out)
}

/// Writes `bottleneck.csv`, `bottleneck.json` and the figure `bottleneck.{png,svg}` into
/// `out`; returns the paths (CSV, JSON, PNG).
pub fn write(b: &Bottleneck, out: &Path, model_label: &str) -> Result<Vec<PathBuf>> {
    ensure_dir(out)?;
    let header: Vec<String> = [
        "block",
        "components",
        "eigenvectors",
        "accuracy",
        "correct",
        "total",
        "norm_kept",
        "same_as_model",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let k = b
        .eigenvectors
        .map_or_else(|| "all".to_string(), |k| k.to_string());
    let mut rows = Vec::new();
    for block in &b.blocks {
        for (j, &r) in block.ranks.iter().enumerate() {
            rows.push(vec![
                block.block.to_string(),
                r.to_string(),
                k.clone(),
                num(block.accuracy(j, b.n)),
                block.correct[j].to_string(),
                b.n.to_string(),
                num(block.norm_kept[j]),
                block.same_as_model[j].to_string(),
            ]);
        }
    }
    let csv = out.join("bottleneck.csv");
    write_csv(&csv, &header, &rows)?;

    let per_block: Vec<serde_json::Value> = b
        .blocks
        .iter()
        .map(|block| {
            json!({
                "block": block.block,
                "width": block.width,
                "rank": block.rank,
                "components": block.ranks,
                "accuracy": (0..block.ranks.len()).map(|j| block.accuracy(j, b.n)).collect::<Vec<_>>(),
                "norm_kept": block.norm_kept,
                "same_as_model": block.same_as_model,
            })
        })
        .collect();
    let json_path = out.join("bottleneck.json");
    write_json(
        &json_path,
        &json!({
            "model": model_label,
            "test_images": b.n,
            "model_accuracy": b.model_accuracy(),
            "model_correct": b.model_correct,
            "eigenvectors_per_component": b.eigenvectors,
            "truncation": "block i's tensor (W_i x) ⊙ (V_i x) on its hidden stream replaced by its top-S HOSVD components (each by its top-k eigenvectors by |λ| when eigenvectors_per_component is set); biases' linear terms, the residual and the other blocks kept whole",
            "blocks": per_block,
            "seconds": b.seconds,
            "bilens_version": env!("CARGO_PKG_VERSION"),
        }),
    )?;
    let png = draw(b, &out.join("bottleneck"))?;
    Ok(vec![csv, json_path, png])
}

/// The figure: accuracy against the components kept, one line per block, the model dashed.
fn draw(b: &Bottleneck, stem: &Path) -> Result<PathBuf> {
    let xs: Vec<Array1<f64>> = b
        .blocks
        .iter()
        .map(|block| block.ranks.iter().map(|&r| r as f64).collect())
        .collect();
    let ys: Vec<Array1<f64>> = b
        .blocks
        .iter()
        .map(|block| {
            (0..block.ranks.len())
                .map(|j| 100.0 * block.accuracy(j, b.n))
                .collect()
        })
        .collect();
    let names: Vec<String> = b
        .blocks
        .iter()
        .map(|block| format!("block {}", block.block))
        .collect();
    let series: Vec<Series<'_, f64>> = xs
        .iter()
        .zip(&ys)
        .zip(&names)
        .map(|((x, y), name)| Series {
            name,
            x: x.view(),
            y: y.view(),
        })
        .collect();
    let reference_name = format!("full model ({:.2}%)", 100.0 * b.model_accuracy());
    let title = match b.eigenvectors {
        None => "Accuracy with one block truncated to S HOSVD components".to_string(),
        Some(k) => format!(
            "Accuracy with one block truncated to S HOSVD components, {k} eigenvector{} each",
            if k == 1 { "" } else { "s" }
        ),
    };
    let mut chart = LineChart::new(
        &title,
        "HOSVD components kept in that block (S)",
        "test accuracy (%)",
        &series,
    );
    chart.reference = Some(Reference {
        name: &reference_name,
        y: 100.0 * b.model_accuracy(),
    });
    // Fitted to the curves, not 0-100: removing one block of a residual network costs a few
    // points, which a full-scale axis would flatten into one line.
    chart.y_range = None;
    let fig = line_chart(stem, &chart)?;
    Ok(fig.png)
}

#[cfg(test)]
mod tests {
    use super::default_ranks;

    #[test]
    fn the_default_ladder_doubles_up_to_the_width() {
        assert_eq!(default_ranks(1), vec![0, 1]);
        assert_eq!(default_ranks(10), vec![0, 1, 2, 4, 8, 10]);
        assert_eq!(
            default_ranks(256),
            vec![0, 1, 2, 4, 8, 16, 32, 64, 128, 256]
        );
    }
}
