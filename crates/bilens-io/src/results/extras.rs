//! Per-output extra tensors of a results directory: their declarations, a chunk's rows, and
//! the summary fields filled from them.

use bilens_decomp::{Real, TopInteractions};
use ndarray::{Array1, Array2, Array3, ArrayViewD, Axis};

use super::SUMMARY_TOP;
use super::names;
use super::summary::{CrossInteraction, OutputSummary, SelfInteraction};
use crate::write::{Dtype, Element};

/// A per-output extra tensor, declared when a [`ResultsWriter`](crate::ResultsWriter) is created: stored as
/// `[n_out, trailing...]`, its rows given with every chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraSpec {
    /// Tensor name (see [`names`] for the ones bilens writes).
    pub name: String,
    /// The results' precision (`F32`/`F64`, matching the writer's `T`) or `I64` for indices.
    pub dtype: Dtype,
    /// The shape of one output's entry (`[]` for a number per output).
    pub trailing: Vec<usize>,
}

impl ExtraSpec {
    /// A new spec.
    pub fn new(name: impl Into<String>, dtype: Dtype, trailing: &[usize]) -> Self {
        Self {
            name: name.into(),
            dtype,
            trailing: trailing.to_vec(),
        }
    }

    /// A float extra in precision `T`.
    pub fn float<T: Element>(name: impl Into<String>, trailing: &[usize]) -> Self {
        Self::new(name, T::DTYPE, trailing)
    }

    /// An I64 (index) extra.
    pub fn index(name: impl Into<String>, trailing: &[usize]) -> Self {
        Self::new(name, Dtype::I64, trailing)
    }

    /// `effective_rank`, `fraction_kept`, `frobenius_sq` (`[n_out]` each): the summary's
    /// statistics as tensors. [`ResultsWriter::write_chunk`](crate::ResultsWriter::write_chunk) fills them from the chunk's
    /// summaries when the chunk does not give them.
    pub fn spectrum_stats<T: Element>() -> Vec<Self> {
        names::STATS
            .iter()
            .map(|n| Self::float::<T>(*n, &[]))
            .collect()
    }

    /// `linear_terms` `[n_out, d_in]` and `constants` `[n_out]`: what biases add to each
    /// output, `uᵀy(x) = xᵀQx + 2qᵀx + q0`.
    pub fn bias_terms<T: Element>(d_in: usize) -> Vec<Self> {
        vec![
            Self::float::<T>(names::LINEAR_TERMS, &[d_in]),
            Self::float::<T>(names::CONSTANTS, &[]),
        ]
    }

    /// The four tensors of [`InteractionArrays`] with `m` entries per output.
    pub fn interactions<T: Element>(m: usize) -> Vec<Self> {
        vec![
            Self::float::<T>(names::SELF_INTERACTION_VALUES, &[m]),
            Self::index(names::SELF_INTERACTION_FEATURES, &[m]),
            Self::float::<T>(names::CROSS_INTERACTION_VALUES, &[m]),
            Self::index(names::CROSS_INTERACTION_FEATURES, &[m, 2]),
        ]
    }
}

/// The rows of one extra tensor for a chunk of outputs, `[n, trailing...]`.
#[derive(Clone, Debug)]
pub enum ExtraData<'a, T> {
    /// Values in the results' precision.
    Float(ArrayViewD<'a, T>),
    /// Indices (I64).
    Index(ArrayViewD<'a, i64>),
}

impl<T> ExtraData<'_, T> {
    /// A view of the same rows with a shorter lifetime (the enum is invariant in its lifetime,
    /// as ndarray's views are for a generic element type, so it cannot simply be coerced).
    pub fn view(&self) -> ExtraData<'_, T> {
        match self {
            ExtraData::Float(a) => ExtraData::Float(a.view()),
            ExtraData::Index(a) => ExtraData::Index(a.view()),
        }
    }

    pub(super) fn shape(&self) -> &[usize] {
        match self {
            ExtraData::Float(a) => a.shape(),
            ExtraData::Index(a) => a.shape(),
        }
    }

    pub(super) fn dtype_name(&self, float: Dtype) -> &'static str {
        match self {
            ExtraData::Float(_) => float.name(),
            ExtraData::Index(_) => Dtype::I64.name(),
        }
    }
}

/// The largest self and cross interactions of a chunk of outputs, padded to `m` entries each,
/// as the four extras [`ExtraSpec::interactions`] declares. Padding (when an output has fewer
/// than `m` interactions, e.g. fewer than `m` feature pairs) has feature `-1` and value NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionArrays<T> {
    /// `[n, m]`, `Q_D[f, f]`.
    pub self_values: Array2<T>,
    /// `[n, m]`, `f`.
    pub self_features: Array2<i64>,
    /// `[n, m]`, `Q_D[a, b]`.
    pub cross_values: Array2<T>,
    /// `[n, m, 2]`, `(a, b)` with `a < b`.
    pub cross_features: Array3<i64>,
}

impl<T: Real> InteractionArrays<T> {
    /// Packs one [`TopInteractions`] per output (as `InputBasis::top_interactions` returns
    /// them, by descending `|value|`), keeping at most `m` of each kind.
    pub fn new(tops: &[TopInteractions<T>], m: usize) -> Self {
        let n = tops.len();
        let mut a = Self {
            self_values: Array2::from_elem((n, m), T::nan()),
            self_features: Array2::from_elem((n, m), -1),
            cross_values: Array2::from_elem((n, m), T::nan()),
            cross_features: Array3::from_elem((n, m, 2), -1),
        };
        for (o, top) in tops.iter().enumerate() {
            for (j, &(f, x)) in top.self_interactions.iter().take(m).enumerate() {
                a.self_values[(o, j)] = x;
                a.self_features[(o, j)] = index(f);
            }
            for (j, &(f, g, x)) in top.cross_interactions.iter().take(m).enumerate() {
                a.cross_values[(o, j)] = x;
                a.cross_features[(o, j, 0)] = index(f);
                a.cross_features[(o, j, 1)] = index(g);
            }
        }
        a
    }

    /// The chunk extras, by the names [`ExtraSpec::interactions`] declares.
    pub fn extras(&self) -> Vec<(&'static str, ExtraData<'_, T>)> {
        vec![
            (
                names::SELF_INTERACTION_VALUES,
                ExtraData::Float(self.self_values.view().into_dyn()),
            ),
            (
                names::SELF_INTERACTION_FEATURES,
                ExtraData::Index(self.self_features.view().into_dyn()),
            ),
            (
                names::CROSS_INTERACTION_VALUES,
                ExtraData::Float(self.cross_values.view().into_dyn()),
            ),
            (
                names::CROSS_INTERACTION_FEATURES,
                ExtraData::Index(self.cross_features.view().into_dyn()),
            ),
        ]
    }
}

/// A feature index as stored (I64); indices of in-memory arrays always fit.
fn index(f: usize) -> i64 {
    i64::try_from(f).unwrap_or(i64::MAX)
}

/// One statistic of [`names::STATS`] for each summary, as a column in precision `T`.
pub(super) fn stat_column<T: Real>(name: &str, summaries: &[OutputSummary]) -> Array1<T> {
    summaries
        .iter()
        .map(|s| {
            T::of_f64(match name {
                names::EFFECTIVE_RANK => s.effective_rank.unwrap_or(f64::NAN),
                names::FRACTION_KEPT => s.fraction_kept,
                _ => s.frobenius_sq,
            })
        })
        .collect()
}

/// Fills the summaries' optional fields (those still `None`) from the chunk's extras, whose
/// shapes have been checked.
pub(super) fn fill_summaries<T: Real>(
    summaries: &mut [OutputSummary],
    extras: &[(&str, ExtraData<'_, T>)],
) {
    let float = |name: &str| {
        extras.iter().find_map(|(n, d)| match d {
            ExtraData::Float(a) if *n == name => Some(a.view()),
            _ => None,
        })
    };
    let index = |name: &str| {
        extras.iter().find_map(|(n, d)| match d {
            ExtraData::Index(a) if *n == name => Some(a.view()),
            _ => None,
        })
    };
    let finite = |x: T| x.is_finite().then(|| x.as_f64());
    if let Some(q) = float(names::LINEAR_TERMS) {
        for (s, row) in summaries.iter_mut().zip(q.outer_iter()) {
            s.linear_term_norm
                .get_or_insert_with(|| row.iter().map(|x| x.as_f64().powi(2)).sum::<f64>().sqrt());
        }
    }
    if let Some(q0) = float(names::CONSTANTS) {
        for (s, &c) in summaries.iter_mut().zip(q0.iter()) {
            if s.constant.is_none() {
                s.constant = finite(c);
            }
        }
    }
    let top = |values: &ArrayViewD<'_, T>, o: usize| -> Vec<(usize, Option<f64>)> {
        values
            .index_axis(Axis(0), o)
            .iter()
            .enumerate()
            .map(|(j, &x)| (j, finite(x)))
            .collect()
    };
    if let (Some(values), Some(features)) = (
        float(names::SELF_INTERACTION_VALUES),
        index(names::SELF_INTERACTION_FEATURES),
    ) {
        for (o, s) in summaries.iter_mut().enumerate() {
            let f = features.index_axis(Axis(0), o);
            s.top_self_interactions.get_or_insert_with(|| {
                top(&values, o)
                    .into_iter()
                    .filter_map(|(j, x)| {
                        Some(SelfInteraction {
                            feature: usize::try_from(*f.get(j)?).ok()?,
                            value: x?,
                        })
                    })
                    .take(SUMMARY_TOP)
                    .collect()
            });
        }
    }
    if let (Some(values), Some(features)) = (
        float(names::CROSS_INTERACTION_VALUES),
        index(names::CROSS_INTERACTION_FEATURES),
    ) {
        for (o, s) in summaries.iter_mut().enumerate() {
            let f = features.index_axis(Axis(0), o);
            s.top_cross_interactions.get_or_insert_with(|| {
                top(&values, o)
                    .into_iter()
                    .filter_map(|(j, x)| {
                        let a = usize::try_from(*f.get([j, 0].as_slice())?).ok()?;
                        let b = usize::try_from(*f.get([j, 1].as_slice())?).ok()?;
                        Some(CrossInteraction {
                            features: [a, b],
                            value: x?,
                        })
                    })
                    .take(SUMMARY_TOP)
                    .collect()
            });
        }
    }
}
