//! Choosing which components to show: the strongest of one sign.

use bilens_decomp::Real;
use ndarray::ArrayView1;

/// Which sign of eigenvalue to pick components from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// `λ > 0`: inputs along `v` raise the output.
    Positive,
    /// `λ < 0`: inputs along `v` lower the output.
    Negative,
}

/// Indices of the (at most) `n` components of `sign` with the largest `|λ|`, strongest
/// first; ties keep the input order. Zero and non-finite eigenvalues have no sign to rank
/// by and are never picked. Works on eigenvalues in any order.
pub(crate) fn top_by_sign<T: Real>(
    eigenvalues: ArrayView1<'_, T>,
    sign: Sign,
    n: usize,
) -> Vec<usize> {
    let mut picked: Vec<(usize, f64)> = eigenvalues
        .iter()
        .map(|l| l.as_f64())
        .enumerate()
        .filter(|&(_, l)| match sign {
            Sign::Positive => l.is_finite() && l > 0.0,
            Sign::Negative => l.is_finite() && l < 0.0,
        })
        .collect();
    picked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    picked.into_iter().take(n).map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn picks_the_strongest_of_each_sign_in_any_input_order() {
        let l = array![0.5f32, -2.0, 3.0, f32::NAN, 0.0, -0.1, 1.0, f32::INFINITY];
        assert_eq!(top_by_sign(l.view(), Sign::Positive, 2), vec![2, 6]);
        assert_eq!(top_by_sign(l.view(), Sign::Positive, 10), vec![2, 6, 0]);
        assert_eq!(top_by_sign(l.view(), Sign::Negative, 10), vec![1, 5]);
        assert!(top_by_sign(array![1.0f64].view(), Sign::Negative, 3).is_empty());
    }
}
