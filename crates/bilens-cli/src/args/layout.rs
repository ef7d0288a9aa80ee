//! `--layout` and its companions: the flags, and their resolution into a [`LayoutSpec`].

use bilens_io::LayoutSpec;
use clap::{Args, ValueEnum};

use crate::error::BadInput;

/// Where the bilinear layer is in a model file.
#[derive(Debug, Clone, Args)]
pub struct LayoutArgs {
    /// Layout of the model file: `image` (the paper's image classifier: embed.weight,
    /// blocks.0.weight, head.weight), `single` (one layer named by --w/--v/--p), `lm` (a
    /// bilinear transformer: transformer.h.{i}.mlp.w/p), `gated` (a Llama-style
    /// model.layers.{i}.mlp.gate_proj/up_proj/down_proj, read bilinearly: an approximation), or
    /// `auto`.
    #[arg(long, value_enum, default_value_t = LayoutKind::Auto)]
    pub layout: LayoutKind,
    /// For layered models (`lm`, `gated`): the layer whose MLP to use; for image models with
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

/// The `--layout` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutKind {
    /// Detect `image` or an unambiguous `single` layer from the tensor names.
    Auto,
    /// The paper's image classifier.
    Image,
    /// One bilinear layer with named tensors.
    Single,
    /// The MLP of a bilinear transformer (the paper's public naming).
    Lm,
    /// The MLP of a Llama-style gated transformer, read bilinearly (an approximation).
    Gated,
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
pub fn resolve(args: &LayoutArgs) -> Result<LayoutSpec, BadInput> {
    let (spec, all) = resolve_layers(args)?;
    if all {
        return Err(BadInput::new(
            "--layer all applies to `bilens decompose` (one results directory per layer)",
            "pick one layer here, e.g. --layer 0",
        ));
    }
    Ok(spec)
}

/// Checks the layout flags agree and turns them into a spec; the flag says whether every layer
/// was asked for (`--layer all`, the spec then naming no layer). Naming tensors with
/// `--w/--v/--p` implies `--layout single`.
pub fn resolve_layers(args: &LayoutArgs) -> Result<(LayoutSpec, bool), BadInput> {
    let (layer, all) = match args.layer {
        None => (None, false),
        Some(LayerArg::One(i)) => (Some(i), false),
        Some(LayerArg::All) => (None, true),
    };
    let layered = matches!(
        args.layout,
        LayoutKind::Auto | LayoutKind::Lm | LayoutKind::Gated | LayoutKind::Image
    );
    if args.layer.is_some() && !layered {
        return Err(BadInput::new(
            "--layer applies to layered models (--layout lm, gated, image or auto)",
            "drop --layer for the single layout",
        ));
    }
    if args.residual.is_some() && matches!(args.layout, LayoutKind::Lm | LayoutKind::Gated) {
        return Err(BadInput::new(
            "--residual applies to image models, not to a transformer's MLP",
            "drop --residual: the residual stream around the MLP is not part of its output",
        ));
    }
    let spec = resolve_one(args, layer)?;
    Ok((spec, all))
}

fn resolve_one(args: &LayoutArgs, layer: Option<usize>) -> Result<LayoutSpec, BadInput> {
    let named = args.w.is_some()
        || args.v.is_some()
        || args.p.is_some()
        || args.embed.is_some()
        || args.w_bias.is_some()
        || args.v_bias.is_some()
        || args.norm_gain.is_some();
    match args.layout {
        LayoutKind::Single | LayoutKind::Auto if named && args.layer.is_none() => {
            let (Some(w), Some(v), Some(p)) = (&args.w, &args.v, &args.p) else {
                return Err(BadInput::new(
                    "--layout single needs all of --w, --v and --p",
                    "name the tensors holding W, V and P, e.g. --w mlp.w --v mlp.v --p mlp.p \
                     (`bilens inspect MODEL` lists them)",
                ));
            };
            if args.residual == Some(true) {
                return Err(BadInput::new(
                    "--residual applies to image models, not to a single named layer",
                    "drop --residual, or use --layout image",
                ));
            }
            Ok(LayoutSpec::Single {
                w: w.clone(),
                v: v.clone(),
                p: p.clone(),
                embed: args.embed.clone(),
                w_bias: args.w_bias.clone(),
                v_bias: args.v_bias.clone(),
                norm_gain: args.norm_gain.clone(),
            })
        }
        LayoutKind::Single => Err(BadInput::new(
            "--layout single needs --w, --v and --p",
            "name the tensors holding W, V and P (`bilens inspect MODEL` lists them)",
        )),
        LayoutKind::Image | LayoutKind::Lm | LayoutKind::Gated | LayoutKind::Auto if named => {
            Err(BadInput::new(
                "--w/--v/--p/--embed/--w-bias/--v-bias/--norm-gain name the tensors of a single \
                 layer, not of an image model or a transformer's layer",
                "use --layout single with them, or drop them",
            ))
        }
        LayoutKind::Image => Ok(LayoutSpec::Image {
            residual: args.residual,
            layer,
        }),
        LayoutKind::Lm => Ok(LayoutSpec::Lm { layer }),
        LayoutKind::Gated => Ok(LayoutSpec::Gated { layer }),
        LayoutKind::Auto => Ok(LayoutSpec::Auto {
            residual: args.residual,
            layer,
        }),
    }
}
