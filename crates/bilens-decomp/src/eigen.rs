//! Eigendecomposition of one symmetric interaction matrix, in bilens's conventions.
//!
//! Contract of every result: components are sorted by the requested [`Order`]
//! (by default descending `|λ|`; faer itself returns nondecreasing `λ`, so this module
//! re-sorts), eigenvectors are the **rows** of a `[k, d]` matrix, and the sign of each
//! eigenvector is fixed so that its entry of largest magnitude is positive (the first such
//! entry on ties). Results are therefore reproducible and comparable across runs.

use faer::Par;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut1};

use crate::error::DecompError;
use crate::interaction::frobenius_sq_upper;
use crate::lanczos::{LanczosParams, Watch, lanczos_applies, lanczos_top_k};
use crate::linalg;
pub use crate::order::Order;
use crate::order::pick;
use crate::scalar::Real;
use crate::tridiagonal::tridiagonal_top_k;

/// Which eigensolver to use for the top k components.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Method {
    /// Choose by cost: Lanczos when only a small fraction of the spectrum is wanted of a
    /// large enough matrix ([`Method::resolve`]), watched as it runs and handed over to the
    /// tridiagonal path once its first Ritz values and `‖Q‖_F`, or its residuals, say it would
    /// cost more than that path; the full solver otherwise.
    #[default]
    #[cfg_attr(
        feature = "clap",
        value(
            help = "Lanczos for a small top-k of a large matrix (handed over to the tridiagonal \
                      path when it converges slowly), the full solver otherwise"
        )
    )]
    Auto,
    /// Dense divide-and-conquer decomposition of the whole spectrum.
    Full,
    /// Thick-restart block Lanczos for the top k (falls back to the full solver if it does not
    /// converge; see [`Solver::LanczosFallback`]).
    #[cfg_attr(
        feature = "clap",
        value(
            help = "Thick-restart block Lanczos for the top k (the full solver if it does not \
                      converge)"
        )
    )]
    Lanczos,
    /// Householder tridiagonalisation, bisection for the wanted eigenvalues and inverse
    /// iteration for the k kept eigenvectors only: the same cost on every spectrum (falls back
    /// to the full solver if a self-check fails; see [`Solver::TridiagonalFallback`]).
    #[cfg_attr(
        feature = "clap",
        value(
            help = "Tridiagonal reduction, bisection and inverse iteration for the top k only: \
                      the same cost on every spectrum"
        )
    )]
    Tridiagonal,
}

impl Method {
    /// The name used in metadata and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Full => "full",
            Method::Lanczos => "lanczos",
            Method::Tridiagonal => "tridiagonal",
        }
    }

    /// The concrete method for `k` of `d` components (never `Auto`).
    ///
    /// The rule, from `benches/` on 2 cores: Lanczos costs about `2 d² m` flops for an
    /// effective Krylov size `m ≈ 3k` while the full solver costs `≈ 5 d³`, and Lanczos wins
    /// when `k ≤ d / 8` and `d ≥ 256`; below that the full solver's better constant wins.
    pub fn resolve<T: Real>(self, d: usize, k: Option<usize>, params: &LanczosParams) -> Method {
        match (self, k) {
            (Method::Auto, Some(k))
                if d >= 256 && 8 * k <= d && lanczos_applies::<T>(params, d, k) =>
            {
                Method::Lanczos
            }
            (Method::Auto, _) => Method::Full,
            (m, _) => m,
        }
    }
}

crate::names::named!(
    Method,
    "method",
    [
        Method::Auto,
        Method::Full,
        Method::Lanczos,
        Method::Tridiagonal
    ]
);

/// The solver that actually produced a spectrum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Solver {
    /// The dense full decomposition.
    Full,
    /// Lanczos, converged.
    Lanczos,
    /// Lanczos was asked for but did not converge (or the problem was too small for it), and
    /// the full solver was used instead.
    LanczosFallback,
    /// The tridiagonal top-k path, with every self-check passed.
    Tridiagonal,
    /// The tridiagonal path was asked for but a self-check failed, and the full solver was used
    /// instead.
    TridiagonalFallback,
}

impl Solver {
    /// Whether the requested solver gave up and the full solver produced the result (what the
    /// results' fallback count counts).
    pub fn fell_back(self) -> bool {
        matches!(self, Solver::LanczosFallback | Solver::TridiagonalFallback)
    }
}

/// The top components of one symmetric matrix plus the spectrum-wide sums that statistics
/// need even when only some components are kept.
#[derive(Clone, Debug)]
pub struct Spectrum<T> {
    /// The kept eigenvalues `[k]`, in the requested order.
    pub values: Array1<T>,
    /// The kept eigenvectors as rows `[k, d]`, or `None` when not requested.
    pub vectors: Option<Array2<T>>,
    /// `Σ λ² = ‖Q‖_F²` over the whole spectrum (f64 accumulation).
    pub norm_sq: f64,
    /// `Σ |λ|` over the whole spectrum when every eigenvalue was computed.
    pub abs_sum: Option<f64>,
    /// The solver that produced it.
    pub solver: Solver,
}

/// The top `k` components of the symmetric matrix `q` (all when `k` is `None`) in `order`, by
/// `method` (see [`Method::resolve`]). The contract is that of [`eigh_full`]; with Lanczos or
/// the tridiagonal path, `abs_sum` is `None` (the rest of the spectrum is not computed). On one
/// thread (`par` sequential, as the pipeline calls it) every method reads only the upper
/// triangle of `q` and, for Lanczos, the diagonal tiles of its block product whole (what the
/// shared route forms); on several, Lanczos's products read all of it.
pub fn eigh<T: Real>(
    q: ArrayView2<'_, T>,
    k: Option<usize>,
    order: Order,
    want_vectors: bool,
    method: Method,
    lanczos: &LanczosParams,
    par: Par,
) -> Result<Spectrum<T>, DecompError> {
    let d = q.nrows();
    let k_eff = k.unwrap_or(d).min(d);
    match method.resolve::<T>(d, k, lanczos) {
        Method::Lanczos => {
            // `auto` watches Lanczos and hands over to the tridiagonal path once Lanczos would
            // cost more than it; an explicit `lanczos` runs to its own limits.
            let norm_sq = frobenius_sq_upper(q);
            let watch = (method == Method::Auto).then(|| Watch::new(auto_budget(d), norm_sq));
            match lanczos_top_k(q, k_eff, order, lanczos, watch, par)? {
                Some(ritz) => {
                    let mut vectors = ritz.vectors;
                    for row in vectors.rows_mut() {
                        fix_sign(row);
                    }
                    Ok(Spectrum {
                        values: Array1::from(ritz.values),
                        vectors: want_vectors.then_some(vectors),
                        norm_sq,
                        abs_sum: None,
                        solver: Solver::Lanczos,
                    })
                }
                None if method == Method::Auto => {
                    tridiagonal_or_full(q, k_eff, order, want_vectors, norm_sq, par)
                }
                None => {
                    let mut sp = eigh_full(q, Some(k_eff), order, want_vectors, par)?;
                    sp.solver = Solver::LanczosFallback;
                    Ok(sp)
                }
            }
        }
        Method::Tridiagonal => {
            tridiagonal_or_full(q, k_eff, order, want_vectors, frobenius_sq_upper(q), par)
        }
        _ => eigh_full(q, Some(k_eff), order, want_vectors, par),
    }
}

/// The multiplied columns `auto` lets Lanczos spend on a `d x d` matrix before handing over to
/// the tridiagonal path: the tridiagonal path's cost in units of Lanczos columns, measured (see
/// benches/README.md), so that a hand-over wastes at most a fraction of it and a Lanczos run
/// that is going to cost more is stopped early by the watch's extrapolation.
fn auto_budget(d: usize) -> usize {
    d / 2
}

/// The tridiagonal top-k path, or the full solver (reported as a fallback) when one of its
/// self-checks fails; `norm_sq` is `‖q‖_F²`, which `auto`'s hand-over has already computed.
fn tridiagonal_or_full<T: Real>(
    q: ArrayView2<'_, T>,
    k: usize,
    order: Order,
    want_vectors: bool,
    norm_sq: f64,
    par: Par,
) -> Result<Spectrum<T>, DecompError> {
    match tridiagonal_top_k(q, k, order, want_vectors, par) {
        Some(top) => Ok(Spectrum {
            values: Array1::from(top.values),
            vectors: top.vectors,
            norm_sq,
            abs_sum: None,
            solver: Solver::Tridiagonal,
        }),
        None => {
            let mut sp = eigh_full(q, Some(k), order, want_vectors, par)?;
            sp.solver = Solver::TridiagonalFallback;
            Ok(sp)
        }
    }
}

/// Full dense eigendecomposition of the symmetric matrix `q`, keeping the first `k`
/// components in `order` (all when `k` is `None` or exceeds the dimension).
///
/// Cost: `~(4/3 + 4) d³` flops with eigenvectors (`4/3 d³` without): bilens's blocked
/// reduction to tridiagonal form, then faer's divide-and-conquer solver and back-transformation.
/// Only the upper triangle of `q` is read, so `q` must already be symmetric.
pub fn eigh_full<T: Real>(
    q: ArrayView2<'_, T>,
    k: Option<usize>,
    order: Order,
    want_vectors: bool,
    par: Par,
) -> Result<Spectrum<T>, DecompError> {
    let d = q.nrows();
    let dense = linalg::eigh_dense(q, want_vectors, par)?;
    let k = k.unwrap_or(d).min(d);
    let picked = pick(&dense.values, k, order);
    let values = Array1::from_iter(picked.iter().map(|&i| dense.values[i]));
    let vectors = dense.vectors.map(|u| {
        let mut rows = Array2::zeros((k, d));
        for (r, &i) in picked.iter().enumerate() {
            let col = u.col(i);
            let mut row = rows.row_mut(r);
            for (j, x) in row.iter_mut().enumerate() {
                *x = col[j];
            }
            fix_sign(row);
        }
        rows
    });
    let abs_sum = dense.values.iter().map(|x| x.as_f64().abs()).sum();
    Ok(Spectrum {
        values,
        vectors,
        norm_sq: frobenius_sq_upper(q),
        abs_sum: Some(abs_sum),
        solver: Solver::Full,
    })
}

/// Flips `v` so that its entry of largest magnitude (the first, on ties) is positive; returns
/// whether it flipped.
pub fn fix_sign<T: Real>(mut v: ArrayViewMut1<'_, T>) -> bool {
    let mut best = T::zero();
    let mut sign_negative = false;
    for &x in v.iter() {
        if x.abs() > best {
            best = x.abs();
            sign_negative = x < T::zero();
        }
    }
    if sign_negative {
        v.mapv_inplace(|x| -x);
    }
    sign_negative
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The top ten by |λ| with vectors, on one thread.
    fn top_ten<T: Real>(q: ArrayView2<'_, T>, method: Method) -> Spectrum<T> {
        let params = LanczosParams::default();
        eigh(
            q,
            Some(10),
            Order::AbsDescending,
            true,
            method,
            &params,
            Par::Seq,
        )
        .expect("solves")
    }

    /// The shared route forms the upper triangle and the diagonal tiles of Lanczos's block
    /// product only (the other entries below the diagonal are whatever the batch buffer held),
    /// so on one thread, as the pipeline calls them, every solver must read nothing else: with
    /// those entries NaN each method gives, bit for bit, what it gives on the whole symmetric
    /// matrix, in f32 and f64, on a spectrum Lanczos converges on and on a flat one `auto`
    /// hands over. d = 300 spans a whole diagonal tile and part of a second.
    #[test]
    fn every_solver_reads_only_what_the_shared_route_forms() {
        use crate::interaction::interaction_matrix;
        use crate::layer::BilinearLayer;
        use crate::symmetric::TILE;
        let d = 300;
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let g = Array2::from_shape_simple_fn((d, d), &mut next);
        let flat = (&g + &g.t()) / 2.0;
        let w = Array2::from_shape_simple_fn((40, d), &mut next);
        let v = Array2::from_shape_simple_fn((40, d), &mut next);
        let p = Array2::from_shape_simple_fn((2, 40), &mut next);
        let decaying = interaction_matrix(&BilinearLayer::new(w, v, p), array![1.0, 0.5].view());
        for q in [flat, decaying] {
            let mut holed = q.clone();
            for i in 0..d {
                for j in 0..i {
                    if i / TILE != j / TILE {
                        holed[(i, j)] = f64::NAN;
                    }
                }
            }
            for method in [
                Method::Full,
                Method::Lanczos,
                Method::Tridiagonal,
                Method::Auto,
            ] {
                let (want, got) = (top_ten(q.view(), method), top_ten(holed.view(), method));
                assert_eq!(got.solver, want.solver, "{method:?}");
                assert_eq!(got.values, want.values, "{method:?}");
                assert_eq!(got.vectors, want.vectors, "{method:?}");
                assert_eq!(got.norm_sq.to_bits(), want.norm_sq.to_bits(), "{method:?}");
                let single = |q: &Array2<f64>| top_ten(q.mapv(|x| x as f32).view(), method);
                let (want, got) = (single(&q), single(&holed));
                assert_eq!(got.values, want.values, "{method:?} in f32");
                assert_eq!(got.vectors, want.vectors, "{method:?} in f32");
            }
        }
    }

    #[test]
    fn fix_sign_makes_largest_entry_positive() {
        let mut v = array![0.1, -0.9, 0.3];
        fix_sign(v.view_mut());
        assert_eq!(v, array![-0.1, 0.9, -0.3]);
        let mut w = array![0.5, -0.5];
        fix_sign(w.view_mut());
        assert_eq!(w, array![0.5, -0.5]);
    }
}
