//! The order in which the components of one matrix are reported, and the choice of the
//! first `k` of a spectrum in that order: shared by the dense solver (`eigen`) and Lanczos
//! (`lanczos`), so neither imports the other for it.

use crate::scalar::Real;

/// The order in which components are reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Order {
    /// Largest `|λ|` first (the default: the best rank-k approximation keeps the first k).
    #[default]
    #[cfg_attr(feature = "clap", value(name = "abs"))]
    AbsDescending,
    /// Largest `λ` first (most positive to most negative).
    Descending,
    /// Smallest `λ` first (LAPACK's and torch's order).
    Ascending,
}

impl Order {
    /// The name used in metadata and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Order::AbsDescending => "abs-descending",
            Order::Descending => "descending",
            Order::Ascending => "ascending",
        }
    }
}

crate::names::named!(
    Order,
    "component order",
    [Order::AbsDescending, Order::Descending, Order::Ascending]
);

/// Indices of the first `k` eigenvalues of `ascending` (faer's nondecreasing order) in `order`.
/// Walks inward from both ends for `AbsDescending`, so the selection is `O(k)`; ties in `|λ|`
/// prefer the positive eigenvalue, which makes the choice deterministic.
pub(crate) fn pick<T: Real>(ascending: &[T], k: usize, order: Order) -> Vec<usize> {
    let n = ascending.len();
    let k = k.min(n);
    match order {
        Order::Ascending => (0..k).collect(),
        Order::Descending => (0..k).map(|i| n - 1 - i).collect(),
        Order::AbsDescending => {
            let (mut lo, mut hi) = (0usize, n);
            let mut out = Vec::with_capacity(k);
            while out.len() < k {
                let take_hi = ascending[hi - 1].abs() >= ascending[lo].abs();
                if take_hi {
                    hi -= 1;
                    out.push(hi);
                } else {
                    out.push(lo);
                    lo += 1;
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_orders_by_absolute_value_from_both_ends() {
        let asc = [-5.0, -1.0, 0.5, 2.0, 4.0];
        assert_eq!(pick(&asc, 3, Order::AbsDescending), vec![0, 4, 3]);
        assert_eq!(pick(&asc, 2, Order::Descending), vec![4, 3]);
        assert_eq!(pick(&asc, 2, Order::Ascending), vec![0, 1]);
        assert_eq!(pick(&asc, 9, Order::AbsDescending).len(), 5);
        // Ties in |λ| prefer the positive value.
        assert_eq!(pick(&[-2.0, 1.0, 2.0], 1, Order::AbsDescending), vec![2]);
    }
}
