//! The learning-rate schedule: cosine annealing stepped once per epoch.

use std::f64::consts::PI;

/// The learning rate for epoch `epoch` (0-based) of `epochs`:
/// `base * (1 + cos(pi * epoch / epochs)) / 2`.
///
/// This is the closed form of PyTorch's `CosineAnnealingLR(T_max = epochs, eta_min = 0)` when
/// `scheduler.step()` is called after each epoch, as the paper's code does: epoch 0 runs at
/// `base`, the last epoch at `base * (1 + cos(pi (T-1) / T)) / 2 > 0`, and the rate would reach
/// 0 only at epoch `T`, which is never trained. (PyTorch evaluates a recursive form that
/// agrees with this one up to rounding.)
///
/// # Panics
/// If `epochs == 0`.
#[track_caller]
pub fn cosine_lr(base: f64, epoch: usize, epochs: usize) -> f64 {
    assert!(epochs > 0, "cosine_lr: epochs must be positive");
    base * (1.0 + (PI * epoch as f64 / epochs as f64).cos()) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_matches_hand_values() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-15 * b.abs().max(1e-300);
        assert!(close(cosine_lr(1e-3, 0, 4), 1e-3));
        // cos(pi/4) = sqrt(2)/2.
        assert!(close(
            cosine_lr(1e-3, 1, 4),
            1e-3 * (2.0 + 2f64.sqrt()) / 4.0
        ));
        assert!(close(cosine_lr(1e-3, 2, 4), 0.5e-3));
        assert!(close(
            cosine_lr(1e-3, 3, 4),
            1e-3 * (2.0 - 2f64.sqrt()) / 4.0
        ));
        assert!(cosine_lr(1e-3, 4, 4).abs() < 1e-18);
        // One epoch trains at the full rate.
        assert_eq!(cosine_lr(2.0, 0, 1), 2.0);
        // Monotone decreasing over a long run, and symmetric about the midpoint.
        let lrs: Vec<f64> = (0..100).map(|t| cosine_lr(1.0, t, 100)).collect();
        assert!(lrs.windows(2).all(|w| w[1] < w[0]));
        for t in 0..=100 {
            let (a, b) = (cosine_lr(1.0, t, 100), cosine_lr(1.0, 100 - t, 100));
            assert!((a + b - 1.0).abs() < 1e-15);
        }
    }
}
