//! Matrices as pixels: the one routine that turns values into an RGB raster.
//!
//! Image panels, heatmaps and colour bars all go through [`colorize`]; placing the result in
//! a figure is [`crate::save::RasterSink::draw`]'s job.

use ndarray::ArrayView2;

use crate::colormap::ColorScale;

/// Colours `values` (`[rows, cols]`, row 0 at the top) with `scale`, resampled to
/// `width × height` pixels by nearest neighbour: each matrix cell becomes a block of pixels
/// (equal blocks when the pixel size is a multiple of the matrix size; when the matrix is
/// larger than the raster, cells are sampled, not averaged). Returns `3 * width * height`
/// RGB bytes, row-major.
///
/// # Panics
/// If `values` is empty or the raster has no pixels (callers check their inputs first).
pub(crate) fn colorize(
    values: ArrayView2<'_, f64>,
    scale: &ColorScale,
    (w, h): (u32, u32),
) -> Vec<u8> {
    let (rows, cols) = values.dim();
    assert!(rows > 0 && cols > 0 && w > 0 && h > 0, "empty raster");
    let (w, h) = (w as usize, h as usize);
    let col_of: Vec<usize> = (0..w).map(|x| x * cols / w).collect();
    let mut rgb = Vec::with_capacity(3 * w * h);
    for y in 0..h {
        let row = values.row(y * rows / h);
        for &c in &col_of {
            rgb.extend_from_slice(&scale.color(row[c]));
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cells_become_equal_blocks_and_nan_is_grey() {
        let values = array![[1.0, f64::NAN], [0.0, -1.0]];
        let rgb = colorize(values.view(), &ColorScale::symmetric(1.0), (4, 4));
        let px = |x: usize, y: usize| {
            [
                rgb[3 * (y * 4 + x)],
                rgb[3 * (y * 4 + x) + 1],
                rgb[3 * (y * 4 + x) + 2],
            ]
        };
        let scale = ColorScale::symmetric(1.0);
        assert_eq!(px(0, 0), scale.color(1.0));
        assert_eq!(px(1, 1), scale.color(1.0));
        assert_eq!(px(3, 0), crate::colormap::MISSING);
        assert_eq!(px(0, 3), [255, 255, 255]);
        assert_eq!(px(3, 3), scale.color(-1.0));
    }
}
