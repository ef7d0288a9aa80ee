//! Building input batches: pixels scaled to `[0, 1]`, plus Gaussian noise on training batches.
//!
//! The noise is the paper's regulariser: dense noise on every pixel stops the model from
//! relying on single pixels and makes its eigenvectors smooth, readable strokes. It is drawn
//! per image from its own ChaCha8 stream (`stream = step * batch_size + row` under a key drawn
//! once from the run's seed), so the batch is filled in parallel yet is the same bits whatever
//! the number of threads or the order they run in.

use bilens_decomp::Real;
use ndarray::{ArrayView2, ArrayViewMut2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Fills batches of model inputs from a `u8` image set.
#[derive(Clone, Debug)]
pub(crate) struct BatchFiller<T> {
    /// `p / 255` for every byte `p`, rounded once from f64: the same scaling in training and
    /// evaluation, one table look-up per pixel.
    lut: [T; 256],
    noise_std: f64,
    key: [u8; 32],
}

/// Rows per rayon task: enough work per task (~100k pixels) to amortise the scheduling.
const ROWS_PER_TASK: usize = 128;

impl<T: Real> BatchFiller<T> {
    /// A filler adding noise of standard deviation `noise_std` (when asked) from streams under
    /// `key`.
    pub(crate) fn new(noise_std: f64, key: [u8; 32]) -> Self {
        Self {
            lut: std::array::from_fn(|p| T::of_f64(p as f64 / 255.0)),
            noise_std,
            key,
        }
    }

    /// Writes images `indices` of `images` (`[n, d]` bytes) into the rows of `x` (`[rows, d]`,
    /// row-major), scaled to `[0, 1]`. With `noise = Some(step)` (a training batch: `step`
    /// counts optimiser steps from 0) each pixel gets `noise_std * N(0, 1)` added; with `None`
    /// (evaluation) the pixels are exact.
    ///
    /// # Panics
    /// If the shapes disagree or `x` is not row-major contiguous.
    #[track_caller]
    pub(crate) fn fill(
        &self,
        x: ArrayViewMut2<'_, T>,
        images: ArrayView2<'_, u8>,
        indices: &[usize],
        noise: Option<u64>,
    ) {
        let d = images.ncols();
        assert_eq!(x.dim(), (indices.len(), d), "fill: x must be [indices, d]");
        let rows = indices.len() as u64;
        let x = x
            .into_slice()
            .expect("batch buffers are row-major contiguous");
        let noise_std = self.noise_std;
        x.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(indices.par_chunks(ROWS_PER_TASK))
            .enumerate()
            .for_each(|(task, (xs, idx))| {
                for (r, (row, &i)) in xs.chunks_exact_mut(d).zip(idx).enumerate() {
                    let src = images.row(i);
                    for (o, &p) in row.iter_mut().zip(src.iter()) {
                        *o = self.lut[usize::from(p)];
                    }
                    if let (Some(step), true) = (noise, noise_std > 0.0) {
                        let row_id = (task * ROWS_PER_TASK + r) as u64;
                        let mut rng = ChaCha8Rng::from_seed(self.key);
                        rng.set_stream(step.wrapping_mul(rows).wrapping_add(row_id));
                        for o in row.iter_mut() {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            *o += T::of_f64(noise_std * z);
                        }
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn clean_batches_are_scaled_pixels_and_noise_is_reproducible() {
        let images = Array2::from_shape_fn((300, 5), |(i, j)| ((i * 7 + j * 31) % 256) as u8);
        let idx: Vec<usize> = (0..300).rev().collect();
        let f = BatchFiller::<f64>::new(0.4, [7; 32]);
        let mut clean = Array2::zeros((300, 5));
        f.fill(clean.view_mut(), images.view(), &idx, None);
        for (r, &i) in idx.iter().enumerate() {
            for j in 0..5 {
                assert_eq!(clean[[r, j]], f64::from(images[[i, j]]) / 255.0);
            }
        }
        let mut a = Array2::zeros((300, 5));
        let mut b = Array2::zeros((300, 5));
        f.fill(a.view_mut(), images.view(), &idx, Some(3));
        f.fill(b.view_mut(), images.view(), &idx, Some(3));
        assert_eq!(a, b, "same step, same noise");
        f.fill(b.view_mut(), images.view(), &idx, Some(4));
        assert_ne!(a, b, "another step, other noise");
        // The noise has roughly the asked-for spread.
        let diff = &a - &clean;
        let n = diff.len() as f64;
        let mean = diff.sum() / n;
        let std = (diff.mapv(|z| z * z).sum() / n - mean * mean).sqrt();
        assert!(
            mean.abs() < 0.05 && (std - 0.4).abs() < 0.03,
            "{mean} {std}"
        );
    }
}
