//! The `lm` layout: the MLP of one layer of a bilinear transformer, named as the paper's public
//! code (`Transformer` in `src/language/transformer.py`) saves it:
//!
//! ```text
//! transformer.h.{i}.mlp.w.weight   [2 d_hidden, d_model]   W (first d_hidden rows), then V
//! transformer.h.{i}.mlp.w.bias     [2 d_hidden]            b, then c (when config.bias)
//! transformer.h.{i}.mlp.p.weight   [d_model, d_hidden]     P (`mlp.o.weight` in older files)
//! transformer.h.{i}.n2.{weight,bias}                       the norm before the MLP, if it has
//!                                                          parameters (the public RMSNorm has none)
//! transformer.wte.weight           [vocab, d_model]        token embedding (for labels)
//! lm_head.weight                   [vocab, d_model]        unembedding (token directions)
//! ```
//!
//! The MLP reads the normalised residual stream `n2(x)` and its output is added back to the
//! stream; the decomposition is of the MLP alone, in the normalised input. Attention, the other
//! layers and anything else in the file are ignored.

use crate::config::LmConfig;
use crate::error::{Hint, IoError, Result};
use crate::tensor_file::TensorFile;

use super::{LayerChoice, Layout, ModelInfo, Source, TokenAxis, layers, matrix, mismatch};

const PREFIX: &str = "transformer.h.";
/// What marks a layer: its fused bilinear weight.
const FUSED: &str = ".mlp.w.weight";
const TOKEN_EMBEDDING: &str = "transformer.wte.weight";
const UNEMBEDDING: &str = "lm_head.weight";

/// The layers of the file, ascending.
pub(super) fn layers(file: &TensorFile) -> Vec<usize> {
    layers::indices(file, PREFIX, FUSED)
}

pub(super) fn describe(file: &TensorFile, requested: Option<usize>) -> Result<ModelInfo> {
    let chosen = layers::choose_with_config::<LmConfig>(file, PREFIX, FUSED, requested, "lm")?;
    let name = |rest: &str| chosen.name(rest);
    let (path, config, i) = (chosen.path.clone(), &chosen.config, chosen.index);
    if config.bilinear == Some(false) {
        return Err(IoError::Unsupported {
            path: path.clone(),
            what: "config.json says bilinear: false: the MLP is a plain `p(act(w x))`, which \
                   has no bilinear form to decompose"
                .into(),
            hint: Hint::Text(
                "decompose a bilinear (or gated) transformer; remove the config if it belongs \
                 to another model"
                    .into(),
            ),
        });
    }
    let fused_name = name("mlp.w.weight");
    let fused = matrix(file, &fused_name)?;
    if fused.shape[0] % 2 != 0 {
        return Err(mismatch(
            file,
            fused,
            format!("[2 * d_hidden, {}]", fused.shape[1]),
            "the MLP's fused weight stacks W over V, so its row count must be even".into(),
        ));
    }
    let (d_hidden, d_in) = (fused.shape[0] / 2, fused.shape[1]);
    let p_name = match (
        file.info(&name("mlp.p.weight")),
        file.info(&name("mlp.o.weight")),
    ) {
        (Some(_), Some(_)) => {
            return Err(IoError::Unsupported {
                path: path.clone(),
                what: format!(
                    "layer {i} holds both {} and {}; which one is the MLP's output projection?",
                    name("mlp.p.weight"),
                    name("mlp.o.weight")
                ),
                hint: Hint::NameTensors { path: path.clone() },
            });
        }
        (None, Some(_)) => name("mlp.o.weight"),
        _ => name("mlp.p.weight"),
    };
    let p = matrix(file, &p_name)?;
    if p.shape[1] != d_hidden {
        return Err(mismatch(
            file,
            p,
            format!("[_, {d_hidden}]"),
            format!(
                "P reads the hidden units, so its columns must equal half of {fused_name}'s rows ({d_hidden})"
            ),
        ));
    }
    let d_out = p.shape[0];
    let bias_name = name("mlp.w.bias");
    let bias = file.info(&bias_name);
    if let Some(b) = bias {
        if b.shape != [2 * d_hidden] {
            return Err(mismatch(
                file,
                b,
                format!("[{}]", 2 * d_hidden),
                format!(
                    "the fused bias stacks the bias of W x over that of V x, one entry per row \
                     of {fused_name} ({})",
                    2 * d_hidden
                ),
            ));
        }
    }
    let mut notes = Vec::new();
    for out_bias in [name("mlp.p.bias"), name("mlp.o.bias")] {
        if file.info(&out_bias).is_some() {
            notes.push(layers::output_bias_note(&out_bias));
        }
    }
    let (norm_gain, norm_bias) =
        layers::norm(file, &[name("n2"), name("ln_2")], d_in, &fused_name)?;
    match (&norm_gain, config.normalization) {
        (Some(g), _) => notes.push(layers::folded_gain_note(g, "W and V")),
        (None, Some(false)) => {}
        (None, _) => notes.push(
            "the MLP reads the normalised residual stream (the public code's RMSNorm has no \
             gain to fold); the eigenvectors describe that normalised input"
                .into(),
        ),
    }
    if let Some(n) = config.n_layer {
        if n != chosen.available.len() {
            notes.push(format!(
                "config.json says n_layer = {n} but the file holds {}",
                layers::describe(&chosen.available)
            ));
        }
    }
    let approximation = config.gate.as_ref().map(|g| {
        format!(
            "config.json says gate: {g}: the MLP computes {g}(W x) ⊙ (V x); it is read \
             bilinearly as (W x) ⊙ (V x), so the results describe the bilinear part of the \
             layer and are exact only where {g} is linear"
        )
    });
    let tokens = layers::tokens(
        file,
        [TOKEN_EMBEDDING, UNEMBEDDING],
        TokenAxis::Rows,
        [d_in, d_out],
        &mut notes,
    );
    Ok(ModelInfo {
        path,
        layout: Layout::Lm,
        layer: Some(LayerChoice {
            index: i,
            available: chosen.available,
        }),
        embed: None,
        w: Source::rows(&fused_name, 0..d_hidden),
        v: Source::rows(&fused_name, d_hidden..2 * d_hidden),
        p: Source::whole(&p_name),
        w_bias: bias.map(|_| Source::rows(&bias_name, 0..d_hidden)),
        v_bias: bias.map(|_| Source::rows(&bias_name, d_hidden..2 * d_hidden)),
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
