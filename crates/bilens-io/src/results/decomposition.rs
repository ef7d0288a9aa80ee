//! A [`Decomposition`] written into a results directory: the writer encodes every field of
//! it itself (eigenvalues, eigenvectors, statistics, bias terms, feature interactions, solver
//! fallbacks), so that a caller hands over the decomposition and nothing else.

use bilens_decomp::{Decomposition, Real};
use ndarray::{Array3, ArrayView2, ArrayView3};

use super::extras::{ExtraData, ExtraSpec, InteractionArrays};
use super::meta::keys::LANCZOS_FALLBACKS;
use super::names;
use super::summary::{ComponentTokens, OutputSummary};
use super::writer::{ResultsChunk, ResultsWriter};
use crate::error::{IoError, Result};
use crate::write::Element;

/// How many components of each output are labelled by tokens, and how many tokens at each
/// end of each (`top_tokens`/`bottom_tokens`, `[n_out, components, per_end]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLabels {
    /// Components labelled per output (the first ones in stored order).
    pub components: usize,
    /// Tokens listed at each end of a component.
    pub per_end: usize,
}

/// What a decomposition run stores besides eigenvalues, eigenvectors and the spectrum
/// statistics (which it always stores).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// `linear_terms` and `constants`: what the layer's biases add to each output.
    pub bias_terms: bool,
    /// The largest self and cross feature interactions kept per output (0: none).
    pub interactions: usize,
    /// Components labelled by tokens, when they are.
    pub token_labels: Option<TokenLabels>,
}

impl Contents {
    /// The per-output extras to declare for eigenvectors of length `width` in precision `T`.
    pub fn extras<T: Element>(&self, width: usize) -> Vec<ExtraSpec> {
        let mut extras = ExtraSpec::spectrum_stats::<T>();
        if self.bias_terms {
            extras.extend(ExtraSpec::bias_terms::<T>(width));
        }
        if self.interactions > 0 {
            extras.extend(ExtraSpec::interactions::<T>(self.interactions));
        }
        if let Some(t) = self.token_labels {
            for name in [names::TOP_TOKENS, names::BOTTOM_TOKENS] {
                extras.push(ExtraSpec::index(name, &[t.components, t.per_end]));
            }
        }
        extras
    }
}

/// A chunk of consecutive outputs `first..first + n` of a decomposition, for
/// [`ResultsWriter::write_decomposition`].
#[derive(Clone, Copy, Debug)]
pub struct DecompositionChunk<'a, T> {
    /// Index of the chunk's first output.
    pub first: usize,
    /// The chunk's decomposition (as [`bilens_decomp::decompose_chunked`] hands it over).
    pub decomposition: &'a Decomposition<T>,
    /// The chunk's output directions `[n, d_out]`.
    pub outputs: ArrayView2<'a, T>,
    /// The eigenvectors mapped to the model's input `[n, k, d_input]`, for a model with an
    /// embedding.
    pub input_eigenvectors: Option<ArrayView3<'a, T>>,
    /// A label per output of the chunk.
    pub labels: &'a [String],
    /// Each output's first components labelled by tokens, when [`Contents::token_labels`]
    /// declared them.
    pub component_tokens: Option<&'a [Vec<ComponentTokens>]>,
}

impl<T: Real + Element> ResultsWriter<T> {
    /// Outputs written so far (resumed ones included) on which Lanczos fell back to the full
    /// solver.
    pub fn lanczos_fallbacks(&self) -> u64 {
        self.count(LANCZOS_FALLBACKS)
    }

    /// Counts `n` outputs on which Lanczos fell back (written with the next chunk), for a
    /// writer that copies results rather than computing them.
    pub fn add_lanczos_fallbacks(&mut self, n: u64) {
        self.add_count(LANCZOS_FALLBACKS, n);
    }

    /// Writes a chunk of a decomposition: every declared extra is taken from the
    /// decomposition's own fields (declare them with [`Contents::extras`]), each summary is
    /// made from the spectrum, and the outputs on which Lanczos fell back to the full solver
    /// are counted into the `lanczos_fallbacks` metadata.
    pub fn write_decomposition(&mut self, chunk: DecompositionChunk<'_, T>) -> Result<()> {
        let part = chunk.decomposition;
        let (first, n) = (chunk.first, part.n_outputs());
        let missing = |tensor: &str, what: &str| IoError::Write {
            path: self.file_path.clone(),
            tensor: tensor.to_string(),
            reason: format!("declared, but the decomposition has no {what}"),
        };
        if chunk.labels.len() != n {
            return Err(IoError::Write {
                path: self.file_path.clone(),
                tensor: "summary".into(),
                reason: format!("{} labels for a chunk of {n} outputs", chunk.labels.len()),
            });
        }
        let declared = |name: &str| self.extras.iter().find(|e| e.name == name);
        let mut extras: Vec<(&str, ExtraData<'_, T>)> = Vec::new();
        if declared(names::LINEAR_TERMS).is_some() {
            let (Some(q), Some(q0)) = (&part.linear_terms, &part.constants) else {
                return Err(missing(names::LINEAR_TERMS, "bias terms"));
            };
            extras.push((names::LINEAR_TERMS, ExtraData::Float(q.view().into_dyn())));
            extras.push((names::CONSTANTS, ExtraData::Float(q0.view().into_dyn())));
        }
        let interactions = match declared(names::SELF_INTERACTION_VALUES) {
            None => None,
            Some(spec) => {
                let tops = part
                    .interactions
                    .as_deref()
                    .ok_or_else(|| missing(names::SELF_INTERACTION_VALUES, "interactions"))?;
                Some(InteractionArrays::new(tops, spec.shape[1]))
            }
        };
        if let Some(i) = &interactions {
            extras.extend(i.extras());
        }
        let tokens = match declared(names::TOP_TOKENS) {
            None => None,
            Some(spec) => {
                let labels = chunk
                    .component_tokens
                    .ok_or_else(|| missing(names::TOP_TOKENS, "token labels"))?;
                Some(token_arrays(labels, spec.shape[1], spec.shape[2]))
            }
        };
        if let Some((top, bottom)) = &tokens {
            extras.push((names::TOP_TOKENS, ExtraData::Index(top.view().into_dyn())));
            extras.push((
                names::BOTTOM_TOKENS,
                ExtraData::Index(bottom.view().into_dyn()),
            ));
        }
        let summaries = (0..n)
            .map(|o| {
                let mut s = OutputSummary::new(
                    first + o,
                    chunk.labels[o].clone(),
                    part.eigenvalues.row(o),
                    part.norm_sq[o],
                    part.abs_sum.as_ref().map(|a| a[o]),
                );
                s.component_tokens = chunk.component_tokens.map(|t| t[o].clone());
                s
            })
            .collect();
        let fallbacks = part.solvers.iter().filter(|s| s.fell_back()).count();
        self.add_count(LANCZOS_FALLBACKS, fallbacks as u64);
        self.write_chunk(ResultsChunk {
            first,
            eigenvalues: part.eigenvalues.view(),
            eigenvectors: part.eigenvectors.as_ref().map(|v| v.view()),
            input_eigenvectors: chunk.input_eigenvectors,
            outputs: chunk.outputs,
            summaries,
            extras,
        })
    }
}

/// The token ids of labelled components as `top_tokens` and `bottom_tokens` rows
/// (`[n, components, per_end]`, `-1` where an output has fewer).
fn token_arrays(
    labels: &[Vec<ComponentTokens>],
    components: usize,
    per_end: usize,
) -> (Array3<i64>, Array3<i64>) {
    let n = labels.len();
    let mut top = Array3::from_elem((n, components, per_end), -1i64);
    let mut bottom = top.clone();
    for (o, comps) in labels.iter().enumerate() {
        for c in comps.iter().filter(|c| c.component < components) {
            for (slot, t) in c.top.iter().take(per_end).enumerate() {
                top[(o, c.component, slot)] = i64::try_from(t.id).unwrap_or(-1);
            }
            for (slot, t) in c.bottom.iter().take(per_end).enumerate() {
                bottom[(o, c.component, slot)] = i64::try_from(t.id).unwrap_or(-1);
            }
        }
    }
    (top, bottom)
}
