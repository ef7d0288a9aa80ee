//! A few eigenpairs of a symmetric tridiagonal matrix, in f64: eigenvalues by bisection on
//! Sturm counts, eigenvectors by inverse iteration, reorthogonalised within clusters.
//!
//! Both are the classical algorithms behind LAPACK's `dstebz` and `dstein` (Golub & Van Loan,
//! *Matrix Computations*, 4th ed., sections 8.4.1 and 8.2.2; Demmel, *Applied Numerical Linear
//! Algebra*, section 5.3.4), written for the case bilens needs: `k` eigenpairs at the two ends of
//! a spectrum of size `n`, for `O(n k)` work per bisection step and per inverse-iteration step.
//! The bisections of all wanted eigenvalues advance together, so the inner loop runs across
//! independent recurrences (no dependency chain through the division) and vectorises.
//!
//! Every step is bounded: bisection stops after [`MAX_BISECTIONS`] halvings (the interval is
//! below rounding after ~60), inverse iteration after [`MAX_ITERATIONS`] solves, and the caller
//! checks the residuals and orthogonality and falls back to a full solver when a check fails.

/// Halvings of a bisection interval before it stops (an interval of `2‖T‖` reaches
/// `ε ‖T‖` after 53).
const MAX_BISECTIONS: usize = 80;

/// Inverse-iteration solves per vector before giving up (LAPACK's `dstein` uses 5).
const MAX_ITERATIONS: usize = 5;

/// Extra solves after the growth test passes (`dstein`'s `EXTRA`).
const EXTRA_ITERATIONS: usize = 2;

/// QL sweeps per eigenvalue before [`Tridiagonal::all_eigenvalues`] gives up (LAPACK's
/// `dsteqr` allows 30 per eigenvalue on average; two or three is the rule).
const MAX_QL_SWEEPS: usize = 30;

/// Vectors of distinct clusters whose inverse iterations run interleaved.
const INTERLEAVED: usize = 4;

/// Eigenvalues closer than this fraction of `‖T‖₁` are one cluster, whose vectors are
/// orthogonalised against each other (`dstein`'s `ORTOL`).
const CLUSTER_GAP: f64 = 1e-3;

/// A symmetric tridiagonal matrix: diagonal `a[0..n]`, off-diagonal `b[0..n-1]`.
#[derive(Clone, Debug)]
pub(crate) struct Tridiagonal {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
}

impl Tridiagonal {
    fn n(&self) -> usize {
        self.a.len()
    }

    /// The 1-norm (= ∞-norm), which bounds every `|λ|`.
    pub fn norm1(&self) -> f64 {
        (0..self.n())
            .map(|i| {
                let left = if i > 0 { self.b[i - 1].abs() } else { 0.0 };
                let right = self.b.get(i).map_or(0.0, |x| x.abs());
                self.a[i].abs() + left + right
            })
            .fold(0.0, f64::max)
    }

    /// The Gershgorin interval, which contains the spectrum.
    fn gershgorin(&self) -> (f64, f64) {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in 0..self.n() {
            let left = if i > 0 { self.b[i - 1].abs() } else { 0.0 };
            let r = left + self.b.get(i).map_or(0.0, |x| x.abs());
            lo = lo.min(self.a[i] - r);
            hi = hi.max(self.a[i] + r);
        }
        (lo, hi)
    }

    /// Every eigenvalue, ascending, by the implicit QL iteration with Wilkinson shifts without
    /// eigenvectors (Golub & Van Loan, section 8.3.5; the values-only variant of LAPACK's
    /// `dsteqr`): `O(n²)` flops in all, ~two sweeps per eigenvalue. `None` when an eigenvalue
    /// has not converged after [`MAX_QL_SWEEPS`] sweeps (the caller falls back to a full solver).
    ///
    /// The matrix is first scaled to `‖T‖₁ ≤ 1` by a power of two (exact both ways), so that
    /// the rotations' `√(f² + g²)` can neither overflow nor lose precision to underflow.
    pub fn all_eigenvalues(&self) -> Option<Vec<f64>> {
        let n = self.n();
        let norm = self.norm1();
        if norm == 0.0 || !norm.is_finite() {
            return norm.is_finite().then(|| vec![0.0; n]);
        }
        let scale = 2f64.powi(norm.log2().ceil() as i32);
        let mut d: Vec<f64> = self.a.iter().map(|x| x / scale).collect();
        // e[i] couples i and i + 1; e[n - 1] = 0 ends the last block.
        let mut e: Vec<f64> = self.b.iter().map(|x| x / scale).chain([0.0]).collect();
        for l in 0..n {
            let mut sweeps = 0;
            loop {
                // The first negligible coupling at or after l ends the block l..=m.
                let mut m = l;
                while m + 1 < n {
                    let size = d[m].abs() + d[m + 1].abs();
                    if e[m].abs() <= f64::EPSILON * size {
                        break;
                    }
                    m += 1;
                }
                if m == l {
                    break;
                }
                if sweeps == MAX_QL_SWEEPS {
                    return None;
                }
                sweeps += 1;
                // Wilkinson's shift from the leading 2x2 block, folded into the first rotation.
                let half_gap = (d[l + 1] - d[l]) / (2.0 * e[l]);
                let root = (half_gap * half_gap + 1.0).sqrt();
                let mut g = d[m] - d[l] + e[l] / (half_gap + root.copysign(half_gap));
                let (mut sin, mut cos, mut p) = (1.0, 1.0, 0.0);
                let mut deflated = false;
                // Chase the bulge from the bottom of the block up to l.
                for i in (l..m).rev() {
                    let f = sin * e[i];
                    let b = cos * e[i];
                    let r = (f * f + g * g).sqrt();
                    e[i + 1] = r;
                    if r == 0.0 {
                        // An exact zero split the block: undo the pending shift and restart.
                        d[i + 1] -= p;
                        e[m] = 0.0;
                        deflated = true;
                        break;
                    }
                    sin = f / r;
                    cos = g / r;
                    let h = d[i + 1] - p;
                    let t = (d[i] - h) * sin + 2.0 * cos * b;
                    p = sin * t;
                    d[i + 1] = h + p;
                    g = cos * t - b;
                }
                if !deflated {
                    d[l] -= p;
                    e[l] = g;
                    e[m] = 0.0;
                }
            }
        }
        if d.iter().any(|x| !x.is_finite()) {
            return None;
        }
        d.sort_by(f64::total_cmp);
        d.iter_mut().for_each(|x| *x *= scale);
        Some(d)
    }

    /// `counts[j]` = the number of eigenvalues below `xs[j]`, for every `j` at once (the
    /// inertia of `T - x I` from its LDLᵀ pivots; a pivot that would be zero is replaced by
    /// `-pivmin`, as in `dstebz`).
    fn counts_below(&self, xs: &[f64], counts: &mut [usize], q: &mut [f64], pivmin: f64) {
        let m = xs.len();
        pulp::Arch::new().dispatch(CountsBelow {
            t: self,
            xs,
            counts: &mut counts[..m],
            q: &mut q[..m],
            pivmin,
        });
    }

    /// The eigenvalues of ascending indices `indices` (0 the smallest), to an absolute accuracy
    /// of a few `ε ‖T‖`.
    pub fn eigenvalues(&self, indices: &[usize]) -> Vec<f64> {
        self.eigenvalues_refined(indices, 0.0, |estimates, _| (0..estimates.len()).collect())
    }

    /// The eigenvalues of ascending indices `indices`, each first to within `coarse · ‖T‖`;
    /// then `refine`, given those estimates and a bound on their errors, names (as positions in `indices`) the ones wanted
    /// to full accuracy, a few `ε ‖T‖`, as [`Tridiagonal::eigenvalues`] gives them (the same
    /// numbers: a refined bisection continues where the coarse one stopped). The others are
    /// returned as their estimates. For the top-k by `|λ|`, whose candidates are `k` at each
    /// end, only the `k` kept (and any near the cut) need the ~30 further halvings.
    ///
    /// The bisections of all wanted eigenvalues advance together, and those whose intervals
    /// still coincide (early on, all of one end) share one Sturm count per step.
    pub fn eigenvalues_refined(
        &self,
        indices: &[usize],
        coarse: f64,
        refine: impl FnOnce(&[f64], f64) -> Vec<usize>,
    ) -> Vec<f64> {
        let (gl, gu) = self.gershgorin();
        let norm = gl.abs().max(gu.abs());
        if norm == 0.0 {
            return vec![0.0; indices.len()];
        }
        // Widen by a few ulps of the norm so that the counts at the ends are 0 and n.
        let pad = 4.0 * f64::EPSILON * norm * self.n() as f64;
        let mut lo = vec![gl - pad; indices.len()];
        let mut hi = vec![gu + pad; indices.len()];
        let fine = 2.0 * f64::EPSILON * norm;
        let all: Vec<usize> = (0..indices.len()).collect();
        self.bisect(indices, &all, &mut lo, &mut hi, fine.max(coarse * norm));
        let mid = |lo: &[f64], hi: &[f64]| -> Vec<f64> {
            lo.iter().zip(hi).map(|(l, h)| 0.5 * (l + h)).collect()
        };
        if coarse * norm > fine {
            let radius = lo
                .iter()
                .zip(&hi)
                .fold(0.0f64, |m, (l, h)| m.max(0.5 * (h - l)));
            let mut chosen = refine(&mid(&lo, &hi), radius);
            chosen.sort_unstable();
            chosen.dedup();
            self.bisect(indices, &chosen, &mut lo, &mut hi, fine);
        }
        mid(&lo, &hi)
    }

    /// Halves the intervals `lo[j]..hi[j]` of the eigenvalues `indices[j]`, `j` in `which`
    /// (ascending), until each is at most `tol` wide or [`MAX_BISECTIONS`] steps have run.
    fn bisect(&self, indices: &[usize], which: &[usize], lo: &mut [f64], hi: &mut [f64], tol: f64) {
        let max_b2 = self.b.iter().fold(0.0f64, |m, x| m.max(x * x));
        let pivmin = f64::MIN_POSITIVE * max_b2.max(1.0);
        let mut active = which.to_vec();
        let (mut xs, mut counts, mut q, mut shared) = (
            Vec::with_capacity(which.len()),
            vec![0; which.len()],
            vec![0.0; which.len()],
            Vec::with_capacity(which.len()),
        );
        for _ in 0..MAX_BISECTIONS {
            active.retain(|&j| hi[j] - lo[j] > tol);
            if active.is_empty() {
                break;
            }
            // Ascending indices have ordered intervals, so equal ones are adjacent: one
            // midpoint (and one count) for each run of them.
            xs.clear();
            shared.clear();
            let mut last = None;
            for &j in &active {
                if last.is_none_or(|p: usize| lo[p] != lo[j] || hi[p] != hi[j]) {
                    xs.push(0.5 * (lo[j] + hi[j]));
                }
                shared.push(xs.len() - 1);
                last = Some(j);
            }
            self.counts_below(&xs, &mut counts, &mut q, pivmin);
            for (&j, &t) in active.iter().zip(&shared) {
                // λ_idx < mid exactly when more than idx eigenvalues lie below mid.
                if counts[t] > indices[j] {
                    hi[j] = xs[t];
                } else {
                    lo[j] = xs[t];
                }
            }
        }
    }

    /// Unit eigenvectors for the eigenvalues `values` (ascending), by inverse iteration; each
    /// vector is orthogonalised against the earlier ones of its cluster. `None` when a vector
    /// does not converge.
    pub fn eigenvectors(&self, values: &[f64], seed: u64) -> Option<Vec<Vec<f64>>> {
        let n = self.n();
        let norm = self.norm1();
        if norm == 0.0 {
            // T = 0: any orthonormal set is an eigenbasis; take the unit vectors.
            return Some(
                (0..values.len())
                    .map(|j| (0..n).map(|i| f64::from(u8::from(i == j))).collect())
                    .collect(),
            );
        }
        let eps = f64::EPSILON;
        let shift_step = 10.0 * eps * norm;
        let growth_target = (0.1 / n as f64).sqrt();
        // Each value's shift and the first vector of its cluster, in order (the shifts of a
        // cluster step apart from each other, as in dstein, so that their factorisations
        // differ), and every start vector from the seeded stream in the same order.
        let mut clusters = Vec::with_capacity(values.len());
        let mut shifts = Vec::with_capacity(values.len());
        let mut last_shift = f64::NEG_INFINITY;
        for (j, &value) in values.iter().enumerate() {
            let start = if j == 0 || value - values[j - 1] > CLUSTER_GAP * norm {
                j
            } else {
                clusters[j - 1]
            };
            let shift = if j > start && value - last_shift < shift_step {
                last_shift + shift_step
            } else {
                value
            };
            last_shift = shift;
            clusters.push(start);
            shifts.push(shift);
        }
        let mut rng = seed;
        let mut ys: Vec<Vec<f64>> = values
            .iter()
            .map(|_| (0..n).map(|_| uniform(&mut rng)).collect())
            .collect();
        // The solves are chains of dependent divisions and multiply-adds, so a vector at a
        // time leaves the core mostly waiting; vectors that do not depend on each other (each
        // the first of its cluster, but for the group's first, whose cluster is done) iterate
        // together, their solves interleaved. Every vector goes through the same operations
        // as alone, so the results do not change.
        let mut out: Vec<Vec<f64>> = Vec::with_capacity(values.len());
        let mut j0 = 0;
        while j0 < values.len() {
            let mut j1 = j0 + 1;
            while j1 < values.len() && j1 - j0 < INTERLEAVED && clusters[j1] == j1 {
                j1 += 1;
            }
            let lus: Vec<ShiftedLu> = shifts[j0..j1]
                .iter()
                .map(|&shift| ShiftedLu::new(self, shift, eps * norm))
                .collect();
            let group = &mut ys[j0..j1];
            let mut passed = vec![0; j1 - j0];
            for _ in 0..MAX_ITERATIONS + EXTRA_ITERATIONS {
                let mut active: Vec<(&ShiftedLu, &mut Vec<f64>)> = lus
                    .iter()
                    .zip(group.iter_mut())
                    .zip(&passed)
                    .filter(|&(_, &p)| p <= EXTRA_ITERATIONS)
                    .map(|(pair, _)| pair)
                    .collect();
                if active.is_empty() {
                    break;
                }
                for (lu, y) in &mut active {
                    // Scale the right-hand side so that the solution cannot overflow (dstein).
                    let l1: f64 = y.iter().map(|x| x.abs()).sum();
                    let scale = n as f64 * norm * eps.max(lu.last_pivot().abs())
                        / l1.max(f64::MIN_POSITIVE);
                    y.iter_mut().for_each(|x| *x *= scale);
                }
                ShiftedLu::solve_interleaved(&mut active);
                for (g, y) in group.iter_mut().enumerate() {
                    if passed[g] > EXTRA_ITERATIONS {
                        continue;
                    }
                    // Only the group's first vector can have cluster members before it.
                    let earlier = if g == 0 {
                        &out[clusters[j0]..]
                    } else {
                        &[][..]
                    };
                    for prev in earlier {
                        let dot: f64 = prev.iter().zip(y.iter()).map(|(p, x)| p * x).sum();
                        y.iter_mut().zip(prev).for_each(|(x, p)| *x -= dot * p);
                    }
                    let largest = y.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                    if !largest.is_finite() {
                        return None;
                    }
                    if largest >= growth_target {
                        passed[g] += 1;
                    }
                }
            }
            if passed.contains(&0) {
                return None;
            }
            for y in group.iter_mut() {
                let l2 = y.iter().map(|x| x * x).sum::<f64>().sqrt();
                if l2 == 0.0 || !l2.is_finite() {
                    return None;
                }
                y.iter_mut().for_each(|x| *x /= l2);
                out.push(std::mem::take(y));
            }
            j0 = j1;
        }
        Some(out)
    }

    /// `‖T x − λ x‖₂` for a vector `x`.
    pub fn residual(&self, lambda: f64, x: &[f64]) -> f64 {
        let n = self.n();
        (0..n)
            .map(|i| {
                let mut r = (self.a[i] - lambda) * x[i];
                if i > 0 {
                    r += self.b[i - 1] * x[i - 1];
                }
                if i + 1 < n {
                    r += self.b[i] * x[i + 1];
                }
                r * r
            })
            .sum::<f64>()
            .sqrt()
    }
}

/// `T − σ I = P L U` by Gaussian elimination with partial pivoting (LAPACK's `dgttrf`): `U` has
/// two superdiagonals; pivots below `tiny` are raised to it so that the solve never divides by
/// zero (an exactly singular shift is what inverse iteration wants).
struct ShiftedLu {
    d: Vec<f64>,
    du: Vec<f64>,
    du2: Vec<f64>,
    dl: Vec<f64>,
    swapped: Vec<bool>,
}

impl ShiftedLu {
    fn new(t: &Tridiagonal, shift: f64, tiny: f64) -> Self {
        let n = t.n();
        let mut d: Vec<f64> = t.a.iter().map(|a| a - shift).collect();
        let mut du = t.b.clone();
        let mut dl = t.b.clone();
        let mut du2 = vec![0.0; n.saturating_sub(2)];
        let mut swapped = vec![false; n.saturating_sub(1)];
        for i in 0..n.saturating_sub(1) {
            if d[i].abs() >= dl[i].abs() {
                let fact = if d[i] != 0.0 { dl[i] / d[i] } else { 0.0 };
                dl[i] = fact;
                d[i + 1] -= fact * du[i];
            } else {
                let fact = d[i] / dl[i];
                d[i] = dl[i];
                dl[i] = fact;
                let temp = du[i];
                du[i] = d[i + 1];
                d[i + 1] = temp - fact * d[i + 1];
                if i + 2 < n {
                    du2[i] = du[i + 1];
                    du[i + 1] *= -fact;
                }
                swapped[i] = true;
            }
        }
        for p in &mut d {
            if p.abs() < tiny {
                *p = if *p < 0.0 { -tiny } else { tiny };
            }
        }
        Self {
            d,
            du,
            du2,
            dl,
            swapped,
        }
    }

    fn last_pivot(&self) -> f64 {
        *self.d.last().expect("n > 0")
    }

    /// Overwrites each `x` with `(T − σ I)⁻¹ x` for its own factorisation, step by step across
    /// the systems: each solve is a chain of dependent operations (a division per row on the
    /// way back), and interleaved the chains overlap in the core instead of waiting one after
    /// another. Each `x` goes through the same operations as it would alone.
    fn solve_interleaved(systems: &mut [(&ShiftedLu, &mut Vec<f64>)]) {
        let Some(n) = systems.first().map(|(_, x)| x.len()) else {
            return;
        };
        for i in 0..n.saturating_sub(1) {
            for (lu, x) in systems.iter_mut() {
                if lu.swapped[i] {
                    let temp = x[i];
                    x[i] = x[i + 1];
                    x[i + 1] = temp - lu.dl[i] * x[i];
                } else {
                    x[i + 1] -= lu.dl[i] * x[i];
                }
            }
        }
        for i in (0..n).rev() {
            for (lu, x) in systems.iter_mut() {
                let mut v = x[i];
                if i + 1 < n {
                    v -= lu.du[i] * x[i + 1];
                }
                if i + 2 < n {
                    v -= lu.du2[i] * x[i + 2];
                }
                x[i] = v / lu.d[i];
            }
        }
    }
}

/// [`Tridiagonal::counts_below`]'s loops as a pulp kernel: `with_simd` is inlined into a function
/// compiled for the widest instruction set the CPU has, so the loop over the shifts (independent
/// recurrences, one per shift) is vectorised in its registers, divisions included; each lane
/// does the scalar code's operations in the same order, so the counts are the same.
struct CountsBelow<'a> {
    t: &'a Tridiagonal,
    xs: &'a [f64],
    counts: &'a mut [usize],
    q: &'a mut [f64],
    pivmin: f64,
}

impl pulp::WithSimd for CountsBelow<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            t,
            xs,
            counts,
            q,
            pivmin,
        } = self;
        for ((q, c), &x) in q.iter_mut().zip(counts.iter_mut()).zip(xs) {
            *q = guarded(t.a[0] - x, pivmin);
            *c = usize::from(*q < 0.0);
        }
        for i in 1..t.a.len() {
            let (a, b2) = (t.a[i], t.b[i - 1] * t.b[i - 1]);
            for ((q, c), &x) in q.iter_mut().zip(counts.iter_mut()).zip(xs) {
                let v = guarded(a - x - b2 / *q, pivmin);
                *q = v;
                *c += usize::from(v < 0.0);
            }
        }
    }
}

/// A Sturm pivot that would be zero replaced by `-pivmin`, as in `dstebz`. A function, not a
/// closure: a closure is not compiled for the instruction set pulp dispatched to.
#[inline(always)]
fn guarded(v: f64, pivmin: f64) -> f64 {
    if v.abs() < pivmin { -pivmin } else { v }
}

/// A uniform number in `[-1, 1)` from a SplitMix64 stream (a fixed seed keeps results identical
/// across runs and thread counts).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched, vectorised counts against a scalar Sturm sequence written out here, for
    /// shift counts around every register width (1 to 33), shifts on the diagonal entries and
    /// at zero (zero pivots, which take the `pivmin` guard), and a matrix that splits (zero
    /// off-diagonals): the same pivots bit for bit, so the same counts.
    #[test]
    fn vectorised_counts_match_a_scalar_sturm_sequence() {
        let mut state = 11u64;
        let n = 40;
        for split in [false, true] {
            let t = Tridiagonal {
                a: (0..n)
                    .map(|i| if i % 7 == 3 { 0.0 } else { uniform(&mut state) })
                    .collect(),
                b: (1..n)
                    .map(|i| {
                        if split && i % 5 == 0 {
                            0.0
                        } else {
                            uniform(&mut state)
                        }
                    })
                    .collect(),
            };
            let pivmin = f64::MIN_POSITIVE;
            for m in [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33] {
                let xs: Vec<f64> = (0..m)
                    .map(|j| match j % 3 {
                        0 => t.a[j % n],
                        1 => 0.0,
                        _ => 3.0 * uniform(&mut state),
                    })
                    .collect();
                let (mut counts, mut q) = (vec![usize::MAX; m], vec![f64::NAN; m]);
                t.counts_below(&xs, &mut counts, &mut q, pivmin);
                for (j, &x) in xs.iter().enumerate() {
                    let guard = |v: f64| if v.abs() < pivmin { -pivmin } else { v };
                    let mut p = guard(t.a[0] - x);
                    let mut want = usize::from(p < 0.0);
                    for i in 1..n {
                        p = guard(t.a[i] - x - t.b[i - 1] * t.b[i - 1] / p);
                        want += usize::from(p < 0.0);
                    }
                    assert_eq!(
                        counts[j], want,
                        "split {split}, {m} shifts, shift {j} = {x}"
                    );
                    assert_eq!(q[j].to_bits(), p.to_bits(), "last pivot, shift {j}");
                }
            }
        }
    }

    /// The (1, -2, 1) second-difference matrix has eigenvalues `2 - 2 cos(jπ/(n+1))`.
    #[test]
    fn bisection_finds_the_second_difference_spectrum() {
        let n = 50;
        let t = Tridiagonal {
            a: vec![2.0; n],
            b: vec![-1.0; n - 1],
        };
        let idx = [0, 1, 2, 47, 48, 49];
        let got = t.eigenvalues(&idx);
        for (&i, g) in idx.iter().zip(&got) {
            let want = 2.0 - 2.0 * (((i + 1) as f64) * std::f64::consts::PI / (n + 1) as f64).cos();
            assert!((g - want).abs() < 1e-13, "λ_{i}: {g} vs {want}");
        }
        let vecs = t.eigenvectors(&got, 7).expect("converges");
        for (v, &l) in vecs.iter().zip(&got) {
            assert!(t.residual(l, v) < 1e-12);
        }
    }

    /// A coarse pass then refinement: the refined values are bit for bit the ones a full
    /// bisection gives, the others lie within the stated radius of the true values (the
    /// second-difference matrix, whose spectrum is known, with ties in its coarse estimates
    /// since its interior values are close), and repeated intervals share their counts without
    /// changing any value.
    #[test]
    fn refined_bisection_gives_the_full_values_where_asked() {
        let n = 300;
        let t = Tridiagonal {
            a: vec![2.0; n],
            b: vec![-1.0; n - 1],
        };
        let exact =
            |i: usize| 2.0 - 2.0 * (((i + 1) as f64) * std::f64::consts::PI / (n + 1) as f64).cos();
        let idx: Vec<usize> = (0..20).chain(n - 20..n).collect();
        let full = t.eigenvalues(&idx);
        let mut seen = None;
        let got = t.eigenvalues_refined(&idx, 1e-4, |estimates, radius| {
            seen = Some((estimates.to_vec(), radius));
            (0..idx.len()).step_by(3).collect()
        });
        let (estimates, radius) = seen.expect("refine was asked");
        assert!(radius > 0.0 && radius <= 1e-4 * 4.0, "radius {radius}");
        for (j, &i) in idx.iter().enumerate() {
            assert!((estimates[j] - exact(i)).abs() <= radius, "estimate {j}");
            if j % 3 == 0 {
                assert_eq!(got[j].to_bits(), full[j].to_bits(), "refined value {j}");
            } else {
                assert_eq!(got[j], estimates[j], "unrefined value {j}");
            }
            assert!((full[j] - exact(i)).abs() < 1e-13, "λ_{i}");
        }
    }

    /// QL against bisection (an independent algorithm) on a random matrix, a graded one and the
    /// second-difference matrix, and the degenerate edge cases exactly.
    #[test]
    fn ql_eigenvalues_agree_with_bisection() {
        let mut rng = 11u64;
        let n = 97;
        let random = Tridiagonal {
            a: (0..n).map(|_| uniform(&mut rng)).collect(),
            b: (1..n).map(|_| uniform(&mut rng)).collect(),
        };
        let graded = Tridiagonal {
            a: (0..n).map(|i| 10f64.powi(-(i as i32) / 8)).collect(),
            b: (1..n).map(|i| 0.5 * 10f64.powi(-(i as i32) / 8)).collect(),
        };
        let second_difference = Tridiagonal {
            a: vec![2.0; n],
            b: vec![-1.0; n - 1],
        };
        for t in [random, graded, second_difference] {
            let all: Vec<usize> = (0..n).collect();
            let want = t.eigenvalues(&all);
            let got = t.all_eigenvalues().expect("converges");
            let tol = 1e-13 * t.norm1();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < tol, "{g} vs {w}");
            }
        }
        let zero = Tridiagonal {
            a: vec![0.0; 5],
            b: vec![0.0; 4],
        };
        assert_eq!(zero.all_eigenvalues(), Some(vec![0.0; 5]));
        let split = Tridiagonal {
            a: vec![3.0, -1.0, 3.0, 2.0],
            b: vec![0.0, 0.0, 0.0],
        };
        assert_eq!(split.all_eigenvalues(), Some(vec![-1.0, 2.0, 3.0, 3.0]));
        let one = Tridiagonal {
            a: vec![-4.5],
            b: vec![],
        };
        assert_eq!(one.all_eigenvalues(), Some(vec![-4.5]));
        let nan = Tridiagonal {
            a: vec![1.0, f64::NAN],
            b: vec![1.0],
        };
        assert_eq!(nan.all_eigenvalues(), None);
    }

    #[test]
    fn isolated_and_clustered_values_get_orthonormal_vectors_with_small_residuals() {
        // Well separated values (their inverse iterations run interleaved) around two tight
        // clusters (theirs run one after another, each orthogonalised against the cluster so
        // far), weakly coupled: every vector must be an eigenvector, orthogonal to the rest.
        let n = 40;
        let mut seed = 3;
        let a: Vec<f64> = (0..n)
            .map(|i| match i {
                10..=14 => 0.5 + 1e-9 * i as f64,
                30..=33 => -0.75,
                _ => i as f64 / 7.0 - 2.0,
            })
            .collect();
        let b: Vec<f64> = (0..n - 1).map(|_| 1e-4 * uniform(&mut seed)).collect();
        let t = Tridiagonal { a, b };
        let values = t.all_eigenvalues().expect("converges");
        let vectors = t.eigenvectors(&values, 11).expect("converges");
        let norm = t.norm1();
        for (i, (u, &l)) in vectors.iter().zip(&values).enumerate() {
            assert!(t.residual(l, u) < 1e-12 * norm, "vector {i}: residual");
            for (j, w) in vectors.iter().enumerate() {
                let dot: f64 = u.iter().zip(w).map(|(x, y)| x * y).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-10, "<v{i}, v{j}> = {dot}");
            }
        }
    }

    #[test]
    fn a_split_degenerate_matrix_gets_orthonormal_vectors() {
        // diag(1, 1, 1, 1): one cluster of four, every off-diagonal zero.
        let t = Tridiagonal {
            a: vec![1.0; 4],
            b: vec![0.0; 3],
        };
        let vals = t.eigenvalues(&[0, 1, 2, 3]);
        assert!(vals.iter().all(|v| (v - 1.0).abs() < 1e-15));
        let vecs = t.eigenvectors(&vals, 1).expect("converges");
        for (i, u) in vecs.iter().enumerate() {
            for (j, w) in vecs.iter().enumerate() {
                let dot: f64 = u.iter().zip(w).map(|(x, y)| x * y).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "<v{i}, v{j}> = {dot}");
            }
        }
    }
}
