//! Numbered layers of a transformer checkpoint (`{prefix}{i}.{rest}` names): which exist, and
//! which one a run takes.

use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::config::read_sibling_config;
use crate::error::{Hint, IoError, Result};
use crate::tensor_file::TensorFile;

use super::{Source, TokenAxis, TokenMatrices, matrix, mismatch};

/// The indices `i` for which the file holds `{prefix}{i}{suffix}`, ascending.
pub(super) fn indices(file: &TensorFile, prefix: &str, suffix: &str) -> Vec<usize> {
    let mut found: Vec<usize> = file
        .tensors()
        .iter()
        .filter_map(|t| {
            let rest = t.name.strip_prefix(prefix)?;
            let number = rest.strip_suffix(suffix)?;
            // Canonical decimal only: `01` or `+1` would name a layer twice.
            if number.is_empty()
                || !number.bytes().all(|b| b.is_ascii_digit())
                || (number.len() > 1 && number.starts_with('0'))
            {
                return None;
            }
            number.parse().ok()
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The layer a run takes: `requested` when the file holds it, the only layer when none was
/// requested; an error naming the layers otherwise.
pub(super) fn choose(
    file: &TensorFile,
    available: &[usize],
    requested: Option<usize>,
    family: &str,
) -> Result<usize> {
    match (requested, available) {
        (_, []) => Err(IoError::Unsupported {
            path: file.path().to_path_buf(),
            what: format!("no {family} layers found"),
            hint: Hint::CheckLayout {
                path: file.path().to_path_buf(),
            },
        }),
        (Some(i), _) if available.contains(&i) => Ok(i),
        (None, [only]) => Ok(*only),
        (requested, _) => Err(IoError::Layer {
            path: file.path().to_path_buf(),
            requested,
            available: describe(available),
        }),
    }
}

/// One layer of a transformer checkpoint, chosen, with the file's sibling `config.json`.
pub(super) struct Chosen<C> {
    /// The model file.
    pub path: PathBuf,
    /// Every layer the file holds, ascending.
    pub available: Vec<usize>,
    /// The layer taken.
    pub index: usize,
    /// `{prefix}{index}.`, to which tensor names of the layer are appended.
    pub prefix: String,
    /// Where the config came from, if there was one.
    pub config_path: Option<PathBuf>,
    /// The config, or its defaults when there is none.
    pub config: C,
}

impl<C> Chosen<C> {
    /// The full name of the layer's tensor `rest`, e.g. `mlp.w.weight`.
    pub fn name(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }
}

/// What every transformer layout does first: list the layers marked by
/// `{prefix}{i}{marker}`, take the one requested ([`choose`]), and read the sibling config.
pub(super) fn choose_with_config<C: DeserializeOwned + Default>(
    file: &TensorFile,
    prefix: &str,
    marker: &str,
    requested: Option<usize>,
    family: &str,
) -> Result<Chosen<C>> {
    let path = file.path().to_path_buf();
    let available = indices(file, prefix, marker);
    let index = choose(file, &available, requested, family)?;
    let (config_path, config) = match read_sibling_config::<C>(&path)? {
        Some((p, c)) => (Some(p), c),
        None => (None, C::default()),
    };
    Ok(Chosen {
        path,
        available,
        index,
        prefix: format!("{prefix}{index}."),
        config_path,
        config,
    })
}

/// How a checkpoint stores an MLP's three matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Orientation {
    /// As `nn.Linear` does, `[out_features, in_features]`: `W`, `V` `[d_hidden, d_in]`, `P`
    /// `[d_out, d_hidden]` (Hugging Face).
    Linear,
    /// Transposed, for multiplying from the right (`x @ W_in`): `[d_in, d_hidden]` and
    /// `[d_hidden, d_out]` (TransformerLens).
    RightMultiplied,
}

/// The widths of an MLP found by [`mlp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MlpWidths {
    pub d_in: usize,
    pub d_hidden: usize,
    pub d_out: usize,
}

/// Checks that the gate `w`, the up projection `v` and the down projection `p` (tensor names,
/// stored in `orientation`) are matrices that fit together, and returns the MLP's widths.
pub(super) fn mlp(
    file: &TensorFile,
    [w, v, p]: [&str; 3],
    orientation: Orientation,
) -> Result<MlpWidths> {
    let (wt, vt, pt) = (matrix(file, w)?, matrix(file, v)?, matrix(file, p)?);
    // (hidden axis, input axis) of the gate and up projection; (hidden axis) of the down one.
    let (hidden, input, p_hidden, words) = match orientation {
        Orientation::Linear => (0, 1, 1, ("[d_hidden, d_in]", "columns", "rows")),
        Orientation::RightMultiplied => (1, 0, 0, ("[d_in, d_hidden]", "rows", "columns")),
    };
    let (d_in, d_hidden) = (wt.shape[input], wt.shape[hidden]);
    if vt.shape != wt.shape {
        return Err(mismatch(
            file,
            vt,
            format!("{:?}", wt.shape),
            format!("{v} must have the same shape {} as {w}", words.0),
        ));
    }
    if pt.shape[p_hidden] != d_hidden {
        let expected = match orientation {
            Orientation::Linear => format!("[_, {d_hidden}]"),
            Orientation::RightMultiplied => format!("[{d_hidden}, _]"),
        };
        return Err(mismatch(
            file,
            pt,
            expected,
            format!(
                "{p} reads the hidden units, so its {} must equal the {} of {w} ({d_hidden})",
                words.1, words.2
            ),
        ));
    }
    Ok(MlpWidths {
        d_in,
        d_hidden,
        d_out: pt.shape[1 - p_hidden],
    })
}

/// The bias `name` of the gate or up projection, if the file holds it: one entry per hidden
/// unit.
pub(super) fn hidden_bias(
    file: &TensorFile,
    name: &str,
    d_hidden: usize,
) -> Result<Option<Source>> {
    match file.info(name) {
        None => Ok(None),
        Some(t) if t.shape == [d_hidden] => Ok(Some(Source::whole(name))),
        Some(t) => Err(mismatch(
            file,
            t,
            format!("[{d_hidden}]"),
            format!("an MLP bias has one entry per hidden unit (d_hidden = {d_hidden})"),
        )),
    }
}

/// The note for an output bias `name`: it shifts every output by a constant and so is left
/// out of the interaction matrices and the stored constants.
pub(super) fn output_bias_note(name: &str) -> String {
    format!(
        "{name} adds the constant uᵀb to output u; it changes no interaction matrix and is not \
         part of the stored constants"
    )
}

/// The note for a norm gain `gain` folded into the two input projections (`into`).
pub(super) fn folded_gain_note(gain: &Source, into: &str) -> String {
    format!(
        "the norm gain {gain} is folded into {into}; the normalisation's division is not \
         linear and stays outside the decomposition, so the eigenvectors describe the \
         normalised residual stream"
    )
}

/// `0..12` for a contiguous run of layers, `0, 2, 5` otherwise.
pub(super) fn describe(layers: &[usize]) -> String {
    match (layers.first(), layers.last()) {
        (Some(&a), Some(&b)) if b - a + 1 == layers.len() && layers.len() > 2 => {
            format!("layers {a}..{}", b + 1)
        }
        _ => {
            let list: Vec<String> = layers.iter().map(ToString::to_string).collect();
            format!(
                "layer{} {}",
                if layers.len() == 1 { "" } else { "s" },
                list.join(", ")
            )
        }
    }
}

/// The parameters of the norm applied to the MLP's input, the first of `candidates` (tensor
/// name prefixes such as `transformer.h.3.n2`) that the file holds: its gain `γ` (`.weight`)
/// and shift `β` (`.bias`), each `[d_in]`. Any other parameter (a norm bilens does not know)
/// is an error rather than something silently left out of the layer.
pub(super) fn norm(
    file: &TensorFile,
    candidates: &[String],
    d_in: usize,
    reader: &str,
) -> Result<(Option<Source>, Option<Source>)> {
    for prefix in candidates {
        let dotted = format!("{prefix}.");
        let params: Vec<_> = file
            .tensors()
            .iter()
            .filter(|t| t.name.starts_with(&dotted))
            .collect();
        if params.is_empty() {
            continue;
        }
        let (mut gain, mut shift, mut unknown) = (None, None, Vec::new());
        for t in params {
            let slot = match &t.name[dotted.len()..] {
                "weight" => &mut gain,
                "bias" => &mut shift,
                _ => {
                    unknown.push(t.name.clone());
                    continue;
                }
            };
            if t.shape != [d_in] {
                return Err(mismatch(
                    file,
                    t,
                    format!("[{d_in}]"),
                    format!(
                        "the norm before the MLP has one gain and one shift per input of the \
                         MLP (d_in = {d_in}, the columns of {reader})"
                    ),
                ));
            }
            *slot = Some(Source::whole(&t.name));
        }
        if !unknown.is_empty() {
            return Err(IoError::Unsupported {
                path: file.path().to_path_buf(),
                what: format!(
                    "the norm before the MLP ({prefix}) has parameters bilens cannot fold into \
                     the layer: {}; only a gain ({prefix}.weight) and a shift ({prefix}.bias) \
                     are understood, and leaving the others out would describe a different \
                     layer",
                    unknown.join(", ")
                ),
                hint: Hint::ExportAndName {
                    export: "the MLP's W, V, P and the norm's effective gain".into(),
                },
            });
        }
        return Ok((gain, shift));
    }
    Ok((None, None))
}

/// A language model's token embedding (`embed`, `[vocab, d_in]`) and unembedding (`head`,
/// `[vocab, d_out]`, or `[d_out, vocab]` when `head_axis` says its tokens are columns), as far
/// as the file holds them with usable shapes; the unembedding is the embedding when there is
/// no head (tied weights). What is left out, and why, goes to `notes`.
pub(super) fn tokens(
    file: &TensorFile,
    [embed, head]: [&str; 2],
    head_axis: TokenAxis,
    [d_in, d_out]: [usize; 2],
    notes: &mut Vec<String>,
) -> Option<TokenMatrices> {
    let e = file.info(embed).filter(|t| t.shape.len() == 2);
    let h = file.info(head).filter(|t| t.shape.len() == 2);
    let embedding = match e {
        Some(t) if t.shape[1] == d_in => Some(Source::whole(embed)),
        Some(t) => {
            notes.push(format!(
                "{embed} {:?} is not [vocab, {d_in}]: not used to label components by tokens",
                t.shape
            ));
            None
        }
        None => None,
    };
    // (the tensor's axis of tokens, of width) for the head.
    let (head_tokens, head_width, expected) = match head_axis {
        TokenAxis::Rows => (0, 1, format!("[vocab, {d_out}]")),
        TokenAxis::Columns => (1, 0, format!("[{d_out}, vocab]")),
    };
    let (unembedding, unembedding_axis) = match (h, e) {
        (Some(t), _) if t.shape[head_width] == d_out => (Some(Source::whole(head)), head_axis),
        (Some(t), _) => {
            notes.push(format!(
                "{head} {:?} is not {expected}: token output directions are unavailable",
                t.shape
            ));
            (None, head_axis)
        }
        (None, Some(t)) if t.shape[1] == d_out => {
            notes.push(format!(
                "no {head}: the unembedding is taken to be tied to the token embedding {embed}"
            ));
            (Some(Source::whole(embed)), TokenAxis::Rows)
        }
        (None, _) => (None, head_axis),
    };
    let count = |s: &Option<Source>, axis: usize| {
        s.as_ref()
            .and_then(|s| file.info(&s.tensor))
            .map(|t| t.shape[axis])
    };
    let unembedding_count = count(
        &unembedding,
        match unembedding_axis {
            TokenAxis::Rows => 0,
            TokenAxis::Columns => head_tokens,
        },
    );
    let vocab_size = match (count(&embedding, 0), unembedding_count) {
        (Some(a), Some(b)) if a != b => {
            notes.push(format!(
                "the token embedding has {a} tokens and the unembedding {b}: token ids are \
                 checked against each separately"
            ));
            a.min(b)
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => return None,
    };
    Some(TokenMatrices {
        vocab_size,
        embedding,
        unembedding,
        unembedding_axis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_runs_and_lists() {
        assert_eq!(describe(&[0, 1, 2, 3]), "layers 0..4");
        assert_eq!(describe(&[0, 2, 5]), "layers 0, 2, 5");
        assert_eq!(describe(&[3]), "layer 3");
        assert_eq!(describe(&[0, 1]), "layers 0, 1");
    }
}
