//! Top-k eigenpairs of a dense symmetric matrix by thick-restart block Lanczos.
//!
//! Keeping the k components of largest `|λ|` of a `d x d` matrix by a full decomposition costs
//! `~5 d³` flops whatever k is. A Krylov method touches the matrix only through products with
//! blocks of vectors (`2 d² b` flops per block of `b`), and converges at both ends of the
//! spectrum at once, which is where the largest `|λ|` are. Those products read Q's bytes, and
//! at `d = 1024` Q outgrows a core's L2, so they read each entry below the diagonal once for both
//! of its products ([`symmetric::symm_lower`]): 5/8 of the bytes a GEMM streams at
//! `d = 1024`, the diagonal tiles being read whole.
//!
//! The method (a block Krylov–Schur scheme):
//! 1. Grow an orthonormal basis `V` block by block: `Z_j = Q V_j`, then the next block is `Z_j`
//!    orthogonalised against the **whole** basis (block Gram–Schmidt by GEMMs, a second pass
//!    when cancellation was large, Cholesky QR within the block: full reorthogonalisation, so
//!    no ghost eigenvalues), with exhausted directions replaced by fresh random ones. The
//!    Gram–Schmidt coefficients are the entries of the projected matrix `H = Vᵀ Q V`, so `H`
//!    costs nothing beyond the orthogonalisation.
//! 2. From a basis of about `3k` vectors on, every few blocks: Rayleigh–Ritz, i.e. every
//!    eigenvalue of `H` (small, `m x m`), ranked by the requested order, and the vectors of
//!    the first `k + b` only, the ones a restart can keep ([`linalg::eigh_selected`]). The
//!    residual of a Ritz pair `(θ, V y)` comes for free from the block recurrence,
//!    `‖Q V y − θ V y‖ = ‖R y_last‖` (`R` the coefficient of the next block, `y_last` the last
//!    block of `y`), exactly (to rounding) until the first restart; after one, the formula is
//!    a lower bound and a passing estimate is confirmed by computing the residuals.
//! 3. Converged when each of the k wanted Ritz pairs has residual `‖Q x − θ x‖ ≤ tol · ‖Q‖`
//!    (with `‖Q‖` estimated by the largest `|θ|`). When the basis reaches `max_basis` without
//!    converging: thick restart, keeping the best `k + b` Ritz vectors, recomputing their
//!    products with Q, and growing again from the dominant directions of their residuals.
//!
//! Precision: the basis, the products and the Gram–Schmidt coefficients are in the matrix's
//! precision; the small eigenproblem of `H` and the residual estimates are in f64. In f32 the
//! products' rounding, `~ε √d ‖Q‖`, was measured as a residual floor of `4e-8 ‖Q‖` at
//! d = 1024, and the basis's rounding adds as much again (its orthogonality is kept by the
//! full reorthogonalisation), both far below the f32 tolerance of `1e-4 ‖Q‖`; the f32 GEMMs
//! against the basis run twice as fast as f64 ones and read half the bytes (benches/README.md
//! has the measurement). The eigenproblem of `H` must be f64: solved in f32 it left residuals
//! stuck near `1.5e-4 ‖Q‖`, above the f32 tolerance (measured).
//!
//! It never hangs: after `max_restarts` restarts without convergence it returns `None` and the
//! caller falls back to the full solver (and reports it). The start block is pseudo-random from
//! a fixed seed, so results are identical across runs and thread counts.

use faer::Par;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder, s};

use crate::error::DecompError;
use crate::linalg;
use crate::order::{Order, pick};
use crate::placement::{self, PlacedBuffer};
use crate::scalar::{Precision, Real};
use crate::symmetric;

/// When a direction counts as lost to rounding, in the basis's precision: `(gram, norm)`, a
/// Cholesky pivot below `gram` times its column's squared norm (the block is numerically rank
/// deficient), and a column left with less than `norm` of its norm after orthogonalisation
/// (it lay in the basis). What survives is orthogonal to the basis to about `ε / norm`: 2e-8 in
/// f64, 1e-4 in f32, both below the residual tolerance (see [`LanczosParams::tol`]).
fn negligible<T: Real>() -> (T, T) {
    match T::PRECISION {
        Precision::F64 => (T::of_f64(1e-10), T::of_f64(1e-8)),
        Precision::F32 => (T::of_f64(1e-5), T::of_f64(1e-3)),
    }
}

/// Tuning of the Lanczos solver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LanczosParams {
    /// Vectors per block (GEMM width). 0 chooses from k.
    pub block: usize,
    /// Basis size at which to restart. 0 chooses from k and the block.
    pub max_basis: usize,
    /// Residual tolerance relative to `‖Q‖`. 0 chooses by precision (`1e-10` in f64,
    /// `1e-4` in f32).
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
    /// Basis size of the first Rayleigh–Ritz check.
    first_check: usize,
    /// Vectors added between checks.
    step: usize,
    max_basis: usize,
    tol: f64,
}

impl LanczosParams {
    fn plan<T: Real>(&self, d: usize, k: usize) -> Option<Plan> {
        // Smaller blocks reach a given residual with fewer products (measured at d = 1024,
        // k = 64 on layer matrices: a residual of 1e-4 ‖Q‖ after ~200 vectors in blocks of 8,
        // ~250 in blocks of 16, ~320 in blocks of 32), larger ones make better GEMMs; 8 is the
        // measured optimum there.
        let block = if self.block > 0 {
            self.block
        } else {
            k.div_ceil(8).clamp(4, 8)
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
        let first_check = (3 * k)
            .next_multiple_of(block)
            .clamp(keep + block, max_basis);
        let step = 16usize.next_multiple_of(block);
        // The tolerance follows the precision. For f32 1e-4 ‖Q‖ is enough: eigenvalue errors
        // go as ‖r‖²/gap plus the rounding of the f32 coefficients of `H`, measured at
        // 6e-8 ‖Q‖ on decaying spectra and 1e-6 ‖Q‖ on a flat one after restarts (`phases
        // methods`), against 1.5e-5 ‖Q‖ for the full f32 solver.
        let tol = if self.tol > 0.0 {
            self.tol
        } else {
            match T::PRECISION {
                Precision::F64 => 1e-10,
                Precision::F32 => 1e-4,
            }
        };
        // A Krylov basis as large as the space is just a slow full decomposition.
        (max_basis + block <= d).then_some(Plan {
            block,
            keep,
            first_check,
            step,
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
/// [`lanczos_applies`]), or when `watch` judged that it would not converge within its budget.
/// Computed in `T`, except for the small eigenproblem (see the module docs).
pub(crate) fn lanczos_top_k<T: Real>(
    q: ArrayView2<'_, T>,
    k: usize,
    order: Order,
    params: &LanczosParams,
    watch: Option<Watch>,
    par: Par,
) -> Result<Option<RitzPairs<T>>, DecompError> {
    let Some(plan) = params.plan::<T>(q.nrows(), k) else {
        return Ok(None);
    };
    let d = q.nrows();
    // Products with Q in Q's own precision, into reused column-major buffers. Where Q, X and
    // Y start decides how fast those run (see `placement`): Q on a cache line (copied there if
    // need be), X and Y a quarter and half a page after it, and on one thread each of their
    // columns followed by a cache line of padding.
    let mut copy = None;
    let q = placement::aligned_matrix(q, &mut copy);
    let size = std::mem::size_of::<T>();
    // (The padding is for the symmetric product; faer's GEMM, on several threads, wants its
    // destination contiguous.)
    let stride = if par.degree() == 1 {
        d + placement::LINE / size
    } else {
        d
    };
    let cols = plan.block.max(plan.keep);
    let at = placement::page_offset(q.as_ptr());
    let mut xt = PlacedBuffer::<T>::zeros(stride * cols, at + placement::PAGE / 4);
    let mut yt = PlacedBuffer::<T>::zeros(stride * cols, at + placement::PAGE / 2);
    let mut matvec = |x: ArrayView2<'_, T>, mut out: ArrayViewMut2<'_, T>| {
        // Column blocks of column-major arrays: contiguous, so the copies into and out of the
        // placed buffers are plain slice copies, column by column.
        let cols = x.ncols();
        let xs = x
            .as_slice_memory_order()
            .expect("Krylov blocks are contiguous");
        let xb = &mut xt.as_mut_slice()[..stride * cols];
        for (dst, src) in xb.chunks_exact_mut(stride).zip(xs.chunks_exact(d)) {
            dst[..d].copy_from_slice(src);
        }
        let xb = &xt.as_slice()[..stride * cols];
        let yb = &mut yt.as_mut_slice()[..stride * cols];
        // One thread on this matrix (the pipeline's case, a thread per output): the symmetric
        // product, which reads 5/8 of a GEMM's bytes at d = 1024. Several: faer's GEMM, which
        // spreads over them. (Q X)ᵀ = Xᵀ Q for symmetric Q: with the thin block on the left,
        // the GEMM does not repack all of Q for every block.
        if par.degree() == 1 {
            symmetric::symm_lower(q, xb, yb, stride);
        } else {
            let strided = (d, cols).strides((1, stride));
            linalg::gemm(
                ArrayViewMut2::from_shape(strided, &mut *yb)
                    .expect("the buffer holds the block")
                    .reversed_axes(),
                false,
                ArrayView2::from_shape(strided, xb)
                    .expect("the buffer holds the block")
                    .t(),
                q,
                T::one(),
                par,
            );
        }
        let os = out
            .as_slice_memory_order_mut()
            .expect("Krylov blocks are contiguous");
        for (dst, src) in os.chunks_exact_mut(d).zip(yb.chunks_exact(stride)) {
            dst.copy_from_slice(&src[..d]);
        }
    };
    krylov_schur(
        d,
        &mut matvec,
        k,
        order,
        &plan,
        params.max_restarts,
        watch,
        par,
    )
}

/// The Krylov basis and what the iteration knows about it.
struct Basis<T> {
    /// Orthonormal columns `[d, max_basis + b]` (column-major: column blocks are contiguous).
    v: Array2<T>,
    /// Products `Z = Q V` of the first `nz` columns `[d, max_basis]`.
    z: Array2<T>,
    /// `H = Vᵀ Z` (column-major `[max_basis, max_basis]`): column `j` holds valid rows
    /// `..filled[j]` (the Gram–Schmidt coefficients of its block); the rest is mirrored.
    h: Array2<T>,
    filled: Vec<usize>,
    /// `R = V_nextᵀ Z_last` (`[b, b]`): how the last multiplied block's product enters the next
    /// block, for the residual estimates.
    r_last: Array2<T>,
    /// Multiplied columns, and columns in the basis (`nz <= nv`).
    nz: usize,
    nv: usize,
    /// Whether every block so far is its predecessor's orthogonalised product, so that
    /// `Q V = V H + V_next R E_lastᵀ` holds to rounding and the residual estimates are the
    /// residuals (false after a restart or a random replacement).
    exact: bool,
}

impl<T: Real> Basis<T> {
    /// The symmetric projected matrix of the multiplied part, both triangles, in f64 (the
    /// precision its eigenproblem needs, see the module docs).
    fn projected(&self) -> Array2<f64> {
        let m = self.nz;
        let mut out = Array2::<f64>::zeros((m, m).f());
        for j in 0..m {
            for i in j..m {
                let x = if i < self.filled[j] {
                    // Both coefficients were computed (same block): average them.
                    0.5 * (self.h[(i, j)].as_f64() + self.h[(j, i)].as_f64())
                } else {
                    self.h[(j, i)].as_f64()
                };
                out[(i, j)] = x;
                out[(j, i)] = x;
            }
        }
        out
    }
}

/// The thick-restart block Lanczos iteration itself, in `T` (the small eigenproblem in f64).
#[allow(
    clippy::too_many_arguments,
    reason = "the iteration's state and workspaces, each used separately"
)]
fn krylov_schur<T: Real>(
    d: usize,
    matvec: &mut dyn FnMut(ArrayView2<'_, T>, ArrayViewMut2<'_, T>),
    k: usize,
    order: Order,
    plan: &Plan,
    max_restarts: usize,
    mut watch: Option<Watch>,
    par: Par,
) -> Result<Option<RitzPairs<T>>, DecompError> {
    let b = plan.block;
    let cap = plan.max_basis;
    let mut kb = Basis {
        v: Array2::zeros((d, cap + b).f()),
        z: Array2::zeros((d, cap).f()),
        h: Array2::zeros((cap, cap).f()),
        filled: vec![0; cap],
        r_last: Array2::zeros((b, b)),
        nz: 0,
        nv: 0,
        exact: true,
    };
    let mut rng = SplitMix(0x5EED_0000 ^ d as u64);
    let mut scratch = Array2::<T>::zeros((d, b).f());
    fill_random(scratch.view_mut(), &mut rng);
    kb.nv = append_block(&mut kb.v, 0, scratch.view(), &mut rng, par).0;
    // Watched (`auto`), a flat spectrum is usually recognised after two blocks from its mass
    // (`Watch::flat_by_mass`, below); failing that, a probe comes as soon as the basis holds
    // one block beyond the kept vectors: on a flat spectrum the watch gives up there (see
    // `Watch::gives_up`), after under half the columns the regular first check waits for
    // (measured in benches/README.md); on a decaying one the regular schedule follows.
    let mut next_check = if watch.is_some() {
        plan.keep + plan.block
    } else {
        plan.first_check
    };
    let mut restarts = 0;
    // Columns multiplied by Q so far (what the watch budgets).
    let mut spent = 0;
    loop {
        // Multiply the pending block and orthogonalise its product into the next block.
        let (a, e) = (kb.nz, kb.nv);
        matvec(kb.v.slice(s![.., a..e]), kb.z.slice_mut(s![.., a..e]));
        kb.nz = e;
        spent += e - a;
        if e < cap {
            let mut w = scratch.view_mut();
            w.assign(&kb.z.slice(s![.., a..e]));
            // In exact arithmetic `Q V_j` only has components along `V_{j-1}` and `V_j` (the
            // block three-term recurrence): removing those first (cheap) leaves little for the
            // full reorthogonalisation to cancel, so it rarely needs its second pass.
            let lo = a.saturating_sub(b);
            let recent = kb.v.slice(s![.., lo..e]);
            let local = linalg::matmul(recent.t(), w.view(), par);
            linalg::gemm(w.view_mut(), true, recent, local.view(), -T::one(), par);
            let full = orthogonalise_against(kb.v.slice(s![.., ..e]), w.view_mut(), par);
            let mut col = kb.h.slice_mut(s![..e, a..e]);
            match full {
                Some(c) => col.assign(&c),
                None => col.fill(T::zero()),
            }
            col.slice_mut(s![lo.., ..])
                .zip_mut_with(&local, |x, &y| *x += y);
            let (nv, grown) = append_block(&mut kb.v, e, w.view(), &mut rng, par);
            kb.nv = nv;
            kb.exact &= grown;
            linalg::gemm(
                kb.r_last.view_mut(),
                false,
                kb.v.slice(s![.., e..e + b]).t(),
                kb.z.slice(s![.., a..e]),
                T::one(),
                par,
            );
        } else {
            // The last block before a restart: its coefficients are not needed to grow.
            let c = linalg::matmul(kb.v.slice(s![.., ..e]).t(), kb.z.slice(s![.., a..e]), par);
            kb.h.slice_mut(s![..e, a..e]).assign(&c);
        }
        for f in &mut kb.filled[a..e] {
            *f = e;
        }
        // Watched, a first look after two blocks: the largest Ritz value of the 2b-column
        // basis against ‖Q‖_F (see `Watch::flat_by_mass`). A 2b x 2b eigenproblem, microseconds.
        if restarts == 0
            && kb.nz == 2 * b
            && let Some(w) = watch.as_ref()
        {
            let theta = largest_abs_eigenvalue(kb.projected());
            if w.flat_by_mass(d, k, theta) {
                return Ok(None);
            }
        }
        if kb.nz < next_check && kb.nz < cap {
            continue;
        }

        // Rayleigh–Ritz on the multiplied part of the basis.
        let nz = kb.nz;
        // Every Ritz value (the norm estimate and the watch use them), but only the vectors
        // that can be kept: the wanted k first, then the rest a restart keeps.
        let keep = plan.keep.min(nz);
        let ritz = linalg::eigh_selected(
            kb.projected().view(),
            |values| pick(values, keep, order),
            Par::Seq,
        )?;
        let values = ritz.values;
        let y = Array2::from_shape_fn((nz, keep).f(), |(i, j)| ritz.vectors[(i, j)]);
        // The Ritz vectors' coefficients in the basis's precision, for the products with it.
        let y_t = y.mapv(T::of_f64);
        let theta: Vec<f64> = ritz.chosen[..k].iter().map(|&i| values[i]).collect();
        let norm_est = values.iter().fold(0.0f64, |m, &l| m.max(l.abs()));
        let limit = plan.tol * norm_est.max(f64::MIN_POSITIVE);
        // The residuals' parts along the next block, `‖R y_last‖`: free, and while the Krylov
        // relation is exact (no restart yet) they are the residuals themselves; otherwise a
        // lower bound, so that a failed estimate is a failed check and a passed one is
        // confirmed explicitly (two GEMMs).
        let estimated = (nz < cap).then(|| {
            let last = y.slice(s![a..e, ..k]);
            let r_last = kb.r_last.mapv(T::as_f64);
            last.columns()
                .into_iter()
                .map(|c| {
                    let r = r_last.dot(&c);
                    r.dot(&r).sqrt()
                })
                .fold(0.0, f64::max)
        });
        let worst = match estimated {
            Some(worst) if worst > limit || kb.exact => worst,
            _ => {
                let yw = y_t.slice(s![.., ..k]);
                let x = linalg::matmul(kb.v.slice(s![.., ..nz]), yw, par);
                let r = linalg::matmul(kb.z.slice(s![.., ..nz]), yw, par);
                (0..k)
                    .map(|j| {
                        let (rj, xj) = (r.column(j), x.column(j));
                        rj.iter()
                            .zip(xj)
                            .map(|(&r, &x)| (r.as_f64() - theta[j] * x.as_f64()).powi(2))
                            .sum::<f64>()
                            .sqrt()
                    })
                    .fold(0.0, f64::max)
            }
        };
        let converged = worst <= limit;
        if converged || nz >= d {
            let x = linalg::matmul(kb.v.slice(s![.., ..nz]), y_t.slice(s![.., ..k]), par);
            return Ok(Some(RitzPairs {
                values: theta.into_iter().map(T::of_f64).collect(),
                vectors: x.t().to_owned(),
            }));
        }
        if let Some(w) = watch.as_mut()
            && w.gives_up(
                spent,
                worst / norm_est.max(f64::MIN_POSITIVE),
                plan.tol,
                (nz < plan.first_check).then(|| flatness(&theta)),
            )
        {
            return Ok(None);
        }
        if nz < cap {
            // After the watch's early probe, the regular schedule: checks cost a Rayleigh–Ritz
            // step each, which a fast-converging run should not pay every block.
            next_check = (nz + plan.step).max(plan.first_check).min(cap);
            continue;
        }
        if restarts == max_restarts {
            return Ok(None);
        }
        restarts += 1;
        restart(
            &mut kb,
            matvec,
            y_t.view(),
            plan,
            &mut scratch,
            &mut rng,
            par,
        )?;
        spent += kb.nz;
        next_check = cap;
    }
}

/// The largest `|λ|` of a small symmetric matrix (lower triangle read), by cyclic Jacobi
/// rotations in place: a few sweeps of `O(n³)` for the `2b x 2b` matrices of the watch's first
/// look. Not faer's solver (`linalg::eigh_dense`): its workspace allocations at that point of
/// every solve moved the Krylov buffers of later solves and slowed their products by half
/// (benches/README.md); with the buffers placed on purpose (`placement`) it still measured
/// 0.3 ms slower per solve (`phases one auto 1024 64 synthetic 40`: 15.4-16.0 against 15.0-15.7).
fn largest_abs_eigenvalue(mut a: Array2<f64>) -> f64 {
    let n = a.nrows();
    for j in 0..n {
        for i in j + 1..n {
            a[(j, i)] = a[(i, j)];
        }
    }
    for _sweep in 0..30 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[(i, j)] * a[(i, j)])
            .sum();
        let diag: f64 = (0..n).map(|i| a[(i, i)] * a[(i, i)]).sum();
        if off <= f64::EPSILON * f64::EPSILON * diag || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[(p, q)];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p, q] (Golub & Van Loan, section 8.5.2).
                let tau = (a[(q, q)] - a[(p, p)]) / (2.0 * apq);
                let t = tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt());
                let t = if tau == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                for r in 0..n {
                    let (arp, arq) = (a[(r, p)], a[(r, q)]);
                    a[(r, p)] = c * arp - s * arq;
                    a[(r, q)] = s * arp + c * arq;
                }
                for r in 0..n {
                    let (apr, aqr) = (a[(p, r)], a[(q, r)]);
                    a[(p, r)] = c * apr - s * aqr;
                    a[(q, r)] = s * apr + c * aqr;
                }
            }
        }
    }
    (0..n).fold(0.0f64, |m, i| m.max(a[(i, i)].abs()))
}

/// The [`Watch`]'s threshold on [`flatness`] for an immediate hand-over.
const FLAT: f64 = 0.2;

/// The smallest `|θ|` of the wanted Ritz values over the largest (0 for an all-zero set).
fn flatness(theta: &[f64]) -> f64 {
    let (lo, hi) = theta.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), t| {
        (lo.min(t.abs()), hi.max(t.abs()))
    });
    if hi > 0.0 { lo / hi } else { 0.0 }
}

/// A convergence watch: the columns Lanczos may multiply before another solver would have been
/// cheaper, and the residual trend it extrapolates to decide early that it will not make it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watch {
    budget: usize,
    /// The last check: columns spent and the worst relative residual then.
    last: (usize, f64),
    /// `‖Q‖_F² = Σ λ²`, for [`Watch::flat_by_mass`].
    norm_sq: f64,
}

impl Watch {
    /// A watch that gives up at `budget` multiplied columns, or as soon as the residuals'
    /// geometric trend says the tolerance would be reached only after that; `norm_sq` is
    /// `‖Q‖_F²` of the matrix watched.
    pub(crate) fn new(budget: usize, norm_sq: f64) -> Self {
        // Before any product, the residual is of the order of ‖Q‖.
        Self {
            budget,
            last: (0, 1.0),
            norm_sq,
        }
    }

    /// Whether the spectrum's mass alone says that the wanted end is flat, from `theta`, the
    /// largest `|θ|` of a small Krylov basis (an estimate of `U = max |λ|` from below). If `n`
    /// eigenvalues of a `d x d` matrix have `|λ| ≥ t U`, then `Σ λ² ≤ n U² + (d − n) t² U²`,
    /// so `n ≥ d (ρ − t²) / (1 − t²)` with `ρ = Σ λ² / (d U²)`; with `t` = [`FLAT`] and `θ`
    /// for `U`, more than `2k` such eigenvalues mean a flat wanted end, which the probe would
    /// find 10 blocks later at the cost of those blocks. Measured `ρ` at `d = 1024`
    /// (benches/README.md): ~0.19 on a layer at initialisation, where this says at least ~160
    /// eigenvalues lie within `FLAT` of the largest, and 0.003-0.008 on the decaying families,
    /// where it says nothing. `θ` below `U` makes `ρ` larger than it is; that errs towards a
    /// hand-over, which costs time (the tridiagonal path), never accuracy.
    fn flat_by_mass(&self, d: usize, k: usize, theta: f64) -> bool {
        if theta.is_nan() || theta <= 0.0 || !self.norm_sq.is_finite() {
            return false;
        }
        let rho = self.norm_sq / (d as f64 * theta * theta);
        let within = d as f64 * (rho - FLAT * FLAT) / (1.0 - FLAT * FLAT);
        within >= 2.0 * k as f64
    }

    /// Whether to give up, at `spent` columns with worst relative residual `worst`.
    /// `probing`: at an early check (before the regular schedule, see [`lanczos_top_k`]), the
    /// [`flatness`] of the wanted Ritz values.
    fn gives_up(&mut self, spent: usize, worst: f64, tol: f64, probing: Option<f64>) -> bool {
        let (c0, r0) = std::mem::replace(&mut self.last, (spent, worst));
        if spent >= self.budget {
            return true;
        }
        // A flat wanted end (a semicircle, a layer at initialisation) has small relative gaps,
        // and Lanczos needs a basis of several times k there (measured in benches/README.md).
        // At the probe (k + 2 blocks of Ritz values, spread over the spectrum like Chebyshev
        // points on a flat one) its smallest wanted |θ| is ~0.3 of the largest; on the decaying
        // spectra where Lanczos wins it is a few percent. Hand over at once rather than wait for
        // residuals to say so.
        if probing.is_some_and(|f| f > FLAT) {
            return true;
        }
        // Residuals decay roughly geometrically in the columns spent; extrapolate the latest
        // rate (at the probe, the first check, that is the rate since the start from ~‖Q‖). A
        // rate that is not a decrease (just after a restart, whose estimates are lower bounds)
        // predicts nothing: only the budget stops it then.
        let rate = (worst / r0).ln() / (spent - c0).max(1) as f64;
        if rate.is_nan() || rate >= 0.0 || worst <= tol {
            return false;
        }
        let needed = (tol / worst).ln() / rate;
        spent as f64 + needed > self.budget as f64
    }
}

/// Thick restart from the kept Ritz vectors, the columns of `y` (their coefficients in the
/// basis, best first). Their products with Q are recomputed, not carried along as `Z Y`:
/// carried products keep the Krylov relation only up to the rounding of every earlier restart,
/// which in f32 accumulates into a residual floor (measured ~1e-4 ‖Q‖ after a few restarts);
/// fresh ones hold it to one GEMM's rounding. Growth resumes from the `b` dominant directions
/// of the kept vectors' residuals, which span the block the Krylov space would have grown by.
#[allow(
    clippy::too_many_arguments,
    reason = "the kept vectors, their products and the workspaces of one restart"
)]
fn restart<T: Real>(
    kb: &mut Basis<T>,
    matvec: &mut dyn FnMut(ArrayView2<'_, T>, ArrayViewMut2<'_, T>),
    y: ArrayView2<'_, T>,
    plan: &Plan,
    scratch: &mut Array2<T>,
    rng: &mut SplitMix,
    par: Par,
) -> Result<(), DecompError> {
    let b = plan.block;
    let nz = kb.nz;
    let keep = y.ncols();
    let mut new_v = linalg::matmul(kb.v.slice(s![.., ..nz]), y, par);
    if let Some(r_inv) = cholesky_inverse_factor(new_v.view(), par) {
        new_v = linalg::matmul(new_v.view(), r_inv.view(), par);
    }
    kb.v.slice_mut(s![.., ..keep]).assign(&new_v);
    let vk = kb.v.slice(s![.., ..keep]);
    matvec(vk, kb.z.slice_mut(s![.., ..keep]));
    let zk = kb.z.slice(s![.., ..keep]);
    let tk = linalg::matmul(vk.t(), zk, par);
    kb.h.slice_mut(s![..keep, ..keep]).assign(&tk);
    for f in &mut kb.filled[..keep] {
        *f = keep;
    }
    let mut residual = zk.to_owned();
    linalg::gemm(residual.view_mut(), true, vk, tk.view(), -T::one(), par);
    orthogonalise_against(vk, residual.view_mut(), par);
    let gram = linalg::matmul(residual.t(), residual.view(), par).mapv(T::as_f64);
    let dominant = linalg::eigh_dense(gram.view(), true, Par::Seq)?;
    let u = dominant.vectors.expect("vectors requested");
    // eigh_dense is ascending: the last b columns are the dominant directions.
    let top = Array2::from_shape_fn((keep, b), |(i, j)| T::of_f64(u[(i, keep - 1 - j)]));
    let mut w = scratch.view_mut();
    w.assign(&linalg::matmul(residual.view(), top.view(), par));
    kb.nz = keep;
    kb.nv = append_block(&mut kb.v, keep, w.view(), rng, par).0;
    kb.exact = false;
    Ok(())
}

/// Orthonormalises the block `w` (already orthogonal to `v[:, ..n]`) within itself, appends
/// it at column `n`, and returns the new column count and whether the block spans `w` (false
/// when directions that vanished, the Krylov space being exhausted, were replaced by random
/// vectors orthogonalised against the basis).
fn append_block<T: Real>(
    v: &mut Array2<T>,
    n: usize,
    w: ArrayView2<'_, T>,
    rng: &mut SplitMix,
    par: Par,
) -> (usize, bool) {
    let width = w.ncols();
    let norms: Vec<T> = w.columns().into_iter().map(|c| c.dot(&c).sqrt()).collect();
    // Within the block: Cholesky QR twice when the block is well conditioned, which is the
    // rule; column by column with random replacements when the Krylov space is exhausted (a
    // zero or non-finite column, or a Gram matrix that is not numerically positive definite).
    // (The caller has already orthogonalised `w` against the basis.)
    let alive = norms.iter().all(|&n| n > T::zero() && n.is_finite());
    if alive {
        // The first pass into a column-major buffer like `w`, the second straight into `v`'s
        // columns: no copies between layouts (they cost more than the two GEMMs).
        let mut once = Array2::<T>::zeros(w.raw_dim().f());
        if cholesky_qr_into(w.view(), once.view_mut(), par)
            && cholesky_qr_into(once.view(), v.slice_mut(s![.., n..n + width]), par)
        {
            return (n + width, true);
        }
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
            if norm > negligible::<T>().1 * reference && norm > T::zero() {
                v.column_mut(n + j).assign(&col.mapv(|x| x / norm));
                break;
            }
            assert!(
                attempt < 100,
                "random vectors keep falling into the Krylov basis"
            );
        }
    }
    (n + width, false)
}

/// `out = w L⁻ᵀ` with `wᵀw = L Lᵀ` (Cholesky QR): orthonormalises the columns of a
/// well-conditioned block with two small GEMMs. Returns false, leaving `out` untouched, when the
/// Gram matrix is not numerically positive definite.
fn cholesky_qr_into<T: Real>(w: ArrayView2<'_, T>, out: ArrayViewMut2<'_, T>, par: Par) -> bool {
    match cholesky_inverse_factor(w, par) {
        Some(r_inv) => {
            linalg::gemm(out, false, w, r_inv.view(), T::one(), par);
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
        if diag.is_nan() || diag <= negligible::<T>().0 * g[(j, j)] {
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
/// Returns the coefficients `Bᵀ w_in` (both passes summed), `None` for an empty basis.
fn orthogonalise_against<T: Real>(
    basis: ArrayView2<'_, T>,
    mut w: ArrayViewMut2<'_, T>,
    par: Par,
) -> Option<Array2<T>> {
    if basis.ncols() == 0 {
        return None;
    }
    let norms = |w: &ArrayViewMut2<'_, T>| -> Vec<T> {
        w.columns().into_iter().map(|c| c.dot(&c)).collect()
    };
    let before = norms(&w);
    let mut coef = linalg::matmul(basis.t(), w.view(), par);
    linalg::gemm(w.view_mut(), true, basis, coef.view(), -T::one(), par);
    let after = norms(&w);
    if before
        .iter()
        .zip(&after)
        .any(|(b, a)| *a < T::of_f64(0.5) * *b)
    {
        let again = linalg::matmul(basis.t(), w.view(), par);
        linalg::gemm(w.view_mut(), true, basis, again.view(), -T::one(), par);
        coef += &again;
    }
    Some(coef)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The mass bound on spectra whose answer is known: every |λ| equal (flat), a geometric
    /// decay (not flat), a spectrum just either side of the bound, and the cases it must leave
    /// to the probe (a zero matrix, a non-finite norm).
    #[test]
    fn flat_by_mass_reads_the_spectrum_mass() {
        let (d, k) = (1000, 10);
        assert!(Watch::new(500, d as f64).flat_by_mass(d, k, 1.0));
        let decaying: f64 = (0..d).map(|i| 0.81f64.powi(i as i32)).sum();
        assert!(!Watch::new(500, decaying).flat_by_mass(d, k, 1.0));
        // At least 2k = 20 of the 1000 within FLAT of the largest: ρ = 0.04 + 0.96 · 0.02.
        let edge = d as f64 * (FLAT * FLAT + (1.0 - FLAT * FLAT) * 0.02);
        assert!(Watch::new(500, edge * 1.001).flat_by_mass(d, k, 1.0));
        assert!(!Watch::new(500, edge * 0.999).flat_by_mass(d, k, 1.0));
        assert!(!Watch::new(500, 0.0).flat_by_mass(d, k, 0.0));
        assert!(!Watch::new(500, f64::NAN).flat_by_mass(d, k, 1.0));
        assert!(!Watch::new(500, d as f64).flat_by_mass(d, k, f64::NAN));
    }

    /// The Jacobi estimate of the largest `|λ|` against faer's dense solver on random symmetric
    /// matrices of the sizes the watch gives it (2b for b = 4..8) and on edge cases.
    #[test]
    fn largest_abs_eigenvalue_matches_the_dense_solver() {
        let mut rng = SplitMix(11);
        for n in [1, 2, 8, 12, 16] {
            for _ in 0..5 {
                let g = Array2::from_shape_simple_fn((n, n), || rng.next_f64() - 0.5);
                let a = &g + &g.t();
                let dense = linalg::eigh_dense(a.view(), false, Par::Seq).expect("solves");
                let want = dense.values.iter().fold(0.0f64, |m, &l| m.max(l.abs()));
                let got = largest_abs_eigenvalue(a.clone());
                assert!((got - want).abs() <= 1e-12 * want, "n {n}: {got} vs {want}");
            }
        }
        assert_eq!(largest_abs_eigenvalue(Array2::zeros((16, 16))), 0.0);
        // Only the lower triangle is read.
        let mut lower = Array2::from_diag(&ndarray::arr1(&[1.0, -3.0]));
        lower[(1, 0)] = 4.0;
        lower[(0, 1)] = f64::NAN;
        let want = 1.0 + (4.0f64 + 16.0).sqrt(); // eigenvalues -1 ± √20
        assert!((largest_abs_eigenvalue(lower) - want).abs() < 1e-12);
    }

    /// Watched, Lanczos hands a flat spectrum (a symmetric matrix of independent entries) over
    /// after its first two blocks, and runs a decaying one (`λ_i = 0.8^i`) to convergence.
    #[test]
    fn the_watch_hands_a_flat_spectrum_over_after_two_blocks() {
        let (d, k) = (300, 12);
        let mut rng = SplitMix(7);
        let g = Array2::from_shape_simple_fn((d, d), || rng.next_f64() - 0.5);
        let flat = &g + &g.t();
        let decaying = Array2::from_diag(&ndarray::Array1::from_shape_fn(d, |i| {
            0.8f64.powi(i as i32)
        }));
        let plan = LanczosParams::default()
            .plan::<f64>(d, k)
            .expect("Lanczos applies at this size");
        for (q, is_flat) in [(flat, true), (decaying, false)] {
            let mut columns = 0;
            let mut matvec = |x: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>| {
                columns += x.ncols();
                out.assign(&q.dot(&x));
            };
            let norm_sq = q.iter().map(|x| x * x).sum();
            let got = krylov_schur(
                d,
                &mut matvec,
                k,
                Order::AbsDescending,
                &plan,
                60,
                Some(Watch::new(d / 2, norm_sq)),
                Par::Seq,
            )
            .expect("no error");
            if is_flat {
                assert!(got.is_none(), "a flat spectrum is handed over");
                assert_eq!(columns, 2 * plan.block, "after two blocks");
            } else {
                let got = got.expect("a decaying spectrum converges");
                for (i, v) in got.values.iter().enumerate() {
                    assert!((v - 0.8f64.powi(i as i32)).abs() < 1e-9, "λ_{i} = {v}");
                }
                assert!(columns > 2 * plan.block);
            }
        }
    }
}
