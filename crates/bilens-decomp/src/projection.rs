//! The rows of a table that score highest and lowest against a vector: which tokens' embeddings
//! project most on a component (`E v`, `E` `[vocab, d]`), for labelling it by tokens.
//!
//! A component's activation is `λ (vᵀx)²`, blind to the sign of `v`, so both ends matter: the
//! **top** rows (largest `e_tᵀv`) and the **bottom** rows (most negative) are the two poles
//! of the direction; tokens at either pole activate the component. Cost: one `[m, d] × [d,
//! rows]` GEMM per block of vectors, then one pass per score row; memory is one block of scores
//! (`VECTOR_BLOCK · rows` numbers), whatever the number of vectors.

use faer::Par;
use ndarray::{ArrayView2, s};

use crate::linalg;
use crate::scalar::Real;

/// Vectors scored at once: the score block is `[VECTOR_BLOCK, rows]` (13 MB for a 50k-token
/// vocabulary in f32).
const VECTOR_BLOCK: usize = 64;

/// The highest- and lowest-scoring rows of a table against one vector, `(row, score)` pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Extremes<T> {
    /// The `t` largest scores, descending (ties: lower row first).
    pub top: Vec<(usize, T)>,
    /// The `t` smallest scores, ascending (ties: lower row first).
    pub bottom: Vec<(usize, T)>,
}

/// For each row of `vectors` (`[m, d]`), the `t` rows of `table` (`[rows, d]`) with the
/// largest and the smallest dot products. With fewer than `t` rows, all of them.
///
/// # Panics
/// If the widths differ.
#[track_caller]
pub fn extreme_rows<T: Real>(
    table: ArrayView2<'_, T>,
    vectors: ArrayView2<'_, T>,
    t: usize,
    par: Par,
) -> Vec<Extremes<T>> {
    assert_eq!(
        table.ncols(),
        vectors.ncols(),
        "table and vectors must have the same width"
    );
    let mut out = Vec::with_capacity(vectors.nrows());
    for b0 in (0..vectors.nrows()).step_by(VECTOR_BLOCK) {
        let b1 = (b0 + VECTOR_BLOCK).min(vectors.nrows());
        let scores = linalg::matmul(vectors.slice(s![b0..b1, ..]), table.t(), par);
        for row in scores.rows() {
            let scores: Vec<T> = row.to_vec();
            out.push(Extremes {
                top: best(&scores, t, |a, b| a > b),
                bottom: best(&scores, t, |a, b| a < b),
            });
        }
    }
    out
}

/// The `t` entries that come first under `before` (a strict order), in that order, ties by
/// index; one pass with a small sorted buffer (`t` is a handful).
fn best<T: Real>(scores: &[T], t: usize, before: impl Fn(T, T) -> bool) -> Vec<(usize, T)> {
    let mut kept: Vec<(usize, T)> = Vec::with_capacity(t + 1);
    if t == 0 {
        return kept;
    }
    for (i, &x) in scores.iter().enumerate() {
        if kept.len() == t && !before(x, kept[t - 1].1) {
            continue;
        }
        // After every kept entry that is not worse: ties keep the earlier index first.
        let at = kept.partition_point(|&(_, y)| !before(x, y));
        kept.insert(at, (i, x));
        kept.truncate(t);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn top_and_bottom_rows_with_ties_by_index() {
        let table = array![
            [1.0f64, 0.0],
            [0.0, 1.0],
            [-1.0, 0.0],
            [2.0, 0.0],
            [1.0, 0.0]
        ];
        let v = array![[1.0, 0.0], [0.0, -1.0]];
        let e = extreme_rows(table.view(), v.view(), 2, Par::Seq);
        assert_eq!(e[0].top, vec![(3, 2.0), (0, 1.0)]);
        assert_eq!(e[0].bottom, vec![(2, -1.0), (1, 0.0)]);
        assert_eq!(e[1].top[0].0, 0, "ties (score 0) by index");
        assert_eq!(e[1].bottom, vec![(1, -1.0), (0, 0.0)]);
        let all = extreme_rows(table.view(), v.view(), 9, Par::Seq);
        assert_eq!(all[0].top.len(), 5);
        assert!(
            extreme_rows(table.view(), v.view(), 0, Par::Seq)[0]
                .top
                .is_empty()
        );
    }

    #[test]
    fn blocks_of_vectors_agree_with_one_at_a_time() {
        let table =
            ndarray::Array2::from_shape_fn((50, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        let v = ndarray::Array2::from_shape_fn((150, 3), |(i, j)| ((i + 2 * j) % 5) as f64 - 2.0);
        let all = extreme_rows(table.view(), v.view(), 3, Par::Seq);
        assert_eq!(all.len(), 150);
        for i in [0, 63, 64, 149] {
            let one = extreme_rows(table.view(), v.slice(s![i..i + 1, ..]), 3, Par::Seq);
            assert_eq!(one[0], all[i]);
        }
    }
}
