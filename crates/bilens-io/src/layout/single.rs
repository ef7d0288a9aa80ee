//! The single layout: one bilinear layer whose tensors are named, or detected from names.

use crate::error::Result;
use crate::header::TensorInfo;
use crate::tensor_file::TensorFile;

use super::{Layout, ModelInfo, Source, matrix, mismatch};

/// The tensor names of a single layer, as given or detected.
pub(super) struct Names<'a> {
    pub(super) w: &'a str,
    pub(super) v: &'a str,
    pub(super) p: &'a str,
    pub(super) embed: Option<&'a str>,
    pub(super) w_bias: Option<&'a str>,
    pub(super) v_bias: Option<&'a str>,
    pub(super) norm_gain: Option<&'a str>,
}

pub(super) fn describe(file: &TensorFile, names: &Names<'_>) -> Result<ModelInfo> {
    let path = file.path().to_path_buf();
    let Names {
        w,
        v,
        p,
        embed,
        w_bias,
        v_bias,
        norm_gain,
    } = *names;
    let (wi, vi, pi) = (matrix(file, w)?, matrix(file, v)?, matrix(file, p)?);
    let ei = embed.map(|e| matrix(file, e)).transpose()?;
    let (d_hidden, d_in) = (wi.shape[0], wi.shape[1]);
    if vi.shape != wi.shape {
        return Err(mismatch(
            file,
            vi,
            format!("{:?}", wi.shape),
            format!("V must have the same shape [d_hidden, d_in] as W ('{w}')"),
        ));
    }
    if pi.shape[1] != d_hidden {
        return Err(mismatch(
            file,
            pi,
            format!("[_, {d_hidden}]"),
            format!("P's columns must equal d_hidden = {d_hidden}, the rows of W ('{w}')"),
        ));
    }
    let d_input = match ei {
        Some(e) if e.shape[0] != d_in => {
            return Err(mismatch(
                file,
                e,
                format!("[{d_in}, _]"),
                format!("the embedding's rows must equal d_in = {d_in}, the columns of W ('{w}')"),
            ));
        }
        Some(e) => e.shape[1],
        None => d_in,
    };
    // Vectors: a bias per hidden unit, a gain per input.
    let vector = |name: &str, len: usize, why: String| -> Result<Source> {
        let t = file.require(name)?;
        if t.shape != [len] {
            return Err(mismatch(file, t, format!("[{len}]"), why));
        }
        Ok(Source::whole(name))
    };
    let bias_why = |which: &str| {
        format!(
            "the bias of {which} x has one entry per hidden unit (d_hidden = {d_hidden}, the rows \
             of W ('{w}'))"
        )
    };
    let w_bias = w_bias
        .map(|b| vector(b, d_hidden, bias_why("W")))
        .transpose()?;
    let v_bias = v_bias
        .map(|c| vector(c, d_hidden, bias_why("V")))
        .transpose()?;
    let norm_gain = norm_gain
        .map(|g| {
            vector(
                g,
                d_in,
                format!(
                    "a norm gain has one entry per input of the layer (d_in = {d_in}, the \
                     columns of W ('{w}'))"
                ),
            )
        })
        .transpose()?;
    let mut notes = Vec::new();
    if let Some(g) = &norm_gain {
        notes.push(format!(
            "the norm gain {g} is folded into W and V (W diag(γ), V diag(γ)); the \
             normalisation's division is not linear and stays outside the decomposition, so \
             the model and its eigenvectors describe the normalised input"
        ));
    }
    Ok(ModelInfo {
        path,
        layout: Layout::Single,
        layer: None,
        embed: embed.map(Source::whole),
        w: Source::whole(w),
        v: Source::whole(v),
        p: Source::whole(p),
        w_bias,
        v_bias,
        norm_gain,
        norm_bias: None,
        linear: None,
        residual: false,
        d_input,
        d_in,
        d_hidden,
        d_out: pi.shape[0],
        tokens: None,
        approximation: None,
        config: None,
        conv: None,
        notes,
    })
}

/// The tensor names auto-detection assigned to each role of a single layer.
pub(super) struct Roles {
    pub(super) w: String,
    pub(super) v: String,
    pub(super) p: String,
    pub(super) embed: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    W,
    V,
    P,
    Embed,
}

/// The role a tensor name suggests (see the module documentation for the names).
fn role_of(name: &str) -> Option<Role> {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".weight").unwrap_or(&lower);
    let last = stem.rsplit('.').next().unwrap_or(stem);
    match last {
        "w" | "left" | "w_l" | "wl" => Some(Role::W),
        "v" | "right" | "w_r" | "wr" => Some(Role::V),
        "p" | "proj" | "projection" | "out" => Some(Role::P),
        "embed" | "embedding" | "e" => Some(Role::Embed),
        _ => None,
    }
}

/// Assigns every tensor a role; `None` unless each tensor has one and W, V, P are filled
/// exactly once (the embedding at most once).
pub(super) fn detect(tensors: &[TensorInfo]) -> Option<Roles> {
    let (mut w, mut v, mut p, mut e) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in tensors {
        match role_of(&t.name)? {
            Role::W => w.push(t.name.clone()),
            Role::V => v.push(t.name.clone()),
            Role::P => p.push(t.name.clone()),
            Role::Embed => e.push(t.name.clone()),
        }
    }
    let one = |mut names: Vec<String>| (names.len() == 1).then(|| names.remove(0));
    Some(Roles {
        w: one(w)?,
        v: one(v)?,
        p: one(p)?,
        embed: match e.len() {
            0 => None,
            1 => Some(e.remove(0)),
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_names() {
        assert!(role_of("w") == Some(Role::W));
        assert!(role_of("mlp.left.weight") == Some(Role::W));
        assert!(role_of("layer.W_R") == Some(Role::V));
        assert!(role_of("proj.weight") == Some(Role::P));
        assert!(role_of("embed.weight") == Some(Role::Embed));
        assert!(role_of("norm.weight").is_none());
        assert!(role_of("w.bias").is_none());
    }
}
