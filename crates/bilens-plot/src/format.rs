//! Numbers as text: one formatter for every label, and "nice" tick positions.
//!
//! Labels use three significant digits and a true minus sign (`−`, U+2212, which the bundled
//! font has), so that `λ = −0.512` reads as in a typeset paper and positive and negative
//! labels line up.

/// `x` with three significant digits: fixed notation for `1e-3 <= |x| < 1e4`, otherwise
/// scientific (`1.23e−5`). Zero is `0`; NaN and infinities are spelled out.
pub(crate) fn number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs();
    let text = if (1e-3..1e4).contains(&magnitude) {
        let decimals = (2 - magnitude.log10().floor() as i32).max(0) as usize;
        format!("{magnitude:.decimals$}")
    } else {
        let s = format!("{magnitude:.2e}");
        s.replace("e-", "e−")
    };
    if x < 0.0 { format!("−{text}") } else { text }
}

/// A tick value as short as it can be written: `0`, `0.2`, `15`, `1e−5`. Ticks come from
/// [`nice_ticks`] or are powers of ten, so rounding to ten significant digits only removes
/// floating-point noise (`0.30000000000000004`).
pub(crate) fn tick(x: f64) -> String {
    if !x.is_finite() {
        return number(x);
    }
    let clean: f64 = format!("{x:.9e}").parse().unwrap_or(x);
    if clean == 0.0 {
        return "0".into();
    }
    let magnitude = clean.abs();
    let text = if (1e-4..1e6).contains(&magnitude) {
        format!("{magnitude}")
    } else {
        format!("{magnitude:e}").replace("e-", "e−")
    };
    if clean < 0.0 {
        format!("−{text}")
    } else {
        text
    }
}

/// Tick values in `[lo, hi]` at a "nice" step (1, 2 or 5 times a power of ten) giving about
/// `target` ticks. Empty if the range is not finite; a single tick for `lo == hi`.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return Vec::new();
    }
    if lo == hi {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    // Rounding to the step's decimals turns 3 * 0.2 = 0.6000000000000001 into 0.6.
    let scale = 10f64.powi((-step.log10().floor()).max(0.0) as i32);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|i| {
            let v = (i as f64 * step * scale).round() / scale;
            if v == 0.0 { 0.0 } else { v } // no -0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_three_significant_digits_and_a_true_minus() {
        assert_eq!(number(3.2071), "3.21");
        assert_eq!(number(-0.51234), "−0.512");
        assert_eq!(number(123.4), "123");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(12345.0), "1.23e4");
        assert_eq!(number(-0.000012), "−1.20e−5");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn ticks_are_written_short() {
        assert_eq!(tick(0.6000000000000001), "0.6");
        assert_eq!(tick(-2.0), "−2");
        assert_eq!(tick(20.0), "20");
        assert_eq!(tick(0.001), "0.001");
        assert_eq!(tick(1e-5), "1e−5");
        assert_eq!(tick(2.5e7), "2.5e7");
        assert_eq!(tick(-0.0), "0");
    }

    #[test]
    fn ticks_are_nice_and_inside_the_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(-3.0, 3.0, 4), vec![-2.0, 0.0, 2.0]);
        assert_eq!(nice_ticks(0.5, 20.5, 6), vec![5.0, 10.0, 15.0, 20.0]);
        assert_eq!(nice_ticks(2.0, 2.0, 5), vec![2.0]);
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
    }
}
