//! Top-k eigenpairs of a dense symmetric matrix by thick-restart block Lanczos.
//!
//! Keeping the k components of largest `|λ|` of a `d x d` matrix by a full decomposition costs
//! `~5 d³` flops whatever k is. A Krylov method touches the matrix only through products with
//! blocks of vectors (GEMMs, `2 d² b` flops per block of `b`), and converges at both ends of the
//! spectrum at once, which is where the largest `|λ|` are.
//!
//! The method (a block Krylov–Schur scheme):
//! 1. Grow an orthonormal basis `V` block by block: `Z_j = Q V_j`, then the next block is `Z_j`
//!    orthogonalised against the **whole** basis, twice (full reorthogonalisation: no ghost
//!    eigenvalues), with exhausted directions replaced by fresh random ones.
//! 2. When the basis holds `max_basis` vectors, Rayleigh–Ritz: eigendecompose
//!    `T = Vᵀ Z` (small, `m x m`) and rank the Ritz pairs by the requested order.
//! 3. Converged when each of the k wanted Ritz pairs has residual `‖Q x − θ x‖ ≤ tol · ‖Q‖`
//!    (with `‖Q‖` estimated by the largest `|θ|`). Otherwise thick restart: keep the best
//!    `k + b` Ritz vectors (and their products with Q, so no extra matrix products) plus the
//!    pending next block, which holds all their residual directions, and grow again.
//!
//! It never hangs: after `max_restarts` restarts without convergence it returns `None` and the
//! caller falls back to the full solver (and reports it). The start block is pseudo-random from
//! a fixed seed, so results are identical across runs and thread counts.

use faer::Par;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder, s};

use crate::eigen::{Order, pick};
use crate::error::DecompError;
use crate::linalg;
use crate::scalar::Real;

/// Tuning of the Lanczos solver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LanczosParams {
    /// Vectors per block (GEMM width). 0 chooses from k.
    pub block: usize,
    /// Basis size at which to restart. 0 chooses from k and the block.
    pub max_basis: usize,
    /// Residual tolerance relative to `‖Q‖`. 0 chooses by precision (`1e-10` in f64,
    /// `1e-5` in f32).
    pub tol: f64,
    /// Restarts before giving up (the caller then uses the full solver).
    pub max_restarts: usize,
}

impl Default for LanczosParams {
    fn default() -> Self {
        Self {
            block: 0,
            max_basis: 0,
            tol: 0.0,
            max_restarts: 60,
        }
    }
}

/// The resolved sizes for one problem.
#[derive(Clone, Copy, Debug)]
struct Plan {
    block: usize,
    keep: usize,
    max_basis: usize,
    tol: f64,
}

impl LanczosParams {
    fn plan<T: Real>(&self, d: usize, k: usize) -> Option<Plan> {
        let block = if self.block > 0 {
            self.block
        } else {
            k.div_ceil(4).clamp(4, 16)
        };
        // Every block is exactly `block` wide: truncating one would drop part of `Q V_j` from
        // the basis and break the Krylov relation the restart relies on. So the kept count and
        // the restart point are whole numbers of blocks.
        let keep = (k + block).next_multiple_of(block);
        let wanted = if self.max_basis > 0 {
            self.max_basis
        } else {
            2 * k + 2 * block
        };
        let max_basis = keep + block * wanted.saturating_sub(keep).div_ceil(block).max(2);
        let tol = if self.tol > 0.0 {
            self.tol
        } else if T::DTYPE == "f64" {
            1e-10
        } else {
            1e-5
        };
        // A Krylov basis as large as the space is just a slow full decomposition.
        (max_basis + block <= d).then_some(Plan {
            block,
            keep,
            max_basis,
            tol,
        })
    }
}

/// Whether the Lanczos solver can run on a `d x d` matrix for `k` components with these
/// parameters (otherwise the basis would span most of the space).
pub fn lanczos_applies<T: Real>(params: &LanczosParams, d: usize, k: usize) -> bool {
    k > 0 && params.plan::<T>(d, k).is_some()
}

/// Converged top-k Ritz pairs.
#[derive(Clone, Debug)]
pub(crate) struct RitzPairs<T> {
    /// Ritz values in the requested order `[k]`.
    pub values: Vec<T>,
    /// Ritz vectors as rows `[k, d]`, in the order of `values` (signs not yet fixed).
    pub vectors: Array2<T>,
}

/// The `k` eigenpairs of the symmetric `q` first in `order`, or `None` when the solver did not
/// converge within `params.max_restarts` (or the problem is too small for it; see
/// [`lanczos_applies`]).
pub(crate) fn lanczos_top_k<T: Real>(
    q: ArrayView2<'_, T>,
    k: usize,
    order: Order,
    params: &LanczosParams,
    par: Par,
) -> Result<Option<RitzPairs<T>>, DecompError> {
    let d = q.nrows();
    let Some(plan) = params.plan::<T>(d, k) else {
        return Ok(None);
    };
    let b = plan.block;
    let cap = plan.max_basis + b;
    // Column-major so that column blocks are contiguous GEMM operands.
    let mut v = Array2::<T>::zeros((d, cap).f());
    let mut z = Array2::<T>::zeros((d, plan.max_basis).f());
    let mut rng = SplitMix(0x5EED_0000 ^ d as u64);
    let mut scratch = Array2::<T>::zeros((d, b).f());
    fill_random(scratch.view_mut(), &mut rng);
    let mut nv = append_block(&mut v, 0, scratch.view_mut(), &mut rng, par);
    let mut nz = 0;
    for restarts in 0..=params.max_restarts {
        // Grow: multiply the pending block, orthogonalise its product into the next block.
        // The basis stops growing at `max_basis` multiplied vectors; one more (pending) block
        // is always prepared, because a restart continues from it.
        loop {
            let (a, e) = (nz, nv);
            linalg::gemm(
                z.slice_mut(s![.., a..e]),
                false,
                q,
                v.slice(s![.., a..e]),
                T::one(),
                par,
            );
            nz = e;
            // `plan` guarantees room for one block past `max_basis` within both `cap` and `d`.
            let mut w = scratch.view_mut();
            w.assign(&z.slice(s![.., a..e]));
            nv = append_block(&mut v, nv, w, &mut rng, par);
            if nz >= plan.max_basis {
                break;
            }
        }
        // Rayleigh–Ritz on the multiplied part of the basis.
        let vm = v.slice(s![.., ..nz]);
        let zm = z.slice(s![.., ..nz]);
        let mut t = linalg::matmul(vm.t(), zm, par);
        crate::interaction::symmetrize_in_place(t.view_mut());
        let dense = linalg::eigh_dense(t.view(), true, Par::Seq)?;
        let y = dense.vectors.expect("vectors requested");
        let order_idx = pick(&dense.values, nz, order);
        let wanted = &order_idx[..k];
        let yw = Array2::from_shape_fn((nz, k), |(i, j)| y[(i, wanted[j])]);
        let theta: Vec<T> = wanted.iter().map(|&i| dense.values[i]).collect();
        let x = linalg::matmul(vm, yw.view(), par);
        let mut r = linalg::matmul(zm, yw.view(), par);
        for (j, &th) in theta.iter().enumerate() {
            r.column_mut(j).scaled_add(-th, &x.column(j));
        }
        let norm_est = dense
            .values
            .iter()
            .fold(T::zero(), |m, &l| m.max(l.abs()))
            .as_f64();
        let worst = (0..k)
            .map(|j| r.column(j).dot(&r.column(j)).as_f64().sqrt())
            .fold(0.0, f64::max);
        if worst <= plan.tol * norm_est.max(f64::MIN_POSITIVE) || nz >= d {
            return Ok(Some(RitzPairs {
                values: theta,
                vectors: x.t().to_owned(),
            }));
        }
        if restarts == params.max_restarts {
            break;
        }
        // Thick restart: [V Y_keep, pending block], Z = Z Y_keep.
        let keep = plan.keep.min(nz);
        let kept = &order_idx[..keep];
        let yk = Array2::from_shape_fn((nz, keep), |(i, j)| y[(i, kept[j])]);
        let new_v = linalg::matmul(vm, yk.view(), par);
        let new_z = linalg::matmul(zm, yk.view(), par);
        let pending = v.slice(s![.., nz..nv]).to_owned();
        let np = nv - nz;
        v.slice_mut(s![.., ..keep]).assign(&new_v);
        v.slice_mut(s![.., keep..keep + np]).assign(&pending);
        z.slice_mut(s![.., ..keep]).assign(&new_z);
        nz = keep;
        nv = keep + np;
    }
    Ok(None)
}

/// Orthogonalises the block `w` against `v[:, ..n]` and within itself, appends it at column
/// `n`, and returns the new column count. Directions that vanish (the Krylov space is
/// exhausted: a column loses all but `1e-8` of its norm) are replaced by random vectors,
/// orthogonalised the same way.
fn append_block<T: Real>(
    v: &mut Array2<T>,
    n: usize,
    mut w: ArrayViewMut2<'_, T>,
    rng: &mut SplitMix,
    par: Par,
) -> usize {
    let width = w.ncols();
    let norms: Vec<T> = w.columns().into_iter().map(|c| c.dot(&c).sqrt()).collect();
    // Block classical Gram-Schmidt against the basis (GEMMs), twice when needed.
    orthogonalise_against(v.slice(s![.., ..n]), w.view_mut(), par);
    // Within the block: Cholesky QR twice (GEMMs) when the block is well conditioned, which is
    // the rule; column by column with random replacements when the Krylov space is exhausted.
    let alive = w
        .columns()
        .into_iter()
        .zip(&norms)
        .all(|(c, &n0)| c.dot(&c).sqrt() > T::of_f64(1e-6) * n0);
    if alive && cholesky_qr(w.view_mut(), par) && cholesky_qr(w.view_mut(), par) {
        v.slice_mut(s![.., n..n + width]).assign(&w);
        return n + width;
    }
    for (j, &norm_in) in norms.iter().enumerate() {
        let mut col = w.column(j).to_owned();
        let mut reference = norm_in;
        for attempt in 0.. {
            if attempt > 0 {
                // Exhausted direction: a random one, cleaned against the whole basis.
                col.mapv_inplace(|_| T::of_f64(rng.next_f64() - 0.5));
                reference = col.dot(&col).sqrt();
                let mut as_block = col.view_mut().insert_axis(ndarray::Axis(1));
                orthogonalise_against(v.slice(s![.., ..n]), as_block.view_mut(), par);
            }
            // Against the basis (when the block went wrong) and the block's earlier columns.
            for _ in 0..2 {
                for i in 0..n + j {
                    let c = v.column(i).dot(&col);
                    col.scaled_add(-c, &v.column(i));
                }
            }
            let norm = col.dot(&col).sqrt();
            if norm > T::of_f64(1e-8) * reference && norm > T::zero() {
                v.column_mut(n + j).assign(&col.mapv(|x| x / norm));
                break;
            }
            assert!(
                attempt < 100,
                "random vectors keep falling into the Krylov basis"
            );
        }
    }
    n + width
}

/// `w <- w L⁻ᵀ` with `wᵀw = L Lᵀ` (Cholesky QR): orthonormalises the columns of a
/// well-conditioned block with two small GEMMs. Returns false, leaving `w` untouched, when the
/// Gram matrix is not numerically positive definite.
fn cholesky_qr<T: Real>(mut w: ArrayViewMut2<'_, T>, par: Par) -> bool {
    let b = w.ncols();
    let g = linalg::matmul(w.t(), w.view(), par);
    let mut l = Array2::<T>::zeros((b, b));
    for j in 0..b {
        let mut diag = g[(j, j)];
        for p in 0..j {
            diag -= l[(j, p)] * l[(j, p)];
        }
        // Not positive (or NaN): the block is numerically rank deficient.
        if diag.is_nan() || diag <= T::of_f64(1e-10) * g[(j, j)] {
            return false;
        }
        let ljj = diag.sqrt();
        l[(j, j)] = ljj;
        for i in j + 1..b {
            let mut x = g[(i, j)];
            for p in 0..j {
                x -= l[(i, p)] * l[(j, p)];
            }
            l[(i, j)] = x / ljj;
        }
    }
    // L⁻¹ by forward substitution on the identity (b is at most a few dozen).
    let mut inv = Array2::<T>::zeros((b, b));
    for c in 0..b {
        for i in c..b {
            let mut x = if i == c { T::one() } else { T::zero() };
            for p in c..i {
                x -= l[(i, p)] * inv[(p, c)];
            }
            inv[(i, c)] = x / l[(i, i)];
        }
    }
    let q = linalg::matmul(w.view(), inv.t(), par);
    w.assign(&q);
    true
}

/// `w <- w - B (Bᵀ w)` for an orthonormal basis `B`, repeated once when a column lost more
/// than `1 - 1/√2` of its norm (the Kahan–Parlett criterion: a second pass restores
/// orthogonality to working precision, and is only needed when cancellation was large).
fn orthogonalise_against<T: Real>(basis: ArrayView2<'_, T>, mut w: ArrayViewMut2<'_, T>, par: Par) {
    if basis.ncols() == 0 {
        return;
    }
    let norms = |w: &ArrayViewMut2<'_, T>| -> Vec<T> {
        w.columns().into_iter().map(|c| c.dot(&c)).collect()
    };
    let before = norms(&w);
    let coef = linalg::matmul(basis.t(), w.view(), par);
    linalg::gemm(w.view_mut(), true, basis, coef.view(), -T::one(), par);
    let after = norms(&w);
    if before
        .iter()
        .zip(&after)
        .any(|(b, a)| *a < T::of_f64(0.5) * *b)
    {
        let coef = linalg::matmul(basis.t(), w.view(), par);
        linalg::gemm(w.view_mut(), true, basis, coef.view(), -T::one(), par);
    }
}

fn fill_random<T: Real>(mut w: ArrayViewMut2<'_, T>, rng: &mut SplitMix) {
    w.mapv_inplace(|_| T::of_f64(rng.next_f64() - 0.5));
}

/// SplitMix64: a tiny deterministic generator for start vectors (no quality demands beyond
/// not being adversarial; keeps `rand` out of the library's dependencies).
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}
