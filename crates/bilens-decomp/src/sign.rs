//! The sign of a component: which components raise an output and which lower it.

use ndarray::ArrayView1;

use crate::scalar::Real;

/// Which sign of eigenvalue to pick components from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Sign {
    /// `λ > 0`: inputs along `v` raise the output.
    Positive,
    /// `λ < 0`: inputs along `v` lower the output.
    Negative,
}

impl Sign {
    /// The name used in files and reports: `positive` or `negative`.
    pub fn name(self) -> &'static str {
        match self {
            Sign::Positive => "positive",
            Sign::Negative => "negative",
        }
    }

    /// Whether `λ` has this sign (zero and non-finite values have none).
    pub fn holds<T: Real>(self, lambda: T) -> bool {
        let l = lambda.as_f64();
        l.is_finite()
            && match self {
                Sign::Positive => l > 0.0,
                Sign::Negative => l < 0.0,
            }
    }
}

/// Indices of the (at most) `n` components of `sign` with the largest `|λ|`, strongest
/// first; ties keep the input order. Zero and non-finite eigenvalues have no sign to rank
/// by and are never picked. Works on eigenvalues in any order.
pub fn top_by_sign<T: Real>(eigenvalues: ArrayView1<'_, T>, sign: Sign, n: usize) -> Vec<usize> {
    let mut picked: Vec<(usize, f64)> = eigenvalues
        .iter()
        .enumerate()
        .filter(|&(_, &l)| sign.holds(l))
        .map(|(i, l)| (i, l.as_f64()))
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

crate::names::named!(Sign, "sign", [Sign::Positive, Sign::Negative]);
