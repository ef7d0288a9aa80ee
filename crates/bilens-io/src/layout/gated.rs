//! The `gated` layout: the MLP of one layer of a Hugging Face Llama-style model (Llama,
//! Mistral, Qwen2 and their relatives), `down(act(gate n) ⊙ up n)` of the normalised residual
//! stream `n`, read **bilinearly** as `down((gate n) ⊙ (up n))`:
//!
//! ```text
//! model.layers.{i}.mlp.gate_proj.weight        [d_hidden, d_model]   W
//! model.layers.{i}.mlp.up_proj.weight          [d_hidden, d_model]   V
//! model.layers.{i}.mlp.down_proj.weight        [d_model, d_hidden]   P
//! model.layers.{i}.mlp.{gate,up}_proj.bias     [d_hidden]            b, c (if any)
//! model.layers.{i}.post_attention_layernorm.weight  [d_model]       γ, folded in
//! model.embed_tokens.weight                    [vocab, d_model]      token embedding
//! lm_head.weight                               [vocab, d_model]      unembedding (tied if absent)
//! ```
//!
//! Dropping the activation makes this an approximation of the layer, recorded in
//! [`ModelInfo::approximation`] so that every result says so. Gemma's norms (which scale by
//! `1 + weight` and put a `pre_feedforward_layernorm` before the MLP) are refused rather than
//! folded wrongly.

use crate::config::GatedConfig;
use crate::error::{Hint, IoError, Result};
use crate::tensor_file::TensorFile;

use super::layers::Orientation;
use super::{LayerChoice, Layout, ModelInfo, Source, TokenAxis, layers};

const PREFIX: &str = "model.layers.";
/// What marks a layer: its gate projection.
const GATE: &str = ".mlp.gate_proj.weight";
const TOKEN_EMBEDDING: &str = "model.embed_tokens.weight";
const UNEMBEDDING: &str = "lm_head.weight";

/// The layers of the file, ascending.
pub(super) fn layers(file: &TensorFile) -> Vec<usize> {
    layers::indices(file, PREFIX, GATE)
}

pub(super) fn describe(file: &TensorFile, requested: Option<usize>) -> Result<ModelInfo> {
    let chosen = layers::choose_with_config::<GatedConfig>(file, PREFIX, GATE, requested, "gated")?;
    let name = |rest: &str| chosen.name(rest);
    let (path, config) = (chosen.path.clone(), &chosen.config);
    let gemma_norm = name("pre_feedforward_layernorm.weight");
    let is_gemma = config
        .model_type
        .as_deref()
        .is_some_and(|t| t.starts_with("gemma"));
    if is_gemma || file.info(&gemma_norm).is_some() {
        return Err(IoError::Unsupported {
            path: path.clone(),
            what: "this looks like a Gemma model, whose RMSNorm scales by (1 + weight) and whose \
                   MLP reads pre_feedforward_layernorm; folding its norm as a plain gain would \
                   describe a different layer"
                .into(),
            hint: Hint::ExportAndName {
                export: "the MLP's gate, up and down weights and the norm's effective gain \
                         (1 + weight)"
                    .into(),
            },
        });
    }
    let (w_name, v_name, p_name) = (
        name("mlp.gate_proj.weight"),
        name("mlp.up_proj.weight"),
        name("mlp.down_proj.weight"),
    );
    let layers::MlpWidths {
        d_in,
        d_hidden,
        d_out,
    } = layers::mlp(file, [&w_name, &v_name, &p_name], Orientation::Linear)?;
    let bias = |tensor: &str| layers::hidden_bias(file, &name(tensor), d_hidden);
    let (w_bias, v_bias) = (bias("mlp.gate_proj.bias")?, bias("mlp.up_proj.bias")?);
    let mut notes = Vec::new();
    if file.info(&name("mlp.down_proj.bias")).is_some() {
        notes.push(layers::output_bias_note(&name("mlp.down_proj.bias")));
    }
    let (norm_gain, norm_bias) =
        layers::norm(file, &[name("post_attention_layernorm")], d_in, &w_name)?;
    if let Some(g) = &norm_gain {
        notes.push(layers::folded_gain_note(g, "gate and up"));
    }
    let act = config.hidden_act.as_deref().unwrap_or("act");
    let approximation = Some(format!(
        "a gated MLP down({act}(gate x) ⊙ up x) read bilinearly as down((gate x) ⊙ (up x)): the \
         results describe the bilinear part of the layer, not the layer itself"
    ));
    let tokens = layers::tokens(
        file,
        [TOKEN_EMBEDDING, UNEMBEDDING],
        TokenAxis::Rows,
        [d_in, d_out],
        &mut notes,
    );
    Ok(ModelInfo {
        path,
        layout: Layout::Gated,
        layer: Some(LayerChoice {
            index: chosen.index,
            available: chosen.available,
        }),
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
        approximation,
        config: chosen.config_path,
        conv: None,
        notes,
    })
}
