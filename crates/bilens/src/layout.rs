//! Choosing the layout from a front end's loose options: a layout name (or `auto`), a layer,
//! a residual setting and tensor names arrive separately (flags on the command line, keywords
//! in Python) and combine into one [`LayoutSpec`] here, so every front end accepts and refuses
//! the same combinations.

use std::fmt;

use bilens_io::{ConvView, LayoutSpec};

use crate::error::{Error, Result};

/// The layout a caller asked for: detection or one named layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LayoutKind {
    /// Detect the layout from the tensor names.
    #[default]
    Auto,
    /// The paper's image classifier.
    Image,
    /// One bilinear layer, tensors named.
    Single,
    /// A bilinear transformer's MLP.
    Lm,
    /// A gated (Llama-style) MLP read bilinearly.
    Gated,
    /// A TransformerLens MLP (`blocks.{i}.mlp.W_gate`, `W_in`, `W_out`, read transposed).
    Tl,
    /// A bilinear convolution and its linear head, lifted over the flattened image: class
    /// eigenvectors are images.
    Conv,
    /// A bilinear convolution over one receptive field, each channel an output: its
    /// components are the channel's eigenfilters.
    #[cfg_attr(feature = "clap", value(name = "conv-filters"))]
    ConvFilters,
}

impl LayoutKind {
    /// The name front ends use: `auto`, `image`, `single`, `lm`, `gated`, `tl`, `conv` or
    /// `conv-filters`.
    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::Auto => "auto",
            LayoutKind::Image => "image",
            LayoutKind::Single => "single",
            LayoutKind::Lm => "lm",
            LayoutKind::Gated => "gated",
            LayoutKind::Tl => "tl",
            LayoutKind::Conv => ConvView::Image.name(),
            LayoutKind::ConvFilters => ConvView::Filters.name(),
        }
    }

    /// Whether the layout has numbered layers (or blocks) to choose from (`auto` may find
    /// one).
    fn layered(self) -> bool {
        !matches!(
            self,
            LayoutKind::Single | LayoutKind::Conv | LayoutKind::ConvFilters
        )
    }
}

impl fmt::Display for LayoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for LayoutKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        const ALL: [LayoutKind; 8] = [
            LayoutKind::Auto,
            LayoutKind::Image,
            LayoutKind::Single,
            LayoutKind::Lm,
            LayoutKind::Gated,
            LayoutKind::Tl,
            LayoutKind::Conv,
            LayoutKind::ConvFilters,
        ];
        ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::argument(
                crate::Arg::Layout,
                s,
                "is not a layout",
                "give one of auto, image, single, lm, gated, tl, conv, conv-filters",
            )
        })
    }
}

/// The tensor names of one bilinear layer (the `single` layout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TensorNames {
    /// `W` `[d_hidden, d_in]`.
    pub w: Option<String>,
    /// `V` `[d_hidden, d_in]`.
    pub v: Option<String>,
    /// `P` `[d_out, d_hidden]`.
    pub p: Option<String>,
    /// The embedding `E` `[d_in, d_input]`.
    pub embed: Option<String>,
    /// The bias of `W x` `[d_hidden]`.
    pub w_bias: Option<String>,
    /// The bias of `V x` `[d_hidden]`.
    pub v_bias: Option<String>,
    /// A norm gain `[d_in]`, folded into `W` and `V`.
    pub norm_gain: Option<String>,
}

impl TensorNames {
    fn any(&self) -> bool {
        [
            &self.w,
            &self.v,
            &self.p,
            &self.embed,
            &self.w_bias,
            &self.v_bias,
            &self.norm_gain,
        ]
        .iter()
        .any(|n| n.is_some())
    }
}

/// A combination of layout options that does not describe one layer; each front end says it
/// in its own terms (flags, keywords).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutConflict {
    /// The single layout without all of W, V and P named.
    #[error("the single layout needs the names of the tensors holding W, V and P")]
    MissingNames,
    /// Tensor names with a layout that finds its tensors itself.
    #[error(
        "tensor names (W, V, P, embedding, biases, norm gain) name a single layer, not a \
         model of the {0} layout"
    )]
    NamesWithoutSingle(LayoutKind),
    /// A layer for a layout without layers.
    #[error(
        "a layer applies to layered models (the image, lm, gated, tl or auto layout), not to \
         the {0} layout"
    )]
    LayerNotLayered(LayoutKind),
    /// A residual setting for a transformer's MLP or a named single layer.
    #[error("the residual setting applies to image models, not to the {0} layout")]
    ResidualNotImage(LayoutKind),
}

/// A layout as a front end's options give it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayoutRequest {
    /// The layout asked for.
    pub kind: LayoutKind,
    /// The layer of a layered model.
    pub layer: Option<usize>,
    /// Whether an image model's block is residual (overrides its `config.json`).
    pub residual: Option<bool>,
    /// Tensor names of a single layer (with `auto`, names mean `single`).
    pub names: TensorNames,
}

impl LayoutRequest {
    /// The one [`LayoutSpec`] the options describe, or the conflict between them.
    pub fn resolve(&self) -> Result<LayoutSpec> {
        let conflict = |c| Err(Error::Layout(c));
        let named = self.names.any();
        if self.layer.is_some() && !self.kind.layered() {
            return conflict(LayoutConflict::LayerNotLayered(self.kind));
        }
        match self.kind {
            LayoutKind::Single | LayoutKind::Auto if named && self.layer.is_none() => {
                let TensorNames {
                    w: Some(w),
                    v: Some(v),
                    p: Some(p),
                    ..
                } = &self.names
                else {
                    return conflict(LayoutConflict::MissingNames);
                };
                if self.residual == Some(true) {
                    return conflict(LayoutConflict::ResidualNotImage(LayoutKind::Single));
                }
                Ok(LayoutSpec::Single {
                    w: w.clone(),
                    v: v.clone(),
                    p: p.clone(),
                    embed: self.names.embed.clone(),
                    w_bias: self.names.w_bias.clone(),
                    v_bias: self.names.v_bias.clone(),
                    norm_gain: self.names.norm_gain.clone(),
                })
            }
            LayoutKind::Single => conflict(LayoutConflict::MissingNames),
            kind if named => conflict(LayoutConflict::NamesWithoutSingle(kind)),
            kind @ (LayoutKind::Lm
            | LayoutKind::Gated
            | LayoutKind::Tl
            | LayoutKind::Conv
            | LayoutKind::ConvFilters)
                if self.residual.is_some() =>
            {
                conflict(LayoutConflict::ResidualNotImage(kind))
            }
            LayoutKind::Image => Ok(LayoutSpec::Image {
                residual: self.residual,
                layer: self.layer,
            }),
            LayoutKind::Lm => Ok(LayoutSpec::Lm { layer: self.layer }),
            LayoutKind::Gated => Ok(LayoutSpec::Gated { layer: self.layer }),
            LayoutKind::Tl => Ok(LayoutSpec::Tl { layer: self.layer }),
            LayoutKind::Conv => Ok(LayoutSpec::Conv {
                view: ConvView::Image,
            }),
            LayoutKind::ConvFilters => Ok(LayoutSpec::Conv {
                view: ConvView::Filters,
            }),
            LayoutKind::Auto => Ok(LayoutSpec::Auto {
                residual: self.residual,
                layer: self.layer,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(w: &str, v: &str, p: &str) -> TensorNames {
        TensorNames {
            w: Some(w.into()),
            v: Some(v.into()),
            p: Some(p.into()),
            ..Default::default()
        }
    }

    fn conflict(r: &LayoutRequest) -> LayoutConflict {
        match r.resolve() {
            Err(Error::Layout(c)) => c,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn names_mean_single_and_conflicts_are_refused() {
        let named = LayoutRequest {
            names: names("a", "b", "c"),
            ..Default::default()
        };
        assert!(matches!(named.resolve(), Ok(LayoutSpec::Single { ref w, .. }) if w == "a"));
        let partial = LayoutRequest {
            kind: LayoutKind::Single,
            names: TensorNames {
                w: Some("a".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(conflict(&partial), LayoutConflict::MissingNames);
        let image_named = LayoutRequest {
            kind: LayoutKind::Image,
            ..named.clone()
        };
        assert_eq!(
            conflict(&image_named),
            LayoutConflict::NamesWithoutSingle(LayoutKind::Image)
        );
        let layer_single = LayoutRequest {
            kind: LayoutKind::Single,
            layer: Some(1),
            ..named.clone()
        };
        assert_eq!(
            conflict(&layer_single),
            LayoutConflict::LayerNotLayered(LayoutKind::Single)
        );
        let residual_lm = LayoutRequest {
            kind: LayoutKind::Lm,
            residual: Some(false),
            ..Default::default()
        };
        assert_eq!(
            conflict(&residual_lm),
            LayoutConflict::ResidualNotImage(LayoutKind::Lm)
        );
        let residual_single = LayoutRequest {
            residual: Some(true),
            ..named
        };
        assert_eq!(
            conflict(&residual_single),
            LayoutConflict::ResidualNotImage(LayoutKind::Single)
        );
        assert_eq!(
            LayoutRequest {
                kind: LayoutKind::Lm,
                layer: Some(2),
                ..Default::default()
            }
            .resolve()
            .ok(),
            Some(LayoutSpec::Lm { layer: Some(2) })
        );
        assert!("nope".parse::<LayoutKind>().is_err());
        assert_eq!("gated".parse::<LayoutKind>().ok(), Some(LayoutKind::Gated));
    }
}
