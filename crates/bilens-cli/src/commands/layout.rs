//! `--layout` and its companions, resolved into a [`LayoutSpec`].

use bilens_io::LayoutSpec;

use crate::args::{LayoutArgs, LayoutKind};
use crate::error::BadInput;

/// Checks the layout flags agree and turns them into a spec. Naming tensors with
/// `--w/--v/--p` implies `--layout single`.
pub fn resolve(args: &LayoutArgs) -> Result<LayoutSpec, BadInput> {
    let named = args.w.is_some()
        || args.v.is_some()
        || args.p.is_some()
        || args.embed.is_some()
        || args.w_bias.is_some()
        || args.v_bias.is_some()
        || args.norm_gain.is_some();
    match args.layout {
        LayoutKind::Single | LayoutKind::Auto if named => {
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
        LayoutKind::Image if named => Err(BadInput::new(
            "--w/--v/--p/--embed/--w-bias/--v-bias/--norm-gain name the tensors of a single layer, \
             not of an image model",
            "use --layout single with them, or drop them for --layout image",
        )),
        LayoutKind::Image => Ok(LayoutSpec::Image {
            residual: args.residual,
        }),
        LayoutKind::Auto => Ok(LayoutSpec::Auto {
            residual: args.residual,
        }),
    }
}
