//! AdamW with PyTorch's semantics, so that a recipe tuned in PyTorch means the same here.

use bilens_decomp::Real;
use rayon::prelude::*;

/// Parameters per rayon task.
const CHUNK: usize = 1 << 16;

/// The AdamW optimiser (Loshchilov & Hutter), exactly as `torch.optim.AdamW` (non-AMSGrad)
/// updates one parameter `p` with gradient `g` at step `t` (1-based) and learning rate `lr`:
///
/// ```text
/// p ← p (1 − lr·wd)                                  decoupled decay, every step
/// m ← m + (1 − β1)(g − m)                            first moment
/// v ← β2 v + (1 − β2) g²                             second moment
/// p ← p − lr/(1 − β1ᵗ) · m / ( √v / √(1 − β2ᵗ) + ε )  bias-corrected step
/// ```
///
/// The decay multiplies the weights directly instead of entering the gradient, so it does not
/// pass through Adam's per-weight rescaling: this is what makes weight decay 1.0 shrink every
/// unused direction of the paper's model at the same rate.
#[derive(Clone, Debug)]
pub(crate) struct AdamW<T> {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    step: u64,
    /// First and second moments, one pair of buffers per parameter tensor.
    moments: Vec<(Vec<T>, Vec<T>)>,
}

impl<T: Real> AdamW<T> {
    /// PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8) with the given decay, for parameter
    /// tensors of the given element counts.
    pub(crate) fn new(weight_decay: f64, sizes: &[usize]) -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            moments: sizes
                .iter()
                .map(|&n| (vec![T::zero(); n], vec![T::zero(); n]))
                .collect(),
        }
    }

    /// One update of every tensor, `(parameters, gradient)` in the order of `sizes` at
    /// construction.
    ///
    /// # Panics
    /// If the tensors do not match the sizes given at construction.
    #[track_caller]
    pub(crate) fn step<'a>(
        &mut self,
        lr: f64,
        tensors: impl IntoIterator<Item = (&'a mut [T], &'a [T])>,
    ) where
        T: 'a,
    {
        self.step += 1;
        let t = self.step as f64;
        // The scalars are formed in f64 (as PyTorch forms them in Python) and rounded once.
        let decay = T::of_f64(1.0 - lr * self.weight_decay);
        let step_size = T::of_f64(lr / (1.0 - self.beta1.powf(t)));
        let inv_bc2_sqrt = T::of_f64(1.0 / (1.0 - self.beta2.powf(t)).sqrt());
        let (one_m_b1, b2, one_m_b2, eps) = (
            T::of_f64(1.0 - self.beta1),
            T::of_f64(self.beta2),
            T::of_f64(1.0 - self.beta2),
            T::of_f64(self.eps),
        );
        let mut count = 0;
        for ((p, g), (m, v)) in tensors.into_iter().zip(self.moments.iter_mut()) {
            assert!(
                p.len() == m.len() && g.len() == m.len(),
                "AdamW::step: tensor {count} has {} parameters and {} gradients, expected {}",
                p.len(),
                g.len(),
                m.len()
            );
            count += 1;
            // One fused pass per tensor, parallel over fixed-size chunks (elementwise, so the
            // split does not change the result); each chunk a branch-free vectorisable zip.
            p.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((p, g), m), v)| {
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                        *p *= decay;
                        *m = *m + one_m_b1 * (g - *m);
                        *v = b2 * *v + one_m_b2 * g * g;
                        *p -= step_size * *m / (v.sqrt() * inv_bc2_sqrt + eps);
                    }
                });
        }
        assert_eq!(
            count,
            self.moments.len(),
            "AdamW::step: every tensor must be updated"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_two_steps_match_hand_computed_values() {
        // lr 0.1, wd 0.01, p0 = 1, gradients 0.5 then -0.25. By hand:
        // step 1: p = 0.999; m = 0.05; v = 2.5e-4; p -= (0.1/0.1) * 0.05 / (0.5 + 1e-8)
        //         = 0.899000002.
        // step 2: p = 0.899000002 * 0.999; m = 0.02; v = 3.1225e-4;
        //         p -= (0.1/0.19) * 0.02 / (sqrt(3.1225e-4)/sqrt(1.999e-3) + 1e-8)
        //         = 0.8714672987058463.
        let mut opt = AdamW::<f64>::new(0.01, &[1]);
        let mut p = [1.0f64];
        opt.step(0.1, [(&mut p[..], &[0.5][..])]);
        assert!((p[0] - 0.899000002).abs() < 1e-15, "{}", p[0]);
        opt.step(0.1, [(&mut p[..], &[-0.25][..])]);
        assert!((p[0] - 0.8714672987058463).abs() < 1e-15, "{}", p[0]);
    }

    #[test]
    fn adamw_zero_gradient_is_pure_decay() {
        let mut opt = AdamW::<f32>::new(1.0, &[3, 2]);
        let mut a = [1.0f32, -2.0, 4.0];
        let mut b = [8.0f32, 0.0];
        opt.step(
            1e-3,
            [(&mut a[..], &[0.0; 3][..]), (&mut b[..], &[0.0; 2][..])],
        );
        assert_eq!(a, [0.999, -1.998, 3.996]);
        assert_eq!(b, [7.992, 0.0]);
    }
}
