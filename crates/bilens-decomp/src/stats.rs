//! Summary statistics of spectra and eigenvectors (docs/MATH.md section 8).

use ndarray::ArrayView1;

use crate::scalar::Real;

/// Effective rank `(‖λ‖₁ / ‖λ‖₂)²` from the spectrum-wide sums `Σ|λ|` and `Σλ²`.
/// It is 1 for a rank-one matrix and `d` for a matrix with `d` equal `|λ|`; 0 for a zero matrix.
pub fn effective_rank(abs_sum: f64, norm_sq: f64) -> f64 {
    if norm_sq > 0.0 {
        abs_sum * abs_sum / norm_sq
    } else {
        0.0
    }
}

/// Effective rank of a full spectrum `λ`.
pub fn effective_rank_of<T: Real>(spectrum: ArrayView1<'_, T>) -> f64 {
    let (l1, l2) = spectrum.iter().fold((0.0, 0.0), |(a, b), x| {
        let x = x.as_f64();
        (a + x.abs(), b + x * x)
    });
    effective_rank(l1, l2)
}

/// Fraction of `‖Q‖_F² = Σλ²` held by the given (kept) eigenvalues. 0 for a zero matrix.
pub fn norm_fraction<T: Real>(kept: ArrayView1<'_, T>, norm_sq: f64) -> f64 {
    if norm_sq > 0.0 {
        kept.iter().map(|x| x.as_f64() * x.as_f64()).sum::<f64>() / norm_sq
    } else {
        0.0
    }
}

/// Effective number of entries of a vector, `(‖v‖₁ / ‖v‖₂)²`: the "effective pixel count" of an
/// eigenvector mapped to pixel space.
pub fn effective_count<T: Real>(v: ArrayView1<'_, T>) -> f64 {
    effective_rank_of(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn effective_rank_extremes() {
        assert_eq!(effective_rank_of(array![3.0, 0.0, 0.0].view()), 1.0);
        assert!((effective_rank_of(array![1.0, -1.0, 1.0, -1.0].view()) - 4.0).abs() < 1e-12);
        assert_eq!(effective_rank_of(array![0.0f64, 0.0].view()), 0.0);
    }

    #[test]
    fn norm_fraction_of_top_values() {
        assert!((norm_fraction(array![3.0].view(), 25.0) - 9.0 / 25.0).abs() < 1e-15);
        assert_eq!(norm_fraction(array![0.0f32].view(), 0.0), 0.0);
    }
}
