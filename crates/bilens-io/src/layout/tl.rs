//! The `tl` layout: the MLP of one layer of a TransformerLens state dict (`HookedTransformer`
//! with a gated MLP, which is also how bilinear transformers are loaded into TransformerLens):
//!
//! ```text
//! blocks.{i}.mlp.W_gate   [d_model, d_mlp]   Wᵀ
//! blocks.{i}.mlp.W_in     [d_model, d_mlp]   Vᵀ
//! blocks.{i}.mlp.W_out    [d_mlp, d_model]   Pᵀ
//! blocks.{i}.mlp.b_gate   [d_mlp]            b (if any)
//! blocks.{i}.mlp.b_in     [d_mlp]            c (if any)
//! blocks.{i}.mlp.b_out    [d_model]          an output constant, not part of any Q(u)
//! blocks.{i}.ln2.w / .b   [d_model]          γ / β when the norm was not folded (fold_ln)
//! embed.W_E               [d_vocab, d_model] token embedding (one token per row)
//! unembed.W_U             [d_model, d_vocab] unembedding (one token per column)
//! ```
//!
//! TransformerLens multiplies from the right (`x @ W_in`), so its matrices are the transposes
//! of `nn.Linear`'s: they are read transposed ([`super::read_model`]). The state dict does not
//! say which activation the gate has (that is in TransformerLens's config, not in the weights):
//! the layer is read as `W_out((x W_gate + b_gate) ⊙ (x W_in + b_in))`, exact for a bilinear
//! MLP and the bilinear part of a gated one, and the notes say so.

use crate::error::Result;
use crate::tensor_file::TensorFile;

use super::layers::Orientation;
use super::{LayerChoice, Layout, ModelInfo, Source, TokenAxis, layers, mismatch};

const PREFIX: &str = "blocks.";
/// What marks a layer: its gate.
const GATE: &str = ".mlp.W_gate";
const TOKEN_EMBEDDING: &str = "embed.W_E";
/// Multiplied from the right like the MLP's matrices, so its tokens are its columns.
const UNEMBEDDING: &str = "unembed.W_U";

/// The layers of the file, ascending.
pub(super) fn layers(file: &TensorFile) -> Vec<usize> {
    layers::indices(file, PREFIX, GATE)
}

pub(super) fn describe(file: &TensorFile, requested: Option<usize>) -> Result<ModelInfo> {
    let available = layers(file);
    let index = layers::choose(file, &available, requested, "TransformerLens")?;
    let name = |rest: &str| format!("{PREFIX}{index}.{rest}");
    let (w_name, v_name, p_name) = (name("mlp.W_gate"), name("mlp.W_in"), name("mlp.W_out"));
    let layers::MlpWidths {
        d_in,
        d_hidden,
        d_out,
    } = layers::mlp(
        file,
        [&w_name, &v_name, &p_name],
        Orientation::RightMultiplied,
    )?;
    let bias = |tensor: &str| layers::hidden_bias(file, &name(tensor), d_hidden);
    let (w_bias, v_bias) = (bias("mlp.b_gate")?, bias("mlp.b_in")?);
    let mut notes = vec![format!(
        "TransformerLens stores W_gate, W_in [d_model, d_mlp] and W_out [d_mlp, d_model]; they \
         are read transposed. The gate's activation is not in the state dict: the layer is read \
         as W_out((x W_gate + b_gate) ⊙ (x W_in + b_in)), exact for a bilinear MLP, the bilinear \
         part of a gated one"
    )];
    if file.info(&name("mlp.b_out")).is_some() {
        notes.push(layers::output_bias_note(&name("mlp.b_out")));
    }
    // TransformerLens names the norm's parameters `w` and `b`; without them (fold_ln) the
    // norm's gain is already in the weights.
    let norm = |suffix: &str| -> Result<Option<Source>> {
        let tensor = name(suffix);
        match file.info(&tensor) {
            None => Ok(None),
            Some(t) if t.shape == [d_in] => Ok(Some(Source::whole(&tensor))),
            Some(t) => Err(mismatch(
                file,
                t,
                format!("[{d_in}]"),
                format!(
                    "the norm before the MLP has one gain and one shift per input of the MLP \
                     (d_model = {d_in}, the rows of {w_name})"
                ),
            )),
        }
    };
    let (norm_gain, norm_bias) = (norm("ln2.w")?, norm("ln2.b")?);
    if let Some(g) = &norm_gain {
        notes.push(layers::folded_gain_note(g, "W_gate and W_in"));
    }
    let tokens = layers::tokens(
        file,
        [TOKEN_EMBEDDING, UNEMBEDDING],
        TokenAxis::Columns,
        [d_in, d_out],
        &mut notes,
    );
    Ok(ModelInfo {
        path: file.path().to_path_buf(),
        layout: Layout::Tl,
        layer: Some(LayerChoice { index, available }),
        embed: None,
        w: Source::whole(&w_name),
        v: Source::whole(&v_name),
        p: Source::whole(&p_name),
        w_bias,
        v_bias,
        norm_gain,
        norm_bias,
        linear: None,
        residual: false,
        d_input: d_in,
        d_in,
        d_hidden,
        d_out,
        tokens,
        approximation: None,
        config: None,
        conv: None,
        notes,
    })
}
