//! The floating-point types bilens computes in.

use std::fmt;

/// A real floating-point type that both faer's kernels and ndarray accept.
///
/// Implemented for `f32` (the default: what checkpoints hold) and `f64` (on request, and in
/// every identity test). The trait is sealed: the kernels are only tuned for these two.
pub trait Real:
    faer::traits::RealField
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + num_traits::Float
    + std::iter::Sum
    + Send
    + Sync
    + fmt::Debug
    + fmt::Display
    + sealed::Sealed
    + crate::symmetric::Sweep
    + 'static
{
    /// The dtype name used in files and metadata: `"f32"` or `"f64"`.
    const DTYPE: &'static str;

    /// The same, as a value: which precision a run computes in.
    const PRECISION: Precision;

    /// Converts from `f64`, rounding to nearest for `f32`.
    fn of_f64(x: f64) -> Self;

    /// Widens to `f64` (exact).
    fn as_f64(self) -> f64;

    /// A matrix in `f64`: borrowed when it already is, converted otherwise.
    fn matrix_f64(a: ndarray::ArrayView2<'_, Self>) -> ndarray::CowArray<'_, f64, ndarray::Ix2>;
}

impl Real for f32 {
    const DTYPE: &'static str = "f32";
    const PRECISION: Precision = Precision::F32;

    #[inline]
    fn of_f64(x: f64) -> Self {
        x as f32
    }

    #[inline]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }

    fn matrix_f64(a: ndarray::ArrayView2<'_, Self>) -> ndarray::CowArray<'_, f64, ndarray::Ix2> {
        a.mapv(f64::from).into()
    }
}

impl Real for f64 {
    const DTYPE: &'static str = "f64";
    const PRECISION: Precision = Precision::F64;

    #[inline]
    fn of_f64(x: f64) -> Self {
        x
    }

    #[inline]
    fn as_f64(self) -> f64 {
        self
    }

    fn matrix_f64(a: ndarray::ArrayView2<'_, Self>) -> ndarray::CowArray<'_, f64, ndarray::Ix2> {
        a.into()
    }
}

/// The working and stored precision of a computation, chosen at run time (the generic
/// parameter `T: Real` chooses it at compile time; front ends dispatch from this value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// 32-bit floats: what checkpoints hold, the default.
    #[default]
    F32,
    /// 64-bit floats.
    F64,
}

impl Precision {
    /// The name used in files and metadata: `f32` or `f64` (the same as [`Real::DTYPE`]).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => f32::DTYPE,
            Precision::F64 => f64::DTYPE,
        }
    }
}

crate::names::named!(Precision, "precision", [Precision::F32, Precision::F64]);

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}
