//! Multi-channel pictures as one: a vector shaped `channels × height × width` (a convolution's
//! input, an eigenfilter over several channels, a conv feature map) drawn as its channels side
//! by side, so that every figure made of image panels draws it unchanged.

use ndarray::{Array2, ArrayView2};

use crate::panel::ImageShape;

/// The layout of `channels` panels of `height × width` tiled in a near-square grid, one pixel
/// of gap between panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelGrid {
    /// Channels, each a panel.
    pub channels: usize,
    /// Rows of one channel.
    pub height: usize,
    /// Columns of one channel.
    pub width: usize,
}

impl ChannelGrid {
    /// Panels per row of the tiling: the smallest divisor of `channels` from `√channels` up to
    /// `2√channels` (3 channels in a row, 32 as 4 × 8: no empty cell), else `⌈√channels⌉`.
    fn columns(&self) -> usize {
        let n = self.channels;
        let root = n.isqrt();
        let ceil = if root * root == n { root } else { root + 1 };
        (ceil..=2 * ceil)
            .find(|c| n % c == 0 && c * c <= 4 * n)
            .unwrap_or(ceil)
    }

    /// Values in one vector, `channels × height × width`.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether a vector of this shape holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of the tiled picture: panels and one-pixel gaps.
    pub fn tiled_shape(&self) -> ImageShape {
        let cols = self.columns().max(1);
        let rows = self.channels.div_ceil(cols).max(1);
        ImageShape::new(rows * (self.height + 1) - 1, cols * (self.width + 1) - 1)
    }

    /// Each row of `vectors` (`[n, channels · height · width]`, entry `(c · height + r) ·
    /// width + x` being channel `c`, row `r`, column `x`, as PyTorch flattens `[C, H, W]`)
    /// tiled into a picture of [`ChannelGrid::tiled_shape`], channel `c` at grid cell
    /// `(c / columns, c % columns)`. Gaps and unused cells are NaN, which every figure draws
    /// in the grey of missing values, apart from any data value.
    ///
    /// # Panics
    /// When the rows are not `channels · height · width` long.
    #[track_caller]
    pub fn tile(&self, vectors: ArrayView2<'_, f32>) -> Array2<f32> {
        assert_eq!(
            vectors.ncols(),
            self.len(),
            "vectors of length {} are not {}×{}×{} pictures",
            vectors.ncols(),
            self.channels,
            self.height,
            self.width
        );
        let shape = self.tiled_shape();
        let cols = self.columns().max(1);
        let mut out = Array2::from_elem((vectors.nrows(), shape.len()), f32::NAN);
        for (mut tiled, v) in out.rows_mut().into_iter().zip(vectors.rows()) {
            for c in 0..self.channels {
                let (top, left) = (
                    (c / cols) * (self.height + 1),
                    (c % cols) * (self.width + 1),
                );
                for r in 0..self.height {
                    for x in 0..self.width {
                        tiled[(top + r) * shape.cols + left + x] =
                            v[(c * self.height + r) * self.width + x];
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    #[test]
    fn channels_tile_row_by_row_with_gaps() {
        let grid = |channels, height, width| ChannelGrid {
            channels,
            height,
            width,
        };
        // 3 channels in one row: 2 × (3·3 − 1) pixels.
        let rgb = grid(3, 2, 2);
        assert_eq!(rgb.tiled_shape(), ImageShape::new(2, 8));
        let v = Array::from_iter((0..12).map(|i| i as f32)).insert_axis(ndarray::Axis(0));
        let t = rgb.tile(v.view());
        let at = |r: usize, c: usize| t[[0, r * 8 + c]];
        assert_eq!(
            [at(0, 0), at(0, 1), at(1, 0), at(1, 1)],
            [0.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            [at(0, 3), at(1, 4), at(0, 6), at(1, 7)],
            [4.0, 7.0, 8.0, 11.0]
        );
        assert!(at(0, 2).is_nan() && at(1, 5).is_nan());
        // 32 channels as 4 rows of 8, 7 (prime) as 3 × 3 with two empty cells.
        assert_eq!(grid(32, 8, 8).tiled_shape(), ImageShape::new(35, 71));
        let seven = grid(7, 1, 1);
        assert_eq!(seven.tiled_shape(), ImageShape::new(5, 5));
        let t = seven.tile(Array::from_elem((1, 7), 1.0f32).view());
        assert_eq!(t.iter().filter(|v| **v == 1.0).count(), 7);
        assert!(t[[0, 4 * 5]] == 1.0 && t[[0, 4 * 5 + 2]].is_nan());
        assert_eq!(grid(1, 3, 4).tiled_shape(), ImageShape::new(3, 4));
    }
}
