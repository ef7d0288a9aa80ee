//! What the training loop asks of a model, so that one loop (batches, noise, AdamW, schedule,
//! evaluation) trains both the bilinear MLP and the bilinear CNN.

use bilens_decomp::{Par, Real};
use ndarray::ArrayView2;

/// A classifier with hand-written gradients: its parameters are a list of flat tensors that
/// [`AdamW`](crate::optim::AdamW) updates, its passes run over batch-major inputs `[n, d_input]`
/// (pixels in `[0, 1]`) in buffers allocated once per run.
pub trait Network<T: Real>: Sized {
    /// Forward and backward buffers for batches of up to a fixed number of rows.
    type Work;

    /// Buffers for batches of up to `capacity` rows.
    fn work(&self, capacity: usize) -> Self::Work;

    /// Input width (pixels per image).
    fn d_input(&self) -> usize;

    /// Number of classes.
    fn d_output(&self) -> usize;

    /// The logits `[n, d_output]` of the batch `x: [n, d_input]`, in the leading rows of the
    /// buffers.
    fn logits<'w>(
        &self,
        x: ArrayView2<'_, T>,
        work: &'w mut Self::Work,
        par: Par,
    ) -> ArrayView2<'w, T>;

    /// The mean cross-entropy of the batch `(x, labels)`, how many rows it classifies
    /// correctly, and its gradient with respect to every parameter, written into `grads` (a
    /// [`Network::zeros_like`] of `self`; overwritten, not accumulated).
    fn loss_and_grad(
        &self,
        x: ArrayView2<'_, T>,
        labels: &[u8],
        work: &mut Self::Work,
        grads: &mut Self,
        par: Par,
    ) -> (f64, usize);

    /// The same model with every parameter zero (a gradient buffer).
    fn zeros_like(&self) -> Self;

    /// The parameter tensors as flat slices, in a fixed order.
    fn slices(&self) -> Vec<&[T]>;

    /// The parameter tensors as flat mutable slices, in the order of [`Network::slices`].
    fn slices_mut(&mut self) -> Vec<&mut [T]>;

    /// Element counts of the tensors, in the order of [`Network::slices`].
    fn sizes(&self) -> Vec<usize> {
        self.slices().iter().map(|s| s.len()).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::cross_entropy;

    /// Checks every partial derivative of `net`'s hand-written backward pass on `(x, labels)`
    /// against central differences of its forward pass (f64, step 1e-5), to a relative error
    /// of 1e-6; `what` names the case in a failure. Each tensor must have a non-trivial
    /// gradient, so that a backward pass that writes nothing cannot pass.
    #[track_caller]
    pub(crate) fn assert_gradients_match<N: Network<f64>>(
        net: &mut N,
        x: ArrayView2<'_, f64>,
        labels: &[u8],
        what: &str,
    ) {
        let n = x.nrows();
        let mut work = net.work(n);
        let mut grads = net.zeros_like();
        let (loss, _) = net.loss_and_grad(x, labels, &mut work, &mut grads, Par::Seq);
        let mut loss_of = |net: &N| {
            let logits = net.logits(x, &mut work, Par::Seq);
            cross_entropy(logits, labels, None).0
        };
        assert!((loss - loss_of(net)).abs() < 1e-15, "{what}: loss");

        let step = 1e-5;
        let analytic: Vec<Vec<f64>> = grads.slices().iter().map(|g| g.to_vec()).collect();
        for (t, analytic) in analytic.iter().enumerate() {
            let scale = analytic.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            assert!(
                scale > 1e-3,
                "{what}: tensor {t} has a non-trivial gradient"
            );
            for (i, &g) in analytic.iter().enumerate() {
                let orig = net.slices()[t][i];
                net.slices_mut()[t][i] = orig + step;
                let up = loss_of(net);
                net.slices_mut()[t][i] = orig - step;
                let down = loss_of(net);
                net.slices_mut()[t][i] = orig;
                let fd = (up - down) / (2.0 * step);
                // Relative to the entry, floored at 1e-3 of the tensor's largest entry so that
                // entries that are zero up to rounding do not divide by ~0.
                let rel = (fd - g).abs() / g.abs().max(fd.abs()).max(1e-3 * scale);
                assert!(
                    rel < 1e-6,
                    "{what}: tensor {t} entry {i}: analytic {g}, numeric {fd}, relative error \
                     {rel}"
                );
            }
        }
    }
}
