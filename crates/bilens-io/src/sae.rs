//! SAE folders: a sparse autoencoder saved as a directory, read as the two sets of vectors
//! bilens uses, the encoder's rows (output directions: what each feature reads from the
//! layer's output) and the decoder's columns (an input basis: what each feature writes into
//! the layer's input).
//!
//! | folder | weights | encoder `[d_sae, d_in]` | decoder (features as rows) |
//! |---|---|---|---|
//! | SAELens | `cfg.json` + `sae_weights.safetensors`: `W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, `b_enc [d_sae]`, `b_dec [d_in]` | `W_encᵀ` | `W_dec` |
//! | the public bilinear code | one weights file (`model.safetensors`, `sae.safetensors`, `*.pt`...): `w_enc.weight [d_sae, d_in]`, `w_dec.weight [d_in, d_sae]`, `b_dec [d_in]` | `w_enc.weight` | `w_dec.weightᵀ` |
//!
//! In a `FILE:TENSOR` argument a folder's "tensors" are these roles: `encoder` and `decoder`,
//! and `encoder_folded` / `decoder_folded` for the same after SAELens's `fold_W_dec_norm`
//! (each feature's encoder row multiplied by the norm of its decoder row, the decoder row
//! divided by it), which leaves the SAE's function unchanged and makes feature activations
//! those of the dashboards computed on folded SAEs.
//!
//! The biases do not enter the interaction matrices. An output feature's pre-activation is
//! `e_iᵀ (y − b_dec) + b_enc,i` when SAELens's `cfg.json` says `apply_b_dec_to_input` (its
//! encoder sees `y − b_dec`), `e_iᵀ y + b_enc,i` otherwise: a constant per feature either way,
//! beside the `Q(e_i)` of `e_iᵀ y` ([`SaeBiases::feature_offset`] says which). For an input
//! SAE the decoder always adds `b_dec`, `x = D f + b_dec`, so `xᵀ Q x = fᵀ (Dᵀ Q D) f +
//! 2 b_decᵀ Q D f + b_decᵀ Q b_dec`: the feature interaction matrix is `Dᵀ Q D`, and `b_dec`
//! adds a linear term and a constant, which the layer takes as extra biases
//! ([`bilens_decomp::BilinearLayer::with_input_offset`]) so they are exact.

use std::path::{Path, PathBuf};

use bilens_decomp::Real;
use ndarray::{Array1, Array2, Axis, Ix1, Ix2};

use crate::error::{IoError, Result};
use crate::tensor_file::TensorFile;

/// The roles a folder's vectors are named by.
pub const SAE_ROLES: [&str; 4] = ["encoder", "decoder", "encoder_folded", "decoder_folded"];

/// Weights files looked for in a folder, in this order, before any other single weights file.
const WEIGHTS: [&str; 3] = [
    "sae_weights.safetensors",
    "model.safetensors",
    "sae.safetensors",
];

/// Whether `path` names an SAE folder (a directory) rather than a file.
pub(crate) fn is_folder(path: &Path) -> bool {
    path.is_dir()
}

/// The weights file of the SAE folder `dir`.
fn weights_file(dir: &Path) -> Result<PathBuf> {
    for name in WEIGHTS {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| IoError::os(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| {
                matches!(
                    e.to_str(),
                    Some("safetensors" | "pt" | "pth" | "bin" | "ckpt")
                )
            })
        })
        .collect();
    candidates.sort();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(IoError::Unsupported {
            path: dir.to_path_buf(),
            what: "an SAE folder without weights (no sae_weights.safetensors, model.safetensors, \
                   or other .safetensors/.pt file)"
                .into(),
            hint: crate::error::Hint::Text(
                "point at the folder SAELens's save_model wrote (cfg.json + \
                 sae_weights.safetensors), or name the file and tensor as FILE:TENSOR"
                    .into(),
            ),
        }),
        many => Err(IoError::Unsupported {
            path: dir.to_path_buf(),
            what: format!(
                "an SAE folder with {} weights files ({}), so which one holds the SAE is unclear",
                many.len(),
                many.iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: crate::error::Hint::Text("name the file and tensor as FILE:TENSOR".into()),
        }),
    }
}

/// What an SAE folder's biases mean for bilens: the decoder bias that shifts the layer input
/// of an input SAE, and whether the encoder subtracts it from its input.
#[derive(Clone, Debug, PartialEq)]
pub struct SaeBiases<T> {
    /// The weights file read.
    pub weights: PathBuf,
    /// `b_dec` `[d_in]`, when the weights hold one.
    pub b_dec: Option<Array1<T>>,
    /// `cfg.json`'s `apply_b_dec_to_input` (SAELens: the encoder reads `x − b_dec`); `None`
    /// without a `cfg.json` or without the entry (the public bilinear code's SAE saves none).
    pub apply_b_dec_to_input: Option<bool>,
}

impl<T: Real> SaeBiases<T> {
    /// How feature `i`'s pre-activation differs from `e_iᵀ y` (`e_i` its encoder row): the
    /// formula of the constant, in words, for notes.
    pub fn feature_offset(&self) -> &'static str {
        match (self.apply_b_dec_to_input, self.b_dec.is_some()) {
            (Some(true), true) => {
                "e_i·(y − b_dec) + b_enc_i (apply_b_dec_to_input): the constant b_enc_i − e_i·b_dec"
            }
            _ => "e_i·y + b_enc_i: the constant b_enc_i",
        }
    }
}

/// The part of SAELens's `cfg.json` that says what `b_dec` does.
#[derive(serde::Deserialize)]
struct SaeConfig {
    #[serde(default)]
    apply_b_dec_to_input: Option<bool>,
}

/// The biases of the SAE folder `dir` ([`SaeBiases`]); `None` when `dir` is not a folder (a
/// `FILE:TENSOR` reference has no biases). `b_dec` must have `width` entries.
pub fn sae_biases<T: Real>(dir: &Path, width: usize) -> Result<Option<SaeBiases<T>>> {
    if !is_folder(dir) {
        return Ok(None);
    }
    let weights = weights_file(dir)?;
    let file = TensorFile::open(&weights)?;
    let b_dec = match file.info("b_dec") {
        None => None,
        Some(t) if t.shape == [width] => Some(
            file.read::<T>("b_dec")?
                .into_dimensionality::<Ix1>()
                .expect("a vector"),
        ),
        Some(t) => {
            return Err(IoError::ShapeMismatch {
                path: weights.clone(),
                tensor: "b_dec".into(),
                expected: format!("[{width}]"),
                found: t.shape.clone(),
                why: "the decoder bias has one entry per input of the layer".into(),
            });
        }
    };
    let cfg = dir.join("cfg.json");
    let apply_b_dec_to_input = match std::fs::read_to_string(&cfg) {
        Ok(text) => {
            serde_json::from_str::<SaeConfig>(&text)
                .map_err(|e| IoError::Config {
                    path: cfg.clone(),
                    reason: e.to_string(),
                })?
                .apply_b_dec_to_input
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(IoError::os(&cfg, e)),
    };
    Ok(Some(SaeBiases {
        weights,
        b_dec,
        apply_b_dec_to_input,
    }))
}

/// The encoder rows and decoder rows (features as rows, both `[d_sae, d_in]`) of the SAE in
/// `file`, in whichever naming it uses.
fn encoder_decoder<T: Real>(file: &TensorFile) -> Result<(Array2<T>, Array2<T>)> {
    let matrix = |name: &str| -> Result<Array2<T>> {
        Ok(file
            .read_matrix::<T>(name)?
            .into_dimensionality::<Ix2>()
            .expect("a matrix"))
    };
    let has = |name: &str| file.info(name).is_some();
    let (enc, dec) = if has("W_enc") && has("W_dec") {
        (matrix("W_enc")?.reversed_axes(), matrix("W_dec")?)
    } else if has("w_enc.weight") && has("w_dec.weight") {
        (
            matrix("w_enc.weight")?,
            matrix("w_dec.weight")?.reversed_axes(),
        )
    } else {
        return Err(IoError::Unsupported {
            path: file.path().to_path_buf(),
            what: format!(
                "no SAE encoder and decoder: expected W_enc and W_dec (SAELens) or w_enc.weight \
                 and w_dec.weight (the public bilinear code); the file holds {}",
                file.tensors()
                    .iter()
                    .map(|t| format!("{} {:?}", t.name, t.shape))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: crate::error::Hint::NameVectors {
                path: file.path().to_path_buf(),
            },
        });
    };
    if enc.dim() != dec.dim() {
        return Err(IoError::Unsupported {
            path: file.path().to_path_buf(),
            what: format!(
                "the encoder holds {} features of width {} but the decoder {} of width {}",
                enc.nrows(),
                enc.ncols(),
                dec.nrows(),
                dec.ncols()
            ),
            hint: crate::error::Hint::NameVectors {
                path: file.path().to_path_buf(),
            },
        });
    }
    Ok((
        enc.as_standard_layout().into_owned(),
        dec.as_standard_layout().into_owned(),
    ))
}

/// The vectors of role `role` ([`SAE_ROLES`]) of the SAE folder `dir`, one feature per row
/// (`[d_sae, d_in]`), and the weights file they came from.
pub(crate) fn rows<T: Real>(dir: &Path, role: &str, what: &str) -> Result<(Array2<T>, PathBuf)> {
    if !SAE_ROLES.contains(&role) {
        return Err(IoError::MissingVectors {
            path: dir.to_path_buf(),
            tensor: role.to_string(),
            what: format!("{what} of an SAE folder"),
            available: SAE_ROLES.iter().map(ToString::to_string).collect(),
        });
    }
    let weights = weights_file(dir)?;
    let file = TensorFile::open(&weights)?;
    let (mut enc, mut dec) = encoder_decoder::<T>(&file)?;
    if role.ends_with("_folded") {
        for (i, mut d) in dec.axis_iter_mut(Axis(0)).enumerate() {
            let norm = d
                .iter()
                .map(|&x| x * x)
                .fold(T::zero(), |a, b| a + b)
                .sqrt();
            if norm > T::zero() {
                d.mapv_inplace(|x| x / norm);
                enc.row_mut(i).mapv_inplace(|x| x * norm);
            }
        }
    }
    Ok((
        if role.starts_with("encoder") {
            enc
        } else {
            dec
        },
        weights,
    ))
}
