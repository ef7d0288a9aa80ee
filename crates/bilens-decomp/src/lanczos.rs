//! Top-k eigenpairs of a dense symmetric matrix by thick-restart block Lanczos.
//!
//! Keeping the k components of largest `|λ|` of a `d x d` matrix by a full decomposition costs
//! `~5 d³` flops whatever k is. A Krylov method touches the matrix only through products with
//! blocks of vectors (GEMMs, `2 d² b` flops per block of `b`), and converges at both ends of the
//! spectrum at once, which is where the largest `|λ|` are.
//!
//! The method (a block Krylov–Schur scheme):
//! 1. Grow an orthonormal basis `V` block by block: `Z_j = Q V_j`, then the next block is `Z_j`
//!    orthogonalised against the **whole** basis (block Gram–Schmidt by GEMMs, a second pass
//!    when cancellation was large, Cholesky QR within the block: full reorthogonalisation, so
//!    no ghost eigenvalues), with exhausted directions replaced by fresh random ones.
//! 2. When the basis holds `max_basis` (default `4k`) vectors, Rayleigh–Ritz: eigendecompose
//!    `T = Vᵀ Z` (small, `m x m`) and rank the Ritz pairs by the requested order.
//! 3. Converged when each of the k wanted Ritz pairs has residual `‖Q x − θ x‖ ≤ tol · ‖Q‖`
//!    (with `‖Q‖` estimated by the largest `|θ|`). Otherwise thick restart: keep the best
//!    `k + b` Ritz vectors, recompute their products with Q, and grow again from the dominant
//!    directions of their residuals.
//!
//! The iteration always runs in f64, also for f32 matrices (converted once, `d²` numbers). In
//! f32 the rounding of each `Q V` product (`~ε √d ‖Q‖`) caps the attainable residual near
//! `1e-4 ‖Q‖` on the dense spectra of real layers, which left eigenvalues near the k-th wrong
//! by up to 1e-3 (measured); in f64 the same iteration reaches any tolerance, for about twice
//! the GEMM time of f32.
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
            4 * k
        };
        let max_basis = keep + block * wanted.saturating_sub(keep).div_ceil(block).max(2);
        // The solver always works in f64 (see the module docs); the default tolerance follows
        // the precision of the results. For f32 results 1e-4 ‖Q‖ is enough: eigenvalue errors
        // go as ‖r‖²/gap and were measured at 1e-7..1e-9 relative, below f32's own resolution.
        let tol = if self.tol > 0.0 {
            self.tol
        } else if T::DTYPE == "f64" {
            1e-10
        } else {
            1e-4
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
/// [`lanczos_applies`]). Computed in f64 whatever `T` is.
pub(crate) fn lanczos_top_k<T: Real>(
    q: ArrayView2<'_, T>,
    k: usize,
    order: Order,
    params: &LanczosParams,
    par: Par,
) -> Result<Option<RitzPairs<T>>, DecompError> {
    let Some(plan) = params.plan::<T>(q.nrows(), k) else {
        return Ok(None);
    };
    // Products with Q in Q's own precision (an f32 GEMM is twice as fast and its rounding,
    // ~ε √d ‖Q‖ per product, stays below the tolerance), everything else in f64.
    let d = q.nrows();
    let mut matvec = |x: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>| {
        // Column blocks of column-major arrays: contiguous, so the conversions are plain
        // (vectorised) slice loops.
        let cols = x.ncols();
        let xs = x
            .as_slice_memory_order()
            .expect("Krylov blocks are contiguous");
        let xt = Array2::from_shape_vec((d, cols).f(), xs.iter().map(|&v| T::of_f64(v)).collect())
            .expect("d x cols numbers");
        let mut yt = Array2::<T>::zeros((d, cols).f());
        // (Q X)ᵀ = Xᵀ Q for symmetric Q: with the thin block on the left, the GEMM does not
        // repack all of Q for every block.
        linalg::gemm(
            yt.view_mut().reversed_axes(),
            false,
            xt.t(),
            q,
            T::one(),
            par,
        );
        let ys = yt.as_slice_memory_order().expect("allocated contiguous");
        let os = out
            .as_slice_memory_order_mut()
            .expect("Krylov blocks are contiguous");
        for (o, &y) in os.iter_mut().zip(ys) {
            *o = y.as_f64();
        }
    };
    Ok(
        krylov_schur(d, &mut matvec, k, order, &plan, params.max_restarts, par)?.map(|r| {
            RitzPairs {
                values: r.values.into_iter().map(T::of_f64).collect(),
                vectors: r.vectors.mapv(T::of_f64),
            }
        }),
    )
}

/// The thick-restart block Lanczos iteration itself, in f64.
fn krylov_schur(
    d: usize,
    matvec: &mut dyn FnMut(ArrayView2<'_, f64>, ArrayViewMut2<'_, f64>),
    k: usize,
    order: Order,
    plan: &Plan,
    max_restarts: usize,
    par: Par,
) -> Result<Option<RitzPairs<f64>>, DecompError> {
    let b = plan.block;
    let cap = plan.max_basis;
    // Column-major so that column blocks are contiguous GEMM operands.
    let mut v = Array2::<f64>::zeros((d, cap).f());
    let mut z = Array2::<f64>::zeros((d, plan.max_basis).f());
    let mut rng = SplitMix(0x5EED_0000 ^ d as u64);
    let mut scratch = Array2::<f64>::zeros((d, b).f());
    fill_random(scratch.view_mut(), &mut rng);
    let mut nv = append_block(&mut v, 0, scratch.view_mut(), &mut rng, par);
    let mut nz = 0;
    for restarts in 0..=max_restarts {
        // Grow: multiply the pending block, orthogonalise its product into the next block,
        // until the basis holds `max_basis` multiplied vectors.
        loop {
            let (a, e) = (nz, nv);
            matvec(v.slice(s![.., a..e]), z.slice_mut(s![.., a..e]));
            nz = e;
            if nz >= plan.max_basis {
                break;
            }
            let mut w = scratch.view_mut();
            w.assign(&z.slice(s![.., a..e]));
            // In exact arithmetic `Q V_j` only has components along `V_{j-1}` and `V_j` (the
            // block three-term recurrence): removing those first (cheap) leaves little for the
            // full reorthogonalisation to cancel, so it rarely needs its second pass.
            let local = a.saturating_sub(b)..e;
            let recent = v.slice(s![.., local]);
            let coef = linalg::matmul(recent.t(), w.view(), par);
            linalg::gemm(w.view_mut(), true, recent, coef.view(), -1.0, par);
            nv = append_block(&mut v, nv, w, &mut rng, par);
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
        let theta: Vec<f64> = wanted.iter().map(|&i| dense.values[i]).collect();
        let x = linalg::matmul(vm, yw.view(), par);
        let mut r = linalg::matmul(zm, yw.view(), par);
        for (j, &th) in theta.iter().enumerate() {
            r.column_mut(j).scaled_add(-th, &x.column(j));
        }
        let norm_est = dense.values.iter().fold(0.0f64, |m, &l| m.max(l.abs()));
        let worst = (0..k)
            .map(|j| r.column(j).dot(&r.column(j)).sqrt())
            .fold(0.0, f64::max);
        if worst <= plan.tol * norm_est.max(f64::MIN_POSITIVE) || nz >= d {
            return Ok(Some(RitzPairs {
                values: theta,
                vectors: x.t().to_owned(),
            }));
        }
        if restarts == max_restarts {
            break;
        }
        // Thick restart from the best `keep` Ritz vectors. Their products with Q are
        // recomputed, not carried along as `Z Y`: carried products keep the Krylov relation
        // only up to the rounding of every earlier restart, which in f32 accumulates into a
        // residual floor (measured ~1e-4 ‖Q‖ after a few restarts); fresh ones hold it to one
        // GEMM's rounding. Growth resumes from the `b` dominant directions of the kept
        // vectors' residuals, which span the block the Krylov space would have grown by.
        let keep = plan.keep.min(nz);
        let kept = &order_idx[..keep];
        let yk = Array2::from_shape_fn((nz, keep), |(i, j)| y[(i, kept[j])]);
        let mut new_v = linalg::matmul(vm, yk.view(), par);
        if let Some(r_inv) = cholesky_inverse_factor(new_v.view(), par) {
            new_v = linalg::matmul(new_v.view(), r_inv.view(), par);
        }
        v.slice_mut(s![.., ..keep]).assign(&new_v);
        let vk = v.slice(s![.., ..keep]);
        matvec(vk, z.slice_mut(s![.., ..keep]));
        let zk = z.slice(s![.., ..keep]);
        let tk = linalg::matmul(vk.t(), zk, par);
        let mut residual = zk.to_owned();
        linalg::gemm(residual.view_mut(), true, vk, tk.view(), -1.0, par);
        orthogonalise_against(vk, residual.view_mut(), par);
        let gram = linalg::matmul(residual.t(), residual.view(), par);
        let dominant = linalg::eigh_dense(gram.view(), true, Par::Seq)?;
        let u = dominant.vectors.expect("vectors requested");
        // eigh_dense is ascending: the last b columns are the dominant directions.
        let top = Array2::from_shape_fn((keep, b), |(i, j)| u[(i, keep - 1 - j)]);
        let mut w = scratch.view_mut();
        w.assign(&linalg::matmul(residual.view(), top.view(), par));
        nz = keep;
        nv = append_block(&mut v, keep, w, &mut rng, par);
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
    match cholesky_inverse_factor(w.view(), par) {
        Some(r_inv) => {
            let q = linalg::matmul(w.view(), r_inv.view(), par);
            w.assign(&q);
            true
        }
        None => false,
    }
}

/// `L⁻ᵀ` for the Cholesky factor of `wᵀw = L Lᵀ`, so that `w L⁻ᵀ` has orthonormal columns;
/// `None` when the Gram matrix is not numerically positive definite (rank-deficient `w`).
fn cholesky_inverse_factor<T: Real>(w: ArrayView2<'_, T>, par: Par) -> Option<Array2<T>> {
    let b = w.ncols();
    let g = linalg::matmul(w.t(), w, par);
    let mut l = Array2::<T>::zeros((b, b));
    for j in 0..b {
        let mut diag = g[(j, j)];
        for p in 0..j {
            diag -= l[(j, p)] * l[(j, p)];
        }
        // Not positive (or NaN): the block is numerically rank deficient.
        if diag.is_nan() || diag <= T::of_f64(1e-10) * g[(j, j)] {
            return None;
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
    // L⁻¹ by forward substitution on the identity (b is at most a few hundred).
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
    Some(inv.reversed_axes())
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
