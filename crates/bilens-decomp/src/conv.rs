//! Bilinear convolutions as bilinear layers (docs/MATH.md section 11).
//!
//! A convolution is linear in its input, so a bilinear convolution `(K_a * x) ⊙ (K_b * x)`
//! followed by a linear read-out is a bilinear layer over the flattened input: the rows of `W`
//! (resp. `V`) are the kernel `K_a[c]` (resp. `K_b[c]`) placed at output position `(c, i, j)`
//! of the input grid, zero elsewhere (the Toeplitz lift, [`lift_conv`]). At one position the
//! layer reads only its receptive field, where the same rows are the kernels themselves
//! ([`kernel_rows`]): the bilinear layer of one patch, whose interaction matrices are the
//! eigenfilters.
//!
//! Layouts are PyTorch's throughout: kernels `[c_out, c_in, k, k]`, an input `[c_in, H, W]`
//! flattened as `(c * H + r) * W + col`, outputs `[c_out, H', W']` flattened the same way
//! (what `Tensor.flatten` gives the linear head), zero padding, square kernels and images.

use ndarray::{Array1, Array2, ArrayView1, ArrayView4};

use crate::scalar::Real;

/// The geometry of one 2-D convolution over a square image: what, with the kernels, fixes the
/// lift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    /// Input channels `c_in`.
    pub in_channels: usize,
    /// Input side `H = W`.
    pub image_size: usize,
    /// Kernel side `k`.
    pub kernel_size: usize,
    /// Step between output positions (PyTorch's `stride`), at least 1.
    pub stride: usize,
    /// Zeros added on each side of the input (PyTorch's `padding`).
    pub padding: usize,
}

impl ConvGeometry {
    /// The output side `H' = (H + 2 padding − k) / stride + 1` (PyTorch's rounding down), or
    /// `None` when the padded image is smaller than the kernel or the stride is 0.
    pub fn output_size(&self) -> Option<usize> {
        let padded = self.image_size + 2 * self.padding;
        (self.stride > 0 && padded >= self.kernel_size)
            .then(|| (padded - self.kernel_size) / self.stride + 1)
    }

    /// Length of the flattened input, `c_in H W`.
    pub fn input_len(&self) -> usize {
        self.in_channels * self.image_size * self.image_size
    }

    /// Length of one flattened receptive field, `c_in k²`.
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_size * self.kernel_size
    }

    /// Output positions per channel, `H' W'` (0 when the geometry has no output).
    pub fn positions(&self) -> usize {
        self.output_size().map_or(0, |s| s * s)
    }

    #[track_caller]
    fn check_kernels<T>(&self, kernels: &ArrayView4<'_, T>) -> usize {
        let [c_out, c_in, kh, kw] = *kernels.shape() else {
            unreachable!("a 4-dimensional view")
        };
        assert!(
            c_in == self.in_channels && kh == self.kernel_size && kw == self.kernel_size,
            "kernels [{c_out}, {c_in}, {kh}, {kw}] do not match the geometry \
             (c_in {}, k {})",
            self.in_channels,
            self.kernel_size
        );
        assert!(
            self.output_size().is_some(),
            "the geometry {self:?} has no output position"
        );
        c_out
    }
}

/// The convolution by `kernels` `[c_out, c_in, k, k]` as a matrix `[c_out H' W', c_in H W]`:
/// row `(c * H' + i) * W' + j` is kernel `c` placed at the input window of output `(i, j)`
/// (rows `i·stride − padding ..`, columns `j·stride − padding ..`), its taps over the zero
/// padding dropped. `lift_conv(K) · vec(x)` equals `vec(conv2d(x, K))`, the lift of
/// docs/MATH.md section 11. Dense: `c_out H'² c_in H²` entries (16 channels over MNIST at
/// `H' = 28` is 12544 × 784, 79 MB in f64).
///
/// # Panics
/// When the kernels are not `[_, c_in, k, k]` of the geometry, or the geometry has no output.
#[track_caller]
pub fn lift_conv<T: Real>(kernels: ArrayView4<'_, T>, geometry: &ConvGeometry) -> Array2<T> {
    let c_out = geometry.check_kernels(&kernels);
    let ConvGeometry {
        in_channels,
        image_size: side,
        kernel_size: k,
        stride,
        padding,
    } = *geometry;
    let out = geometry.output_size().unwrap_or(0);
    let mut lifted = Array2::zeros((c_out * out * out, geometry.input_len()));
    for c in 0..c_out {
        for i in 0..out {
            for j in 0..out {
                let row = (c * out + i) * out + j;
                for ci in 0..in_channels {
                    for di in 0..k {
                        // The input row this tap reads, if it is inside the image.
                        let Some(r) = (i * stride + di).checked_sub(padding).filter(|&r| r < side)
                        else {
                            continue;
                        };
                        for dj in 0..k {
                            let Some(col) = (j * stride + dj)
                                .checked_sub(padding)
                                .filter(|&col| col < side)
                            else {
                                continue;
                            };
                            lifted[[row, (ci * side + r) * side + col]] = kernels[[c, ci, di, dj]];
                        }
                    }
                }
            }
        }
    }
    lifted
}

/// The kernels `[c_out, c_in, k, k]` as rows `[c_out, c_in k²]`: the convolution at one
/// position whose window lies inside the image, as a linear map of that receptive field
/// (flattened `(ci * k + di) * k + dj`). The bilinear layer of these rows with `P` the
/// identity gives each channel's interaction matrix over its receptive field,
/// `sym(vec(K_a[c]) vec(K_b[c])ᵀ)`, of rank at most 2: its eigenvectors are the eigenfilters.
pub fn kernel_rows<T: Real>(kernels: ArrayView4<'_, T>) -> Array2<T> {
    let [c_out, c_in, kh, kw] = *kernels.shape() else {
        unreachable!("a 4-dimensional view")
    };
    Array2::from_shape_vec((c_out, c_in * kh * kw), kernels.iter().copied().collect())
        .expect("c_out × c_in k² entries in row-major order")
}

/// A per-channel bias `[c_out]` as the bias of the lifted layer `[c_out · positions]`: every
/// output position of channel `c` adds `bias[c]`.
pub fn channel_bias<T: Real>(bias: ArrayView1<'_, T>, positions: usize) -> Array1<T> {
    Array1::from_iter(bias.iter().flat_map(|&b| std::iter::repeat_n(b, positions)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_pytorch() {
        let g = |image_size, kernel_size, stride, padding| ConvGeometry {
            in_channels: 1,
            image_size,
            kernel_size,
            stride,
            padding,
        };
        assert_eq!(g(28, 5, 1, 2).output_size(), Some(28));
        assert_eq!(g(28, 5, 1, 0).output_size(), Some(24));
        assert_eq!(g(28, 3, 2, 1).output_size(), Some(14));
        assert_eq!(g(7, 4, 2, 0).output_size(), Some(2));
        assert_eq!(g(2, 5, 1, 1).output_size(), None);
        assert_eq!(g(28, 5, 0, 2).output_size(), None);
    }
}
