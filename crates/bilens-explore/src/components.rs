//! What an output page shows of one output's eigendecomposition: the spectrum's ends, which
//! components are drawn, and each drawn component as an image or as its largest entries.

use base64::Engine as _;
use bilens_decomp::Real;
use ndarray::ArrayView1;
use serde::Serialize;

/// The ends of one output's kept spectrum: the most positive and the most negative
/// eigenvalues, each with its component's position in the stored order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Spectrum<T> {
    /// Components kept (the length of the stored eigenvalue row).
    pub k: usize,
    /// How many kept eigenvalues are positive and negative (the rest are zero).
    pub n_positive: usize,
    pub n_negative: usize,
    /// `[component, λ]`, most positive first.
    pub positive: Vec<(usize, T)>,
    /// `[component, λ]`, most negative first.
    pub negative: Vec<(usize, T)>,
}

impl<T: Real> Spectrum<T> {
    /// The `per_sign` most positive and most negative of `eigenvalues`.
    pub fn of(eigenvalues: ArrayView1<'_, T>, per_sign: usize) -> Self {
        let (positive, n_positive) = extremes(eigenvalues, per_sign, |x| x > T::zero());
        let (negative, n_negative) = extremes(eigenvalues, per_sign, |x| x < T::zero());
        Self {
            k: eigenvalues.len(),
            n_positive,
            n_negative,
            positive,
            negative,
        }
    }

    /// The components the page draws: the spectrum's ends, positive then negative, each
    /// limited to `per_sign`.
    pub fn drawn(&self, per_sign: usize) -> Vec<usize> {
        self.positive
            .iter()
            .take(per_sign)
            .chain(self.negative.iter().take(per_sign))
            .map(|&(c, _)| c)
            .collect()
    }
}

/// The `n` entries of `values` that pass `keep`, largest magnitude first (ties by position),
/// and how many pass in all.
fn extremes<T: Real>(
    values: ArrayView1<'_, T>,
    n: usize,
    keep: impl Fn(T) -> bool,
) -> (Vec<(usize, T)>, usize) {
    let mut all: Vec<(usize, T)> = values
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, x)| keep(x))
        .collect();
    let count = all.len();
    sort_by_magnitude(&mut all);
    all.truncate(n);
    (all, count)
}

/// Sorts `(position, value)` pairs by descending `|value|`, ties by position; NaN last.
fn sort_by_magnitude<T: Real>(pairs: &mut [(usize, T)]) {
    pairs.sort_by(|a, b| {
        let (x, y) = (a.1.abs(), b.1.abs());
        y.partial_cmp(&x)
            .unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
            .then(a.0.cmp(&b.0))
    });
}

/// The `n` entries of a vector of largest magnitude, `[position, value]`, largest first.
pub(crate) fn top_entries<T: Real>(v: ArrayView1<'_, T>, n: usize) -> Vec<(usize, T)> {
    extremes(v, n, |_| true).0
}

/// An image quantised to signed bytes: entry `i` is `int8[i] / 127 * scale`, where `scale` is
/// the largest magnitude of the vector (so the error of an entry is at most `scale / 254`).
/// Non-finite entries are stored as -128, which the page draws grey.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Pixels<T> {
    /// The largest `|entry|` of the vector (0 for a zero vector).
    pub scale: T,
    /// The bytes, two's complement, base64 (RFC 4648 with padding), row-major (channel,
    /// row, column).
    pub int8: String,
}

/// The byte that stands for a value that is not a finite number.
pub(crate) const MISSING_BYTE: i8 = i8::MIN;

impl<T: Real> Pixels<T> {
    /// Quantises `v`.
    pub fn of(v: ArrayView1<'_, T>) -> Self {
        let scale = v
            .iter()
            .filter(|x| x.is_finite())
            .fold(T::zero(), |m, &x| m.max(x.abs()));
        let bytes: Vec<u8> = v
            .iter()
            .map(|&x| {
                let q = if !x.is_finite() {
                    MISSING_BYTE
                } else if scale > T::zero() {
                    // |x / scale| <= 1, so the rounded value is within -127..=127.
                    (x / scale * T::of_f64(127.0)).round().as_f64() as i8
                } else {
                    0
                };
                q.to_le_bytes()[0]
            })
            .collect();
        Self {
            scale,
            int8: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn spectrum_takes_each_end_by_magnitude() {
        let e = array![0.5f64, -2.0, 3.0, 0.0, -0.1, 1.0];
        let s = Spectrum::of(e.view(), 2);
        assert_eq!(s.positive, vec![(2, 3.0), (5, 1.0)]);
        assert_eq!(s.negative, vec![(1, -2.0), (4, -0.1)]);
        assert_eq!((s.n_positive, s.n_negative, s.k), (3, 2, 6));
        assert_eq!(s.drawn(1), vec![2, 1]);
    }

    #[test]
    fn pixels_round_trip_within_half_a_step() {
        let v = array![0.3f32, -1.2, 0.0, f32::NAN, 1.2];
        let p = Pixels::of(v.view());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&p.int8)
            .unwrap();
        let back: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
        assert_eq!(back[3], MISSING_BYTE);
        assert_eq!(p.scale, 1.2);
        for i in [0, 1, 2, 4] {
            let x = f32::from(back[i]) / 127.0 * p.scale;
            assert!(
                (x - v[i]).abs() <= 1.2 / 254.0 + 1e-7,
                "{i}: {x} vs {}",
                v[i]
            );
        }
    }

    #[test]
    fn top_entries_by_magnitude_then_position() {
        let v = array![1.0f64, -3.0, 3.0, 0.5];
        assert_eq!(
            top_entries(v.view(), 3),
            vec![(1, -3.0), (2, 3.0), (0, 1.0)]
        );
    }
}
