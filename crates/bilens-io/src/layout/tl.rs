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
//! ```
//!
//! TransformerLens multiplies from the right (`x @ W_in`), so its matrices are the transposes
//! of `nn.Linear`'s: they are read transposed ([`super::read_model`]). The state dict does not
//! say which activation the gate has (that is in TransformerLens's config, not in the weights):
//! the layer is read as `W_out((x W_gate + b_gate) ⊙ (x W_in + b_in))`, exact for a bilinear
//! MLP and the bilinear part of a gated one, and the notes say so.

use crate::error::Result;
use crate::tensor_file::TensorFile;

use super::{LayerChoice, Layout, ModelInfo, Source, layers, matrix, mismatch};

const PREFIX: &str = "blocks.";
/// What marks a layer: its gate.
const GATE: &str = ".mlp.W_gate";

/// The layers of the file, ascending.
pub(super) fn layers(file: &TensorFile) -> Vec<usize> {
    layers::indices(file, PREFIX, GATE)
}

pub(super) fn describe(file: &TensorFile, requested: Option<usize>) -> Result<ModelInfo> {
    let available = layers(file);
    let index = layers::choose(file, &available, requested, "TransformerLens")?;
    let name = |rest: &str| format!("{PREFIX}{index}.{rest}");
    let (w_name, v_name, p_name) = (name("mlp.W_gate"), name("mlp.W_in"), name("mlp.W_out"));
    let (w, v, p) = (
        matrix(file, &w_name)?,
        matrix(file, &v_name)?,
        matrix(file, &p_name)?,
    );
    let (d_in, d_hidden) = (w.shape[0], w.shape[1]);
    if v.shape != w.shape {
        return Err(mismatch(
            file,
            v,
            format!("{:?}", w.shape),
            format!("W_in must have the same shape [d_model, d_mlp] as {w_name}"),
        ));
    }
    if p.shape[0] != d_hidden {
        return Err(mismatch(
            file,
            p,
            format!("[{d_hidden}, _]"),
            format!(
                "W_out reads the hidden units, so its rows must equal the columns of {w_name} \
                 ({d_hidden})"
            ),
        ));
    }
    let d_out = p.shape[1];
    let bias = |tensor: String| -> Result<Option<Source>> {
        match file.info(&tensor) {
            None => Ok(None),
            Some(t) if t.shape == [d_hidden] => Ok(Some(Source::whole(&tensor))),
            Some(t) => Err(mismatch(
                file,
                t,
                format!("[{d_hidden}]"),
                format!("an MLP bias has one entry per hidden unit (d_mlp = {d_hidden})"),
            )),
        }
    };
    let w_bias = bias(name("mlp.b_gate"))?;
    let v_bias = bias(name("mlp.b_in"))?;
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
        tokens: None,
        approximation: None,
        config: None,
        notes,
    })
}
