//! Many outputs sharing a low-dimensional output space (docs/MATH.md section 6).
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
use ndarray::{
    Array2, ArrayView1, ArrayView2, ArrayViewMut2, ArrayViewMut3, Axis, ShapeBuilder, s,
};
use rayon::prelude::*;
use std::ops::Range;

use crate::layer::BilinearLayer;
use crate::linalg;
use crate::scalar::Real;
use crate::symmetric;

/// Packed columns built per step of the basis precomputation: bounds its scratch to
/// `d_hidden x TILE` numbers.
const TILE: usize = 4096;

/// Packed columns formed per GEMM in [`InteractionBasis::form_into`]: its scratch is
/// `c x FORM_TILE` numbers (16 MB for 256 outputs in f32), small enough to be scattered into the
/// outputs' matrices while it is still in cache.
const FORM_TILE: usize = 16384;

/// Outputs formed per thread in [`InteractionBasis::form_into`]: each group streams the whole
/// basis through memory once (2.1 GB at d_in = d_out = 1024), so larger groups read it less
/// often; 128 outputs make 64 flops per byte of basis read.
pub(crate) const FORM_GROUP: usize = 128;

/// Outputs per group in the scatter of [`InteractionBasis::form_into`]: a 64-byte cache line
/// of the column-major GEMM result holds 16 outputs' entries in f32.
const SCATTER_GROUP: usize = 16;

/// Columns of a row copied per output in the scatter of [`InteractionBasis::form_into`]: the
/// group's cache lines for that many columns (4 KB) stay in L1 across the group's outputs.
const SCATTER_COLUMNS: usize = 64;

/// Rows per band of the formation tiles are rounded down to a multiple of this (16 f32 fill a
/// cache line), so that mirroring a band writes whole lines below the diagonal.
const BAND_ALIGN: usize = 16;

/// How each output's interaction matrix is formed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Route {
    /// Choose by cost and memory ([`Route::resolve`]).
    #[default]
    #[cfg_attr(
        feature = "clap",
        value(help = "The cheaper route that fits in memory")
    )]
    Auto,
    /// `Q(u) = sym(Wᵀ diag(Pᵀu) V)` for each output.
    Direct,
    /// `Q(u) = Σ_m u_m T_m` from the precomputed [`InteractionBasis`].
    #[cfg_attr(
        feature = "clap",
        value(
            name = "shared",
            help = "`Q(u) = Σ_m u_m Q(e_m)` from a precomputed basis"
        )
    )]
    SharedBasis,
}

crate::names::named!(
    Route,
    "route",
    [Route::Auto, Route::Direct, Route::SharedBasis]
);

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

/// Row `r` of a standard-layout array, as a slice.
fn row_of<T>(m: &Array2<T>, r: usize) -> &[T] {
    let (cols, start) = (m.ncols(), r * m.ncols());
    &m.as_slice().expect("a standard-layout array")[start..start + cols]
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
        Self::new_until(layer, par, &|| false).expect("never asked to stop")
    }

    /// [`InteractionBasis::new`] that asks `stop()` between tiles and gives up (`None`) when
    /// it says so: the basis of a large layer takes tens of seconds, and a caller who asked
    /// to stop waits for one tile (`d_out · d_hidden · TILE` multiply-adds), not for it all.
    pub fn new_until(
        layer: &BilinearLayer<T>,
        par: Par,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Option<Self> {
        let d = layer.d_in();
        let h = layer.d_hidden();
        let len = d * (d + 1) / 2;
        let tile = TILE.max(d);
        // Column-major, so that each tile's columns are a contiguous GEMM destination.
        let mut packed = Array2::zeros((layer.d_out(), len).f());
        // One flat buffer viewed as a contiguous column-major [h, width] matrix for each group,
        // so that the GEMM reads it without a copy.
        let mut buf = vec![T::zero(); h * tile.min(len)];
        // K is built column-major, one packed column `(i, j)` of `d_hidden` numbers at a time:
        // faer multiplies `P · K` into the column-major basis about twice as fast with K
        // column-major as with K row-major (145 against 75 GFLOP/s on two threads of an AVX2
        // EPYC at this shape, benches/README.md). Columns of W and V are then rows of their
        // transposes, copied once (2 d_hidden d_in numbers).
        let (wt, vt) = (
            layer.w().t().as_standard_layout().into_owned(),
            layer.v().t().as_standard_layout().into_owned(),
        );
        let half = T::of_f64(0.5);
        let (mut i0, mut start) = (0, 0);
        while i0 < d {
            if stop() {
                return None;
            }
            // Rows i0..i1 of the upper triangle, as many as fit in one tile.
            let (mut i1, mut width) = (i0, 0);
            while i1 < d && width + (d - i1) <= tile {
                width += d - i1;
                i1 += 1;
            }
            let pairs: Vec<(usize, usize)> =
                (i0..i1).flat_map(|i| (i..d).map(move |j| (i, j))).collect();
            let columns = &mut buf[..h * width];
            // Column (i, j) of the tile: K[a, (i, j)] for every hidden unit a, contiguous.
            let fill = |(column, &(i, j)): (&mut [T], &(usize, usize))| {
                let (wi, vi, wj, vj) = (
                    row_of(&wt, i),
                    row_of(&vt, i),
                    row_of(&wt, j),
                    row_of(&vt, j),
                );
                for ((((x, &wi), &vi), &wj), &vj) in
                    column.iter_mut().zip(wi).zip(vi).zip(wj).zip(vj)
                {
                    *x = (wi * half) * vj + (vi * half) * wj;
                }
            };
            match par {
                Par::Seq => columns.chunks_mut(h).zip(&pairs).for_each(fill),
                Par::Rayon(_) => columns.par_chunks_mut(h).zip(&pairs).for_each(fill),
            }
            let k = ArrayView2::from_shape((h, width).f(), &buf[..h * width])
                .expect("the buffer holds h x width numbers");
            linalg::gemm(
                packed.slice_mut(s![.., start..start + width]),
                false,
                layer.p(),
                k,
                T::one(),
                par,
            );
            start += width;
            i0 = i1;
        }
        Some(Self { packed, d })
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

    /// `Q(u)` of each row of `outputs` (`[c, d_out]`) written into `out` (`[c, d_in, d_in]`,
    /// row-major) as far as the solvers read it on one thread ([`eigh`](crate::eigh) with a
    /// sequential `par`): the upper triangle, and below the diagonal only within the diagonal
    /// tiles of Lanczos's symmetric block product (256 x 256), which it multiplies whole. The
    /// rest is left as it was; a consumer that reads whole matrices mirrors the upper triangle
    /// first (the pipeline does for the input-basis projection).
    /// Mirroring the whole upper triangle cost ~1.5 ms of CPU per 1024-wide output, 10% of
    /// formation (benches/README.md); the diagonal tiles are a quarter of it at that size.
    /// Where written, the entries are those of [`form_packed`](Self::form_packed) followed by
    /// [`unpack_into`](Self::unpack_into), without the packed intermediate.
    ///
    /// The packed basis is multiplied a tile of columns at a time into a small column-major
    /// scratch (`c d_out d_in²` flops in all, the GEMM shape faer runs fastest: the outputs are
    /// the small left operand packed once, the basis streams through as the right one), and
    /// each tile is scattered into the upper triangles (and mirrored within the diagonal tiles)
    /// while it is still in cache. With `par` parallel, groups of `FORM_GROUP` (128) outputs
    /// are formed on separate threads, each by sequential GEMMs: two independent GEMMs run
    /// faster than one shared between threads, and waiting at no barrier, a thread slowed by a
    /// busy machine does not stall the other.
    #[track_caller]
    pub fn form_into(&self, outputs: ArrayView2<'_, T>, mut out: ArrayViewMut3<'_, T>, par: Par) {
        let (c, d) = (outputs.nrows(), self.d);
        assert_eq!(
            outputs.ncols(),
            self.packed.nrows(),
            "outputs must be [c, d_out]"
        );
        assert_eq!(
            out.dim(),
            (c, d, d),
            "form_into: out must be [c, d_in, d_in]"
        );
        assert!(
            out.is_standard_layout(),
            "form_into: out must be a contiguous row-major array"
        );
        match par {
            Par::Seq => self.form_group(outputs, out),
            Par::Rayon(_) => out
                .axis_chunks_iter_mut(Axis(0), FORM_GROUP)
                .into_par_iter()
                .zip(outputs.axis_chunks_iter(Axis(0), FORM_GROUP))
                .for_each(|(q, u)| self.form_group(u, q)),
        }
    }

    /// [`form_into`](Self::form_into) on the calling thread.
    fn form_group(&self, outputs: ArrayView2<'_, T>, mut out: ArrayViewMut3<'_, T>) {
        let (c, d) = (outputs.nrows(), self.d);
        let tile = FORM_TILE.max(d);
        let mut scratch = Array2::<T>::zeros((c, tile).f());
        let (mut i0, mut start) = (0, 0);
        while i0 < d {
            let (mut i1, mut width) = (i0, 0);
            while i1 < d && width + (d - i1) <= tile {
                width += d - i1;
                i1 += 1;
            }
            // Bands of whole `BAND_ALIGN`s of rows mirror onto whole cache lines of the rows
            // below (when the tile holds that many rows).
            if i1 < d && i1 - i0 >= BAND_ALIGN {
                while i1 % BAND_ALIGN != 0 {
                    i1 -= 1;
                    width -= d - i1;
                }
            }
            let mut buf = scratch.slice_mut(s![.., ..width]);
            linalg::gemm(
                buf.view_mut(),
                false,
                outputs,
                self.packed.slice(s![.., start..start + width]),
                T::one(),
                Par::Seq,
            );
            let buf = buf
                .into_slice_memory_order()
                .expect("the first columns of a column-major scratch are contiguous");
            // Rows i0..i1 of the upper triangles of a group of outputs: packed column `p` is
            // `buf[p c..(p + 1) c]`, so a group's entries of a column share a cache line. The
            // rows are copied `SCATTER_COLUMNS` columns at a time, output by output, so those
            // lines stay in L1 while the group reads them.
            let scatter = |(g, mut group): (usize, ArrayViewMut3<'_, T>)| {
                let o0 = g * SCATTER_GROUP;
                let mut at = 0;
                for i in i0..i1 {
                    let row = &buf[at * c..(at + d - i) * c];
                    for (j0, block) in (i..d)
                        .step_by(SCATTER_COLUMNS)
                        .zip(row.chunks(SCATTER_COLUMNS * c))
                    {
                        for (r, mut q) in group.outer_iter_mut().enumerate() {
                            let dst = q.row_mut(i).into_slice().expect("rows are contiguous");
                            for (x, column) in dst[j0..].iter_mut().zip(block.chunks_exact(c)) {
                                *x = column[o0 + r];
                            }
                        }
                    }
                    at += d - i;
                }
                for q in group.outer_iter_mut() {
                    mirror_band(q, i0..i1);
                }
            };
            out.axis_chunks_iter_mut(Axis(0), SCATTER_GROUP)
                .enumerate()
                .for_each(scatter);
            start += width;
            i0 = i1;
        }
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

/// Copies the entries of rows `band` of the upper triangle of a row-major square matrix that
/// lie within a diagonal tile ([`symmetric::TILE`] square) onto their mirror images
/// below the diagonal. Row by row below the diagonal, so each row's writes are adjacent (one
/// cache line for a band of 16 aligned f32 rows) and the reads come from the band, which the
/// scatter has just written and which is still in cache.
fn mirror_band<T: Real>(mut a: ArrayViewMut2<'_, T>, band: Range<usize>) {
    let n = a.nrows();
    let tile = symmetric::TILE;
    let x = a
        .as_slice_mut()
        .expect("form_into's matrices are contiguous row-major");
    // Row j below the diagonal takes the band's entries of column j that share its tile.
    let last = ((band.end - 1) / tile + 1) * tile;
    for j in band.start + 1..n.min(last) {
        let first = band.start.max(j / tile * tile);
        let (upper, row) = x.split_at_mut(j * n);
        for (i, y) in (first..band.end.min(j)).zip(&mut row[first..]) {
            *y = upper[i * n + j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interaction::interaction_matrix;
    use ndarray::Array3;

    /// A deterministic pseudo-random matrix (no `rand` in the library's dependencies).
    fn filled(seed: u64, shape: (usize, usize)) -> Array2<f64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Array2::from_shape_simple_fn(shape, || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
    }

    #[test]
    fn basis_and_form_into_equal_the_direct_matrices_across_tiles_groups_and_threads() {
        // d = 200 packs 20100 numbers per matrix: two formation tiles, the first cut down to
        // 112 rows (a multiple of BAND_ALIGN); 19 outputs: a partial scatter group. d = 1100:
        // a tile holds 14 rows, fewer than BAND_ALIGN, so the first bands are not aligned and
        // the later ones end at a multiple of it; rows longer than SCATTER_COLUMNS; bands that
        // straddle two diagonal tiles of the symmetric product.
        for &(d, h, o, c) in &[
            (1usize, 2usize, 1usize, 3usize),
            (37, 9, 4, 5),
            (200, 6, 3, 19),
            (1100, 2, 2, 3),
        ] {
            let layer = BilinearLayer::new(filled(1, (h, d)), filled(2, (h, d)), filled(3, (o, h)));
            let u = filled(4, (c, o));
            for par in [Par::Seq, Par::rayon(2)] {
                let basis = InteractionBasis::new(&layer, par);
                let mut out = Array3::from_elem((c, d, d), f64::NAN);
                basis.form_into(u.view(), out.view_mut(), par);
                for r in 0..c {
                    // Written: the upper triangle and the diagonal tiles of the symmetric
                    // product; the rest is left untouched (NaN).
                    let want = interaction_matrix(&layer, u.row(r));
                    let got = out.index_axis(Axis(0), r);
                    let mut err = 0.0f64;
                    for ((i, j), &x) in got.indexed_iter() {
                        if j >= i || i / symmetric::TILE == j / symmetric::TILE {
                            err = err.max((x - want[(i, j)]).abs());
                        } else {
                            assert!(x.is_nan(), "d {d}, output {r}: ({i}, {j}) written");
                        }
                    }
                    assert!(err < 1e-13 * h as f64, "d {d}, output {r}: {err}");
                }
            }
        }
    }
}
