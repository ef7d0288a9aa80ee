//! Related outputs: for every output direction, the others of largest cosine.
//!
//! All pairs are compared, in blocks of rows: the cosines of one block against every output
//! are one matrix product of at most [`BLOCK_BYTES`], so memory holds the unit directions and
//! one such block per thread, whatever the number of outputs.

use bilens_decomp::Real;
use ndarray::{Array2, ArrayView2, Axis, s};
use rayon::prelude::*;

/// The largest block of cosines computed at once, per thread.
pub(crate) const BLOCK_BYTES: usize = 32 << 20;

/// Cosines at or below this are not a relation (orthogonal directions, such as one-hot
/// classes, come out as rounding noise around zero).
pub(crate) const MIN_COSINE: f64 = 1e-6;

/// For every row of `directions` (`[n, d]`), up to `m` other rows with the largest cosine
/// above [`MIN_COSINE`], as `(row, cosine)`, largest first (ties by row). A zero row has no
/// neighbours and is nobody's.
pub(crate) fn nearest<T: Real>(directions: ArrayView2<'_, T>, m: usize) -> Vec<Vec<(usize, T)>> {
    let n = directions.nrows();
    if m == 0 || n < 2 {
        return vec![Vec::new(); n];
    }
    let unit = unit_rows(directions);
    let block = (BLOCK_BYTES / (n * std::mem::size_of::<T>())).clamp(1, n);
    let starts: Vec<usize> = (0..n).step_by(block).collect();
    starts
        .into_par_iter()
        .flat_map_iter(|first| {
            let rows = unit.slice(s![first..(first + block).min(n), ..]);
            let cosines = rows.dot(&unit.t());
            cosines
                .axis_iter(Axis(0))
                .enumerate()
                .map(|(i, row)| best(row.iter().copied().enumerate(), first + i, m))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The rows scaled to unit length; zero rows stay zero (their cosines are all 0).
fn unit_rows<T: Real>(a: ArrayView2<'_, T>) -> Array2<T> {
    let mut unit = a.to_owned();
    for mut row in unit.rows_mut() {
        let norm = row.iter().map(|&x| x * x).sum::<T>().sqrt();
        if norm > T::zero() && norm.is_finite() {
            row.mapv_inplace(|x| x / norm);
        } else {
            row.fill(T::zero());
        }
    }
    unit
}

/// The `m` largest cosines of one row above [`MIN_COSINE`], other than the row itself.
fn best<T: Real>(
    cosines: impl Iterator<Item = (usize, T)>,
    own: usize,
    m: usize,
) -> Vec<(usize, T)> {
    let floor = T::of_f64(MIN_COSINE);
    let mut found: Vec<(usize, T)> = cosines.filter(|&(j, c)| j != own && c > floor).collect();
    let by_cosine = |a: &(usize, T), b: &(usize, T)| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.0.cmp(&b.0))
    };
    if found.len() > m {
        found.select_nth_unstable_by(m, by_cosine);
        found.truncate(m);
    }
    found.sort_by(by_cosine);
    // The candidates were up to every output: keep only the m (n lists of n would not fit).
    found.shrink_to_fit();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn nearest_by_cosine_without_self_zero_rows_or_orthogonal_ones() {
        let d = array![
            [1.0f64, 0.0, 0.0],
            [2.0, 1.0, 0.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 5.0],
            [-1.0, 3.0, 0.0],
        ];
        let found = nearest(d.view(), 2);
        let c01 = 2.0 / 5f64.sqrt();
        assert_eq!(found[0].len(), 1);
        assert_eq!(found[0][0].0, 1);
        assert!((found[0][0].1 - c01).abs() < 1e-12);
        assert!(found[2].is_empty() && found[3].is_empty());
        // Row 4 has a negative cosine with row 0 and a positive one with row 1.
        assert_eq!(found[4].iter().map(|p| p.0).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn each_list_holds_only_its_neighbours() {
        // All 300 directions alike: every other is a candidate, three are kept.
        let d = ndarray::Array2::from_shape_fn((300, 4), |(i, j)| 1.0 + (i * 7 + j) as f32 * 1e-3);
        let found = nearest(d.view(), 3);
        assert!(found.iter().all(|f| f.len() == 3 && f.capacity() < 10));
    }
}
