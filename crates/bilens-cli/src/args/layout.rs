//! `--layout` and its companions: the flags, and their resolution into a [`LayoutSpec`].

use bilens::{Error, LayoutConflict, LayoutKind, LayoutRequest, LayoutSpec, TensorNames};
use clap::Args;

use crate::error::BadInput;

/// Where the bilinear layer is in a model file.
#[derive(Debug, Clone, Args)]
pub struct LayoutArgs {
    /// Layout of the model file: `image` (the paper's image classifier: embed.weight,
    /// blocks.0.weight, head.weight), `single` (one layer named by --w/--v/--p), `lm` (a
    /// bilinear transformer: transformer.h.{i}.mlp.w/p), `gated` (a Llama-style
    /// model.layers.{i}.mlp.gate_proj/up_proj/down_proj, read bilinearly: an approximation),
    /// `tl` (a TransformerLens state dict: blocks.{i}.mlp.W_gate/W_in/W_out), `conv` (one
    /// bilinear convolution and a head: block.weight [2h, c_in, k, k], head.weight, and a
    /// config.json with the geometry; lifted over the image), `conv-filters` (the same model
    /// over one receptive field, one output per channel: its eigenfilters), or `auto`.
    #[arg(long, value_enum, default_value_t = LayoutKind::Auto)]
    pub layout: LayoutKind,
    /// For layered models (`lm`, `gated`, `tl`): the layer whose MLP to use; for image models with
    /// several blocks: the block (the last by default); or `all` (`decompose` writes one
    /// results directory per layer, OUT/layer-I).
    #[arg(long, value_name = "I|all")]
    pub layer: Option<LayerArg>,
    /// For `--layout single`: the tensor holding W [d_hidden, d_in].
    #[arg(long, value_name = "NAME")]
    pub w: Option<String>,
    /// For `--layout single`: the tensor holding V [d_hidden, d_in].
    #[arg(long, value_name = "NAME")]
    pub v: Option<String>,
    /// For `--layout single`: the tensor holding P [d_out, d_hidden].
    #[arg(long, value_name = "NAME")]
    pub p: Option<String>,
    /// For `--layout single`: an embedding E [d_in, d_input] the layer reads through.
    #[arg(long, value_name = "NAME")]
    pub embed: Option<String>,
    /// For `--layout single`: the bias of W x, `[d_hidden]` (folded in exactly).
    #[arg(long, value_name = "NAME")]
    pub w_bias: Option<String>,
    /// For `--layout single`: the bias of V x, `[d_hidden]` (folded in exactly).
    #[arg(long, value_name = "NAME")]
    pub v_bias: Option<String>,
    /// For `--layout single`: a norm gain γ `[d_in]` applied to the layer input, folded into
    /// W and V (the normalisation's division stays outside the decomposition).
    #[arg(long, value_name = "NAME")]
    pub norm_gain: Option<String>,
    /// For image models: whether the blocks are residual (overrides config.json).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub residual: Option<bool>,
}

/// `--layer` values: one layer, or every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerArg {
    /// One layer.
    One(usize),
    /// Every layer of the file.
    All,
}

impl std::str::FromStr for LayerArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(LayerArg::All),
            _ => s.parse().map(LayerArg::One).map_err(|_| {
                format!("'{s}' is neither a layer index nor `all` (e.g. --layer 3, --layer all)")
            }),
        }
    }
}

/// Checks the layout flags agree and turns them into a spec for one layer. `--layer all` is
/// refused: only `decompose` iterates over layers (see [`resolve_layers`]).
pub fn resolve(args: &LayoutArgs) -> anyhow::Result<LayoutSpec> {
    let (spec, all) = resolve_layers(args)?;
    if all {
        return Err(BadInput::new(
            "--layer all applies to `bilens decompose` (one results directory per layer)",
            "pick one layer here, e.g. --layer 0",
        )
        .into());
    }
    Ok(spec)
}

/// Checks the layout flags agree (the library's [`LayoutRequest`] decides) and turns them into
/// a spec; the flag says whether every layer was asked for (`--layer all`, the spec then
/// naming no layer).
pub fn resolve_layers(args: &LayoutArgs) -> anyhow::Result<(LayoutSpec, bool)> {
    let (layer, all) = match args.layer {
        None => (None, false),
        Some(LayerArg::One(i)) => (Some(i), false),
        Some(LayerArg::All) => (None, true),
    };
    if all && args.layout == LayoutKind::Single {
        // `--layer all` gets the refusal of any layer for a layout without layers.
        return Err(Error::Layout(LayoutConflict::LayerNotLayered(args.layout)).into());
    }
    let request = LayoutRequest {
        kind: args.layout,
        layer,
        residual: args.residual,
        names: TensorNames {
            w: args.w.clone(),
            v: args.v.clone(),
            p: args.p.clone(),
            embed: args.embed.clone(),
            w_bias: args.w_bias.clone(),
            v_bias: args.v_bias.clone(),
            norm_gain: args.norm_gain.clone(),
        },
    };
    Ok((request.resolve()?, all))
}
