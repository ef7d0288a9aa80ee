//! A convolution as one matrix product: the geometry of a convolution over a batch of images,
//! and the patch matrix ("im2col") whose product with the flattened kernels is the
//! convolution at every output position of every image.

use bilens_decomp::Real;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::config::ConvShape;
use crate::error::{Result, TrainError};

/// A convolution of a kernel over images of a fixed size: PyTorch's `Conv2d` with dilation 1,
/// zero padding on all four sides and the same stride along rows and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Channels of the input images.
    pub in_channels: usize,
    /// Input rows `H`.
    pub height: usize,
    /// Input columns `W`.
    pub width: usize,
    /// The kernel, its stride and padding.
    pub shape: ConvShape,
}

impl Geometry {
    /// The geometry of `shape` over `in_channels × height × width` images.
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] when the kernel or stride is 0, or the kernel is larger
    /// than the padded image (no output position).
    pub(crate) fn new(
        shape: ConvShape,
        in_channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Self> {
        let bad = |option: &'static str, value: usize, reason: String| {
            Err(TrainError::InvalidConfig {
                option,
                value: value.to_string(),
                reason,
            })
        };
        if shape.kernel == 0 {
            return bad("kernel", 0, "a kernel has at least one pixel".into());
        }
        if shape.stride == 0 {
            return bad("stride", 0, "the stride must be at least 1".into());
        }
        let (padded_h, padded_w) = (height + 2 * shape.padding, width + 2 * shape.padding);
        if shape.kernel > padded_h.min(padded_w) {
            return bad(
                "kernel",
                shape.kernel,
                format!(
                    "larger than the {height}×{width} images padded by {} ({padded_h}×{padded_w}); \
                     use a kernel of at most {} or more padding",
                    shape.padding,
                    padded_h.min(padded_w)
                ),
            );
        }
        Ok(Self {
            in_channels,
            height,
            width,
            shape,
        })
    }

    /// Output rows `H' = ⌊(H + 2p − k) / s⌋ + 1`.
    pub(crate) fn out_height(&self) -> usize {
        (self.height + 2 * self.shape.padding - self.shape.kernel) / self.shape.stride + 1
    }

    /// Output columns `W' = ⌊(W + 2p − k) / s⌋ + 1`.
    pub(crate) fn out_width(&self) -> usize {
        (self.width + 2 * self.shape.padding - self.shape.kernel) / self.shape.stride + 1
    }

    /// Output positions per channel, `P = H' W'`.
    pub(crate) fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Weights of one kernel, `c_in k²`: the columns of the patch matrix.
    pub(crate) fn patch_len(&self) -> usize {
        self.in_channels * self.shape.kernel * self.shape.kernel
    }

    /// Values of one input image, `c_in H W`.
    pub(crate) fn d_input(&self) -> usize {
        self.in_channels * self.height * self.width
    }
}

/// Images per rayon task: a few hundred patch rows each.
const IMAGES_PER_TASK: usize = 4;

/// Writes the patches of the images `x: [n, c_in H W]` (each flattened as (channel, row,
/// column)) into `cols: [n P, c_in k²]`: row `b P + i W' + j` is the receptive field of output
/// position `(i, j)` of image `b`, column `(c k + u) k + v` holding
/// `x[b, c, i s + u − p, j s + v − p]`, or 0 where that falls into the padding. The columns
/// follow PyTorch's `[c_out, c_in, k, k]` kernel storage, so `cols · Kᵀ` is the convolution
/// with the kernels `K: [c_out, c_in k²]`. Parallel over images; every entry is written.
///
/// # Panics
/// If the shapes disagree with `g` or `cols` is not row-major contiguous.
#[track_caller]
pub(crate) fn im2col<T: Real>(x: ArrayView2<'_, T>, g: &Geometry, cols: ArrayViewMut2<'_, T>) {
    let n = x.nrows();
    let (k, s, p) = (g.shape.kernel, g.shape.stride, g.shape.padding);
    let (oh, ow, len) = (g.out_height(), g.out_width(), g.patch_len());
    assert_eq!(x.ncols(), g.d_input(), "im2col: x must be [n, c_in H W]");
    assert_eq!(
        cols.dim(),
        (n * oh * ow, len),
        "im2col: cols must be [n P, c_in k²]"
    );
    let cols = cols
        .into_slice()
        .expect("patch buffers are row-major contiguous");
    let per_image = oh * ow * len;
    cols.par_chunks_mut(per_image * IMAGES_PER_TASK)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (b, out) in chunk.chunks_exact_mut(per_image).enumerate() {
                let image = x.row(task * IMAGES_PER_TASK + b);
                for (pos, row) in out.chunks_exact_mut(len).enumerate() {
                    let (i, j) = (pos / ow, pos % ow);
                    for (c, channel) in row.chunks_exact_mut(k * k).enumerate() {
                        for (u, kernel_row) in channel.chunks_exact_mut(k).enumerate() {
                            // Input row y = i s + u − p, column x = j s + v − p.
                            let y = (i * s + u).checked_sub(p).filter(|&y| y < g.height);
                            for (v, o) in kernel_row.iter_mut().enumerate() {
                                let col = (j * s + v).checked_sub(p).filter(|&x| x < g.width);
                                *o = match (y, col) {
                                    (Some(y), Some(col)) => {
                                        image[(c * g.height + y) * g.width + col]
                                    }
                                    _ => T::zero(),
                                };
                            }
                        }
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn geometry(
        c: usize,
        h: usize,
        w: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Geometry {
        Geometry::new(
            ConvShape {
                kernel,
                stride,
                padding,
            },
            c,
            h,
            w,
        )
        .unwrap()
    }

    /// Output sizes follow PyTorch's formula, flooring when the stride does not divide.
    #[test]
    fn output_sizes_follow_the_conv2d_formula() {
        let g = geometry(1, 28, 28, 5, 2, 2);
        assert_eq!(
            (g.out_height(), g.out_width(), g.positions()),
            (14, 14, 196)
        );
        let g = geometry(1, 28, 28, 5, 1, 0);
        assert_eq!((g.out_height(), g.out_width()), (24, 24));
        // (7 + 0 - 3) / 2 + 1 = 3: the last column is never a patch's start.
        let g = geometry(2, 6, 7, 3, 2, 0);
        assert_eq!((g.out_height(), g.out_width(), g.patch_len()), (2, 3, 18));
        let g = geometry(1, 4, 4, 6, 1, 1);
        assert_eq!(g.positions(), 1);
    }

    #[test]
    fn impossible_geometries_are_named_errors() {
        let shape = |kernel, stride, padding| ConvShape {
            kernel,
            stride,
            padding,
        };
        let e = Geometry::new(shape(0, 1, 0), 1, 28, 28)
            .unwrap_err()
            .to_string();
        assert!(e.contains("kernel = 0"), "{e}");
        let e = Geometry::new(shape(3, 0, 1), 1, 28, 28)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stride = 0"), "{e}");
        let e = Geometry::new(shape(9, 1, 1), 1, 6, 8)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kernel = 9") && e.contains("6×8") && e.contains("8×10"),
            "{e}"
        );
    }

    /// Every entry of the patch matrix against the definition, written as an independent
    /// loop over output positions, with padding, a stride that does not divide the image and
    /// two channels.
    #[test]
    fn patches_are_the_receptive_fields() {
        let g = geometry(2, 5, 6, 3, 2, 1);
        let n = 6;
        let x = Array2::from_shape_fn((n, g.d_input()), |(b, f)| (b * 1000 + f) as f64);
        let mut cols = Array2::from_elem((n * g.positions(), g.patch_len()), f64::NAN);
        im2col(x.view(), &g, cols.view_mut());
        let (oh, ow) = (g.out_height(), g.out_width());
        assert_eq!((oh, ow), (3, 3));
        for b in 0..n {
            for i in 0..oh {
                for j in 0..ow {
                    for c in 0..2 {
                        for u in 0..3 {
                            for v in 0..3 {
                                let (y, xx) = (2 * i + u, 2 * j + v);
                                let want = if (1..=5).contains(&y) && (1..=6).contains(&xx) {
                                    x[[b, c * 30 + (y - 1) * 6 + (xx - 1)]]
                                } else {
                                    0.0
                                };
                                let got = cols[[b * 9 + i * 3 + j, (c * 3 + u) * 3 + v]];
                                assert_eq!(
                                    got, want,
                                    "image {b} position ({i}, {j}) c {c} ({u}, {v})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
