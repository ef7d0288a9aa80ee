//! Products with a symmetric matrix of which only one triangle is read.
//!
//! Two callers, one kernel. The tridiagonal reduction multiplies its trailing matrix by one
//! vector per column ([`symv_lower`]); Lanczos multiplies `Q` by a block of a few columns per
//! step ([`symm_lower`]). Both are bound by the bytes of the matrix they stream, not by
//! arithmetic (at `d = 1024` in f32, `Q` is 4 MB, more than a core's L2), so both read each
//! entry below the diagonal once and use it twice: `y[i] += a[i, j] x[j]` and
//! `y[j] += a[i, j] x[i]`. That halves the bytes a general product (a GEMM) reads, less the
//! diagonal tiles the block product reads whole (5/8 of a GEMM's bytes at `d = 1024`).
//!
//! The kernel, [`Sweep`], sweeps the rows below `C` columns for a group of `G` right-hand sides
//! at once, in the widest SIMD registers the CPU has (pulp's run-time dispatch), with fused
//! multiply-adds. The block product tiles `Q` so that the slices of `X` and `Y` a sweep touches
//! stay in L1 while `Q`'s tile streams through once; the diagonal tiles go to a GEMM whole.

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{ArrayView2, CowArray, Ix2};

use crate::scalar::Real;

/// Copies the upper triangle of the square `a` onto its lower one, making it symmetric: for a
/// consumer that reads whole matrices (the input-basis projection) of the shared route's formed
/// matrices, which hold their upper triangles only (see
/// [`InteractionBasis::form_into`](crate::InteractionBasis::form_into)). In tiles of 32 x 32,
/// so that the transposed reads stay within a few pages.
pub(crate) fn mirror_upper<T: Real>(mut a: ndarray::ArrayViewMut2<'_, T>) {
    const BLOCK: usize = 32;
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "mirror_upper: matrix must be square");
    for i0 in (0..n).step_by(BLOCK) {
        for j0 in (0..=i0).step_by(BLOCK) {
            for i in i0..(i0 + BLOCK).min(n) {
                for j in j0..(j0 + BLOCK).min(i) {
                    a[(i, j)] = a[(j, i)];
                }
            }
        }
    }
}

/// `y = A x` for the symmetric `a` of which only the lower triangle is read, in one sweep over
/// it, two columns at a time (so that `y` is loaded and stored once per pair): column `c` gives
/// `y[c] += a[c.., c] · x[c..]` and `y[c+1..] += a[c+1.., c] x[c]`.
pub(crate) fn symv_lower<T: Real>(a: MatRef<'_, T>, x: &[T], y: &mut [T]) {
    y.fill(T::zero());
    pulp::Arch::new().dispatch(SymvLower { a, x, y });
}

/// [`symv_lower`]'s sweep as a pulp kernel: `with_simd` is inlined into a function compiled for
/// the widest instruction set the CPU has (run-time dispatch), and the loop over the rows below
/// each column pair is [`Sweep`] (two columns, one right-hand side) in that instruction set's
/// registers.
struct SymvLower<'a, T> {
    a: MatRef<'a, T>,
    x: &'a [T],
    y: &'a mut [T],
}

impl<T: Real> pulp::WithSimd for SymvLower<'_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Self { a, x, y } = self;
        let m = a.nrows();
        let column = |c: usize| {
            a.col(c)
                .subrows(c, m - c)
                .try_as_col_major()
                .expect("a Mat column is contiguous")
                .as_slice()
        };
        let mut c = 0;
        while c + 1 < m {
            let (c0, c1) = (column(c), column(c + 1));
            let (x0, x1) = (x[c], x[c + 1]);
            let (head, rest) = y.split_at_mut(c + 2);
            let below = [&c0[2..], &c1[1..]];
            let [[d0], [d1]] = T::sweep(
                simd,
                below,
                [&x[c + 2..]],
                [rest],
                [[x0], [x1]],
                misaligned_head::<S, T>(below[0]),
            );
            head[c] = head[c] + c0[0] * x0 + c0[1] * x1 + d0;
            head[c + 1] = head[c + 1] + c0[1] * x0 + c1[0] * x1 + d1;
            c += 2;
        }
        if c + 1 == m {
            y[c] += column(c)[0] * x[c];
        }
    }
}

/// Columns per tile of [`symm_lower`]. The diagonal tiles (`TILE x TILE`) are read whole, so
/// the fraction of `Q` read twice is `1 / (number of tiles)`: an eighth at `d = 1024`. The
/// shared route's formation writes both triangles only there
/// ([`InteractionBasis::form_into`](crate::InteractionBasis::form_into)).
pub(crate) const TILE: usize = 256;

/// Rows per tile below the diagonal: a sweep's slices of `X` and `Y` (`2 · ROWS · G` entries,
/// 16 KB in f32) stay in L1 while the tile of `Q` (`ROWS · TILE` entries, 512 KB in f32) stays in
/// L2 for the next group of right-hand sides.
const ROWS: usize = 512;

/// `q` itself when one of its axes is contiguous (row- or column-major, as [`symm_lower`] reads
/// it), otherwise a row-major copy. (Lanczos, which multiplies many times, hands over a matrix
/// it has already made contiguous and aligned:
/// [`placement::aligned_matrix`](crate::placement::aligned_matrix).)
pub(crate) fn contiguous<T: Real>(q: ArrayView2<'_, T>) -> CowArray<'_, T, Ix2> {
    if q.is_standard_layout() || q.t().is_standard_layout() {
        q.into()
    } else {
        q.as_standard_layout().into_owned().into()
    }
}

/// `Y = Q X` for the symmetric `q`, reading each entry below the diagonal tiles once for both
/// of its products. Off the diagonal tiles (`TILE` rows and columns) only the entries that lie
/// after the diagonal along `q`'s contiguous axis are read (the lower triangle of a column-major
/// `q`, the upper of a row-major one: the same numbers); the diagonal tiles are multiplied
/// whole, by a GEMM, so `q` must hold both triangles there (Lanczos's `Q` holds all of it).
/// `x` and `y` are column-major `[d, m]` with columns `stride >= d` apart (`m` columns of length
/// `d`, each followed by `stride - d` entries that are neither read nor written): a little
/// padding keeps the columns of `X` and `Y` off each other's page offsets (see
/// [`placement`](crate::placement)).
pub(crate) fn symm_lower<T: Real>(q: ArrayView2<'_, T>, x: &[T], y: &mut [T], stride: usize) {
    let d = q.nrows();
    assert_eq!(q.ncols(), d, "symm_lower: matrix must be square");
    assert_eq!(x.len(), y.len(), "symm_lower: X and Y differ in size");
    assert!(
        stride >= d,
        "symm_lower: columns {stride} apart, shorter than {d}"
    );
    if d == 0 {
        return;
    }
    let m = x.len() / stride;
    assert_eq!(x.len(), stride * m, "symm_lower: X is not [stride, m]");
    // Lines along the contiguous axis as rows: line j is Q's column j (for a column-major q,
    // its row j for a row-major one; the same numbers).
    let q = contiguous(q);
    let lines = if q.t().is_standard_layout() {
        q.view().reversed_axes()
    } else {
        q.view()
    };
    let ld = lines.strides()[0] as usize;
    let lines = lines.to_slice().expect("a contiguous matrix");
    // The diagonal tiles, which cover every row once: Y[I] = Q[I, I] X[I] (Q[I, I] is the
    // transpose of the lines' tile).
    {
        let l = MatRef::from_row_major_slice_with_stride(lines, d, d, ld);
        let xf = MatRef::from_column_major_slice_with_stride(x, d, m, stride);
        let mut yf = MatMut::from_column_major_slice_with_stride_mut(&mut *y, d, m, stride);
        for it in (0..d).step_by(TILE) {
            let n = TILE.min(d - it);
            matmul(
                yf.rb_mut().subrows_mut(it, n),
                Accum::Replace,
                l.submatrix(it, it, n, n).transpose(),
                xf.subrows(it, n),
                T::one(),
                Par::Seq,
            );
        }
    }
    let operands = Operands {
        lines,
        ld,
        x,
        d,
        stride,
    };
    pulp::Arch::new().dispatch(OffDiagonal { operands, y });
}

/// The tiles of [`symm_lower`] below the diagonal, as a pulp kernel.
struct OffDiagonal<'a, T> {
    operands: Operands<'a, T>,
    y: &'a mut [T],
}

impl<T: Real> pulp::WithSimd for OffDiagonal<'_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Self { operands, y } = self;
        let d = operands.d;
        // Q's tile (I, J) below the diagonal is read once and gives both
        // Y[I] += Q[I, J] X[J] and Y[J] += Q[I, J]ᵀ X[I].
        for jt in (0..d).step_by(TILE) {
            let jend = (jt + TILE).min(d);
            for it in (jend..d).step_by(ROWS) {
                let rows = it..(it + ROWS).min(d);
                // Four columns of Q by four right-hand sides: 16 accumulators and 16
                // broadcasts, which AVX-512's 32 registers hold; the fastest of 2-8 columns by
                // 1-8 sides on a Xeon (benches/README.md). With AVX2's 16 registers (measured
                // there by forcing pulp's AVX2 path), two columns by four.
                if S::REGISTER_COUNT >= 32 {
                    operands.tile::<S, 4, 4>(simd, y, jt..jend, rows);
                } else {
                    operands.tile::<S, 2, 4>(simd, y, jt..jend, rows);
                }
            }
        }
    }
}

/// What a sweep reads: `Q` as lines of stride `ld` (line `j` is column `j`), and `X`,
/// column-major `[d, m]` with columns `stride` apart (as `Y`).
#[derive(Clone, Copy)]
struct Operands<'a, T> {
    lines: &'a [T],
    ld: usize,
    x: &'a [T],
    d: usize,
    stride: usize,
}

impl<T: Real> Operands<'_, T> {
    /// The part of the tile `rows x cols` of `Q` below the diagonal: for each group of `G`
    /// right-hand sides, sweeps of `C` columns at a time (a last group narrower than `G` goes
    /// one side at a time).
    #[inline(always)]
    fn tile<S: pulp::Simd, const C: usize, const G: usize>(
        self,
        simd: S,
        y: &mut [T],
        cols: std::ops::Range<usize>,
        rows: std::ops::Range<usize>,
    ) {
        let m = self.x.len() / self.stride;
        let mut c = 0;
        while c < m {
            let g = if c + G <= m { G } else { 1 };
            let mut j = cols.start;
            while j + C <= cols.end {
                if g == G {
                    self.sweep::<S, C, G>(simd, y, c, j, rows.clone());
                } else {
                    self.sweep::<S, C, 1>(simd, y, c, j, rows.clone());
                }
                j += C;
            }
            c += g;
        }
    }

    /// One [`Sweep`] of columns `j..j + C` of `Q` (rows `rows`) for the right-hand sides
    /// `c..c + G`, with the dot products added into `Y`'s rows `j..j + C`.
    #[inline(always)]
    fn sweep<S: pulp::Simd, const C: usize, const G: usize>(
        self,
        simd: S,
        y: &mut [T],
        c: usize,
        j: usize,
        rows: std::ops::Range<usize>,
    ) {
        let Self {
            lines,
            ld,
            x,
            stride,
            ..
        } = self;
        let cols: [&[T]; C] =
            std::array::from_fn(|k| &lines[(j + k) * ld + rows.start..(j + k) * ld + rows.end]);
        let xs: [&[T]; G] =
            std::array::from_fn(|g| &x[(c + g) * stride + rows.start..(c + g) * stride + rows.end]);
        let xc: [[T; G]; C] =
            std::array::from_fn(|k| std::array::from_fn(|g| x[(c + g) * stride + j + k]));
        let mut columns = y[c * stride..(c + G) * stride].chunks_exact_mut(stride);
        let ys: [&mut [T]; G] =
            std::array::from_fn(|_| &mut columns.next().expect("G columns")[rows.clone()]);
        // No head: a tile's rows start a multiple of `TILE` rows into a line, which Lanczos puts
        // on a cache line, and a fixed split keeps the results independent of where `q` lies.
        let dots = T::sweep(simd, cols, xs, ys, xc, 0);
        for k in 0..C {
            for g in 0..G {
                y[(c + g) * stride + j + k] += dots[k][g];
            }
        }
    }
}

/// The entries of `s` before the first one on a register boundary (`S`'s register width), at
/// most `s.len()`: a sweep that starts there loads whole registers that never straddle a cache
/// line. (Every column of a faer `Mat` starts on 64 bytes, a multiple of every register width
/// pulp dispatches to, so for [`symv_lower`]'s sweeps this depends on the row only, and the
/// results do not depend on where the allocator put the matrix.)
#[inline(always)]
fn misaligned_head<S: pulp::Simd, T>(s: &[T]) -> usize {
    let width = std::mem::size_of::<S::f32s>();
    let past = s.as_ptr() as usize % width;
    if past == 0 {
        0
    } else {
        ((width - past) / std::mem::size_of::<T>()).min(s.len())
    }
}

/// The innermost loop of both products in one precision's SIMD registers; a supertrait of
/// [`Real`], implemented for `f32` and `f64`.
pub trait Sweep: Sized {
    /// For the rows below `C` matrix columns `cols` (equal lengths, as every `xs[g]` and
    /// `ys[g]`), and each of `G` right-hand sides: `ys[g] += Σ_k cols[k] xc[k][g]`, and returns
    /// the dot products `cols[k] · xs[g]`.
    ///
    /// The first `head` rows (fewer than a register's lanes) and the rows after the last whole
    /// register go through masked loads and stores into the same accumulators, so a caller that
    /// passes the rows before a register boundary as `head` has all its other loads aligned.
    fn sweep<S: pulp::Simd, const C: usize, const G: usize>(
        simd: S,
        cols: [&[Self]; C],
        xs: [&[Self]; G],
        ys: [&mut [Self]; G],
        xc: [[Self; G]; C],
        head: usize,
    ) -> [[Self; G]; C];
}

macro_rules! sweep {
    (
        $t:ty,
        $v:ident,
        $as_simd:ident,
        $as_mut_simd:ident,
        $load:ident,
        $store:ident,
        $splat:ident,
        $fma:ident,
        $sum:ident
    ) => {
        impl Sweep for $t {
            #[inline(always)]
            fn sweep<S: pulp::Simd, const C: usize, const G: usize>(
                simd: S,
                cols: [&[$t]; C],
                xs: [&[$t]; G],
                ys: [&mut [$t]; G],
                xc: [[$t; G]; C],
                head: usize,
            ) -> [[$t; G]; C] {
                // Plain loops and inlined functions, no closures: a closure is not compiled for
                // the instruction set pulp dispatched to, so SIMD operations inside one become
                // calls.

                /// Rows `rows` (fewer than a register's lanes) in one masked register: the
                /// lanes past the slice's end load as zeros, add nothing to `s` and are not
                /// stored.
                #[inline(always)]
                fn partial<S: pulp::Simd, const C: usize, const G: usize>(
                    simd: S,
                    cols: &[&[$t]; C],
                    xs: &[&[$t]; G],
                    ys: &mut [&mut [$t]; G],
                    sx: &[[S::$v; G]; C],
                    s: &mut [[S::$v; G]; C],
                    rows: std::ops::Range<usize>,
                ) {
                    if rows.is_empty() {
                        return;
                    }
                    let a: [S::$v; C] = std::array::from_fn(|k| simd.$load(&cols[k][rows.clone()]));
                    for g in 0..G {
                        let x = simd.$load(&xs[g][rows.clone()]);
                        let mut y = simd.$load(&ys[g][rows.clone()]);
                        for k in 0..C {
                            s[k][g] = simd.$fma(a[k], x, s[k][g]);
                            y = simd.$fma(a[k], sx[k][g], y);
                        }
                        simd.$store(&mut ys[g][rows.clone()], y);
                    }
                }

                debug_assert!(
                    head * std::mem::size_of::<$t>() < std::mem::size_of::<S::$v>(),
                    "sweep: a head of {head} rows fills a register"
                );
                let len = cols[0].len();
                let head = head.min(len);
                let zero = simd.$splat(0.0);
                let (mut s, mut sx) = ([[zero; G]; C], [[zero; G]; C]);
                for k in 0..C {
                    assert_eq!(cols[k].len(), len, "sweep: columns differ in length");
                    for g in 0..G {
                        sx[k][g] = simd.$splat(xc[k][g]);
                    }
                }
                for g in 0..G {
                    assert!(
                        xs[g].len() == len && ys[g].len() == len,
                        "sweep: sides differ in length"
                    );
                }
                let mut ys = ys;
                partial(simd, &cols, &xs, &mut ys, &sx, &mut s, 0..head);
                let body: [&[$t]; C] = std::array::from_fn(|k| &cols[k][head..]);
                let n = S::$as_simd(body[0]).0.len();
                for i in 0..n {
                    let mut a = [zero; C];
                    for k in 0..C {
                        a[k] = S::$as_simd(body[k]).0[i];
                    }
                    for g in 0..G {
                        let x = S::$as_simd(&xs[g][head..]).0[i];
                        for k in 0..C {
                            s[k][g] = simd.$fma(a[k], x, s[k][g]);
                        }
                        let y = &mut S::$as_mut_simd(&mut ys[g][head..]).0[i];
                        for k in 0..C {
                            *y = simd.$fma(a[k], sx[k][g], *y);
                        }
                    }
                }
                let done = len - S::$as_simd(body[0]).1.len();
                partial(simd, &cols, &xs, &mut ys, &sx, &mut s, done..len);
                std::array::from_fn(|k| std::array::from_fn(|g| simd.$sum(s[k][g])))
            }
        }
    };
}

sweep!(
    f32,
    f32s,
    as_simd_f32s,
    as_mut_simd_f32s,
    partial_load_f32s,
    partial_store_f32s,
    splat_f32s,
    mul_add_e_f32s,
    reduce_sum_f32s
);
sweep!(
    f64,
    f64s,
    as_simd_f64s,
    as_mut_simd_f64s,
    partial_load_f64s,
    partial_store_f64s,
    splat_f64s,
    mul_add_e_f64s,
    reduce_sum_f64s
);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use faer::Mat;
    use ndarray::{Array2, ShapeBuilder};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// The mirror restores a symmetric matrix whose lower triangle was overwritten, at sizes
    /// around its block (one block, ragged blocks), contiguous or a view of a wider array.
    #[test]
    fn mirror_upper_restores_the_lower_triangle() {
        for n in [1, 5, 32, 33, 70] {
            let want = symmetric(n as u64, n);
            let mut wide = Array2::<f64>::from_elem((n, n + 3), f64::NAN);
            wide.slice_mut(ndarray::s![.., ..n]).assign(&want);
            for i in 0..n {
                for j in 0..i {
                    wide[(i, j)] = f64::NAN;
                }
            }
            mirror_upper(wide.slice_mut(ndarray::s![.., ..n]));
            assert_eq!(wide.slice(ndarray::s![.., ..n]), want, "n {n}");
            assert!(wide.slice(ndarray::s![.., n..]).iter().all(|x| x.is_nan()));
        }
    }

    /// A seeded random symmetric matrix (standard normal entries, symmetrised).
    pub(crate) fn symmetric(seed: u64, n: usize) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = Array2::from_shape_fn((n, n), |_| StandardNormal.sample(&mut rng));
        (&g + &g.t()) / 2.0
    }

    #[test]
    fn matrix_vector_product_reads_only_the_lower_triangle() {
        vector_product_matches_loops::<f64>(1e-12);
        vector_product_matches_loops::<f32>(1e-5);
    }

    /// `symv_lower` on trailing submatrices, as the reduction calls it: starting `s` rows and
    /// columns into a faer `Mat` puts the first row below each column pair at every offset from
    /// a register boundary, so every length of the masked head (and of the tail) is exercised.
    fn vector_product_matches_loops<T: Real>(tol: f64) {
        for m in [1, 2, 5, 40, 77] {
            for s in 0..=17 {
                let q = symmetric(9 + m as u64 + 100 * s as u64, m);
                // Garbage above the diagonal (and in the rows and columns before the view)
                // must not matter.
                let a = Mat::<T>::from_fn(m + s, m + s, |i, j| {
                    T::of_f64(if i >= j && j >= s {
                        q[(i - s, j - s)]
                    } else {
                        f64::NAN
                    })
                });
                let x: Vec<T> = (0..m).map(|i| T::of_f64((i as f64 * 0.37).sin())).collect();
                let mut y = vec![T::of_f64(f64::NAN); m];
                symv_lower(a.as_ref().submatrix(s, s, m, m), &x, &mut y);
                for i in 0..m {
                    let want: f64 = (0..m).map(|j| q[(i, j)] * x[j].as_f64()).sum();
                    let scale: f64 = (0..m).map(|j| (q[(i, j)] * x[j].as_f64()).abs()).sum();
                    assert!(
                        (y[i].as_f64() - want).abs() <= tol * (1.0 + scale),
                        "m {m}, offset {s}, row {i}: {} against {want}",
                        y[i].as_f64()
                    );
                }
            }
        }
    }

    /// `symm_lower` against a loop over the whole matrix, in both layouts (garbage in the
    /// triangle it must not read, outside the diagonal tiles), on sizes within, at and across
    /// tiles and row chunks, odd and even, and every remainder of the right-hand sides modulo
    /// the group of four.
    fn block_product_matches_loops<T: Real>(tol: f64) {
        let cases = [
            (1, 1, &[1, 3][..]),
            (2, 2, &[1, 4, 5]),
            (3, 3, &[2, 8]),
            (4, 77, &[1, 3, 4, 5, 8, 9]),
            (5, 256, &[1, 5]),
            (6, 300, &[1, 3, 4, 5, 8, 9]),
            (7, 513, &[2, 8]),
            (8, 801, &[1, 8]),
        ];
        for (seed, d, widths) in cases {
            let q = symmetric(seed, d);
            let read = |i: usize, j: usize, lower: bool| {
                let same_tile = i / TILE == j / TILE;
                T::of_f64(if same_tile || (i >= j) == lower {
                    q[(i, j)]
                } else {
                    f64::NAN
                })
            };
            let column_major = Array2::from_shape_fn((d, d).f(), |(i, j)| read(i, j, true));
            let row_major = Array2::from_shape_fn((d, d), |(i, j)| read(i, j, false));
            // Columns packed (`stride = d`) and padded: the padding of `X` holds NaN, which
            // must not be read, and that of `Y` a sentinel, which must not be written.
            for (&m, pad) in widths.iter().zip([0, 3, 16].into_iter().cycle()) {
                let stride = d + pad;
                let x: Vec<T> = (0..stride * m)
                    .map(|i| {
                        T::of_f64(if i % stride < d {
                            (i as f64 * 0.37).sin()
                        } else {
                            f64::NAN
                        })
                    })
                    .collect();
                for a in [column_major.view(), row_major.view()] {
                    let mut y = vec![T::of_f64(7.0); stride * m];
                    symm_lower(a, &x, &mut y, stride);
                    for c in 0..m {
                        for i in 0..d {
                            let want: f64 =
                                (0..d).map(|j| q[(i, j)] * x[c * stride + j].as_f64()).sum();
                            let got = y[c * stride + i].as_f64();
                            assert!(
                                (got - want).abs() < tol * (1.0 + want.abs()) * d as f64,
                                "d {d}, m {m}, pad {pad}, row {i}, column {c}: {got} vs {want}"
                            );
                        }
                        for i in d..stride {
                            assert_eq!(y[c * stride + i].as_f64(), 7.0, "padding written");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn block_product_matches_loops_in_f64() {
        block_product_matches_loops::<f64>(1e-15);
    }

    #[test]
    fn block_product_matches_loops_in_f32() {
        block_product_matches_loops::<f32>(1e-6);
    }
}
