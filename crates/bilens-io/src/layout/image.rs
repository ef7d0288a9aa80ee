//! The image layout: the paper's image classifiers as its public PyTorch code saves them.

use crate::config::{ImageConfig, read_sibling_config};
use crate::error::{Hint, IoError, Result};
use crate::tensor_file::TensorFile;

use super::{Layout, ModelInfo, Source, matrix, mismatch};

/// The image model's embedding `E` `[d_hidden, d_input]` (`nn.Linear(d_input, d_hidden)`).
const IMAGE_EMBED: &str = "embed.weight";
/// The image model's head `H` `[d_output, d_hidden]`.
const IMAGE_HEAD: &str = "head.weight";
/// The image model's embedding bias, refused (see [`super::describe_model`]).
const IMAGE_EMBED_BIAS: &str = "embed.bias";
/// The image model's head bias, refused (see [`super::describe_model`]).
const IMAGE_HEAD_BIAS: &str = "head.bias";

/// The fused `[W; V]` weight of block `i`, `[2 d_hidden, d_hidden]`.
fn block_weight(i: usize) -> String {
    format!("blocks.{i}.weight")
}

/// The fused `[b; c]` bias of block `i`, `[2 d_hidden]` (first half W's, second half V's).
fn block_bias(i: usize) -> String {
    format!("blocks.{i}.bias")
}

/// The block index of a `blocks.{i}.weight` / `blocks.{i}.bias` name.
fn block_index(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("blocks.")?;
    let (i, field) = rest.split_once('.')?;
    matches!(field, "weight" | "bias")
        .then(|| i.parse().ok())
        .flatten()
}

/// Whether `auto` should read the file as an image model: `blocks.0.weight` together with
/// `embed.weight` or `head.weight`.
pub(super) fn detect(file: &TensorFile) -> bool {
    file.info(&block_weight(0)).is_some()
        && (file.info(IMAGE_EMBED).is_some() || file.info(IMAGE_HEAD).is_some())
}

pub(super) fn describe(file: &TensorFile, residual_override: Option<bool>) -> Result<ModelInfo> {
    let path = file.path().to_path_buf();
    let unsupported = |what: String, hint: Hint| IoError::Unsupported {
        path: path.clone(),
        what,
        hint,
    };
    let (config_path, config) = match read_sibling_config::<ImageConfig>(&path)? {
        Some((p, c)) => (Some(p), c),
        None => (None, ImageConfig::default()),
    };
    let config_err = |reason: String| IoError::Config {
        path: config_path.clone().unwrap_or_default(),
        reason,
    };

    // Depth: one block only, whatever the config or the tensors say.
    let mut blocks: Vec<usize> = file
        .tensors()
        .iter()
        .filter_map(|t| block_index(&t.name))
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    let deeper_hint = || {
        Hint::Text(
            "only one-block image models (n_layer 1) can be decomposed so far; decomposing \
             deeper models is planned"
                .into(),
        )
    };
    if let Some(n) = config.n_layer {
        if n > 1 {
            return Err(unsupported(
                format!(
                    "the model has {n} bilinear blocks (config.json: n_layer = {n}); only one block is supported yet"
                ),
                deeper_hint(),
            ));
        }
        if n == 0 {
            return Err(config_err(
                "n_layer is 0: a model without a bilinear block has nothing to decompose".into(),
            ));
        }
    }
    if blocks.iter().any(|&i| i > 0) {
        let names: Vec<String> = blocks.iter().map(|&i| format!("blocks.{i}")).collect();
        return Err(unsupported(
            format!(
                "the model has {} bilinear blocks ({}); only one block is supported yet",
                blocks.len(),
                names.join(", ")
            ),
            deeper_hint(),
        ));
    }

    // Biases of the embedding and the head: recognised, refused with the reason.
    if let Some(t) = file.info(IMAGE_EMBED_BIAS) {
        return Err(unsupported(
            format!(
                "{} {:?} is not supported: an embedding bias β makes the block's input \
                 e = E x + β affine in the model input, and the loaded model (e = E x) has no \
                 place for the shift, so evaluating and truncating it would silently differ \
                 from the checkpoint",
                t.name, t.shape
            ),
            Hint::Text(
                "decompose a model whose embedding has no bias (the paper's code uses \
                 bias=False for embed and head); to study the block alone, export its weights \
                 and read them with the single layout"
                    .into(),
            ),
        ));
    }
    if let Some(t) = file.info(IMAGE_HEAD_BIAS) {
        return Err(unsupported(
            format!(
                "{} {:?} is not supported: a head bias adds a constant to each logit; it changes \
                 no interaction matrix, but the loaded model has no place for it, so evaluating \
                 and truncating the model would silently differ from the checkpoint",
                t.name, t.shape
            ),
            Hint::Text(
                "decompose a model whose head has no bias (the paper's code uses bias=False \
                 for embed and head), or remove head.bias from the file if only the \
                 interaction matrices matter"
                    .into(),
            ),
        ));
    }
    let bias_name = block_bias(0);
    let bias = file.info(&bias_name);

    // Every tensor must be accounted for: anything else (a norm, an extra layer) would change
    // the function the decomposition claims to describe.
    let known = [IMAGE_EMBED, IMAGE_HEAD];
    let unknown: Vec<&str> = file
        .tensors()
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !known.contains(n) && block_index(n).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(unsupported(
            format!(
                "tensors outside the image layout (embed.weight, blocks.0.weight, \
                 blocks.0.bias, head.weight): {}; decomposing without them would describe a \
                 different model",
                unknown.join(", ")
            ),
            Hint::NameTensors { path: path.clone() },
        ));
    }

    let embed = matrix(file, IMAGE_EMBED)?;
    let block_name = block_weight(0);
    let block = matrix(file, &block_name)?;
    let head = matrix(file, IMAGE_HEAD)?;
    let (d_in, d_input) = (embed.shape[0], embed.shape[1]);
    if block.shape[1] != d_in {
        return Err(mismatch(
            file,
            block,
            format!("[_, {d_in}]"),
            format!(
                "the block reads the embedding, so its columns must equal embed.weight's rows ({d_in})"
            ),
        ));
    }
    if block.shape[0] % 2 != 0 {
        return Err(mismatch(
            file,
            block,
            format!("[2 * d_hidden, {d_in}]"),
            "a fused block stacks W over V, so its row count must be even".into(),
        ));
    }
    let d_hidden = block.shape[0] / 2;
    if head.shape[1] != d_hidden {
        return Err(mismatch(
            file,
            head,
            format!("[_, {d_hidden}]"),
            format!(
                "the head reads the block's output, so its columns must equal half of {}'s rows ({d_hidden})",
                block_name
            ),
        ));
    }
    if let Some(b) = bias {
        if b.shape != [2 * d_hidden] {
            return Err(mismatch(
                file,
                b,
                format!("[{}]", 2 * d_hidden),
                format!(
                    "a fused block's bias stacks the bias of W x over that of V x, so it has \
                     one entry per row of {block_name} ({})",
                    2 * d_hidden
                ),
            ));
        }
    }
    let d_out = head.shape[0];
    match (config.bias, bias) {
        (Some(true), None) => {
            return Err(config_err(format!(
                "bias is true but the weights hold no tensor '{bias_name}' (the block's biases, \
                 [{}]); the config belongs to a different model, or the bias was not saved",
                2 * d_hidden
            )));
        }
        (Some(false), Some(b)) => {
            return Err(config_err(format!(
                "bias is false but the weights hold {} {:?}; the config belongs to a different \
                 model",
                b.name, b.shape
            )));
        }
        _ => {}
    }
    for (field, value, actual, what) in [
        ("d_hidden", config.d_hidden, d_in, "embed.weight's rows"),
        (
            "d_hidden",
            config.d_hidden,
            d_hidden,
            "half of blocks.0.weight's rows",
        ),
        ("d_input", config.d_input, d_input, "embed.weight's columns"),
        ("d_output", config.d_output, d_out, "head.weight's rows"),
    ] {
        if let Some(v) = value {
            if v != actual {
                return Err(config_err(format!(
                    "{field} is {v} but the weights have {what} = {actual}; the config belongs \
                     to a different model"
                )));
            }
        }
    }

    let mut notes = Vec::new();
    let residual = match (residual_override, config.residual) {
        (Some(r), Some(c)) if r != c => {
            notes.push(format!(
                "the residual setting ({r}) overrides config.json (residual: {c})"
            ));
            r
        }
        (Some(r), _) => r,
        (None, Some(c)) => c,
        (None, None) => {
            notes.push(
                "residual not stated (no config.json, or no `residual` in it): assumed false, \
                 the public code's default; set residual to true if the block adds its input"
                    .into(),
            );
            false
        }
    };
    if residual && d_hidden != d_in {
        return Err(mismatch(
            file,
            block,
            format!("[{}, {d_in}]", 2 * d_in),
            format!(
                "a residual block adds its output to its input, so d_hidden must equal d_in = {d_in}"
            ),
        ));
    }
    Ok(ModelInfo {
        path,
        layout: Layout::Image,
        layer: None,
        embed: Some(Source::whole(IMAGE_EMBED)),
        w: Source {
            tensor: block_name.clone(),
            rows: Some(0..d_hidden),
        },
        v: Source {
            tensor: block_name,
            rows: Some(d_hidden..2 * d_hidden),
        },
        p: Source::whole(IMAGE_HEAD),
        w_bias: bias.map(|_| Source {
            tensor: bias_name.clone(),
            rows: Some(0..d_hidden),
        }),
        v_bias: bias.map(|_| Source {
            tensor: bias_name.clone(),
            rows: Some(d_hidden..2 * d_hidden),
        }),
        norm_gain: None,
        norm_bias: None,
        // logits = H (e + g(e)): the linear term is the head itself.
        linear: residual.then(|| Source::whole(IMAGE_HEAD)),
        residual,
        d_input,
        d_in,
        d_hidden,
        d_out,
        tokens: None,
        approximation: None,
        config: config_path,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_indices_from_names() {
        assert_eq!(block_index("blocks.3.weight"), Some(3));
        assert_eq!(block_index("blocks.0.bias"), Some(0));
        assert_eq!(block_index("blocks.x.weight"), None);
        assert_eq!(block_index("blocks.0.norm.weight"), None);
    }
}
