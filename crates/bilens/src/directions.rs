//! Output selections turned into vectors: the rows of `[n, d_out]` whose interaction matrices
//! are decomposed, with a label each.

use bilens_decomp::{Real, class_directions, contrast_direction, contrast_mean_direction};
use std::path::Path;

use bilens_io::{
    Against, OutputSelection, OutputSpec, ResultsFile, TensorRef, TokenItem, Vocab, contrast_label,
    read_rows,
};
use ndarray::{Array2, Axis};

use crate::checkpoint::Checkpoint;
use crate::error::{Arg, Error, Result};
use crate::tokens::label;

/// Output directions resolved against a model.
#[derive(Clone, Debug)]
pub struct Directions<T> {
    /// One direction per row, `[n, d_out]`.
    pub matrix: Array2<T>,
    /// A label per row: the class, the feature index, `3-5`, a token's string.
    pub labels: Vec<String>,
}

impl<T: Real> Directions<T> {
    /// The directions `selection` names for the layer of `checkpoint` (output width
    /// `d_out`); token labels come from `vocab` when given.
    ///
    /// Errors name [`Arg::Outputs`] or [`Arg::Rows`] with what is wrong: an output index past
    /// `d_out`, a token past the vocabulary, a direction file without such a tensor or with
    /// vectors of another width, a model without an unembedding for tokens, a results
    /// directory whose components are not vectors of the layer's output space.
    pub fn resolve(
        selection: &OutputSelection,
        checkpoint: &Checkpoint,
        vocab: Option<&Vocab>,
    ) -> Result<Self> {
        let d_out = checkpoint.info().d_out;
        let spec = &selection.spec;
        let bad = |problem: String, hint: String| {
            Error::argument(Arg::Outputs, spec.to_string(), problem, hint)
        };
        let (matrix, labels) = match spec {
            OutputSpec::Classes => (
                class_directions::<T>(d_out),
                (0..d_out).map(|o| o.to_string()).collect(),
            ),
            OutputSpec::File(TensorRef { path, tensor }) => {
                let read = read_rows::<T>(path, tensor, d_out, "output directions")?;
                let n = read.rows.nrows();
                (read.rows, (0..n).map(|o| o.to_string()).collect())
            }
            OutputSpec::Contrast { a, against } => {
                let index = |o: usize| {
                    if o < d_out {
                        Ok(o)
                    } else {
                        Err(bad(
                            format!("'{o}' is not an output index below d_out = {d_out}"),
                            format!("outputs are numbered 0..{d_out}"),
                        ))
                    }
                };
                let u = match against {
                    Against::Mean if d_out < 2 => {
                        return Err(bad(
                            "the model has a single output".into(),
                            "contrast two of several outputs".into(),
                        ));
                    }
                    Against::Mean => contrast_mean_direction::<T>(d_out, index(*a)?),
                    Against::Output(b) => contrast_direction::<T>(d_out, index(*a)?, index(*b)?),
                };
                (u.insert_axis(Axis(0)), vec![contrast_label(*a, *against)])
            }
            OutputSpec::Tokens(items) => token_directions(items, checkpoint, vocab, &bad)?,
            OutputSpec::Results(dir) => stored_components(dir, d_out, &bad)?,
        };
        let Some(rows) = &selection.rows else {
            return Ok(Self { matrix, labels });
        };
        let picked = rows
            .indices(matrix.nrows())
            .map_err(|e| Error::spec(Arg::Rows, e))?;
        Ok(Self {
            matrix: matrix.select(Axis(0), &picked),
            labels: picked.iter().map(|&r| labels[r].clone()).collect(),
        })
    }
}

/// Each token's unembedding row `u_t` (its logit is `u_tᵀ h` of the residual stream `h`, so the
/// MLP's contribution to it is `u_tᵀ y`), or `u_a − u_b` for a contrast, with their labels.
/// Only the rows named are read.
fn token_directions<T: Real>(
    items: &[TokenItem],
    checkpoint: &Checkpoint,
    vocab: Option<&Vocab>,
    bad: &dyn Fn(String, String) -> Error,
) -> Result<(Array2<T>, Vec<String>)> {
    let d_out = checkpoint.info().d_out;
    let file = checkpoint.file().tensors();
    let matrices = checkpoint.info().tokens.as_ref();
    let (Some(matrices), Some(source)) = (matrices, matrices.and_then(|m| m.unembedding.as_ref()))
    else {
        return Err(bad(
            format!(
                "the model file has no unembedding (lm_head.weight, unembed.W_U or a tied token \
                 embedding [vocab, {d_out}])"
            ),
            "token outputs need a language model's unembedding: read the whole checkpoint \
             with the lm, gated or tl layout, or give the directions as FILE:TENSOR"
                .into(),
        ));
    };
    let count = matrices.unembedding_tokens(file).unwrap_or(0);
    let mut ids = Vec::with_capacity(2 * items.len());
    for item in items {
        match *item {
            TokenItem::One(t) => ids.push(t),
            TokenItem::Contrast(a, b) => ids.extend([a, b]),
        }
    }
    if let Some(&t) = ids.iter().find(|&&t| t >= count) {
        return Err(bad(
            format!(
                "token {t} is beyond the {count} tokens of {}",
                source.tensor
            ),
            format!("token ids run from 0 to {}", count.saturating_sub(1)),
        ));
    }
    let rows = matrices
        .read_unembedding::<T>(file, &ids)?
        .expect("the unembedding is there");
    let mut matrix = Array2::zeros((items.len(), d_out));
    let mut labels = Vec::with_capacity(items.len());
    let mut next = rows.outer_iter();
    for (i, item) in items.iter().enumerate() {
        let mut row = matrix.row_mut(i);
        let mut take = || next.next().expect("one row per id");
        let name = match *item {
            TokenItem::One(t) => {
                row.assign(&take());
                label(vocab, t)
            }
            TokenItem::Contrast(a, b) => {
                row.assign(&(&take() - &take()));
                format!("'{}' - '{}'", label(vocab, a), label(vocab, b))
            }
        };
        labels.push(name);
    }
    Ok((matrix, labels))
}

/// The components stored in the results directory `dir`, every output's in their stored order,
/// as output directions of width `d_out`, labelled `OUTPUT.cJ` (component `J` of the stored
/// output `OUTPUT`). For a deep image model these are the chain: block `i + 1`'s components
/// live in the stream block `i` writes, so `vᵀx_{i+1} = x_iᵀ Q_i(v) x_i (+ vᵀx_i)` exactly.
/// The layer-space eigenvectors are read, never the pixel maps: the chain runs in the stream.
fn stored_components<T: Real>(
    dir: &Path,
    d_out: usize,
    bad: &dyn Fn(String, String) -> Error,
) -> Result<(Array2<T>, Vec<String>)> {
    let results = ResultsFile::open(dir)?;
    let meta = &results.meta().meta;
    if let Some(basis) = &meta.input_basis {
        return Err(bad(
            format!(
                "its components are expressed in the feature basis {basis}, not in the layer's \
                 input space"
            ),
            "chain with a results directory decomposed without --basis".into(),
        ));
    }
    let shape = results.shape();
    if shape.d_in != d_out {
        let of = match meta.layer {
            Some(l) => format!(" (block {l} of {})", meta.model),
            None => format!(" (of {})", meta.model),
        };
        return Err(bad(
            format!(
                "its components have {} entries{of}, but this layer's output directions have \
                 d_out = {d_out} entries: they are vectors of another stream (another block or \
                 model)",
                shape.d_in
            ),
            "chain block I with the results of block I+1 of the same model (decompose it with \
             --layer I+1 first); the last block's outputs are the classes"
                .into(),
        ));
    }
    let Some(vectors) = results.eigenvectors::<T>(0..shape.n_out)? else {
        return Err(bad(
            "it holds eigenvalues only, no components".into(),
            "decompose the next block again without --eigenvalues-only".into(),
        ));
    };
    let (n, k, d) = vectors.dim();
    let matrix = vectors
        .into_shape_with_order((n * k, d))
        .expect("a standard-layout slab of the results file");
    let labels = results
        .summary()
        .outputs
        .iter()
        .flat_map(|o| (0..k).map(move |j| format!("{}.c{j}", o.label)))
        .collect();
    Ok((matrix, labels))
}
