//! Parsing the names the library's enums are stored under (results metadata, reports) back
//! into the enums: one rule for all of them.

use std::fmt;

/// A name that is not one of an enum's names, with the names it could have been.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What the name was for, e.g. `method`.
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The names accepted.
    pub expected: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a {}; expected one of {}",
            self.name,
            self.what,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

/// The value among `all` whose `name` is `s`.
pub(crate) fn parse<E: Copy>(
    s: &str,
    what: &'static str,
    all: &[E],
    name: impl Fn(E) -> &'static str,
) -> Result<E, UnknownName> {
    all.iter()
        .copied()
        .find(|&e| name(e) == s)
        .ok_or_else(|| UnknownName {
            what,
            name: s.to_string(),
            expected: all.iter().map(|&e| name(e)).collect(),
        })
}

/// `impl FromStr` by [`parse`] over the listed variants and the type's `name()`, and
/// `impl Display` by `name()`: the stored name is the one name of each value.
macro_rules! named {
    ($ty:ty, $what:literal, [$($variant:expr),+ $(,)?]) => {
        impl std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::names::parse(s, $what, &[$($variant),+], <$ty>::name)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
pub(crate) use named;
