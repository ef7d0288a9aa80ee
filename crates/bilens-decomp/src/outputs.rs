//! Output directions `u ∈ R^{d_out}`: the rows of an outputs matrix `[n, d_out]`.
//!
//! Every per-output method takes such a matrix. Typical directions: a class (a row of the
//! identity), a contrast between two classes, a class against the mean of the others, or rows
//! read from a file (an SAE encoder, an unembedding); those are the caller's to load.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::scalar::Real;

/// One direction per output unit: the `d_out x d_out` identity (`u = e_o`, so `Q(e_o)` is the
/// interaction matrix of output `o`, e.g. a class logit).
pub fn class_directions<T: Real>(d_out: usize) -> Array2<T> {
    Array2::eye(d_out)
}

/// `e_a - e_b`: what pushes output `a` up relative to output `b`.
///
/// # Panics
/// If `a` or `b` is not below `d_out`.
#[track_caller]
pub fn contrast_direction<T: Real>(d_out: usize, a: usize, b: usize) -> Array1<T> {
    assert!(
        a < d_out && b < d_out,
        "contrast {a}-{b}: outputs must be below d_out = {d_out}"
    );
    let mut u = Array1::zeros(d_out);
    u[a] = T::one();
    u[b] -= T::one();
    u
}

/// `e_a - mean_{o ≠ a} e_o`: output `a` against the average of all the others.
///
/// # Panics
/// If `a` is not below `d_out` or `d_out < 2`.
#[track_caller]
pub fn contrast_mean_direction<T: Real>(d_out: usize, a: usize) -> Array1<T> {
    assert!(
        a < d_out && d_out >= 2,
        "contrast {a}-mean needs a < d_out = {d_out} and d_out >= 2"
    );
    let mut u = Array1::from_elem(d_out, -T::one() / T::of_f64((d_out - 1) as f64));
    u[a] = T::one();
    u
}

/// The given rows of `m`, in the given order.
///
/// # Panics
/// If a row index is out of range.
#[track_caller]
pub fn select_rows<T: Real>(m: ArrayView2<'_, T>, rows: &[usize]) -> Array2<T> {
    if let Some(&bad) = rows.iter().find(|&&r| r >= m.nrows()) {
        panic!(
            "row {bad} is out of range for a matrix with {} rows",
            m.nrows()
        );
    }
    m.select(Axis(0), rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn directions() {
        assert_eq!(contrast_direction::<f64>(3, 2, 0), array![-1.0, 0.0, 1.0]);
        assert_eq!(
            contrast_mean_direction::<f64>(3, 1),
            array![-0.5, 1.0, -0.5]
        );
        assert_eq!(class_directions::<f32>(2), array![[1.0, 0.0], [0.0, 1.0]]);
        let m = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        assert_eq!(
            select_rows(m.view(), &[2, 0]),
            array![[5.0, 6.0], [1.0, 2.0]]
        );
    }
}
