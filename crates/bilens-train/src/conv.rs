//! The bilinear CNN: one bilinear convolution and a linear head, as the public bilinear-conv
//! code's `CNNModel` builds it (a fused `Conv2d` of `2h` output channels whose first `h` are
//! `conv_a`, no bias, then a `Linear` over the flattened features):
//!
//! ```text
//! a = conv(K_a, x),  b = conv(K_b, x)     K_a, K_b: [h, c_in, k, k];  a, b: [h, H', W']
//! g = a ⊙ b                               [h, H', W']
//! logits = R vec(g)                       R: [classes, h H' W'] over (channel, row, column)
//! ```
//!
//! ## As GEMMs (im2col)
//!
//! With `P = H' W'` positions, `C = im2col(X)` ([`im2col`]) holds each image's receptive
//! fields as rows, and `K = [K_a; K_b]` is the fused kernel flattened to `[2h, c_in k²]`:
//!
//! ```text
//! [A | B] = C Kᵀ                   [n P, 2h]   the two convolutions at every position
//! G       = A ⊙ B                  [n P, h]  = [n, P h] position-major features
//! logits  = G R̃ᵀ                   [n, c]      R̃: R with its columns in (position, channel) order
//!
//! dlogits   = (softmax(logits) − onehot(y)) / n
//! dR̃        = dlogitsᵀ G           [c, P h]
//! dG        = dlogits R̃            [n, P h]  = [n P, h]
//! [dA | dB] = [dG ⊙ B | dG ⊙ A]    [n P, 2h]
//! dK        = [dA | dB]ᵀ C         [2h, c_in k²]
//! ```
//!
//! Keeping the head in position-major order internally (`R̃`) makes `G` a plain reshape of the
//! GEMM's output, with no transpose per image; [`to_channel_major`] and [`to_position_major`]
//! convert at the checkpoint boundary. AdamW and the initialisation act entry by entry, so the
//! internal order changes nothing in training. A step costs `≈ 6 n P (2h c_in k² + h c)` flops
//! (6.5 GFLOP for a batch of 2048 at `h = 32`, `k = 5`, `P = 196`).

use bilens_decomp::linalg::gemm;
use bilens_decomp::{Par, Real};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use rand::Rng;

use crate::grad::bilinear_backward;
use crate::im2col::{Geometry, im2col};
use crate::model::{bilinear_product, cross_entropy, fan_in_uniform};
use crate::network::Network;

/// The weights of the bilinear CNN and the geometry they were made for.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvParams<T> {
    /// The fused kernels `K = [K_a; K_b]: [2h, c_in k²]`, rows `0..h` conv_a, `h..2h` conv_b,
    /// each row a kernel in PyTorch's `(channel, row, column)` order.
    pub(crate) kernels: Array2<T>,
    /// The head `R̃: [classes, P h]` with its columns in (position, channel) order: column
    /// `p h + c` reads channel `c` at position `p`.
    pub(crate) head: Array2<T>,
    /// The convolution's geometry over the input images.
    pub(crate) geometry: Geometry,
}

impl<T: Real> ConvParams<T> {
    /// Draws the weights as PyTorch initialises `Conv2d(c_in, 2h, k)` and
    /// `Linear(h P, classes)` ([`fan_in_uniform`], the head in its public channel-major order),
    /// kernels first.
    pub(crate) fn init(
        rng: &mut impl Rng,
        geometry: Geometry,
        channels: usize,
        d_output: usize,
    ) -> Self {
        let kernels = fan_in_uniform(rng, 2 * channels, geometry.patch_len());
        let head = fan_in_uniform(rng, d_output, channels * geometry.positions());
        Self {
            head: to_position_major(head.view(), channels),
            kernels,
            geometry,
        }
    }

    /// Channels `h` of each of conv_a and conv_b.
    pub(crate) fn channels(&self) -> usize {
        self.kernels.nrows() / 2
    }

    /// The forward pass over `x: [n, c_in H W]`, leaving every intermediate in the leading
    /// rows of `work` (the backward pass reads them). Three GEMMs.
    ///
    /// # Panics
    /// If `x` does not match the model or holds more rows than the buffers.
    #[track_caller]
    fn forward(&self, x: ArrayView2<'_, T>, work: &mut ConvWork<T>, par: Par) {
        let n = x.nrows();
        let rows = n * self.geometry.positions();
        assert!(
            n <= work.logits.nrows(),
            "forward: batch exceeds the buffers"
        );
        let one = T::one();
        im2col(x, &self.geometry, work.cols.slice_mut(s![..rows, ..]));
        gemm(
            work.ab.slice_mut(s![..rows, ..]),
            false,
            work.cols.slice(s![..rows, ..]),
            self.kernels.t(),
            one,
            par,
        );
        bilinear_product(
            work.ab.slice(s![..rows, ..]),
            None,
            work.g.slice_mut(s![..rows, ..]),
        );
        gemm(
            work.logits.slice_mut(s![..n, ..]),
            false,
            per_image(&work.g, n, self.geometry.positions()),
            self.head.t(),
            one,
            par,
        );
    }
}

/// A head over channel-major features (`[classes, h P]`, column `c P + p`, the checkpoint's
/// order) reordered to position-major (`[classes, P h]`, column `p h + c`).
pub(crate) fn to_position_major<T: Real>(head: ArrayView2<'_, T>, channels: usize) -> Array2<T> {
    reorder(head, channels, head.ncols() / channels)
}

/// The inverse of [`to_position_major`]: a position-major head back in the checkpoint's
/// channel-major order.
pub(crate) fn to_channel_major<T: Real>(head: ArrayView2<'_, T>, channels: usize) -> Array2<T> {
    reorder(head, head.ncols() / channels, channels)
}

/// Transposes the `[outer, inner]` blocks of every row: column `o · inner + i` moves to
/// `i · outer + o`.
fn reorder<T: Real>(head: ArrayView2<'_, T>, outer: usize, inner: usize) -> Array2<T> {
    let rows = head.nrows();
    let split = head
        .into_shape_with_order((rows, outer, inner))
        .expect("the head's width is channels × positions");
    let swapped = split
        .permuted_axes([0, 2, 1])
        .as_standard_layout()
        .into_owned();
    swapped
        .into_shape_with_order((rows, outer * inner))
        .expect("a standard-layout array reshapes")
}

/// The leading `n` images' rows of a `[cap P, h]` buffer as `[n, P h]` (the same contiguous
/// memory: one image's features per row, position-major).
fn per_image<T: Real>(buffer: &Array2<T>, n: usize, positions: usize) -> ArrayView2<'_, T> {
    let width = positions * buffer.ncols();
    let flat = buffer.as_slice().expect("buffers are row-major contiguous");
    ArrayView2::from_shape((n, width), &flat[..n * width]).expect("n images fit the buffer")
}

/// [`per_image`], mutable.
fn per_image_mut<T: Real>(
    buffer: &mut Array2<T>,
    n: usize,
    positions: usize,
) -> ArrayViewMut2<'_, T> {
    let width = positions * buffer.ncols();
    let flat = buffer
        .as_slice_mut()
        .expect("buffers are row-major contiguous");
    ArrayViewMut2::from_shape((n, width), &mut flat[..n * width]).expect("n images fit the buffer")
}

/// Forward and backward buffers of the bilinear CNN for up to `cap` images (`P` positions,
/// `h` channels, `c` classes), allocated once per run; a pass over `n` images uses the leading
/// `n P` (or `n`) rows of each.
#[derive(Debug)]
pub struct ConvWork<T> {
    /// The patch matrix `C`, `[cap P, c_in k²]`.
    cols: Array2<T>,
    /// `[A | B]`, `[cap P, 2h]`.
    ab: Array2<T>,
    /// `G = A ⊙ B`, `[cap P, h]`.
    g: Array2<T>,
    /// `[cap, c]`.
    logits: Array2<T>,
    /// `∂L/∂logits`, `[cap, c]`.
    dlogits: Array2<T>,
    /// `dG`, `[cap P, h]`.
    dg: Array2<T>,
    /// `[dA | dB]`, `[cap P, 2h]`.
    dab: Array2<T>,
}

impl<T: Real> Network<T> for ConvParams<T> {
    type Work = ConvWork<T>;

    fn work(&self, capacity: usize) -> ConvWork<T> {
        let (rows, h, c) = (
            capacity * self.geometry.positions(),
            self.channels(),
            self.d_output(),
        );
        ConvWork {
            cols: Array2::zeros((rows, self.geometry.patch_len())),
            ab: Array2::zeros((rows, 2 * h)),
            g: Array2::zeros((rows, h)),
            logits: Array2::zeros((capacity, c)),
            dlogits: Array2::zeros((capacity, c)),
            dg: Array2::zeros((rows, h)),
            dab: Array2::zeros((rows, 2 * h)),
        }
    }

    fn d_input(&self) -> usize {
        self.geometry.d_input()
    }

    fn d_output(&self) -> usize {
        self.head.nrows()
    }

    fn logits<'w>(
        &self,
        x: ArrayView2<'_, T>,
        work: &'w mut ConvWork<T>,
        par: Par,
    ) -> ArrayView2<'w, T> {
        self.forward(x, work, par);
        work.logits.slice(s![..x.nrows(), ..])
    }

    fn loss_and_grad(
        &self,
        x: ArrayView2<'_, T>,
        labels: &[u8],
        work: &mut ConvWork<T>,
        grads: &mut Self,
        par: Par,
    ) -> (f64, usize) {
        let (n, positions) = (x.nrows(), self.geometry.positions());
        let rows = n * positions;
        self.forward(x, work, par);
        let (loss, correct) = cross_entropy(
            work.logits.slice(s![..n, ..]),
            labels,
            Some(work.dlogits.slice_mut(s![..n, ..])),
        );
        let dlogits = work.dlogits.slice(s![..n, ..]);
        let one = T::one();
        gemm(
            grads.head.view_mut(),
            false,
            dlogits.t(),
            per_image(&work.g, n, positions),
            one,
            par,
        );
        gemm(
            per_image_mut(&mut work.dg, n, positions),
            false,
            dlogits,
            self.head.view(),
            one,
            par,
        );
        bilinear_backward(
            work.ab.slice(s![..rows, ..]),
            work.dg.slice(s![..rows, ..]),
            work.dab.slice_mut(s![..rows, ..]),
        );
        gemm(
            grads.kernels.view_mut(),
            false,
            work.dab.slice(s![..rows, ..]).t(),
            work.cols.slice(s![..rows, ..]),
            one,
            par,
        );
        (loss, correct)
    }

    fn zeros_like(&self) -> Self {
        Self {
            kernels: Array2::zeros(self.kernels.dim()),
            head: Array2::zeros(self.head.dim()),
            geometry: self.geometry,
        }
    }

    /// Kernels, head.
    fn slices(&self) -> Vec<&[T]> {
        [&self.kernels, &self.head]
            .into_iter()
            .map(|t| t.as_slice().expect("parameters are standard layout"))
            .collect()
    }

    fn slices_mut(&mut self) -> Vec<&mut [T]> {
        [&mut self.kernels, &mut self.head]
            .into_iter()
            .map(|t| t.as_slice_mut().expect("parameters are standard layout"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConvShape;
    use crate::network::tests::assert_gradients_match;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn random_model(
        seed: u64,
        (c_in, height, width): (usize, usize, usize),
        shape: ConvShape,
        channels: usize,
        classes: usize,
    ) -> ConvParams<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let geometry = Geometry::new(shape, c_in, height, width).unwrap();
        ConvParams::init(&mut rng, geometry, channels, classes)
    }

    /// The logits against the model's definition computed directly, without im2col or the
    /// position-major head: each channel's two convolutions summed pixel by pixel over the
    /// zero-padded image, their product, and the head in the checkpoint's channel-major order.
    #[test]
    fn logits_match_a_direct_convolution() {
        for (dims, shape) in [
            ((1, 6, 6), (3, 1, 1)),
            ((1, 7, 5), (3, 2, 0)),
            ((2, 8, 8), (5, 2, 2)),
            ((1, 5, 5), (5, 1, 0)),
        ] {
            let shape = ConvShape {
                kernel: shape.0,
                stride: shape.1,
                padding: shape.2,
            };
            let (h, c, n) = (3, 4, 5);
            let p = random_model(7, dims, shape, h, c);
            let mut rng = ChaCha8Rng::seed_from_u64(8);
            let x = Array2::from_shape_simple_fn((n, p.d_input()), || rng.random_range(0.0..1.0));
            let mut work = p.work(n);
            let got = p.logits(x.view(), &mut work, Par::Seq).to_owned();

            let (c_in, height, width) = dims;
            let g = p.geometry;
            let (oh, ow, k) = (g.out_height(), g.out_width(), shape.kernel);
            let head = to_channel_major(p.head.view(), h);
            let pixel = |b: usize, ch: usize, y: isize, xx: isize| {
                let inside = (0..height as isize).contains(&y) && (0..width as isize).contains(&xx);
                if inside {
                    x[[b, (ch * height + y as usize) * width + xx as usize]]
                } else {
                    0.0
                }
            };
            for b in 0..n {
                let mut want = vec![0.0; c];
                for o in 0..h {
                    for i in 0..oh {
                        for j in 0..ow {
                            let (mut a, mut bb) = (0.0, 0.0);
                            for ch in 0..c_in {
                                for u in 0..k {
                                    for v in 0..k {
                                        let y = (i * shape.stride + u) as isize
                                            - shape.padding as isize;
                                        let xx = (j * shape.stride + v) as isize
                                            - shape.padding as isize;
                                        let w = (ch * k + u) * k + v;
                                        a += p.kernels[[o, w]] * pixel(b, ch, y, xx);
                                        bb += p.kernels[[h + o, w]] * pixel(b, ch, y, xx);
                                    }
                                }
                            }
                            for (y, want) in want.iter_mut().enumerate() {
                                *want += head[[y, (o * oh + i) * ow + j]] * a * bb;
                            }
                        }
                    }
                }
                for y in 0..c {
                    let err = (got[[b, y]] - want[y]).abs();
                    assert!(
                        err < 1e-12 * want[y].abs().max(1.0),
                        "{dims:?} {shape:?} image {b} class {y}: {} vs {}",
                        got[[b, y]],
                        want[y]
                    );
                }
            }
        }
    }

    /// Every partial derivative against central differences (f64), with padding, a stride
    /// that does not divide the image and two input channels.
    #[test]
    fn gradients_match_central_differences_for_every_parameter() {
        for (seed, dims, shape) in [
            (1, (1, 6, 6), (3, 1, 1)),
            (2, (2, 7, 6), (3, 2, 1)),
            (3, (1, 5, 5), (2, 2, 0)),
        ] {
            let shape = ConvShape {
                kernel: shape.0,
                stride: shape.1,
                padding: shape.2,
            };
            let mut p = random_model(seed, dims, shape, 3, 4);
            // Larger than init scale so the logits are not all near zero.
            p.kernels.mapv_inplace(|w| 3.0 * w);
            p.head.mapv_inplace(|w| 3.0 * w);
            let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
            let x = Array2::from_shape_simple_fn((6, p.d_input()), || rng.random_range(0.0..1.0));
            let labels: Vec<u8> = (0..6).map(|i| (i % 4) as u8).collect();
            assert_gradients_match(&mut p, x.view(), &labels, &format!("{dims:?} {shape:?}"));
        }
    }

    /// The two head orders are inverse permutations, and position-major column `p h + c` is
    /// channel-major column `c P + p`.
    #[test]
    fn head_orders_are_inverse_permutations() {
        let (h, positions) = (3, 4);
        let channel_major =
            Array2::from_shape_fn((2, h * positions), |(r, col)| (r * 100 + col) as f64);
        let position_major = to_position_major(channel_major.view(), h);
        for p in 0..positions {
            for c in 0..h {
                assert_eq!(
                    position_major[[1, p * h + c]],
                    channel_major[[1, c * positions + p]]
                );
            }
        }
        assert_eq!(to_channel_major(position_major.view(), h), channel_major);
    }

    /// A smaller batch in big buffers gives the same gradient as exact-size buffers.
    #[test]
    fn partial_batches_in_large_buffers_give_the_same_gradient() {
        let shape = ConvShape {
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        let p = random_model(4, (1, 6, 6), shape, 2, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let x = Array2::from_shape_simple_fn((5, 36), || rng.random_range(0.0..1.0));
        let labels = [0u8, 1, 2, 1, 0];
        let run = |cap: usize| {
            let mut g = p.zeros_like();
            let out = p.loss_and_grad(x.view(), &labels, &mut p.work(cap), &mut g, Par::Seq);
            (out, g)
        };
        assert_eq!(run(5), run(64));
    }
}
