//! A language model's tokens: labels of token outputs, and each component labelled by the
//! tokens whose embeddings project most (and least) on it.

use bilens_decomp::{Extremes, InputBasis, Par, Real, extreme_rows, linalg};
use bilens_io::{ComponentTokens, TokenLabels, TokenScore, Vocab};
use ndarray::{Array2, ArrayView2, ArrayView3, s};

use crate::checkpoint::Checkpoint;
use crate::error::Result;

/// Components labelled per output (the first ones in stored order).
pub const LABELLED_COMPONENTS: usize = 4;
/// Tokens listed at each end of a component.
pub const TOKENS_PER_END: usize = 5;

/// A token's label: its string with a vocabulary, its id otherwise.
pub(crate) fn label(vocab: Option<&Vocab>, id: usize) -> String {
    match vocab {
        Some(v) => v.label(id),
        None => id.to_string(),
    }
}

/// Labels components by tokens: holds the token embedding `E` `[vocab, d_in]` (components
/// in a feature basis are mapped back to the residual stream through its decoder first).
#[derive(Debug)]
pub(crate) struct ComponentLabeller<'a, T> {
    embedding: Array2<T>,
    vocab: Option<&'a Vocab>,
    /// Tokens stored at each end (fewer than [`TOKENS_PER_END`] for a tiny vocabulary).
    per_end: usize,
}

impl<'a, T: Real> ComponentLabeller<'a, T> {
    /// Reads the checkpoint's token embedding; `None` when it has none of the layer's width.
    pub fn new(checkpoint: &Checkpoint, vocab: Option<&'a Vocab>) -> Result<Option<Self>> {
        let Some(matrices) = &checkpoint.info().tokens else {
            return Ok(None);
        };
        let Some(source) = &matrices.embedding else {
            return Ok(None);
        };
        let embedding = checkpoint
            .file()
            .tensors()
            .read_matrix::<T>(&source.tensor)?;
        Ok(Some(Self {
            embedding,
            vocab,
            per_end: matrices.vocab_size.min(TOKENS_PER_END),
        }))
    }

    /// The shape of the stored token labels for `k` kept components.
    pub fn shape(&self, k: usize) -> TokenLabels {
        TokenLabels {
            components: k.min(LABELLED_COMPONENTS),
            per_end: self.per_end,
        }
    }

    /// For each output of a chunk (`eigenvalues [n, k]`, `eigenvectors [n, k, width]`), its
    /// first [`LABELLED_COMPONENTS`] components labelled by tokens.
    pub fn label(
        &self,
        eigenvalues: ArrayView2<'_, T>,
        eigenvectors: ArrayView3<'_, T>,
        basis: Option<&InputBasis<T>>,
    ) -> Vec<Vec<ComponentTokens>> {
        let (n, k, width) = eigenvectors.dim();
        let c = k.min(LABELLED_COMPONENTS);
        if n == 0 || c == 0 {
            return vec![Vec::new(); n];
        }
        let picked = eigenvectors.slice(s![.., ..c, ..]).to_owned();
        let flat = picked
            .into_shape_with_order((n * c, width))
            .expect("an owned array is contiguous");
        let directions = match basis {
            Some(b) => linalg::matmul(flat.view(), b.decoder().t(), Par::rayon(0)),
            None => flat,
        };
        let extremes = extreme_rows(
            self.embedding.view(),
            directions.view(),
            TOKENS_PER_END,
            Par::rayon(0),
        );
        let scores = |e: &[(usize, T)]| -> Vec<TokenScore> {
            e.iter()
                .map(|&(id, score)| TokenScore {
                    id,
                    token: label(self.vocab, id),
                    score: score.as_f64(),
                })
                .collect()
        };
        (0..n)
            .map(|o| {
                (0..c)
                    .map(|j| {
                        let Extremes { top, bottom } = &extremes[o * c + j];
                        ComponentTokens {
                            component: j,
                            eigenvalue: eigenvalues[(o, j)].as_f64(),
                            top: scores(top),
                            bottom: scores(bottom),
                        }
                    })
                    .collect()
            })
            .collect()
    }
}
