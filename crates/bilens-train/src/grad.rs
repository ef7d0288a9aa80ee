//! The backward pass, written by hand as GEMMs over the batch.
//!
//! With `e = X Eᵀ`, `A = e Wᵀ`, `B = e Vᵀ`, `G = A ⊙ B`, `z = G (+ e)`, `logits = z Hᵀ` and
//! `L` the mean cross-entropy, writing `dY` for `∂L/∂Y`:
//!
//! ```text
//! dlogits = (softmax(logits) − onehot(y)) / n          [n, c]
//! dH      = dlogitsᵀ z                                 [c, h]
//! dz      = dlogits H      (= dG)                      [n, h]
//! dA      = dz ⊙ B,   dB = dz ⊙ A                      [n, h] each, stored side by side
//! d[W; V] = [dA | dB]ᵀ e                               [2h, h]
//! de      = [dA | dB] [W; V]   (+ dz when residual)    [n, h]
//! dE      = deᵀ X                                      [h, d_input]
//! ```
//!
//! Storing `[A | B]` and `[dA | dB]` side by side makes the fused block one GEMM each way, in
//! the same `[W; V]` layout the checkpoint uses. With the three forward GEMMs, a step costs
//! `≈ 4 n h d_input + 12 n h² + 6 n h c` flops, ≈ 9.8 GFLOP for the paper's 2048 × 784 × 512.

use bilens_decomp::linalg::gemm;
use bilens_decomp::{Par, Real};
use ndarray::{Array2, ArrayView2, s};

use crate::model::{Activations, Params, ROWS_PER_TASK, cross_entropy, forward};
use rayon::prelude::*;

/// Backward-pass buffers for up to `capacity` rows, allocated once per run.
#[derive(Clone, Debug)]
pub(crate) struct Backward<T> {
    /// `∂L/∂logits`, `[cap, c]`.
    dlogits: Array2<T>,
    /// `[dA | dB]`, `[cap, 2h]`.
    dab: Array2<T>,
    /// `dz`, then overwritten in place by `de`, `[cap, h]`.
    de: Array2<T>,
}

impl<T: Real> Backward<T> {
    /// Buffers for batches of up to `capacity` rows.
    pub(crate) fn new(capacity: usize, width: usize, d_output: usize) -> Self {
        Self {
            dlogits: Array2::zeros((capacity, d_output)),
            dab: Array2::zeros((capacity, 2 * width)),
            de: Array2::zeros((capacity, width)),
        }
    }
}

/// The mean cross-entropy of the batch `(x, labels)`, how many rows it classifies correctly,
/// and its gradient with respect to every parameter, written into `grads` (overwritten, not
/// accumulated).
///
/// # Panics
/// If the shapes disagree with the model or the buffers, or a label is out of range.
#[track_caller]
#[allow(
    clippy::too_many_arguments,
    reason = "the parameters, a batch, the gradients and their workspaces, each used separately"
)]
pub(crate) fn loss_and_grad<T: Real>(
    p: &Params<T>,
    x: ArrayView2<'_, T>,
    labels: &[u8],
    residual: bool,
    acts: &mut Activations<T>,
    bw: &mut Backward<T>,
    grads: &mut Params<T>,
    par: Par,
) -> (f64, usize) {
    let (n, h) = (x.nrows(), p.width());
    assert!(
        n <= bw.de.nrows(),
        "loss_and_grad: batch exceeds the buffers"
    );
    forward(p, x, residual, acts, par);
    let (e, ab, z) = (
        acts.e.slice(s![..n, ..]),
        acts.ab.slice(s![..n, ..]),
        acts.z.slice(s![..n, ..]),
    );
    let (loss, correct) = cross_entropy(
        acts.logits.slice(s![..n, ..]),
        labels,
        Some(bw.dlogits.slice_mut(s![..n, ..])),
    );
    let dlogits = bw.dlogits.slice(s![..n, ..]);
    let one = T::one();

    gemm(grads.head.view_mut(), false, dlogits.t(), z, one, par);
    gemm(
        bw.de.slice_mut(s![..n, ..]),
        false,
        dlogits,
        p.head.view(),
        one,
        par,
    );

    // [dA | dB] = [dz ⊙ B | dz ⊙ A], parallel over blocks of rows (elementwise, so the
    // split does not change the result).
    {
        let ab = ab.to_slice().expect("buffers are row-major contiguous");
        let dz = bw.de.slice(s![..n, ..]);
        let dz = dz.to_slice().expect("buffers are row-major contiguous");
        let dab = bw.dab.slice_mut(s![..n, ..]);
        let dab = dab.into_slice().expect("buffers are row-major contiguous");
        let block = 2 * h * ROWS_PER_TASK;
        dab.par_chunks_mut(block)
            .zip(ab.par_chunks(block))
            .zip(dz.par_chunks(h * ROWS_PER_TASK))
            .for_each(|((dab, ab), dz)| {
                for ((dab, ab), dz) in dab
                    .chunks_exact_mut(2 * h)
                    .zip(ab.chunks_exact(2 * h))
                    .zip(dz.chunks_exact(h))
                {
                    let (da, db) = dab.split_at_mut(h);
                    let (a, b) = ab.split_at(h);
                    for (((da, db), (&a, &b)), &g) in
                        da.iter_mut().zip(db).zip(a.iter().zip(b)).zip(dz)
                    {
                        *da = g * b;
                        *db = g * a;
                    }
                }
            });
    }
    let dab = bw.dab.slice(s![..n, ..]);
    gemm(grads.block.view_mut(), false, dab.t(), e, one, par);
    // de = [dA | dB] [W; V], plus the residual path's dz already in the buffer.
    gemm(
        bw.de.slice_mut(s![..n, ..]),
        residual,
        dab,
        p.block.view(),
        one,
        par,
    );
    gemm(
        grads.embed.view_mut(),
        false,
        bw.de.slice(s![..n, ..]).t(),
        x,
        one,
        par,
    );
    (loss, correct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn loss_of(p: &Params<f64>, x: ArrayView2<'_, f64>, labels: &[u8], residual: bool) -> f64 {
        let mut acts = Activations::new(x.nrows(), p.width(), p.d_output());
        forward(p, x, residual, &mut acts, Par::Seq);
        cross_entropy(acts.logits.view(), labels, None).0
    }

    /// Every partial derivative of the hand-written backward pass against central differences,
    /// in f64, on a model small enough to perturb every weight: 12 inputs, h = 5, 3 classes,
    /// 7 images, with and without the residual path.
    #[test]
    fn gradients_match_central_differences_for_every_parameter() {
        let (d, h, c, n) = (12, 5, 3, 7);
        for residual in [false, true] {
            let mut rng = ChaCha8Rng::seed_from_u64(if residual { 11 } else { 10 });
            let mut p = Params::<f64>::init(&mut rng, d, h, c);
            // Larger than init scale so the bilinear term matters against the residual.
            p.block.mapv_inplace(|w| 3.0 * w);
            p.head.mapv_inplace(|w| 2.0 * w);
            let x = Array2::from_shape_simple_fn((n, d), || rng.random_range(0.0..1.0));
            let labels: Vec<u8> = (0..n).map(|i| (i % c) as u8).collect();

            let mut acts = Activations::new(n, h, c);
            let mut bw = Backward::new(n, h, c);
            let mut grads = p.zeros_like();
            let (loss, _) = loss_and_grad(
                &p,
                x.view(),
                &labels,
                residual,
                &mut acts,
                &mut bw,
                &mut grads,
                Par::Seq,
            );
            assert!((loss - loss_of(&p, x.view(), &labels, residual)).abs() < 1e-15);

            let step = 1e-5;
            let mut worst = 0.0f64;
            for t in 0..3 {
                let analytic = grads.slices()[t].to_vec();
                let scale = analytic.iter().fold(0.0f64, |m, g| m.max(g.abs()));
                assert!(scale > 1e-3, "tensor {t} has a non-trivial gradient");
                for (i, &g) in analytic.iter().enumerate() {
                    let orig = p.slices()[t][i];
                    p.slices_mut()[t][i] = orig + step;
                    let up = loss_of(&p, x.view(), &labels, residual);
                    p.slices_mut()[t][i] = orig - step;
                    let down = loss_of(&p, x.view(), &labels, residual);
                    p.slices_mut()[t][i] = orig;
                    let fd = (up - down) / (2.0 * step);
                    // Relative to the entry, floored at 1e-3 of the tensor's largest entry so
                    // that entries that are zero up to rounding do not divide by ~0.
                    let rel = (fd - g).abs() / g.abs().max(fd.abs()).max(1e-3 * scale);
                    assert!(
                        rel < 1e-6,
                        "residual={residual} tensor {t} entry {i}: analytic {g}, numeric {fd}, \
                         relative error {rel}"
                    );
                    worst = worst.max(rel);
                }
            }
            assert!(worst < 1e-6);
        }
    }

    /// Only the leading rows of the buffers are used, so a smaller batch in big buffers gives
    /// the same gradient as exact-size buffers.
    #[test]
    fn partial_batches_in_large_buffers_give_the_same_gradient() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p = Params::<f64>::init(&mut rng, 6, 4, 3);
        let x = Array2::from_shape_simple_fn((5, 6), || rng.random_range(0.0..1.0));
        let labels = [0u8, 1, 2, 1, 0];
        let run = |cap: usize| {
            let mut g = p.zeros_like();
            let out = loss_and_grad(
                &p,
                x.view(),
                &labels,
                true,
                &mut Activations::new(cap, 4, 3),
                &mut Backward::new(cap, 4, 3),
                &mut g,
                Par::Seq,
            );
            (out, g)
        };
        assert_eq!(run(5), run(64));
    }
}
