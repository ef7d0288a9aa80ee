//! Model layouts: which tensors of a checkpoint form the bilinear layer, its embedding, its
//! biases, its input gain and its linear path, checked against each other before any weight is
//! read.
//!
//! | layout | tensors | model built |
//! |---|---|---|
//! | `image` | `embed.weight [d_in, d_input]`, blocks `blocks.{i}.weight [2 d_hidden, d_in]` (W = first `d_hidden` rows, V = the rest), optional `blocks.{i}.bias [2 d_hidden]` (b = first `d_hidden` entries, c = the rest), `head.weight [d_out, d_hidden]`, sibling `config.json` | one block: `logits = H g(E x)`, plus `H E x` when residual; several: block `i` of the stream `x_0 = E x`, `x_{i+1} = g_i(x_i)` (`+ x_i` when residual), `logits = H x_L` |
//! | `single` | `W, V [d_hidden, d_in]`, `P [d_out, d_hidden]`, optional embedding `E [d_in, d_input]`, optional biases `b, c [d_hidden]`, optional norm gain `γ [d_in]`, named explicitly | `y = P g(diag(γ) E x)` (no linear term) |
//! | `lm` | layer `i` of a bilinear transformer as the public code names it: `transformer.h.{i}.mlp.w.weight [2 d_hidden, d]` (W then V), `transformer.h.{i}.mlp.p.weight [d, d_hidden]` (`mlp.o` in older files), optional `mlp.w.bias`, norm `transformer.h.{i}.n2.{weight,bias}`; `transformer.wte.weight`, `lm_head.weight` for tokens | `y = P g(γ ⊙ n + β)` of the normalised residual stream `n` |
//! | `gated` | layer `i` of a Hugging Face Llama-style model: `model.layers.{i}.mlp.{gate_proj,up_proj,down_proj}.weight`, norm `model.layers.{i}.post_attention_layernorm.weight`; `model.embed_tokens.weight`, `lm_head.weight` | `down((gate n) ⊙ (up n))`: **an approximation** of `down(act(gate n) ⊙ up n)` |
//! | `tl` | layer `i` of a TransformerLens state dict: `blocks.{i}.mlp.W_gate`, `W_in` `[d_model, d_mlp]`, `W_out` `[d_mlp, d_model]` (read transposed), optional `b_gate`, `b_in`, norm `blocks.{i}.ln2.w`/`.b` | `P g(γ ⊙ n + β)`, the gate read bilinearly |
//! | `conv` | one bilinear convolution and a linear head as the public bilinear-conv code saves it: `block.weight [2h, c_in, k, k]` (conv_a = first `h` channels, conv_b = the rest), optional `block.bias [2h]`, `head.weight [classes, h H' W']` over the flattened `(channel, row, column)` features, sibling `config.json` (required: `d_hidden`, `kernel_size`; `padding` = `k // 2`, `in_channels` = 1, `image_size` = 28, `stride` = 1 by default) | `W`, `V` the convolutions lifted over the flattened image `[h H' W', c_in H W]`, `P` the head (docs/MATH.md section 11); or, in the filters view, the kernels as rows over one receptive field with `P` the identity |
//! | `auto` | detects one of the above | |
//!
//! with `g(x) = (W x + b) ⊙ (V x + c)`. Biases are kept on the layer
//! ([`BilinearLayer::with_biases`]): they leave every interaction matrix `Q(u)` unchanged and
//! add a linear term and a constant per output (docs/MATH.md section 2). A norm gain is folded into
//! `W` and `V` exactly ([`BilinearLayer::with_input_gain`]); the normalisation's division is
//! not linear and stays outside, so the model then reads the *normalised* input. A norm's
//! shift `β` (LayerNorm) is folded exactly too, into the biases: `W(γ ⊙ n + β) + b =
//! W diag(γ) n + (W β + b)`.
//!
//! `auto` picks `conv` when the file holds a 4-dimensional `block.weight` beside `head.weight`;
//! `image` when the file holds `blocks.0.weight` together with `embed.weight` or
//! `head.weight`; `lm` when it holds `transformer.h.{i}.mlp.w.weight`; `gated` when it holds
//! `model.layers.{i}.mlp.gate_proj.weight`; `tl` when it holds `blocks.{i}.mlp.W_gate`.
//! Otherwise it picks `single` when **every** tensor of the file has a recognisable role and
//! each role is filled once: the last name component (after dropping a trailing `.weight`),
//! lower-cased, is one of
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
//! The layered layouts (`lm`, `gated`) are different: a transformer checkpoint holds attention,
//! other layers and embeddings that the MLP of one layer does not read, so tensors outside the
//! chosen layer's MLP and its input norm are ignored.
//!
//! An image model with several blocks is decomposed one block at a time (`layer` picks it, the
//! last by default): the last block's output directions are the head's rows, an earlier
//! block's are directions of the stream it writes (its `P` is the identity, and the linear
//! term of a residual block is the identity too), so the eigenvectors of block `i + 1` are
//! output directions of block `i` and the model is a chain of exact quadratic forms
//! (docs/MATH.md section 10). Only block 0 reads the embedding linearly, so only its
//! components have a picture in pixels.
//!
//! Not supported, each a clear error rather than a wrong answer: an `embed.bias` or `head.bias` (the paper's code never saves them; see
//! [`describe_model`] for why each is refused), and norm parameters before an MLP other than a
//! gain and a shift.

mod conv;
mod gated;
mod image;
mod layers;
mod lm;
mod single;
mod tl;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bilens_decomp::{BilinearLayer, BilinearModel, Real};
use ndarray::{Array1, Array2, Axis, Ix1, Ix2};

use crate::error::{Hint, IoError, Result};
use crate::header::TensorInfo;
use crate::tensor_file::TensorFile;

pub use conv::{ConvInfo, ConvView};

/// How to find the bilinear layer in a checkpoint (the CLI's `--layout`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutSpec {
    /// Detect `image`, `lm`, `gated` or an unambiguous `single` layer from the tensor names.
    /// `residual` overrides the config when `image` is detected (`Some(true)` is an error for
    /// the others); `layer` picks the layer of a layered model or the block of an image model
    /// (an error for a single layer).
    Auto {
        /// The CLI's `--residual`, if given.
        residual: Option<bool>,
        /// The CLI's `--layer`, if given.
        layer: Option<usize>,
    },
    /// The paper's image classifier as its public PyTorch code saves it.
    Image {
        /// Whether the blocks add their input back; overrides `config.json` when given.
        residual: Option<bool>,
        /// The block to decompose; `None` takes the last one (the block the head reads).
        layer: Option<usize>,
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
    /// The MLP of one layer of a bilinear transformer in the public code's naming.
    Lm {
        /// The layer; `None` is fine for a one-layer model and an error otherwise.
        layer: Option<usize>,
    },
    /// The MLP of one layer of a Hugging Face Llama-style model, gate and up treated
    /// bilinearly (an approximation, labelled as such).
    Gated {
        /// The layer; `None` is fine for a one-layer model and an error otherwise.
        layer: Option<usize>,
    },
    /// The MLP of one layer of a TransformerLens state dict (`blocks.{i}.mlp.W_gate`, `W_in`,
    /// `W_out`, read transposed).
    Tl {
        /// The layer; `None` is fine for a one-layer model and an error otherwise.
        layer: Option<usize>,
    },
    /// One bilinear convolution and a linear head (`block.weight`, `head.weight`, a
    /// `config.json` with the geometry), lifted to a bilinear layer.
    Conv {
        /// Over the whole image (the default, and what `Auto` detects) or over one receptive
        /// field (the eigenfilters).
        view: ConvView,
    },
}

impl Default for LayoutSpec {
    fn default() -> Self {
        LayoutSpec::Auto {
            residual: None,
            layer: None,
        }
    }
}

/// A resolved layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The paper's image classifier.
    Image,
    /// One named bilinear layer.
    Single,
    /// A bilinear transformer's MLP.
    Lm,
    /// A gated (Llama-style) MLP read bilinearly.
    Gated,
    /// A TransformerLens MLP.
    Tl,
    /// A bilinear convolution lifted to a bilinear layer.
    Conv,
}

impl Layout {
    /// The name used on the command line and in results metadata: `image`, `single`, `lm`,
    /// `gated`, `tl` or `conv`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Image => "image",
            Layout::Single => "single",
            Layout::Lm => "lm",
            Layout::Gated => "gated",
            Layout::Tl => "tl",
            Layout::Conv => "conv",
        }
    }

    /// Whether the layout has numbered layers (`--layer`): a transformer's, or an image
    /// model's blocks.
    pub fn is_layered(self) -> bool {
        matches!(
            self,
            Layout::Lm | Layout::Gated | Layout::Tl | Layout::Image
        )
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Layout {
    type Err = String;

    /// The inverse of [`Layout::name`].
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        const ALL: [Layout; 6] = [
            Layout::Image,
            Layout::Single,
            Layout::Lm,
            Layout::Gated,
            Layout::Tl,
            Layout::Conv,
        ];
        ALL.into_iter().find(|l| l.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|l| l.name()).collect();
            format!(
                "'{s}' is not a layout; expected one of {}",
                names.join(", ")
            )
        })
    }
}

/// The name a [`Source`] of the identity matrix carries (no file holds it).
pub(crate) const IDENTITY: &str = "<identity>";

/// Where one matrix or vector of the model comes from: a tensor, or a range of its rows (the
/// halves of a fused `[W; V]` block or of its fused `[b; c]` bias), or the identity of
/// `<identity>` rows (`[n, n]` for rows `0..n`; see [`Source::is_identity`]).
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

    fn rows(tensor: &str, rows: Range<usize>) -> Self {
        Self {
            tensor: tensor.to_string(),
            rows: Some(rows),
        }
    }

    /// Whether this is the identity `[n, n]` (named `<identity>`, rows `0..n`): the output
    /// projection and residual term of an image model's block before the last, which writes
    /// the stream itself. The image layout refuses every tensor outside its own names, so no
    /// tensor of an image model can carry that name.
    pub fn is_identity(&self) -> bool {
        self.tensor == IDENTITY
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_identity() {
            return f.write_str("identity (the block writes the stream)");
        }
        match &self.rows {
            Some(r) => write!(f, "{} rows {}..{}", self.tensor, r.start, r.end),
            None => f.write_str(&self.tensor),
        }
    }
}

/// The token matrices of a language model: one vector per token, in the residual stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenMatrices {
    /// Number of tokens.
    pub vocab_size: usize,
    /// The token embedding `[vocab, d_in]` (`transformer.wte.weight`,
    /// `model.embed_tokens.weight`, TransformerLens's `embed.W_E`), when its width is the
    /// layer's input width.
    pub embedding: Option<Source>,
    /// The unembedding (`lm_head.weight`, the embedding when the two are tied, or
    /// TransformerLens's `unembed.W_U`): token `t`'s direction in the layer's output space is
    /// its row `t` or column `t`, as [`TokenMatrices::unembedding_axis`] says. Read it through
    /// [`TokenMatrices::unembedding_tokens`] and [`TokenMatrices::read_unembedding`].
    pub unembedding: Option<Source>,
    /// Whether the unembedding holds one token per row (`[vocab, d_out]`, as `nn.Linear` and
    /// `nn.Embedding` store it) or per column (`[d_out, vocab]`, TransformerLens's `W_U`).
    pub unembedding_axis: TokenAxis,
}

/// Which axis of a token matrix runs over the tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAxis {
    /// One token per row.
    Rows,
    /// One token per column (a matrix multiplied from the right, `h @ W_U`).
    Columns,
}

impl TokenMatrices {
    /// The number of tokens the unembedding holds, if there is one.
    pub fn unembedding_tokens(&self, file: &TensorFile) -> Option<usize> {
        let t = file.info(&self.unembedding.as_ref()?.tensor)?;
        Some(match self.unembedding_axis {
            TokenAxis::Rows => t.shape[0],
            TokenAxis::Columns => t.shape[1],
        })
    }

    /// The unembedding vectors of `tokens`, one row each (`[tokens.len(), d_out]`), converted
    /// to `T` and checked finite. Only the rows named are read when the tokens are rows; a
    /// matrix with tokens as columns is read whole once. `None` without an unembedding.
    ///
    /// # Panics
    /// If a token is beyond [`TokenMatrices::unembedding_tokens`] (the caller checks ids).
    #[track_caller]
    pub fn read_unembedding<T: Real>(
        &self,
        file: &TensorFile,
        tokens: &[usize],
    ) -> Result<Option<Array2<T>>> {
        let Some(source) = &self.unembedding else {
            return Ok(None);
        };
        let n = self.unembedding_tokens(file).unwrap_or(0);
        assert!(
            tokens.iter().all(|&t| t < n),
            "token ids must be below the unembedding's {n} tokens"
        );
        Ok(Some(match self.unembedding_axis {
            TokenAxis::Rows => {
                let width = file.require(&source.tensor)?.shape[1];
                let mut rows = Array2::zeros((tokens.len(), width));
                for (mut row, &t) in rows.outer_iter_mut().zip(tokens) {
                    let one = file.read_rows::<T>(&source.tensor, t..t + 1)?;
                    row.assign(
                        &one.into_shape_with_order(width)
                            .expect("one row of a matrix"),
                    );
                }
                rows
            }
            TokenAxis::Columns => {
                let whole = file.read_matrix::<T>(&source.tensor)?;
                whole
                    .select(Axis(1), tokens)
                    .reversed_axes()
                    .as_standard_layout()
                    .into_owned()
            }
        }))
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
    /// The layer of a layered model (`lm`, `gated`), and the layers the file holds.
    pub layer: Option<LayerChoice>,
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
    /// The norm shift `β` `[d_in]` (a LayerNorm bias) folded into the biases as `W β`, `V β`.
    pub norm_bias: Option<Source>,
    /// The linear term `L` `[d_out, d_in]` (the residual path through the head), if any.
    pub linear: Option<Source>,
    /// Whether the block is residual (image layout; always false for the others).
    pub residual: bool,
    /// Width of the model input (`d_in` without an embedding).
    pub d_input: usize,
    /// Input width of the bilinear layer.
    pub d_in: usize,
    /// Number of bilinear hidden units.
    pub d_hidden: usize,
    /// Output width.
    pub d_out: usize,
    /// A language model's token embedding and unembedding, when the file holds them.
    pub tokens: Option<TokenMatrices>,
    /// When the layer is not exactly bilinear (a gated MLP read as `gate ⊙ up`), what the
    /// approximation is; results must say so.
    pub approximation: Option<String>,
    /// The `config.json` that was used, if any.
    pub config: Option<PathBuf>,
    /// A conv model's convolution (the `conv` layout): `W` and `V` name the kernels, which
    /// [`read_model`] lifts.
    pub conv: Option<ConvInfo>,
    /// Assumptions made where the file did not say (e.g. residual assumed false without a
    /// config) and caveats of what was folded in (a norm gain), for the user to check.
    pub notes: Vec<String>,
}

/// Which layer of a layered model was chosen, among which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerChoice {
    /// The layer index.
    pub index: usize,
    /// Every layer index the file holds, ascending.
    pub available: Vec<usize>,
}

impl fmt::Display for ModelInfo {
    /// A few lines for `bilens inspect`: layout, where each matrix comes from, dimensions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = match (self.layout, &self.layer) {
            (Layout::Image, Some(l)) => format!(
                " ({}), block {} of {} (blocks.0 .. blocks.{}: every block reads the stream \
                 the one before writes; the head reads the last)",
                if self.residual {
                    "residual"
                } else {
                    "not residual"
                },
                l.index,
                l.available.len(),
                l.available.len() - 1
            ),
            (Layout::Image, _) if self.residual => " (residual)".to_string(),
            (Layout::Image, _) => " (not residual)".to_string(),
            (_, Some(l)) => format!(
                ", layer {} of {} ({})",
                l.index,
                l.available.len(),
                layers::describe(&l.available)
            ),
            _ => String::new(),
        };
        match &self.conv {
            Some(c) if c.view == ConvView::Filters => {
                writeln!(
                    f,
                    "layout: {} (filters view: one receptive field)",
                    self.layout
                )?;
            }
            _ => writeln!(f, "layout: {}{detail}", self.layout)?,
        }
        if let Some(c) = &self.conv {
            writeln!(f, "  conv: {c}")?;
        }
        if let Some(e) = &self.embed {
            writeln!(f, "  E = {e}  [{}, {}]", self.d_in, self.d_input)?;
        }
        if let Some(g) = &self.norm_gain {
            writeln!(f, "  γ = {g}  [{}]", self.d_in)?;
        }
        if let Some(b) = &self.norm_bias {
            writeln!(f, "  β = {b}  [{}]", self.d_in)?;
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
        if let Some(t) = &self.tokens {
            if let Some(e) = &t.embedding {
                writeln!(
                    f,
                    "  token embedding = {e}  [{}, {}]",
                    t.vocab_size, self.d_in
                )?;
            }
            if let Some(u) = &t.unembedding {
                let read = match t.unembedding_axis {
                    TokenAxis::Rows => "",
                    TokenAxis::Columns => " (read transposed)",
                };
                writeln!(
                    f,
                    "  unembedding = {u}{read}  [{}, {}]",
                    t.vocab_size, self.d_out
                )?;
            }
        }
        write!(
            f,
            "dimensions: d_input {}, d_in {}, d_hidden {}, d_out {}",
            self.d_input, self.d_in, self.d_hidden, self.d_out
        )?;
        if let Some(c) = &self.config {
            write!(f, "\nconfig: {}", c.display())?;
        }
        if let Some(a) = &self.approximation {
            write!(f, "\napproximation: {a}")?;
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
    let file = TensorFile::open(path)?;
    let model = describe_model(&file, spec);
    Ok(Inspection {
        path: path.to_path_buf(),
        tensors: file.tensors().to_vec(),
        metadata: file.metadata().clone(),
        model,
    })
}

/// Opens `path`, resolves the layout and reads the model in precision `T`. Only the chosen
/// layer's tensors are read (the file is memory-mapped), so one layer of a checkpoint larger
/// than memory loads in the memory of that layer.
pub fn load_model<T: Real>(path: &Path, spec: &LayoutSpec) -> Result<LoadedModel<T>> {
    let file = TensorFile::open(path)?;
    let info = describe_model(&file, spec)?;
    let model = read_model(&file, &info)?;
    Ok(LoadedModel { model, info })
}

/// The layers of a layered model (`lm`, `gated`, or `auto` detecting one), ascending: what
/// `--layer all` iterates over. An error for a layout without layers.
pub fn model_layers(file: &TensorFile, spec: &LayoutSpec) -> Result<Vec<usize>> {
    let family = match spec {
        LayoutSpec::Lm { .. } => Some(Layout::Lm),
        LayoutSpec::Gated { .. } => Some(Layout::Gated),
        LayoutSpec::Tl { .. } => Some(Layout::Tl),
        LayoutSpec::Image { .. } => Some(Layout::Image),
        LayoutSpec::Conv { .. } => None,
        LayoutSpec::Auto { .. } if conv::detect(file) => None,
        LayoutSpec::Auto { .. } if image::detect(file) => Some(Layout::Image),
        LayoutSpec::Auto { .. } => detect_family(file)?,
        LayoutSpec::Single { .. } => None,
    };
    let layers = match family {
        Some(Layout::Lm) => lm::layers(file),
        Some(Layout::Gated) => gated::layers(file),
        Some(Layout::Tl) => tl::layers(file),
        Some(Layout::Image) => image::layers(file),
        _ => {
            return Err(IoError::Unsupported {
                path: file.path().to_path_buf(),
                what: "the model has no numbered layers (every layer applies to the lm, gated, \
                       tl and image layouts)"
                    .into(),
                hint: Hint::DropLayer,
            });
        }
    };
    if layers.is_empty() {
        let layout = family.map_or("layered", Layout::name);
        return Err(IoError::Unsupported {
            path: file.path().to_path_buf(),
            what: format!("no {layout} layers found"),
            hint: Hint::CheckLayout {
                path: file.path().to_path_buf(),
            },
        });
    }
    Ok(layers)
}

/// The layered family `auto` detects from the names, if any; an error when several are
/// present.
fn detect_family(file: &TensorFile) -> Result<Option<Layout>> {
    let found: Vec<Layout> = [
        (Layout::Lm, lm::layers(file)),
        (Layout::Gated, gated::layers(file)),
        (Layout::Tl, tl::layers(file)),
    ]
    .into_iter()
    .filter(|(_, layers)| !layers.is_empty())
    .map(|(family, _)| family)
    .collect();
    match found[..] {
        [] => Ok(None),
        [family] => Ok(Some(family)),
        _ => Err(IoError::AmbiguousLayout {
            path: file.path().to_path_buf(),
            tensors: file.tensors().to_vec(),
        }),
    }
}

/// Resolves the layout of an open file from its header (and a sibling `config.json`): names,
/// shapes and their consistency. Reads no weights.
///
/// Two biases an image model could carry are refused rather than dropped: an `embed.bias` `β`
/// makes the layer input `e = E x + β` affine in the pixels, and a `head.bias` adds a constant
/// to each logit. Neither changes an interaction matrix `Q(u)`, but the loaded
/// [`BilinearModel`] (`e = E x`, no output offset) has no place for them, so evaluating or
/// truncating it would silently differ from the checkpoint. The paper's code saves neither
/// (its `bias` option applies to the blocks only).
pub fn describe_model(file: &TensorFile, spec: &LayoutSpec) -> Result<ModelInfo> {
    match spec {
        LayoutSpec::Image { residual, layer } => image::describe(file, *residual, *layer),
        LayoutSpec::Single {
            w,
            v,
            p,
            embed,
            w_bias,
            v_bias,
            norm_gain,
        } => single::describe(
            file,
            &single::Names {
                w,
                v,
                p,
                embed: embed.as_deref(),
                w_bias: w_bias.as_deref(),
                v_bias: v_bias.as_deref(),
                norm_gain: norm_gain.as_deref(),
            },
        ),
        LayoutSpec::Lm { layer } => lm::describe(file, *layer),
        LayoutSpec::Gated { layer } => gated::describe(file, *layer),
        LayoutSpec::Tl { layer } => tl::describe(file, *layer),
        LayoutSpec::Conv { view } => conv::describe(file, *view),
        LayoutSpec::Auto { residual, layer } => describe_auto(file, *residual, *layer),
    }
}

fn describe_auto(
    file: &TensorFile,
    residual: Option<bool>,
    layer: Option<usize>,
) -> Result<ModelInfo> {
    let path = || file.path().to_path_buf();
    let no_layers = |what: &str| IoError::Unsupported {
        path: path(),
        what: format!(
            "a layer was chosen, which applies to layered models (lm, gated), but the file \
             holds {what}"
        ),
        hint: Hint::DropLayer,
    };
    if conv::detect(file) {
        if residual == Some(true) {
            return Err(IoError::Unsupported {
                path: path(),
                what: "residual = true applies to the image layout, but the file holds a \
                       bilinear convolution (block.weight, head.weight)"
                    .into(),
                hint: Hint::DropResidual,
            });
        }
        if layer.is_some() {
            return Err(no_layers("a bilinear convolution"));
        }
        return conv::describe(file, ConvView::Image);
    }
    if image::detect(file) {
        return image::describe(file, residual, layer);
    }
    if let Some(family) = detect_family(file)? {
        if residual == Some(true) {
            return Err(IoError::Unsupported {
                path: path(),
                what: format!(
                    "residual = true applies to the image layout, but the file holds a {} model",
                    family.name()
                ),
                hint: Hint::DropResidual,
            });
        }
        return match family {
            Layout::Gated => gated::describe(file, layer),
            Layout::Tl => tl::describe(file, layer),
            _ => lm::describe(file, layer),
        };
    }
    let Some(roles) = single::detect(file.tensors()) else {
        return Err(IoError::AmbiguousLayout {
            path: path(),
            tensors: file.tensors().to_vec(),
        });
    };
    if residual == Some(true) {
        return Err(IoError::Unsupported {
            path: path(),
            what: format!(
                "residual = true applies to the image layout, but the file holds a single \
                 bilinear layer ({}, {}, {})",
                roles.w, roles.v, roles.p
            ),
            hint: Hint::DropResidual,
        });
    }
    if layer.is_some() {
        return Err(no_layers("a single bilinear layer"));
    }
    single::describe(
        file,
        &single::Names {
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

/// Reads the matrices and vectors `info` names (converted to `T`, checked finite) and assembles
/// the model: biases attached to the layer, a norm shift folded into the biases and a norm gain
/// into `W` and `V`. `info` must come from [`describe_model`] on the same file.
pub fn read_model<T: Real>(file: &TensorFile, info: &ModelInfo) -> Result<BilinearModel<T>> {
    if let Some(c) = &info.conv {
        return conv::read(file, info, c);
    }
    let read = |s: &Source| -> Result<Array2<T>> {
        if s.is_identity() {
            let n = s.rows.as_ref().map_or(0, ExactSizeIterator::len);
            return Ok(Array2::eye(n));
        }
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
    // TransformerLens multiplies from the right: its W_gate, W_in, W_out are Wᵀ, Vᵀ, Pᵀ.
    let oriented = |m: Array2<T>| {
        if info.layout == Layout::Tl {
            m.reversed_axes().as_standard_layout().into_owned()
        } else {
            m
        }
    };
    let w = oriented(read(&info.w)?);
    let v = oriented(read(&info.v)?);
    let p = oriented(read(&info.p)?);
    let mut w_bias = info.w_bias.as_ref().map(read_vector).transpose()?;
    let mut v_bias = info.v_bias.as_ref().map(read_vector).transpose()?;
    let gain = info.norm_gain.as_ref().map(read_vector).transpose()?;
    if let Some(beta) = info.norm_bias.as_ref().map(read_vector).transpose()? {
        // (W (γ ⊙ n + β) + b) = W diag(γ) n + (W β + b): the shift moves into the biases, with
        // the unscaled W (the gain is folded afterwards).
        let shift = |m: &Array2<T>, b: Option<Array1<T>>| {
            let wb = m.dot(&beta);
            Some(match b {
                Some(b) => b + wb,
                None => wb,
            })
        };
        w_bias = shift(&w, w_bias);
        v_bias = shift(&v, v_bias);
    }
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

/// The header entry of a tensor that must exist and be a matrix.
fn matrix<'a>(file: &'a TensorFile, name: &str) -> Result<&'a TensorInfo> {
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

/// A shape error for tensor `t` of `file`.
fn mismatch(file: &TensorFile, t: &TensorInfo, expected: String, why: String) -> IoError {
    IoError::ShapeMismatch {
        path: file.path().to_path_buf(),
        tensor: t.name.clone(),
        expected,
        found: t.shape.clone(),
        why,
    }
}
