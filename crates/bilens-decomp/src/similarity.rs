//! Comparing the components of two models: are the eigenvectors that one training run finds
//! the ones another finds (the paper's consistency across seeds and sizes)?
//!
//! Components are compared by the absolute cosine `|aᵀb| / (‖a‖ ‖b‖)`: the sign of an
//! eigenvector is arbitrary, and pictures in pixel space (`Eᵀv`) are not unit vectors. Two
//! comparisons of the top components of one output in models A and B:
//!
//! - **same rank** ([`ranked_similarity`]): component `i` of A against component `i` of B. Two
//!   components of nearly equal eigenvalue swap ranks between runs and read as dissimilar.
//! - **matched** ([`matched_similarity`]): the one-to-one pairing of A's and B's components
//!   with the largest total `|cos|` (the assignment problem, solved exactly by
//!   [`max_weight_assignment`]), reported per rank of A. Swaps do not count against it.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::scalar::Real;

/// `|cos|` between every row of `a` (`[ka, d]`) and every row of `b` (`[kb, d]`), `[ka, kb]`,
/// in f64. A zero row has cosine 0 with everything.
///
/// # Panics
/// If the rows differ in width.
#[track_caller]
pub fn abs_cosine_matrix<T: Real>(a: ArrayView2<'_, T>, b: ArrayView2<'_, T>) -> Array2<f64> {
    assert_eq!(a.ncols(), b.ncols(), "rows must share their width");
    let a = T::matrix_f64(a);
    let b = T::matrix_f64(b);
    let norms = |m: &ndarray::CowArray<'_, f64, ndarray::Ix2>| -> Array1<f64> {
        m.axis_iter(Axis(0)).map(|r| r.dot(&r).sqrt()).collect()
    };
    let (na, nb) = (norms(&a), norms(&b));
    let mut c = a.dot(&b.t());
    for ((i, j), x) in c.indexed_iter_mut() {
        let n = na[i] * nb[j];
        *x = if n > 0.0 {
            (*x / n).abs().min(1.0)
        } else {
            0.0
        };
    }
    c
}

/// The one-to-one assignment of rows to columns of `weights` (`[r, c]`, finite) that
/// maximises the total weight: `result[i]` is the column of row `i`, `None` for the
/// `r − c` rows left over when there are more rows than columns.
///
/// Exact, by the Hungarian method with potentials (`O(r² c)` for `r ≤ c`); ties are broken
/// toward lower indices, so the result is deterministic.
///
/// # Panics
/// If a weight is not finite.
#[track_caller]
pub fn max_weight_assignment(weights: ArrayView2<'_, f64>) -> Vec<Option<usize>> {
    assert!(
        weights.iter().all(|w| w.is_finite()),
        "assignment weights must be finite"
    );
    let (r, c) = weights.dim();
    if r == 0 || c == 0 {
        return vec![None; r];
    }
    if r > c {
        // Solve the transpose: every column gets a row.
        let cols = max_weight_assignment(weights.t());
        let mut rows = vec![None; r];
        for (j, i) in cols.into_iter().enumerate() {
            if let Some(i) = i {
                rows[i] = Some(j);
            }
        }
        return rows;
    }
    // Minimise the cost −w with the classic potentials formulation (1-based, row 0 a sentinel).
    let cost = |i: usize, j: usize| -weights[(i - 1, j - 1)];
    let (mut u, mut v) = (vec![0.0f64; r + 1], vec![0.0f64; c + 1]);
    let mut owner = vec![0usize; c + 1]; // owner[j]: the row assigned to column j
    let mut way = vec![0usize; c + 1];
    for i in 1..=r {
        owner[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; c + 1];
        let mut used = vec![false; c + 1];
        loop {
            used[j0] = true;
            let i0 = owner[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0usize);
            for j in 1..=c {
                if used[j] {
                    continue;
                }
                let cur = cost(i0, j) - u[i0] - v[j];
                if cur < minv[j] {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if minv[j] < delta {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for j in 0..=c {
                if used[j] {
                    u[owner[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if owner[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            owner[j0] = owner[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut rows = vec![None; r];
    for j in 1..=c {
        if owner[j] > 0 {
            rows[owner[j] - 1] = Some(j - 1);
        }
    }
    rows
}

/// For each row `i` of `a` (`[k, d]`, model A's top components in rank order), the `|cos|`
/// with its partner in the best one-to-one matching to the rows of `b` (`[kb, d]`); 0 for a
/// row left unmatched (`kb < k`). `[k]`. A set compared with itself gives all ones.
#[track_caller]
pub fn matched_similarity<T: Real>(a: ArrayView2<'_, T>, b: ArrayView2<'_, T>) -> Array1<f64> {
    let cos = abs_cosine_matrix(a, b);
    max_weight_assignment(cos.view())
        .into_iter()
        .enumerate()
        .map(|(i, j)| j.map_or(0.0, |j| cos[(i, j)]))
        .collect()
}

/// `|cos|` between row `i` of `a` and row `i` of `b`, for the first `min(ka, kb)` rows.
#[track_caller]
pub fn ranked_similarity<T: Real>(a: ArrayView2<'_, T>, b: ArrayView2<'_, T>) -> Array1<f64> {
    let k = a.nrows().min(b.nrows());
    let cos = abs_cosine_matrix(a.slice(ndarray::s![..k, ..]), b.slice(ndarray::s![..k, ..]));
    cos.diag().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Every permutation of 0..n, to check the assignment against brute force.
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for pos in 0..=p.len() {
                let mut q = p.clone();
                q.insert(pos, n - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn assignment_matches_brute_force_on_seeded_matrices() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for n in 1..=6 {
            for _ in 0..20 {
                let w = Array2::from_shape_simple_fn((n, n), &mut next);
                let got = max_weight_assignment(w.view());
                let total: f64 = got
                    .iter()
                    .enumerate()
                    .map(|(i, j)| w[(i, j.expect("square: all assigned"))])
                    .sum();
                let best = permutations(n)
                    .iter()
                    .map(|p| p.iter().enumerate().map(|(i, &j)| w[(i, j)]).sum::<f64>())
                    .fold(f64::NEG_INFINITY, f64::max);
                assert!((total - best).abs() < 1e-12, "n = {n}: {total} vs {best}");
            }
        }
    }

    #[test]
    fn rectangular_assignments_leave_extra_rows_unmatched() {
        let w = array![[0.1, 0.9], [0.8, 0.2], [0.95, 0.0]];
        let got = max_weight_assignment(w.view());
        // Best total: row 0 -> col 1 (0.9), row 2 -> col 0 (0.95); row 1 is left over.
        assert_eq!(got, vec![Some(1), None, Some(0)]);
        let wide = array![[0.1, 0.9, 0.3]];
        assert_eq!(max_weight_assignment(wide.view()), vec![Some(1)]);
    }

    #[test]
    fn cosine_is_sign_and_scale_invariant() {
        let a = array![[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
        let b = array![[-3.0, 0.0], [0.0, 2.0]];
        let c = abs_cosine_matrix(a.view(), b.view());
        assert!((c[(0, 0)] - 1.0).abs() < 1e-15);
        assert!(c[(0, 1)].abs() < 1e-15);
        assert!((c[(1, 1)] - 0.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(c.row(2).to_vec(), vec![0.0, 0.0]);
    }
}
