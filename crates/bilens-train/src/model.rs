//! The paper's image classifier: its parameters, their initialisation and the forward pass.
//!
//! Everything is batch-major (`[n, features]`, row-major) so that each layer is one GEMM over
//! the whole batch and the weights keep PyTorch's `[out, in]` storage: `x_0 = X Eᵀ`,
//! `[A_i | B_i] = x_i [W_i; V_i]ᵀ`, `x_{i+1} = A_i ⊙ B_i (+ x_i)`, `logits = x_L Hᵀ`: the
//! public code's `n_layer` blocks on one stream of width `h`.

use bilens_decomp::linalg::gemm;
use bilens_decomp::{Par, Real};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use rand::Rng;
use rayon::prelude::*;

use crate::grad::{Backward, loss_and_grad};
use crate::network::Network;

/// The weight matrices, in PyTorch's `[out_features, in_features]` layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Params<T> {
    /// Embedding `E: [h, d_input]`.
    pub embed: Array2<T>,
    /// The fused bilinear blocks `[W_i; V_i]: [2h, h]`, in the order the stream passes them:
    /// rows `0..h` are W (left), `h..2h` V (right).
    pub blocks: Vec<Array2<T>>,
    /// Head `H: [d_output, h]`.
    pub head: Array2<T>,
    /// Whether each block adds its input back, `x_{i+1} = x_i + g_i(x_i)`.
    pub residual: bool,
}

/// A `[rows, cols]` weight drawn as PyTorch initialises `nn.Linear` and `nn.Conv2d`: uniform
/// in `±1/√cols` (its Kaiming-uniform with `a = √5`, `cols` being the fan-in), row by row.
pub(crate) fn fan_in_uniform<T: Real>(rng: &mut impl Rng, rows: usize, cols: usize) -> Array2<T> {
    let bound = 1.0 / (cols as f64).sqrt();
    Array2::from_shape_simple_fn((rows, cols), || T::of_f64(rng.random_range(-bound..bound)))
}

impl<T: Real> Params<T> {
    /// Draws every weight like PyTorch's `nn.Linear` does ([`fan_in_uniform`]), in the order
    /// embed, blocks, head (the public code's module order), for `layers` blocks.
    pub(crate) fn init(
        rng: &mut impl Rng,
        d_input: usize,
        width: usize,
        layers: usize,
        d_output: usize,
        residual: bool,
    ) -> Self {
        let embed = fan_in_uniform(rng, width, d_input);
        let blocks = (0..layers)
            .map(|_| fan_in_uniform(rng, 2 * width, width))
            .collect();
        let head = fan_in_uniform(rng, d_output, width);
        Self {
            embed,
            blocks,
            head,
            residual,
        }
    }

    /// Hidden width `h`.
    pub(crate) fn width(&self) -> usize {
        self.embed.nrows()
    }

    /// Number of bilinear blocks.
    pub(crate) fn layers(&self) -> usize {
        self.blocks.len()
    }

    /// The tensors in a fixed order: embed, the blocks, head.
    fn tensors(&self) -> impl Iterator<Item = &Array2<T>> {
        std::iter::once(&self.embed)
            .chain(&self.blocks)
            .chain(std::iter::once(&self.head))
    }
}

/// The forward and backward buffers of the MLP.
#[derive(Debug)]
pub struct MlpWork<T> {
    acts: Activations<T>,
    bw: Backward<T>,
}

impl<T: Real> Network<T> for Params<T> {
    type Work = MlpWork<T>;

    fn work(&self, capacity: usize) -> MlpWork<T> {
        MlpWork {
            acts: Activations::new(capacity, self.width(), self.layers(), self.d_output()),
            bw: Backward::new(capacity, self.width(), self.d_output()),
        }
    }

    /// 784 for MNIST.
    fn d_input(&self) -> usize {
        self.embed.ncols()
    }

    fn d_output(&self) -> usize {
        self.head.nrows()
    }

    fn logits<'w>(
        &self,
        x: ArrayView2<'_, T>,
        work: &'w mut MlpWork<T>,
        par: Par,
    ) -> ArrayView2<'w, T> {
        forward(self, x, &mut work.acts, par);
        work.acts.logits.slice(s![..x.nrows(), ..])
    }

    fn loss_and_grad(
        &self,
        x: ArrayView2<'_, T>,
        labels: &[u8],
        work: &mut MlpWork<T>,
        grads: &mut Self,
        par: Par,
    ) -> (f64, usize) {
        loss_and_grad(self, x, labels, &mut work.acts, &mut work.bw, grads, par)
    }

    fn zeros_like(&self) -> Self {
        Self {
            embed: Array2::zeros(self.embed.dim()),
            blocks: self.blocks.iter().map(|b| Array2::zeros(b.dim())).collect(),
            head: Array2::zeros(self.head.dim()),
            residual: self.residual,
        }
    }

    /// Embed, the blocks, head.
    fn slices(&self) -> Vec<&[T]> {
        self.tensors()
            .map(|t| t.as_slice().expect("parameters are standard layout"))
            .collect()
    }

    fn slices_mut(&mut self) -> Vec<&mut [T]> {
        std::iter::once(&mut self.embed)
            .chain(&mut self.blocks)
            .chain(std::iter::once(&mut self.head))
            .map(|t| t.as_slice_mut().expect("parameters are standard layout"))
            .collect()
    }
}

/// Forward-pass buffers for up to `capacity` rows, allocated once per run so that the training
/// loop allocates nothing. A pass over `n <= capacity` rows uses the leading `n` rows of each,
/// which are themselves contiguous row-major matrices (zero-copy GEMM operands).
#[derive(Clone, Debug)]
pub(crate) struct Activations<T> {
    /// The stream `x_0 = X Eᵀ`, `x_1`, ..., `x_L`, each `[cap, h]`: block `i` reads `x[i]`
    /// and writes `x[i + 1] = A_i ⊙ B_i (+ x_i)`.
    pub x: Vec<Array2<T>>,
    /// `[A_i | B_i] = x_i [W_i; V_i]ᵀ` per block, `[cap, 2h]`: `A = W x` in columns `0..h`,
    /// `B = V x` in `h..2h`.
    pub ab: Vec<Array2<T>>,
    /// `logits = x_L Hᵀ`, `[cap, d_output]`.
    pub logits: Array2<T>,
}

impl<T: Real> Activations<T> {
    /// Buffers for batches of up to `capacity` rows through `layers` blocks.
    pub(crate) fn new(capacity: usize, width: usize, layers: usize, d_output: usize) -> Self {
        Self {
            x: (0..=layers)
                .map(|_| Array2::zeros((capacity, width)))
                .collect(),
            ab: (0..layers)
                .map(|_| Array2::zeros((capacity, 2 * width)))
                .collect(),
            logits: Array2::zeros((capacity, d_output)),
        }
    }

    /// Largest batch these buffers hold.
    pub(crate) fn capacity(&self) -> usize {
        self.x[0].nrows()
    }
}

/// The forward pass over a batch `x: [n, d_input]`, leaving every intermediate in the leading
/// `n` rows of `acts` (the backward pass reads them). `2 + L` GEMMs:
/// `2 n h (d_input + 2 L h + c)` flops for `L` blocks.
///
/// # Panics
/// If `x` does not match the model or holds more rows than the buffers.
#[track_caller]
pub(crate) fn forward<T: Real>(
    p: &Params<T>,
    x: ArrayView2<'_, T>,
    acts: &mut Activations<T>,
    par: Par,
) {
    let n = x.nrows();
    assert_eq!(x.ncols(), p.d_input(), "forward: x must be [n, d_input]");
    assert!(n <= acts.capacity(), "forward: batch exceeds the buffers");
    assert_eq!(
        acts.ab.len(),
        p.layers(),
        "forward: buffers for another depth"
    );
    let one = T::one();
    gemm(
        acts.x[0].slice_mut(s![..n, ..]),
        false,
        x,
        p.embed.t(),
        one,
        par,
    );
    for (i, block) in p.blocks.iter().enumerate() {
        let (before, after) = acts.x.split_at_mut(i + 1);
        let input = before[i].slice(s![..n, ..]);
        gemm(
            acts.ab[i].slice_mut(s![..n, ..]),
            false,
            input,
            block.t(),
            one,
            par,
        );
        bilinear_product(
            acts.ab[i].slice(s![..n, ..]),
            p.residual.then_some(input),
            after[0].slice_mut(s![..n, ..]),
        );
    }
    gemm(
        acts.logits.slice_mut(s![..n, ..]),
        false,
        acts.x[p.layers()].slice(s![..n, ..]),
        p.head.t(),
        one,
        par,
    );
}

/// Rows per rayon task in the elementwise passes: ~64k elements, enough to amortise the task.
pub(crate) const ROWS_PER_TASK: usize = 64;

/// `z = A ⊙ B (+ e)` for `ab = [A | B]` (`[n, 2h]`, `z: [n, h]`), parallel over blocks of
/// rows, each a vectorisable zip over contiguous slices. Elementwise, so the result does not
/// depend on the split.
pub(crate) fn bilinear_product<T: Real>(
    ab: ArrayView2<'_, T>,
    e: Option<ArrayView2<'_, T>>,
    z: ArrayViewMut2<'_, T>,
) {
    let h = z.ncols();
    let ab = ab.to_slice().expect("buffers are row-major contiguous");
    let z = z.into_slice().expect("buffers are row-major contiguous");
    let e = e.map(|e| e.to_slice().expect("buffers are row-major contiguous"));
    let tasks = z
        .par_chunks_mut(h * ROWS_PER_TASK)
        .zip(ab.par_chunks(2 * h * ROWS_PER_TASK));
    tasks.enumerate().for_each(|(t, (z, ab))| {
        let rows = z.chunks_exact_mut(h).zip(ab.chunks_exact(2 * h));
        match e {
            Some(e) => {
                let e = &e[t * h * ROWS_PER_TASK..];
                for ((z, ab), e) in rows.zip(e.chunks_exact(h)) {
                    let (a, b) = ab.split_at(h);
                    for (((z, &a), &b), &e) in z.iter_mut().zip(a).zip(b).zip(e) {
                        *z = a * b + e;
                    }
                }
            }
            None => {
                for (z, ab) in rows {
                    let (a, b) = ab.split_at(h);
                    for ((z, &a), &b) in z.iter_mut().zip(a).zip(b) {
                        *z = a * b;
                    }
                }
            }
        }
    });
}

/// Mean softmax cross-entropy of `logits: [n, c]` against `labels`, the number of rows whose
/// arg-max (first on ties, like `torch.argmax`) is the label, and, when `dlogits` is given, the
/// gradient of the mean loss, `(softmax(logits) − onehot(label)) / n`.
///
/// The loss is accumulated in f64 so that a 10 000-image evaluation in f32 is not dominated by
/// summation error.
///
/// # Panics
/// If a label is not below `c` or the shapes disagree.
#[track_caller]
pub(crate) fn cross_entropy<T: Real>(
    logits: ArrayView2<'_, T>,
    labels: &[u8],
    dlogits: Option<ArrayViewMut2<'_, T>>,
) -> (f64, usize) {
    let (n, c) = logits.dim();
    assert_eq!(labels.len(), n, "cross_entropy: one label per row");
    let logits = logits.to_slice().expect("buffers are row-major contiguous");
    let mut dl = dlogits.map(|d| {
        assert_eq!(d.dim(), (n, c), "cross_entropy: dlogits shape");
        d.into_slice().expect("buffers are row-major contiguous")
    });
    let inv_n = T::of_f64(1.0 / n as f64);
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (r, (row, &y)) in logits.chunks_exact(c).zip(labels).enumerate() {
        let y = usize::from(y);
        assert!(y < c, "cross_entropy: label {y} is not below {c} classes");
        let (mut best, mut max) = (0, row[0]);
        for (j, &v) in row.iter().enumerate().skip(1) {
            if v > max {
                (best, max) = (j, v);
            }
        }
        correct += usize::from(best == y);
        let sum: T = row.iter().map(|&v| (v - max).exp()).sum();
        loss += (sum.ln() + max - row[y]).as_f64();
        if let Some(dl) = dl.as_deref_mut() {
            let out = &mut dl[r * c..(r + 1) * c];
            let inv_sum = T::one() / sum;
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (v - max).exp() * inv_sum * inv_n;
            }
            out[y] -= inv_n;
        }
    }
    (loss / n as f64, correct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn init_follows_nn_linear_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let p = Params::<f64>::init(&mut rng, 100, 25, 2, 10, false);
        assert_eq!(p.embed.dim(), (25, 100));
        assert_eq!(p.blocks.len(), 2);
        assert_eq!(p.blocks[1].dim(), (50, 25));
        assert_eq!(p.head.dim(), (10, 25));
        assert!(p.embed.iter().all(|x| x.abs() < 0.1));
        assert!(p.blocks.iter().flatten().all(|x| x.abs() < 0.2));
        // Roughly uniform: the largest draw is near the bound.
        assert!(p.embed.iter().any(|x| x.abs() > 0.09));
    }

    #[test]
    fn forward_matches_the_definition() {
        let mut p = Params {
            embed: array![[1.0f64, 0.0, 2.0], [0.0, 1.0, -1.0]],
            blocks: vec![array![[1.0, 1.0], [2.0, 0.0], [1.0, -1.0], [0.0, 3.0]]],
            head: array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
            residual: false,
        };
        let x = array![[1.0, 2.0, 3.0]];
        // e = (7, -1); a = (6, 14); b = (8, -3); g = (48, -42).
        let mut acts = Activations::new(1, 2, 1, 3);
        forward(&p, x.view(), &mut acts, Par::Seq);
        assert_eq!(acts.logits, array![[48.0, -42.0, 6.0]]);
        p.residual = true;
        forward(&p, x.view(), &mut acts, Par::Seq);
        assert_eq!(acts.logits, array![[55.0, -43.0, 12.0]]);
        // A second block [[1, 0], [0, 1]; [1, 0], [0, 0]] squares the first coordinate of the
        // stream and zeroes the second: from g = (48, -42), x_2 = (2304, 0), and with the
        // residual path from x_1 = (55, -43), x_2 = (55 + 3025, -43).
        let mut deep = Params {
            residual: false,
            ..p.clone()
        };
        deep.blocks
            .push(array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]);
        let mut acts = Activations::new(1, 2, 2, 3);
        forward(&deep, x.view(), &mut acts, Par::Seq);
        assert_eq!(acts.logits, array![[2304.0, 0.0, 2304.0]]);
        deep.residual = true;
        forward(&deep, x.view(), &mut acts, Par::Seq);
        assert_eq!(acts.logits, array![[3080.0, -43.0, 3037.0]]);
    }

    #[test]
    fn cross_entropy_of_known_logits() {
        let logits = array![[0.0f64, 0.0], [2.0f64.ln(), 0.0]];
        let mut d = Array2::zeros((2, 2));
        let (loss, correct) = cross_entropy(logits.view(), &[1, 0], Some(d.view_mut()));
        // Row 0: p = (1/2, 1/2), label 1 -> ln 2; tie goes to class 0, so wrong.
        // Row 1: p = (2/3, 1/3), label 0 -> ln 1.5; right.
        assert!((loss - (2f64.ln() + 1.5f64.ln()) / 2.0).abs() < 1e-15);
        assert_eq!(correct, 1);
        let want = array![[0.25, -0.25], [(2.0 / 3.0 - 1.0) / 2.0, 1.0 / 6.0]];
        assert!((&d - &want).iter().all(|x| x.abs() < 1e-15));
    }
}
