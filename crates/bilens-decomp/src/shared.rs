//! Many outputs sharing a low-dimensional output space (MATH.md section 6).
//!
//! Every `Q(u)` is a linear combination of the `d_out` basis matrices `T_m = Q(e_m)`:
//! `Q(u) = Σ_m u_m T_m`. When many output directions live in a `d_out`-dimensional space (8192
//! SAE features of a 1024-wide residual stream), precomputing the `T_m` once and forming each
//! `Q(u)` by one batched product is cheaper than forming each from `W` and `V`:
//!
//! | route | per output | once |
//! |---|---|---|
//! | direct (`Wᵀ diag(c) V`) | `2 d_hidden d_in²` | — |
//! | shared basis | `d_out d_in²` | `d_out d_hidden d_in²` |
//!
//! (both `T_m` and the products are symmetric, so only the upper triangle, `d_in(d_in+1)/2`
//! numbers per matrix, is stored and computed). The basis takes `d_out d_in(d_in+1)/2` numbers
//! of memory: 2.1 GB in f32 for `d_out = d_in = 1024`. [`Route::resolve`] picks the cheaper route
//! that fits a memory budget.

use faer::Par;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, ShapeBuilder, s};

use crate::layer::BilinearLayer;
use crate::linalg;
use crate::scalar::Real;

/// Packed columns built per step of the basis precomputation: bounds its scratch to
/// `d_hidden x TILE` numbers.
const TILE: usize = 4096;

/// How each output's interaction matrix is formed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Route {
    /// Choose by cost and memory ([`Route::resolve`]).
    #[default]
    Auto,
    /// `Q(u) = sym(Wᵀ diag(Pᵀu) V)` for each output.
    Direct,
    /// `Q(u) = Σ_m u_m T_m` from the precomputed [`InteractionBasis`].
    SharedBasis,
}

impl Route {
    /// The name used in metadata and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Route::Auto => "auto",
            Route::Direct => "direct",
            Route::SharedBasis => "shared-basis",
        }
    }

    /// The concrete route (never `Auto`) for `n_outputs` outputs of `layer`: the shared basis
    /// when its total flop count is lower and it fits in `memory_budget` bytes, else direct.
    pub fn resolve<T: Real>(
        self,
        layer: &BilinearLayer<T>,
        n_outputs: usize,
        memory_budget: usize,
    ) -> Route {
        match self {
            Route::Auto => {
                let (d, h, o, n) = (
                    layer.d_in() as f64,
                    layer.d_hidden() as f64,
                    layer.d_out() as f64,
                    n_outputs as f64,
                );
                let direct = n * 2.0 * h * d * d;
                let shared = o * h * d * d + n * o * d * d;
                let fits = InteractionBasis::<T>::bytes_needed(layer) <= memory_budget;
                if fits && shared < direct {
                    Route::SharedBasis
                } else {
                    Route::Direct
                }
            }
            r => r,
        }
    }
}

/// The `d_out` symmetric matrices `T_m = Q(e_m)`, upper triangles packed row by row
/// (`(i, j)` for `j ≥ i`), one matrix per row: `[d_out, d_in(d_in+1)/2]`.
#[derive(Clone, Debug)]
pub struct InteractionBasis<T> {
    packed: Array2<T>,
    d: usize,
}

impl<T: Real> InteractionBasis<T> {
    /// Bytes the basis of `layer` takes.
    pub fn bytes_needed(layer: &BilinearLayer<T>) -> usize {
        let d = layer.d_in();
        layer.d_out() * d * (d + 1) / 2 * std::mem::size_of::<T>()
    }

    /// Precomputes `T_m` for every output unit: `P · K` with the (never whole) Khatri–Rao
    /// matrix `K[a, (i,j)] = (W[a,i] V[a,j] + V[a,i] W[a,j]) / 2`, built for a group of rows
    /// `i` (about `TILE` packed columns) at a time. `d_out d_hidden d_in²` flops; one large
    /// problem, so `par` may be parallel.
    pub fn new(layer: &BilinearLayer<T>, par: Par) -> Self {
        let d = layer.d_in();
        let h = layer.d_hidden();
        let len = d * (d + 1) / 2;
        let tile = TILE.max(d);
        // Column-major, so that each tile's columns are a contiguous GEMM destination.
        let mut packed = Array2::zeros((layer.d_out(), len).f());
        // One flat buffer viewed as a contiguous [h, width] matrix for each group, so that the
        // GEMM reads it without a copy.
        let mut buf = vec![T::zero(); h * tile.min(len)];
        let (w, v) = (layer.w(), layer.v());
        let half = T::of_f64(0.5);
        let (mut i0, mut start) = (0, 0);
        while i0 < d {
            // Rows i0..i1 of the upper triangle, as many as fit in one tile.
            let (mut i1, mut width) = (i0, 0);
            while i1 < d && width + (d - i1) <= tile {
                width += d - i1;
                i1 += 1;
            }
            let mut k = ArrayViewMut2::from_shape((h, width), &mut buf[..h * width])
                .expect("the buffer holds h x width numbers");
            for a in 0..h {
                let (wa, va) = (w.row(a), v.row(a));
                let mut at = 0;
                for i in i0..i1 {
                    let (wi, vi) = (wa[i] * half, va[i] * half);
                    let n = d - i;
                    let mut dst = k.slice_mut(s![a, at..at + n]);
                    ndarray::Zip::from(&mut dst)
                        .and(va.slice(s![i..]))
                        .and(wa.slice(s![i..]))
                        .for_each(|x, &vj, &wj| *x = wi * vj + vi * wj);
                    at += n;
                }
            }
            linalg::gemm(
                packed.slice_mut(s![.., start..start + width]),
                false,
                layer.p(),
                k.view(),
                T::one(),
                par,
            );
            start += width;
            i0 = i1;
        }
        Self { packed, d }
    }

    /// The matrix width `d_in`.
    pub fn d_in(&self) -> usize {
        self.d
    }

    /// The packed `Q(u)` of each row of `outputs` (`[c, d_out]`): `[c, d_in(d_in+1)/2]`, by one
    /// GEMM (`c d_out d_in²` flops).
    pub fn form_packed(&self, outputs: ArrayView2<'_, T>, par: Par) -> Array2<T> {
        linalg::matmul(outputs, self.packed.view(), par)
    }

    /// Unpacks one packed symmetric matrix into `out` (`[d_in, d_in]`).
    #[track_caller]
    pub fn unpack_into(&self, packed: ArrayView1<'_, T>, mut out: ArrayViewMut2<'_, T>) {
        let d = self.d;
        assert_eq!(
            out.dim(),
            (d, d),
            "unpack: destination must be [d_in, d_in]"
        );
        let mut at = 0;
        for i in 0..d {
            let row = packed.slice(s![at..at + d - i]);
            out.slice_mut(s![i, i..]).assign(&row);
            out.slice_mut(s![i.., i]).assign(&row);
            at += d - i;
        }
    }
}
