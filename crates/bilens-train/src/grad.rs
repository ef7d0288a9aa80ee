//! The backward pass, written by hand as GEMMs over the batch.
//!
//! With the stream `x_0 = X Eᵀ`, per block `A_i = x_i W_iᵀ`, `B_i = x_i V_iᵀ`,
//! `x_{i+1} = A_i ⊙ B_i (+ x_i)`, `logits = x_L Hᵀ` and `L` the mean cross-entropy, writing
//! `dY` for `∂L/∂Y`:
//!
//! ```text
//! dlogits     = (softmax(logits) − onehot(y)) / n                [n, c]
//! dH          = dlogitsᵀ x_L                                     [c, h]
//! dx_L        = dlogits H                                        [n, h]
//! for i = L−1 down to 0:
//!   dA_i      = dx_{i+1} ⊙ B_i,   dB_i = dx_{i+1} ⊙ A_i          [n, h] each, side by side
//!   d[W_i; V_i] = [dA_i | dB_i]ᵀ x_i                             [2h, h]
//!   dx_i      = [dA_i | dB_i] [W_i; V_i]   (+ dx_{i+1} residual) [n, h]
//! dE          = dx_0ᵀ X                                          [h, d_input]
//! ```
//!
//! Storing `[A | B]` and `[dA | dB]` side by side makes each fused block one GEMM each way, in
//! the same `[W; V]` layout the checkpoint uses. With the forward GEMMs, a step costs
//! `≈ 4 n h d_input + 12 L n h² + 6 n h c` flops, ≈ 9.8 GFLOP for the paper's one block of
//! 2048 × 784 × 512.

use bilens_decomp::linalg::gemm;
use bilens_decomp::{Par, Real};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use crate::model::{Activations, Params, ROWS_PER_TASK, cross_entropy, forward};
use rayon::prelude::*;

/// Backward-pass buffers for up to `capacity` rows, allocated once per run.
#[derive(Clone, Debug)]
pub(crate) struct Backward<T> {
    /// `∂L/∂logits`, `[cap, c]`.
    dlogits: Array2<T>,
    /// `[dA_i | dB_i]` of the block being differentiated, `[cap, 2h]`.
    dab: Array2<T>,
    /// `dx_{i+1}`, overwritten in place by `dx_i` as the pass goes down the blocks, `[cap, h]`.
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
    acts: &mut Activations<T>,
    bw: &mut Backward<T>,
    grads: &mut Params<T>,
    par: Par,
) -> (f64, usize) {
    let n = x.nrows();
    assert!(
        n <= bw.de.nrows(),
        "loss_and_grad: batch exceeds the buffers"
    );
    forward(p, x, acts, par);
    let (loss, correct) = cross_entropy(
        acts.logits.slice(s![..n, ..]),
        labels,
        Some(bw.dlogits.slice_mut(s![..n, ..])),
    );
    let dlogits = bw.dlogits.slice(s![..n, ..]);
    let one = T::one();

    let last = acts.x[p.layers()].slice(s![..n, ..]);
    gemm(grads.head.view_mut(), false, dlogits.t(), last, one, par);
    gemm(
        bw.de.slice_mut(s![..n, ..]),
        false,
        dlogits,
        p.head.view(),
        one,
        par,
    );

    for i in (0..p.layers()).rev() {
        let (input, ab) = (acts.x[i].slice(s![..n, ..]), acts.ab[i].slice(s![..n, ..]));
        bilinear_backward(ab, bw.de.slice(s![..n, ..]), bw.dab.slice_mut(s![..n, ..]));
        let dab = bw.dab.slice(s![..n, ..]);
        gemm(grads.blocks[i].view_mut(), false, dab.t(), input, one, par);
        // dx_i = [dA | dB] [W; V], plus the residual path's dx_{i+1} already in the buffer.
        gemm(
            bw.de.slice_mut(s![..n, ..]),
            p.residual,
            dab,
            p.blocks[i].view(),
            one,
            par,
        );
    }
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

/// `[dA | dB] = [dz ⊙ B | dz ⊙ A]`: the gradient of `z = A ⊙ B` with respect to `[A | B]`
/// (`ab`, `dab: [n, 2h]`, `dz: [n, h]`), parallel over blocks of rows (elementwise, so the split
/// does not change the result).
pub(crate) fn bilinear_backward<T: Real>(
    ab: ArrayView2<'_, T>,
    dz: ArrayView2<'_, T>,
    dab: ArrayViewMut2<'_, T>,
) {
    let h = dz.ncols();
    let ab = ab.to_slice().expect("buffers are row-major contiguous");
    let dz = dz.to_slice().expect("buffers are row-major contiguous");
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
                for (((da, db), (&a, &b)), &g) in da.iter_mut().zip(db).zip(a.iter().zip(b)).zip(dz)
                {
                    *da = g * b;
                    *db = g * a;
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Network;
    use crate::network::tests::assert_gradients_match;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Every partial derivative of the hand-written backward pass against central differences,
    /// in f64, on a model small enough to perturb every weight: 12 inputs, h = 5, 3 classes,
    /// 7 images, one block and three, with and without the residual path.
    #[test]
    fn gradients_match_central_differences_for_every_parameter() {
        let (d, h, c, n) = (12, 5, 3, 7);
        for (layers, residual) in [(1, false), (1, true), (3, false), (3, true)] {
            let mut rng = ChaCha8Rng::seed_from_u64(10 + u64::from(residual) + 2 * layers as u64);
            let mut p = Params::<f64>::init(&mut rng, d, h, layers, c, residual);
            // Larger than init scale so the bilinear terms matter against the residual (a
            // stack of plain blocks at init scale would shrink the stream to nothing).
            let gain = if residual { 3.0 } else { 6.0 };
            for b in &mut p.blocks {
                b.mapv_inplace(|w| gain * w);
            }
            p.head.mapv_inplace(|w| 2.0 * w);
            let x = Array2::from_shape_simple_fn((n, d), || rng.random_range(0.0..1.0));
            let labels: Vec<u8> = (0..n).map(|i| (i % c) as u8).collect();
            assert_gradients_match(
                &mut p,
                x.view(),
                &labels,
                &format!("layers={layers} residual={residual}"),
            );
        }
    }

    /// Only the leading rows of the buffers are used, so a smaller batch in big buffers gives
    /// the same gradient as exact-size buffers.
    #[test]
    fn partial_batches_in_large_buffers_give_the_same_gradient() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p = Params::<f64>::init(&mut rng, 6, 4, 2, 3, true);
        let x = Array2::from_shape_simple_fn((5, 6), || rng.random_range(0.0..1.0));
        let labels = [0u8, 1, 2, 1, 0];
        let run = |cap: usize| {
            let mut g = p.zeros_like();
            let out = loss_and_grad(
                &p,
                x.view(),
                &labels,
                &mut Activations::new(cap, 4, 2, 3),
                &mut Backward::new(cap, 4, 3),
                &mut g,
                Par::Seq,
            );
            (out, g)
        };
        assert_eq!(run(5), run(64));
    }
}
