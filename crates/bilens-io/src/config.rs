//! The `config.json` saved beside a model: the paper's public code (a Hugging Face
//! `PretrainedConfig`) writes one beside its image models and its bilinear transformers, and
//! Hugging Face writes one beside a Llama-style model.
//!
//! Only the architectural fields matter here; training fields (`lr`, `wd`, `epochs`...) and
//! Hugging Face bookkeeping are ignored. A missing field takes the public code's default
//! (`residual: false`, `bias: false`) or is inferred from the tensor shapes (`d_hidden`,
//! `n_layer`, `d_input`, `d_output`); a missing file is fine too.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{IoError, Result};

/// The architectural fields of an image model's `config.json`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct ImageConfig {
    /// Width of the embedding and of the bilinear block.
    pub d_hidden: Option<usize>,
    /// Number of bilinear blocks.
    pub n_layer: Option<usize>,
    /// Number of input pixels.
    pub d_input: Option<usize>,
    /// Number of classes.
    pub d_output: Option<usize>,
    /// Whether each block adds its input back (`x + block(x)`).
    pub residual: Option<bool>,
    /// Whether the block has biases.
    pub bias: Option<bool>,
}

/// The fields of a bilinear convolutional model's `config.json` (the public bilinear-conv
/// code's `CNNModel` configuration): the geometry of its one convolution, which the tensors
/// alone do not fix (see the `conv` layout). `d_hidden` and `kernel_size` have no default in
/// that code; the others default to `kernel_size // 2`, 1, 28 and 1.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct ConvConfig {
    /// Channels of each half of the fused convolution (`h`).
    pub d_hidden: Option<usize>,
    /// Kernel side `k`.
    pub kernel_size: Option<usize>,
    /// Zero padding on each side.
    pub padding: Option<usize>,
    /// Input channels.
    pub in_channels: Option<usize>,
    /// Input side (square images).
    pub image_size: Option<usize>,
    /// Convolution stride.
    pub stride: Option<usize>,
}

/// The architectural fields of a bilinear transformer's `config.json` (the public code's
/// `Config`): what the MLP computes.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct LmConfig {
    /// Number of layers.
    pub n_layer: Option<usize>,
    /// Whether the MLP is bilinear (`false`: a plain `w -> act -> p` MLP).
    pub bilinear: Option<bool>,
    /// An activation on the left branch (`relu`, `silu`, `gelu`), making the MLP gated.
    pub gate: Option<String>,
    /// Whether the layers are normalised (RMSNorm without a gain in the public code).
    pub normalization: Option<bool>,
}

/// The fields of a Hugging Face Llama-style `config.json` that say what its MLP computes.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct GatedConfig {
    /// The activation of the gate branch, e.g. `silu`.
    pub hidden_act: Option<String>,
    /// The architecture's name, e.g. `llama`.
    pub model_type: Option<String>,
}

/// The `config.json` in the same directory as `model`, parsed as `C`, with its path; `None`
/// when there is no such file.
pub(crate) fn read_sibling_config<C: DeserializeOwned>(
    model: &Path,
) -> Result<Option<(PathBuf, C)>> {
    let dir = match model.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::os(&path, e)),
    };
    let config = serde_json::from_str(&text).map_err(|e| IoError::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(Some((path, config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_public_codes_config_and_ignores_training_fields() {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = dir.path().join("model.safetensors");
        assert_eq!(
            read_sibling_config::<ImageConfig>(&model).expect("no file is fine"),
            None
        );
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"lr": 0.001, "wd": 0.5, "d_hidden": 64, "n_layer": 1, "residual": true,
                "architectures": ["Model"], "transformers_version": "4.44.0"}"#,
        )
        .expect("write");
        let (path, c) = read_sibling_config::<ImageConfig>(&model)
            .expect("valid")
            .expect("present");
        assert_eq!(path, dir.path().join("config.json"));
        assert_eq!(
            c,
            ImageConfig {
                d_hidden: Some(64),
                n_layer: Some(1),
                residual: Some(true),
                ..ImageConfig::default()
            }
        );
        std::fs::write(dir.path().join("config.json"), r#"{"residual": "yes"}"#).expect("write");
        let e = read_sibling_config::<ImageConfig>(&model).expect_err("wrong type");
        let msg = e.to_string();
        assert!(
            msg.contains("config.json: invalid model config:")
                && msg.contains("expected a boolean"),
            "{msg}"
        );
        assert!(e.hint().expect("hint").to_string().contains("remove it"));
    }
}
