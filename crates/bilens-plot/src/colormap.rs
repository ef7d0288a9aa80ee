//! Colours: the two colormaps, the value-to-colour scale, and the fixed colours that carry
//! meaning across figures (sign, missing data, series).
//!
//! Every coloured pixel and mark in this crate gets its colour here, so that "red means
//! positive" holds in the eigenvector images, the spectra and the heatmaps alike.

use plotters::style::RGBColor;

/// How values map to colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    /// Blue – white – red (matplotlib's `RdBu_r`, ColorBrewer's 11-class RdBu reversed), for
    /// signed quantities such as eigenvector entries: negative is blue, zero is **pure
    /// white** (ColorBrewer's centre `#f7f7f7` replaced, so that zero is the paper colour),
    /// positive is red.
    Diverging,
    /// Dark purple – green – yellow (matplotlib's `viridis`), for magnitudes: perceptually
    /// uniform and readable in greyscale.
    Sequential,
}

/// `RdBu_r` from low to high, centre replaced by white.
const DIVERGING: [[u8; 3]; 11] = [
    [5, 48, 97],
    [33, 102, 172],
    [67, 147, 195],
    [146, 197, 222],
    [209, 229, 240],
    [255, 255, 255],
    [253, 219, 199],
    [244, 165, 130],
    [214, 96, 77],
    [178, 24, 43],
    [103, 0, 31],
];

/// `viridis` sampled at nine evenly spaced points.
const SEQUENTIAL: [[u8; 3]; 9] = [
    [68, 1, 84],
    [72, 40, 120],
    [62, 73, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [110, 206, 88],
    [253, 231, 37],
];

/// The colour of a value that is not a finite number (NaN, ±∞): mid grey, distinct from
/// white (zero) and from both ends of either colormap.
pub const MISSING: [u8; 3] = [160, 160, 160];

/// Marks for positive quantities (eigenvalues, in spectra): the diverging map's strong red.
pub(crate) const POSITIVE: RGBColor = rgb(DIVERGING[9]);
/// Marks for negative quantities: the diverging map's strong blue.
pub(crate) const NEGATIVE: RGBColor = rgb(DIVERGING[1]);

/// Colours for named series (matplotlib's `tab10`), cycled.
const CATEGORICAL: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// The colour of series number `i` in a chart with several series.
pub(crate) fn categorical(i: usize) -> RGBColor {
    rgb(CATEGORICAL[i % CATEGORICAL.len()])
}

pub(crate) const fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

impl Colormap {
    /// The colour at position `t` along the map: `0` is the low end, `1` the high end,
    /// `0.5` the centre (white for [`Colormap::Diverging`]). `t` outside `[0, 1]` is
    /// clamped; NaN gives [`MISSING`].
    pub fn at(self, t: f64) -> [u8; 3] {
        if t.is_nan() {
            return MISSING;
        }
        let stops: &[[u8; 3]] = match self {
            Colormap::Diverging => &DIVERGING,
            Colormap::Sequential => &SEQUENTIAL,
        };
        let pos = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
        let i = (pos.floor() as usize).min(stops.len() - 2);
        let frac = pos - i as f64;
        let (a, b) = (stops[i], stops[i + 1]);
        std::array::from_fn(|c| {
            (f64::from(a[c]) + frac * (f64::from(b[c]) - f64::from(a[c]))).round() as u8
        })
    }
}

/// A colormap with the value range it spans: the mapping from data values to colours.
///
/// Values below `lo` or above `hi` take the end colours; values that are not finite take
/// [`MISSING`]. A degenerate range (`lo == hi`, e.g. an all-zero vector) maps every finite
/// value to the centre of the map (white for the diverging map) instead of dividing by zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorScale {
    colormap: Colormap,
    lo: f64,
    hi: f64,
}

impl ColorScale {
    /// The diverging map on `[-max_abs, max_abs]`: zero is white, whatever the data.
    ///
    /// # Panics
    /// If `max_abs` is negative or not finite (a caller's mistake, not a data problem:
    /// [`ColorScale::fit`] derives a valid limit from any data).
    #[track_caller]
    pub fn symmetric(max_abs: f64) -> Self {
        assert!(
            max_abs.is_finite() && max_abs >= 0.0,
            "symmetric colour limit must be finite and >= 0, got {max_abs}"
        );
        Self {
            colormap: Colormap::Diverging,
            lo: -max_abs,
            hi: max_abs,
        }
    }

    /// The sequential map on `[lo, hi]`.
    ///
    /// # Panics
    /// If a limit is not finite or `lo > hi`.
    #[track_caller]
    pub fn sequential(lo: f64, hi: f64) -> Self {
        assert!(
            lo.is_finite() && hi.is_finite() && lo <= hi,
            "sequential colour limits must be finite with lo <= hi, got [{lo}, {hi}]"
        );
        Self {
            colormap: Colormap::Sequential,
            lo,
            hi,
        }
    }

    /// The scale that fits `values`: symmetric `±max|v|` for [`Colormap::Diverging`],
    /// `[min, max]` for [`Colormap::Sequential`]. Non-finite values are ignored; with no
    /// finite value at all the range is `[0, 0]`.
    pub fn fit(colormap: Colormap, values: impl IntoIterator<Item = f64>) -> Self {
        let finite = values.into_iter().filter(|v| v.is_finite());
        match colormap {
            Colormap::Diverging => Self::symmetric(finite.fold(0.0, |m, v| v.abs().max(m))),
            Colormap::Sequential => {
                let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
                if lo <= hi {
                    Self::sequential(lo, hi)
                } else {
                    Self::sequential(0.0, 0.0)
                }
            }
        }
    }

    /// The colormap.
    pub fn colormap(&self) -> Colormap {
        self.colormap
    }

    /// The value drawn in the low-end colour.
    pub fn lo(&self) -> f64 {
        self.lo
    }

    /// The value drawn in the high-end colour.
    pub fn hi(&self) -> f64 {
        self.hi
    }

    /// The colour of `value`, as RGB bytes.
    pub fn color(&self, value: f64) -> [u8; 3] {
        if !value.is_finite() {
            return MISSING;
        }
        let t = if self.hi > self.lo {
            (value - self.lo) / (self.hi - self.lo)
        } else {
            0.5
        };
        self.colormap.at(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_scale_is_white_at_zero_red_at_max_blue_at_min() {
        let scale = ColorScale::symmetric(2.5);
        assert_eq!(scale.color(0.0), [255, 255, 255]);
        let [r, g, b] = scale.color(2.5);
        assert!(
            r > 90 && g < 10 && b < 40,
            "+max is dark red, got {r},{g},{b}"
        );
        let [r, g, b] = scale.color(-2.5);
        assert!(
            b > 90 && r < 10 && g < 60,
            "-max is dark blue, got {r},{g},{b}"
        );
        // Saturates beyond the limits, and is symmetric in hue.
        assert_eq!(scale.color(100.0), scale.color(2.5));
        assert_eq!(scale.color(-100.0), scale.color(-2.5));
        let [r, _, b] = scale.color(1.0);
        assert!(r > b, "small positive values are reddish");
        let [r, _, b] = scale.color(-1.0);
        assert!(b > r, "small negative values are bluish");
    }

    #[test]
    fn fit_ignores_non_finite_and_centres_diverging_at_zero() {
        let scale = ColorScale::fit(
            Colormap::Diverging,
            [0.5, -3.0, f64::NAN, 1.0, f64::INFINITY],
        );
        assert_eq!((scale.lo(), scale.hi()), (-3.0, 3.0));
        assert_eq!(scale.color(f64::NAN), MISSING);
        assert_eq!(scale.color(f64::NEG_INFINITY), MISSING);

        let seq = ColorScale::fit(Colormap::Sequential, [2.0, 5.0, f64::NAN]);
        assert_eq!((seq.lo(), seq.hi()), (2.0, 5.0));
        assert_eq!(seq.color(2.0), SEQUENTIAL[0]);
        assert_eq!(seq.color(5.0), SEQUENTIAL[8]);
    }

    #[test]
    fn degenerate_ranges_map_to_the_centre() {
        assert_eq!(ColorScale::symmetric(0.0).color(0.0), [255, 255, 255]);
        let empty = ColorScale::fit(Colormap::Diverging, [f64::NAN]);
        assert_eq!(empty.color(0.0), [255, 255, 255]);
        let flat = ColorScale::fit(Colormap::Sequential, [4.0, 4.0]);
        assert_eq!(flat.color(4.0), Colormap::Sequential.at(0.5));
    }

    #[test]
    #[should_panic(expected = "symmetric colour limit")]
    fn non_finite_limit_is_a_contract_violation() {
        let _ = ColorScale::symmetric(f64::NAN);
    }
}
