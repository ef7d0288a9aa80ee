//! `--layout` and its companions, resolved into a [`LayoutSpec`].

use bilens_io::LayoutSpec;

use crate::args::{LayerArg, LayoutArgs, LayoutKind};
use crate::error::BadInput;

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
        LayoutKind::Auto | LayoutKind::Lm | LayoutKind::Gated
    );
    if args.layer.is_some() && !layered {
        return Err(BadInput::new(
            "--layer applies to layered models (--layout lm, gated or auto)",
            "drop --layer for image and single layouts",
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
        }),
        LayoutKind::Lm => Ok(LayoutSpec::Lm { layer }),
        LayoutKind::Gated => Ok(LayoutSpec::Gated { layer }),
        LayoutKind::Auto => Ok(LayoutSpec::Auto {
            residual: args.residual,
            layer,
        }),
    }
}
