//! The model loader on arbitrary bytes: `inspect_model` and `load_model` under every layout,
//! with or without a sibling `config.json` taken from the input.
//!
//! Input: byte 0 picks the layout; bit 7 of byte 1 says whether a `config.json` follows, its
//! length in the low 7 bits of byte 1 and in byte 2; the rest is the model file (from byte 2
//! when there is no config).
#![no_main]

use bilens_io::{LayoutSpec, TensorFile, inspect_model, load_model, model_layers};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fn spec(selector: u8) -> LayoutSpec {
    let residual = match selector >> 4 & 3 {
        0 => None,
        1 => Some(false),
        _ => Some(true),
    };
    // Layers 0..3, or none (the only layer).
    let layer = match selector >> 6 {
        3 => None,
        i => Some(usize::from(i)),
    };
    match selector % 8 {
        0 | 5 => LayoutSpec::Auto { residual, layer: None },
        1 => LayoutSpec::Image { residual, layer },
        2 => LayoutSpec::Single {
            w: "w".into(),
            v: "v".into(),
            p: "p".into(),
            embed: (selector & 64 != 0).then(|| "e".into()),
            w_bias: (selector & 128 != 0).then(|| "b".into()),
            v_bias: (selector & 128 != 0).then(|| "c".into()),
            norm_gain: (selector & 4 != 0).then(|| "g".into()),
        },
        3 => LayoutSpec::Lm { layer },
        4 => LayoutSpec::Gated { layer },
        _ => LayoutSpec::Auto { residual: None, layer },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (config, model) = match rest {
        [flag, low, tail @ ..] if flag & 0x80 != 0 => {
            let len = (usize::from(flag & 0x7f) << 8 | usize::from(*low)).min(tail.len());
            (Some(&tail[..len]), &tail[len..])
        }
        [_, tail @ ..] => (None, tail),
        [] => (None, rest),
    };
    match config {
        Some(c) => {
            scratch::write("config.json", c);
        }
        None => scratch::remove("config.json"),
    }
    let path = scratch::write("model.safetensors", model);
    let spec = spec(selector);
    if let Ok(inspection) = inspect_model(&path, &spec) {
        match &inspection.model {
            Ok(info) => {
                let _ = info.to_string();
            }
            Err(e) => {
                let _ = (e.to_string(), e.hint());
            }
        }
    }
    if let Ok(file) = TensorFile::open(&path) {
        let _ = model_layers(&file, &spec).map_err(|e| (e.to_string(), e.hint()));
    }
    match load_model::<f32>(&path, &spec) {
        Ok(loaded) => {
            let _ = loaded.info.to_string();
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
});
