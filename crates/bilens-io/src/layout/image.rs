//! The image layout: the paper's image classifiers as its public PyTorch code saves them.

use crate::config::{ImageConfig, read_sibling_config};
use crate::error::{Hint, IoError, Result};
use crate::tensor_file::TensorFile;

use super::{IDENTITY, LayerChoice, Layout, ModelInfo, Source, matrix, mismatch};

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

/// The blocks the file holds (`blocks.{i}.weight` or `.bias`), ascending: what `--layer all`
/// iterates over for an image model.
pub(super) fn layers(file: &TensorFile) -> Vec<usize> {
    let mut blocks: Vec<usize> = file
        .tensors()
        .iter()
        .filter_map(|t| block_index(&t.name))
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    blocks
}

/// How the blocks of an image model are numbered, for errors and `inspect`: `blocks 0..3`.
fn describe_blocks(n: usize) -> String {
    match n {
        1 => "block 0".into(),
        2 => "blocks 0, 1".into(),
        _ => format!("blocks 0..{n}"),
    }
}

/// The identity `[n, n]` as an output projection or linear term: a block before the last of a
/// deep model writes the stream itself (its `P` is the identity), so its output directions are
/// directions of the stream.
fn identity(n: usize) -> Source {
    Source::rows(IDENTITY, 0..n)
}

/// Resolves the image model in `file`: every block checked against the stream it reads, and
/// block `layer` (the last one when `None`) chosen as the bilinear layer. The last block's
/// output directions are the head's rows; an earlier block's are the stream after it (its `P`
/// is the identity), so that the eigenvectors of block `i + 1` can be its output directions
/// (docs/MATH.md section 10).
pub(super) fn describe(
    file: &TensorFile,
    residual_override: Option<bool>,
    layer: Option<usize>,
) -> Result<ModelInfo> {
    let path = file.path().to_path_buf();
    let unsupported = |what: String, hint: Hint| IoError::Unsupported {
        path: path.clone(),
        what,
        hint,
    };
    let mut notes = Vec::new();
    let (config_path, config, config_origin) = match (
        read_sibling_config::<ImageConfig>(&path)?,
        file.pickled_config(),
    ) {
        (Some((p, c)), pickled) => {
            if let Some(pc) = pickled {
                notes.push(format!(
                    "{} was used; the config object saved in the checkpoint (under '{}', {}) was \
                     not: a config.json beside the weights wins",
                    p.display(),
                    pc.key,
                    pc.class
                ));
            }
            (Some(p.clone()), c, "config.json".to_string())
        }
        (None, Some(pc)) => {
            let config =
                serde_json::from_value::<ImageConfig>(serde_json::Value::Object(pc.fields.clone()))
                    .map_err(|e| IoError::Config {
                        path: path.clone(),
                        reason: format!(
                            "the config object saved under '{}' ({}): {e}",
                            pc.key, pc.class
                        ),
                    })?;
            notes.push(format!(
                "no config.json beside the checkpoint: the config object saved in it under '{}' \
                 ({}) was used as config.json would be",
                pc.key, pc.class
            ));
            (
                Some(path.clone()),
                config,
                format!("the config object under '{}'", pc.key),
            )
        }
        (None, None) => (None, ImageConfig::default(), "config.json".to_string()),
    };
    let config_err = |reason: String| IoError::Config {
        path: config_path.clone().unwrap_or_default(),
        reason: if config_path.as_ref() == Some(&path) {
            format!("{config_origin}: {reason}")
        } else {
            reason
        },
    };

    // Depth: blocks numbered 0..n without gaps, as many as the config says.
    let blocks = layers(file);
    if let Some(gap) = blocks.iter().enumerate().find(|(i, b)| *i != **b) {
        let names: Vec<String> = blocks.iter().map(|&i| format!("blocks.{i}")).collect();
        return Err(unsupported(
            format!(
                "the bilinear blocks are numbered {} but block {} is missing: the stream \
                 passes through blocks 0, 1, 2... in turn, so a gap leaves the model undefined",
                names.join(", "),
                gap.0
            ),
            Hint::NameTensors { path: path.clone() },
        ));
    }
    let n_blocks = blocks.len().max(1);
    if let Some(n) = config.n_layer {
        if n == 0 {
            return Err(config_err(
                "n_layer is 0: a model without a bilinear block has nothing to decompose".into(),
            ));
        }
        if !blocks.is_empty() && n != blocks.len() {
            return Err(config_err(format!(
                "n_layer is {n} but the weights hold {} bilinear block{} ({}); the config \
                 belongs to a different model",
                blocks.len(),
                if blocks.len() == 1 { "" } else { "s" },
                describe_blocks(blocks.len())
            )));
        }
    }
    let chosen = match layer {
        None => n_blocks - 1,
        Some(i) if i < n_blocks => i,
        Some(i) => {
            return Err(IoError::Layer {
                path: path.clone(),
                requested: Some(i),
                available: format!(
                    "{} (an image model's bilinear blocks)",
                    describe_blocks(n_blocks)
                ),
            });
        }
    };
    let last = chosen + 1 == n_blocks;

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
        let block_names = match n_blocks {
            1 => "blocks.0.weight, blocks.0.bias".to_string(),
            n => format!("blocks.I.weight, blocks.I.bias for I in 0..{n}"),
        };
        return Err(unsupported(
            format!(
                "tensors outside the image layout (embed.weight, {block_names}, head.weight): \
                 {}; decomposing without them would describe a different model",
                unknown.join(", ")
            ),
            Hint::NameTensors { path: path.clone() },
        ));
    }

    let embed = matrix(file, IMAGE_EMBED)?;
    let (d_stream0, d_input) = (embed.shape[0], embed.shape[1]);
    // Each block reads the stream the previous one wrote: its width is the embedding's rows,
    // then each block's half-height.
    let mut widths = Vec::with_capacity(n_blocks);
    let mut stream = d_stream0;
    let mut bias_of = Vec::with_capacity(n_blocks);
    for i in 0..n_blocks {
        let name = block_weight(i);
        let block = matrix(file, &name)?;
        if block.shape[1] != stream {
            let why = if i == 0 {
                format!(
                    "the block reads the embedding, so its columns must equal embed.weight's \
                     rows ({stream})"
                )
            } else {
                format!(
                    "block {i} reads the stream block {} writes, so its columns must equal \
                     half of {}'s rows ({stream})",
                    i - 1,
                    block_weight(i - 1)
                )
            };
            return Err(mismatch(file, block, format!("[_, {stream}]"), why));
        }
        if block.shape[0] % 2 != 0 {
            return Err(mismatch(
                file,
                block,
                format!("[2 * d_hidden, {stream}]"),
                "a fused block stacks W over V, so its row count must be even".into(),
            ));
        }
        let hidden = block.shape[0] / 2;
        let bias_name = block_bias(i);
        let bias = file.info(&bias_name);
        if let Some(b) = bias {
            if b.shape != [2 * hidden] {
                return Err(mismatch(
                    file,
                    b,
                    format!("[{}]", 2 * hidden),
                    format!(
                        "a fused block's bias stacks the bias of W x over that of V x, so it has \
                         one entry per row of {name} ({})",
                        2 * hidden
                    ),
                ));
            }
        }
        match (config.bias, bias) {
            (Some(true), None) => {
                return Err(config_err(format!(
                    "bias is true but the weights hold no tensor '{bias_name}' (the block's \
                     biases, [{}]); the config belongs to a different model, or the bias was \
                     not saved",
                    2 * hidden
                )));
            }
            (Some(false), Some(b)) => {
                return Err(config_err(format!(
                    "bias is false but the weights hold {} {:?}; the config belongs to a \
                     different model",
                    b.name, b.shape
                )));
            }
            _ => {}
        }
        widths.push((stream, hidden));
        bias_of.push(bias.is_some());
        stream = hidden;
    }
    let head = matrix(file, IMAGE_HEAD)?;
    let last_name = block_weight(n_blocks - 1);
    if head.shape[1] != stream {
        let reads = if n_blocks == 1 {
            "the block's output"
        } else {
            "the last block's output"
        };
        return Err(mismatch(
            file,
            head,
            format!("[_, {stream}]"),
            format!(
                "the head reads {reads}, so its columns must equal half of {last_name}'s rows \
                 ({stream})"
            ),
        ));
    }
    let d_out = head.shape[0];
    let mut checks = vec![(
        "d_hidden",
        config.d_hidden,
        d_stream0,
        "embed.weight's rows".to_string(),
    )];
    for (i, &(_, hidden)) in widths.iter().enumerate() {
        checks.push((
            "d_hidden",
            config.d_hidden,
            hidden,
            format!("half of {}'s rows", block_weight(i)),
        ));
    }
    checks.push((
        "d_input",
        config.d_input,
        d_input,
        "embed.weight's columns".into(),
    ));
    checks.push((
        "d_output",
        config.d_output,
        d_out,
        "head.weight's rows".into(),
    ));
    for (field, value, actual, what) in checks {
        if let Some(v) = value {
            if v != actual {
                return Err(config_err(format!(
                    "{field} is {v} but the weights have {what} = {actual}; the config belongs \
                     to a different model"
                )));
            }
        }
    }

    let residual = match (residual_override, config.residual) {
        (Some(r), Some(c)) if r != c => {
            notes.push(format!(
                "the residual setting ({r}) overrides {config_origin} (residual: {c})"
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
    if residual {
        if let Some(i) = widths.iter().position(|&(s, h)| s != h) {
            let (s, _) = widths[i];
            let block = file.require(&block_weight(i))?;
            return Err(mismatch(
                file,
                block,
                format!("[{}, {s}]", 2 * s),
                format!(
                    "a residual block adds its output to its input, so d_hidden must equal \
                     d_in = {s}"
                ),
            ));
        }
    }
    let (d_in, d_hidden) = widths[chosen];
    let block_name = block_weight(chosen);
    let bias_name = block_bias(chosen);
    let has_bias = bias_of[chosen];
    // The last block is read by the head; an earlier one writes the stream itself.
    let (p, d_out) = if last {
        (Source::whole(IMAGE_HEAD), d_out)
    } else {
        (identity(d_hidden), d_hidden)
    };
    if n_blocks > 1 {
        notes.push(if last {
            format!(
                "block {chosen} is the last of {n_blocks}: its output directions are the head's \
                 rows; its input is the stream after block {}, not pixels",
                chosen.saturating_sub(1)
            )
        } else {
            format!(
                "block {chosen} of {n_blocks} writes the stream block {} reads: its output \
                 directions are directions of that stream (by default its {d_hidden} \
                 coordinates; the components of block {} chain in as output directions)",
                chosen + 1,
                chosen + 1
            )
        });
        if layer.is_none() {
            notes.push(format!(
                "no block chosen: block {chosen}, the last (choose another with the layer \
                 setting)"
            ));
        }
    }
    // A config object inside the checkpoint is reported in the notes; `config` names a file.
    let config_json = config_path.filter(|p| *p != path);
    Ok(ModelInfo {
        path,
        layout: Layout::Image,
        layer: (n_blocks > 1).then(|| LayerChoice {
            index: chosen,
            available: (0..n_blocks).collect(),
        }),
        // Only block 0 reads the embedding linearly: its components have a pixel picture.
        embed: (chosen == 0).then(|| Source::whole(IMAGE_EMBED)),
        w: Source::rows(&block_name, 0..d_hidden),
        v: Source::rows(&block_name, d_hidden..2 * d_hidden),
        linear: residual.then(|| p.clone()),
        p,
        w_bias: has_bias.then(|| Source::rows(&bias_name, 0..d_hidden)),
        v_bias: has_bias.then(|| Source::rows(&bias_name, d_hidden..2 * d_hidden)),
        norm_gain: None,
        norm_bias: None,
        residual,
        d_input: if chosen == 0 { d_input } else { d_in },
        d_in,
        d_hidden,
        d_out,
        tokens: None,
        approximation: None,
        config: config_json,
        conv: None,
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
