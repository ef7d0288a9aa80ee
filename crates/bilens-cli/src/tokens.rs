//! Tokens of a language model: `--outputs tokens:...` (unembedding rows as output directions)
//! and `--tokenizer` (token strings as labels, and each component labelled by the tokens whose
//! embeddings project most on it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use bilens_decomp::{Extremes, InputBasis, Par, Real, extreme_rows, linalg};
use bilens_io::{ComponentTokens, SafetensorsFile, TokenMatrices, TokenScore, Vocab};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, s};

use crate::error::BadInput;

/// Components labelled per output (the first ones in stored order).
pub const LABELLED_COMPONENTS: usize = 4;
/// Tokens listed at each end of a component.
pub const TOKENS_PER_END: usize = 5;

/// What a run knows about the model's tokens: where its token matrices are and, with
/// `--tokenizer`, their strings.
#[derive(Debug, Clone, Default)]
pub struct TokenContext {
    /// The model file holding the matrices.
    pub model: PathBuf,
    /// The token embedding and unembedding, when the layout found them.
    pub matrices: Option<TokenMatrices>,
    /// The tokenizer's vocabulary, with `--tokenizer`.
    pub vocab: Option<Vocab>,
}

impl TokenContext {
    /// A token's label: its string with a vocabulary, its id otherwise.
    pub fn label(&self, id: usize) -> String {
        match &self.vocab {
            Some(v) => v.label(id),
            None => id.to_string(),
        }
    }
}

/// One `tokens:` item: a token, or the contrast of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenItem {
    One(usize),
    Contrast(usize, usize),
}

/// Parses the part of `--outputs tokens:SPEC` after the colon: ids and `A-B` contrasts,
/// comma separated (`464,262`, `3290-3797`).
fn parse_items(spec: &str, full: &str) -> Result<Vec<TokenItem>, BadInput> {
    let bad = |what: String| {
        BadInput::new(
            format!("--outputs {full}: {what}"),
            "write token ids separated by commas, and A-B for the contrast of two tokens, e.g. \
             --outputs tokens:464,262 or tokens:3290-3797",
        )
    };
    let id = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("'{}' is not a token id", s.trim())))
    };
    let mut items = Vec::new();
    for part in spec.split(',') {
        if part.trim().is_empty() {
            return Err(bad("an empty item".into()));
        }
        items.push(match part.split_once('-') {
            Some((a, b)) => TokenItem::Contrast(id(a)?, id(b)?),
            None => TokenItem::One(id(part)?),
        });
    }
    Ok(items)
}

/// The output directions of `--outputs tokens:SPEC`: each token's unembedding row `u_t`
/// (its logit is `u_tᵀ h` of the residual stream `h`, so the MLP's contribution to it is
/// `u_tᵀ y`), or `u_a − u_b` for a contrast; with their labels. Only the rows named are read.
pub fn token_directions<T: Real>(
    spec: &str,
    full: &str,
    ctx: &TokenContext,
    d_out: usize,
) -> anyhow::Result<(Array2<T>, Vec<String>)> {
    let items = parse_items(spec, full)?;
    let Some(source) = ctx.matrices.as_ref().and_then(|m| m.unembedding.as_ref()) else {
        return Err(BadInput::new(
            format!(
                "--outputs {full}: the model file has no unembedding (lm_head.weight or a tied \
                 token embedding [vocab, {d_out}])"
            ),
            "token outputs need a language model's unembedding: use --layout lm or gated on \
             the whole checkpoint, or give the directions as FILE:TENSOR",
        )
        .into());
    };
    let file = SafetensorsFile::open(&ctx.model)
        .with_context(|| format!("cannot read the unembedding of {}", ctx.model.display()))?;
    let rows = file.require(&source.tensor)?.shape[0];
    let row = |t: usize| -> anyhow::Result<Array2<T>> {
        if t >= rows {
            return Err(BadInput::new(
                format!(
                    "--outputs {full}: token {t} is beyond the {rows} rows of {}",
                    source.tensor
                ),
                format!("token ids run from 0 to {}", rows.saturating_sub(1)),
            )
            .into());
        }
        file.read_rows::<T>(&source.tensor, t..t + 1)?
            .into_dimensionality::<ndarray::Ix2>()
            .context("the unembedding is a matrix")
    };
    let mut matrix = Array2::zeros((items.len(), d_out));
    let mut labels = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (u, label) = match *item {
            TokenItem::One(t) => (row(t)?, ctx.label(t)),
            TokenItem::Contrast(a, b) => (
                row(a)? - row(b)?,
                format!("'{}' - '{}'", ctx.label(a), ctx.label(b)),
            ),
        };
        matrix.row_mut(i).assign(&u.row(0));
        labels.push(label);
    }
    Ok((matrix, labels))
}

/// Labels components by tokens: holds the token embedding `E` `[vocab, d_in]` and, with an
/// input basis, the decoder that maps feature-space eigenvectors back to the residual stream.
#[derive(Debug)]
pub struct ComponentLabeller<T> {
    embedding: Array2<T>,
    ctx: TokenContext,
}

impl<T: Real> ComponentLabeller<T> {
    /// Reads the token embedding named by `ctx`; `None` when the model has none.
    pub fn new(ctx: &TokenContext) -> anyhow::Result<Option<Self>> {
        let Some(source) = ctx.matrices.as_ref().and_then(|m| m.embedding.as_ref()) else {
            return Ok(None);
        };
        let file = SafetensorsFile::open(&ctx.model)?;
        let embedding = file
            .read_matrix::<T>(&source.tensor)
            .with_context(|| format!("cannot read the token embedding {}", source.tensor))?;
        Ok(Some(Self {
            embedding,
            ctx: ctx.clone(),
        }))
    }

    /// For each output of a chunk (`eigenvalues [n, k]`, `eigenvectors [n, k, width]`), its
    /// first [`LABELLED_COMPONENTS`] components labelled by tokens. Eigenvectors in a feature
    /// basis are mapped to the residual stream (`D v`) first.
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
                    token: self.ctx.label(id),
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

/// The token ids of a chunk's labels as the `top_tokens` and `bottom_tokens` extras
/// (`[n, components, tokens]`, `-1` where an output has fewer).
pub fn token_arrays(
    labels: &[Vec<ComponentTokens>],
    components: usize,
    per_end: usize,
) -> (Array3<i64>, Array3<i64>) {
    let n = labels.len();
    let mut top = Array3::from_elem((n, components, per_end), -1i64);
    let mut bottom = top.clone();
    for (o, comps) in labels.iter().enumerate() {
        for c in comps.iter().take(components) {
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

/// Reads `--tokenizer`.
pub fn read_vocab(path: &Path) -> anyhow::Result<Vocab> {
    Vocab::read(path).with_context(|| format!("cannot read the tokenizer {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_items_and_their_errors() {
        assert_eq!(
            parse_items("464, 262-257", "tokens:464, 262-257").unwrap(),
            vec![TokenItem::One(464), TokenItem::Contrast(262, 257)]
        );
        let e = parse_items("12,the", "tokens:12,the").unwrap_err();
        assert!(e.to_string().contains("'the' is not a token id"), "{e}");
        assert!(parse_items("", "tokens:").is_err());
    }
}
