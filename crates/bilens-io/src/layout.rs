//! Model layouts: which tensors of a checkpoint form the bilinear layer, its embedding, its
//! biases, its input gain and its linear path, checked against each other before any weight is
//! read.
//!
//! | layout | tensors | model built |
//! |---|---|---|
//! | `image` | `embed.weight [d_in, d_input]`, `blocks.0.weight [2 d_hidden, d_in]` (W = first `d_hidden` rows, V = the rest), optional `blocks.0.bias [2 d_hidden]` (b = first `d_hidden` entries, c = the rest), `head.weight [d_out, d_hidden]`, sibling `config.json` | `logits = H g(E x)`, plus `H E x` when residual |
//! | `single` | `W, V [d_hidden, d_in]`, `P [d_out, d_hidden]`, optional embedding `E [d_in, d_input]`, optional biases `b, c [d_hidden]`, optional norm gain `γ [d_in]`, named explicitly | `y = P g(diag(γ) E x)` (no linear term) |
//! | `auto` | detects one of the above | |
//!
//! with `g(x) = (W x + b) ⊙ (V x + c)`. Biases are kept on the layer
//! ([`BilinearLayer::with_biases`]): they leave every interaction matrix `Q(u)` unchanged and
//! add a linear term and a constant per output (MATH.md section 2). A norm gain is folded into
//! `W` and `V` exactly ([`BilinearLayer::with_input_gain`]); the normalisation's division is
//! not linear and stays outside, so the model then reads the *normalised* input.
//!
//! `auto` picks `image` when the file holds `blocks.0.weight` together with `embed.weight` or
//! `head.weight`. Otherwise it picks `single` when **every** tensor of the file has a
//! recognisable role and each role is filled once: the last name component (after dropping a
//! trailing `.weight`), lower-cased, is one of
//!
//! - W: `w`, `left`, `w_l`, `wl`
//! - V: `v`, `right`, `w_r`, `wr`
//! - P: `p`, `proj`, `projection`, `out`
//! - embedding (optional): `embed`, `embedding`, `e`
//!
//! so `w`, `mlp.w.weight` and `layer.left` all read as W. Requiring every tensor to be
//! accounted for means a file with anything else in it (a bias, a norm gain, a second layer) is
//! never silently decomposed as something it is not: detection then fails with the list of
//! tensors and the flags that resolve it (a single layer's biases and gain are always named).
//!
//! Not supported, each a clear error rather than a wrong answer: image models with more than
//! one block, and an `embed.bias` or `head.bias` (the paper's code never saves them; see
//! [`describe_model`] for why each is refused).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bilens_decomp::{BilinearLayer, BilinearModel, Real};
use ndarray::{Array1, Array2, Ix1, Ix2};

use crate::config::{ImageConfig, read_sibling_config};
use crate::error::{IoError, Result};
use crate::safetensors_file::{SafetensorsFile, TensorInfo};

/// How to find the bilinear layer in a checkpoint (the CLI's `--layout`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutSpec {
    /// Detect `image` or an unambiguous `single` layer from the tensor names. `residual`
    /// overrides the config when `image` is detected; `Some(true)` is an error for `single`.
    Auto {
        /// The CLI's `--residual`, if given.
        residual: Option<bool>,
    },
    /// The paper's image classifier as its public PyTorch code saves it.
    Image {
        /// Whether the block adds its input back; overrides `config.json` when given.
        residual: Option<bool>,
    },
    /// One bilinear layer `P((W x + b) ⊙ (V x + c))`, optionally after an embedding and a
    /// norm gain, tensors named.
    Single {
        /// Name of `W` `[d_hidden, d_in]`.
        w: String,
        /// Name of `V` `[d_hidden, d_in]`.
        v: String,
        /// Name of `P` `[d_out, d_hidden]`.
        p: String,
        /// Name of the embedding `E` `[d_in, d_input]`, if the layer reads one.
        embed: Option<String>,
        /// Name of the bias `b` of `W x` `[d_hidden]`, if any.
        w_bias: Option<String>,
        /// Name of the bias `c` of `V x` `[d_hidden]`, if any.
        v_bias: Option<String>,
        /// Name of a norm gain `γ` `[d_in]` (an RMSNorm/LayerNorm weight applied to the layer
        /// input), folded in as `W diag(γ)`, `V diag(γ)`.
        norm_gain: Option<String>,
    },
}

impl Default for LayoutSpec {
    fn default() -> Self {
        LayoutSpec::Auto { residual: None }
    }
}

/// A resolved layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The paper's image classifier.
    Image,
    /// One named bilinear layer.
    Single,
}

impl Layout {
    /// The name used on the command line and in results metadata: `image` or `single`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Image => "image",
            Layout::Single => "single",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where one matrix or vector of the model comes from: a tensor, or a range of its rows (the
/// halves of a fused `[W; V]` block or of its fused `[b; c]` bias).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Tensor name in the file.
    pub tensor: String,
    /// The rows taken, when not all of them.
    pub rows: Option<Range<usize>>,
}

impl Source {
    fn whole(tensor: &str) -> Self {
        Self {
            tensor: tensor.to_string(),
            rows: None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rows {
            Some(r) => write!(f, "{} rows {}..{}", self.tensor, r.start, r.end),
            None => f.write_str(&self.tensor),
        }
    }
}

/// A checkpoint's bilinear model as resolved from its header (and `config.json`), before any
/// weight is read: what `bilens inspect` reports and what [`read_model`] loads.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The model file.
    pub path: PathBuf,
    /// The layout used.
    pub layout: Layout,
    /// The embedding `E` `[d_in, d_input]`, if any.
    pub embed: Option<Source>,
    /// The left factor `W` `[d_hidden, d_in]`.
    pub w: Source,
    /// The right factor `V` `[d_hidden, d_in]`.
    pub v: Source,
    /// The output projection `P` `[d_out, d_hidden]`.
    pub p: Source,
    /// The bias `b` of `W x` `[d_hidden]`, if any.
    pub w_bias: Option<Source>,
    /// The bias `c` of `V x` `[d_hidden]`, if any.
    pub v_bias: Option<Source>,
    /// The norm gain `γ` `[d_in]` folded into `W` and `V`, if any.
    pub norm_gain: Option<Source>,
    /// The linear term `L` `[d_out, d_in]` (the residual path through the head), if any.
    pub linear: Option<Source>,
    /// Whether the block is residual (image layout; always false for `single`).
    pub residual: bool,
    /// Width of the model input (`d_in` without an embedding).
    pub d_input: usize,
    /// Input width of the bilinear layer.
    pub d_in: usize,
    /// Number of bilinear hidden units.
    pub d_hidden: usize,
    /// Output width.
    pub d_out: usize,
    /// The `config.json` that was used, if any.
    pub config: Option<PathBuf>,
    /// Assumptions made where the file did not say (e.g. residual assumed false without a
    /// config) and caveats of what was folded in (a norm gain), for the user to check.
    pub notes: Vec<String>,
}

impl fmt::Display for ModelInfo {
    /// A few lines for `bilens inspect`: layout, where each matrix comes from, dimensions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "layout: {}{}",
            self.layout,
            if self.layout == Layout::Image {
                if self.residual {
                    " (residual)"
                } else {
                    " (not residual)"
                }
            } else {
                ""
            }
        )?;
        if let Some(e) = &self.embed {
            writeln!(f, "  E = {e}  [{}, {}]", self.d_in, self.d_input)?;
        }
        if let Some(g) = &self.norm_gain {
            writeln!(f, "  γ = {g}  [{}]", self.d_in)?;
        }
        writeln!(f, "  W = {}  [{}, {}]", self.w, self.d_hidden, self.d_in)?;
        writeln!(f, "  V = {}  [{}, {}]", self.v, self.d_hidden, self.d_in)?;
        if let Some(b) = &self.w_bias {
            writeln!(f, "  b = {b}  [{}]", self.d_hidden)?;
        }
        if let Some(c) = &self.v_bias {
            writeln!(f, "  c = {c}  [{}]", self.d_hidden)?;
        }
        writeln!(f, "  P = {}  [{}, {}]", self.p, self.d_out, self.d_hidden)?;
        if let Some(l) = &self.linear {
            writeln!(f, "  L = {l}  [{}, {}]", self.d_out, self.d_in)?;
        }
        write!(
            f,
            "dimensions: d_input {}, d_in {}, d_hidden {}, d_out {}",
            self.d_input, self.d_in, self.d_hidden, self.d_out
        )?;
        if let Some(c) = &self.config {
            write!(f, "\nconfig: {}", c.display())?;
        }
        for n in &self.notes {
            write!(f, "\nnote: {n}")?;
        }
        Ok(())
    }
}

/// A model read from a checkpoint, with the description of where it came from.
#[derive(Clone, Debug)]
pub struct LoadedModel<T> {
    /// The model: embedding, bilinear layer and linear term.
    pub model: BilinearModel<T>,
    /// Layout, tensor sources and dimensions.
    pub info: ModelInfo,
}

/// What `bilens inspect` shows: every tensor, the header metadata, and the model the layout
/// resolves to (or why it does not) — all from the header, no weight converted.
#[derive(Debug)]
pub struct Inspection {
    /// The model file.
    pub path: PathBuf,
    /// Every tensor, sorted by name.
    pub tensors: Vec<TensorInfo>,
    /// The header's `__metadata__`.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The resolved model, or the error explaining why the layout does not fit.
    pub model: Result<ModelInfo>,
}

/// Opens a model file and resolves its layout without reading weights. Fails only when the
/// file itself cannot be read; a layout problem is reported in [`Inspection::model`].
pub fn inspect_model(path: &Path, spec: &LayoutSpec) -> Result<Inspection> {
    let file = SafetensorsFile::open(path)?;
    let model = describe_model(&file, spec);
    Ok(Inspection {
        path: path.to_path_buf(),
        tensors: file.tensors().to_vec(),
        metadata: file.metadata().clone(),
        model,
    })
}

/// Opens `path`, resolves the layout and reads the model in precision `T`.
pub fn load_model<T: Real>(path: &Path, spec: &LayoutSpec) -> Result<LoadedModel<T>> {
    let file = SafetensorsFile::open(path)?;
    let info = describe_model(&file, spec)?;
    let model = read_model(&file, &info)?;
    Ok(LoadedModel { model, info })
}

/// Resolves the layout of an open file from its header (and the image layout's
/// `config.json`): names, shapes and their consistency. Reads no weights.
///
/// Two biases an image model could carry are refused rather than dropped: an `embed.bias` `β`
/// makes the layer input `e = E x + β` affine in the pixels, and a `head.bias` adds a constant
/// to each logit. Neither changes an interaction matrix `Q(u)`, but the loaded
/// [`BilinearModel`] (`e = E x`, no output offset) has no place for them, so evaluating or
/// truncating it would silently differ from the checkpoint. The paper's code saves neither
/// (its `bias` option applies to the blocks only).
pub fn describe_model(file: &SafetensorsFile, spec: &LayoutSpec) -> Result<ModelInfo> {
    match spec {
        LayoutSpec::Image { residual } => describe_image(file, *residual),
        LayoutSpec::Single {
            w,
            v,
            p,
            embed,
            w_bias,
            v_bias,
            norm_gain,
        } => describe_single(
            file,
            &SingleNames {
                w,
                v,
                p,
                embed: embed.as_deref(),
                w_bias: w_bias.as_deref(),
                v_bias: v_bias.as_deref(),
                norm_gain: norm_gain.as_deref(),
            },
        ),
        LayoutSpec::Auto { residual } => {
            if file.info(&block_weight(0)).is_some()
                && (file.info(IMAGE_EMBED).is_some() || file.info(IMAGE_HEAD).is_some())
            {
                return describe_image(file, *residual);
            }
            let Some(roles) = detect_single(file.tensors()) else {
                return Err(IoError::AmbiguousLayout {
                    path: file.path().to_path_buf(),
                    tensors: file.tensors().to_vec(),
                });
            };
            if *residual == Some(true) {
                return Err(IoError::Unsupported {
                    path: file.path().to_path_buf(),
                    what: format!(
                        "--residual true applies to the image layout, but the file holds a \
                         single bilinear layer ({}, {}, {})",
                        roles.w, roles.v, roles.p
                    ),
                    hint: "drop --residual, or pass --layout image for an image model".into(),
                });
            }
            describe_single(
                file,
                &SingleNames {
                    w: &roles.w,
                    v: &roles.v,
                    p: &roles.p,
                    embed: roles.embed.as_deref(),
                    w_bias: None,
                    v_bias: None,
                    norm_gain: None,
                },
            )
        }
    }
}

/// Reads the matrices and vectors `info` names (converted to `T`, checked finite) and assembles
/// the model: biases attached to the layer, a norm gain folded into `W` and `V`. `info` must
/// come from [`describe_model`] on the same file.
pub fn read_model<T: Real>(file: &SafetensorsFile, info: &ModelInfo) -> Result<BilinearModel<T>> {
    let read = |s: &Source| -> Result<Array2<T>> {
        match &s.rows {
            None => file.read_matrix(&s.tensor),
            Some(r) => Ok(file
                .read_rows::<T>(&s.tensor, r.clone())?
                .into_dimensionality::<Ix2>()
                .expect("describe_model checked the tensor is a matrix")),
        }
    };
    let read_vector = |s: &Source| -> Result<Array1<T>> {
        let a = match &s.rows {
            None => file.read::<T>(&s.tensor)?,
            Some(r) => file.read_rows::<T>(&s.tensor, r.clone())?,
        };
        Ok(a.into_dimensionality::<Ix1>()
            .expect("describe_model checked the tensor is a vector"))
    };
    let embed = info.embed.as_ref().map(read).transpose()?;
    let w = read(&info.w)?;
    let v = read(&info.v)?;
    let p = read(&info.p)?;
    let w_bias = info.w_bias.as_ref().map(read_vector).transpose()?;
    let v_bias = info.v_bias.as_ref().map(read_vector).transpose()?;
    let gain = info.norm_gain.as_ref().map(read_vector).transpose()?;
    let linear = match &info.linear {
        Some(l) if *l == info.p => Some(p.clone()),
        Some(l) => Some(read(l)?),
        None => None,
    };
    let mut layer = BilinearLayer::new(w, v, p).with_biases(w_bias, v_bias);
    if let Some(g) = &gain {
        layer = layer.with_input_gain(g.view());
    }
    Ok(BilinearModel::new(embed, layer, linear))
}

// ---- image layout ------------------------------------------------------------------------

/// The image model's embedding `E` `[d_hidden, d_input]` (`nn.Linear(d_input, d_hidden)`).
const IMAGE_EMBED: &str = "embed.weight";
/// The image model's head `H` `[d_output, d_hidden]`.
const IMAGE_HEAD: &str = "head.weight";
/// The image model's embedding bias, refused (see [`describe_model`]).
const IMAGE_EMBED_BIAS: &str = "embed.bias";
/// The image model's head bias, refused (see [`describe_model`]).
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

fn describe_image(file: &SafetensorsFile, residual_override: Option<bool>) -> Result<ModelInfo> {
    let path = file.path().to_path_buf();
    let unsupported = |what: String, hint: &str| IoError::Unsupported {
        path: path.clone(),
        what,
        hint: hint.to_string(),
    };
    let (config_path, config) = match read_sibling_config(&path)? {
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
    let deeper_hint = "only one-block image models (n_layer 1) can be decomposed so far; \
                       decomposing deeper models is planned";
    if let Some(n) = config.n_layer {
        if n > 1 {
            return Err(unsupported(
                format!(
                    "the model has {n} bilinear blocks (config.json: n_layer = {n}); only one block is supported yet"
                ),
                deeper_hint,
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
            deeper_hint,
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
            "decompose a model whose embedding has no bias (the paper's code uses bias=False \
             for embed and head); to study the block alone, export its weights and use \
             --layout single",
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
            "decompose a model whose head has no bias (the paper's code uses bias=False for \
             embed and head), or remove head.bias from the file if only the interaction \
             matrices matter",
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
            "if the layer does not use them, name its tensors with --layout single --w NAME \
             --v NAME --p NAME [--embed NAME]",
        ));
    }

    let embed = matrix(file, IMAGE_EMBED)?;
    let block_name = block_weight(0);
    let block = matrix(file, &block_name)?;
    let head = matrix(file, IMAGE_HEAD)?;
    let (d_in, d_input) = (embed.shape[0], embed.shape[1]);
    let mismatch = |t: &TensorInfo, expected: String, why: String| IoError::ShapeMismatch {
        path: path.clone(),
        tensor: t.name.clone(),
        expected,
        found: t.shape.clone(),
        why,
    };
    if block.shape[1] != d_in {
        return Err(mismatch(
            block,
            format!("[_, {d_in}]"),
            format!(
                "the block reads the embedding, so its columns must equal embed.weight's rows ({d_in})"
            ),
        ));
    }
    if block.shape[0] % 2 != 0 {
        return Err(mismatch(
            block,
            format!("[2 * d_hidden, {d_in}]"),
            "a fused block stacks W over V, so its row count must be even".into(),
        ));
    }
    let d_hidden = block.shape[0] / 2;
    if head.shape[1] != d_hidden {
        return Err(mismatch(
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
                "--residual {r} overrides config.json (residual: {c})"
            ));
            r
        }
        (Some(r), _) => r,
        (None, Some(c)) => c,
        (None, None) => {
            notes.push(
                "residual not stated (no config.json, or no `residual` in it): assumed false, \
                 the public code's default; pass --residual true if the block adds its input"
                    .into(),
            );
            false
        }
    };
    if residual && d_hidden != d_in {
        return Err(mismatch(
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
        // logits = H (e + g(e)): the linear term is the head itself.
        linear: residual.then(|| Source::whole(IMAGE_HEAD)),
        residual,
        d_input,
        d_in,
        d_hidden,
        d_out,
        config: config_path,
        notes,
    })
}

// ---- single layout -----------------------------------------------------------------------

/// The tensor names of a single layer, as given or detected.
struct SingleNames<'a> {
    w: &'a str,
    v: &'a str,
    p: &'a str,
    embed: Option<&'a str>,
    w_bias: Option<&'a str>,
    v_bias: Option<&'a str>,
    norm_gain: Option<&'a str>,
}

fn describe_single(file: &SafetensorsFile, names: &SingleNames<'_>) -> Result<ModelInfo> {
    let path = file.path().to_path_buf();
    let SingleNames {
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
    let mismatch = |t: &TensorInfo, expected: String, why: String| IoError::ShapeMismatch {
        path: path.clone(),
        tensor: t.name.clone(),
        expected,
        found: t.shape.clone(),
        why,
    };
    let (d_hidden, d_in) = (wi.shape[0], wi.shape[1]);
    if vi.shape != wi.shape {
        return Err(mismatch(
            vi,
            format!("{:?}", wi.shape),
            format!("V must have the same shape [d_hidden, d_in] as W ('{w}')"),
        ));
    }
    if pi.shape[1] != d_hidden {
        return Err(mismatch(
            pi,
            format!("[_, {d_hidden}]"),
            format!("P's columns must equal d_hidden = {d_hidden}, the rows of W ('{w}')"),
        ));
    }
    let d_input = match ei {
        Some(e) if e.shape[0] != d_in => {
            return Err(mismatch(
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
            return Err(mismatch(t, format!("[{len}]"), why));
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
        embed: embed.map(Source::whole),
        w: Source::whole(w),
        v: Source::whole(v),
        p: Source::whole(p),
        w_bias,
        v_bias,
        norm_gain,
        linear: None,
        residual: false,
        d_input,
        d_in,
        d_hidden,
        d_out: pi.shape[0],
        config: None,
        notes,
    })
}

/// The tensor names auto-detection assigned to each role of a single layer.
struct Roles {
    w: String,
    v: String,
    p: String,
    embed: Option<String>,
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
fn detect_single(tensors: &[TensorInfo]) -> Option<Roles> {
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

/// The header entry of a tensor that must exist and be a matrix.
fn matrix<'a>(file: &'a SafetensorsFile, name: &str) -> Result<&'a TensorInfo> {
    let t = file.require(name)?;
    if t.shape.len() != 2 {
        return Err(IoError::ShapeMismatch {
            path: file.path().to_path_buf(),
            tensor: name.to_string(),
            expected: "[_, _]".into(),
            found: t.shape.clone(),
            why: "a weight matrix has 2 dimensions".into(),
        });
    }
    Ok(t)
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
        assert_eq!(block_index("blocks.3.weight"), Some(3));
        assert_eq!(block_index("blocks.0.bias"), Some(0));
        assert_eq!(block_index("blocks.x.weight"), None);
        assert_eq!(block_index("blocks.0.norm.weight"), None);
    }
}
