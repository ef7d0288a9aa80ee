//! The conv layout: one bilinear convolution and a linear head, as the public bilinear-conv
//! code's `CNNModel` saves it (a fused `Conv2d` with `2h` output channels, the first `h` the
//! left factor `conv_a`, the rest `conv_b`; a `Linear` head over the flattened
//! `(channel, row, column)` features), lifted to a bilinear layer over the flattened image
//! (docs/MATH.md section 11).

use std::fmt;

use bilens_decomp::{
    BilinearLayer, BilinearModel, ConvGeometry, Real, channel_bias, kernel_rows, lift_conv,
};
use ndarray::{Array2, Ix1, Ix4};

use crate::config::{ConvConfig, read_sibling_config};
use crate::error::{Hint, IoError, Result};
use crate::tensor_file::TensorFile;

use super::{IDENTITY, Layout, ModelInfo, Source, matrix, mismatch};

/// The fused convolution `[2h, c_in, k, k]`.
const CONV_WEIGHT: &str = "block.weight";
/// Its fused bias `[2h]` (conv_a's, then conv_b's).
const CONV_BIAS: &str = "block.bias";
/// The head `[classes, h H' W']`.
const CONV_HEAD: &str = "head.weight";
/// A head bias, refused as the image layout refuses one (no place for it in the model).
const CONV_HEAD_BIAS: &str = "head.bias";

/// What a conv model is decomposed as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConvView {
    /// The whole model over the flattened image: `W`, `V` the lifted convolutions, `P` the
    /// head. A class's eigenvectors are images ("eigen-images").
    #[default]
    Image,
    /// One receptive field of an interior position: `W`, `V` the kernels as rows
    /// `[h, c_in k²]`, `P` the identity, so output `c` is channel `c` and its two components
    /// are the channel's eigenfilters (`c_in × k × k` pictures).
    Filters,
}

impl ConvView {
    /// The layout name a front end uses for this view: `conv` or `conv-filters`.
    pub fn name(self) -> &'static str {
        match self {
            ConvView::Image => "conv",
            ConvView::Filters => "conv-filters",
        }
    }
}

/// The convolution of a conv model, as resolved from its header and `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvInfo {
    /// Input channels, image side, kernel, stride and padding.
    pub geometry: ConvGeometry,
    /// Channels `h` of each factor (`block.weight` holds `2h`).
    pub channels: usize,
    /// Output side `H' = W'`.
    pub output_size: usize,
    /// Which bilinear layer the model is read as.
    pub view: ConvView,
}

impl fmt::Display for ConvInfo {
    /// `16 channels of 1×5×5 kernels (conv_a, conv_b), stride 1, padding 2: 1×28×28 -> 16×28×28`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.geometry;
        write!(
            f,
            "{h} channels of {c}×{k}×{k} kernels (conv_a = {CONV_WEIGHT} 0..{h}, conv_b = \
             {h}..{h2}), stride {s}, padding {p}: image {c}×{n}×{n} -> features {h}×{o}×{o}",
            h = self.channels,
            h2 = 2 * self.channels,
            c = g.in_channels,
            k = g.kernel_size,
            s = g.stride,
            p = g.padding,
            n = g.image_size,
            o = self.output_size,
        )
    }
}

/// Whether `auto` should read the file as a conv model: a 4-dimensional `block.weight` beside
/// `head.weight`.
pub(super) fn detect(file: &TensorFile) -> bool {
    file.info(CONV_WEIGHT).is_some_and(|t| t.shape.len() == 4) && file.info(CONV_HEAD).is_some()
}

/// Resolves the conv model of `file` read as `view`: shapes checked against each other and
/// against the geometry of the sibling `config.json`, which is required (image size, padding
/// and stride are not in the tensors, and two geometries can give the head the same width).
pub(super) fn describe(file: &TensorFile, view: ConvView) -> Result<ModelInfo> {
    let path = file.path().to_path_buf();
    let unsupported = |what: String, hint: Hint| IoError::Unsupported {
        path: path.clone(),
        what,
        hint,
    };
    let conv = file.require(CONV_WEIGHT)?;
    let [two_h, c_in, kh, kw] = conv.shape[..] else {
        return Err(mismatch(
            file,
            conv,
            "[2 * d_hidden, in_channels, kernel_size, kernel_size]".into(),
            "a bilinear convolution's fused Conv2d weight has 4 dimensions".into(),
        ));
    };
    if two_h % 2 != 0 || two_h == 0 {
        return Err(mismatch(
            file,
            conv,
            format!("[2 * d_hidden, {c_in}, {kh}, {kw}]"),
            "the fused convolution stacks conv_a's channels over conv_b's, so its first \
             dimension must be even (and not 0)"
                .into(),
        ));
    }
    if kh != kw {
        return Err(mismatch(
            file,
            conv,
            format!("[{two_h}, {c_in}, {kh}, {kh}]"),
            "the conv layout reads square kernels".into(),
        ));
    }
    let (h, k) = (two_h / 2, kh);
    if let Some(b) = file.info(CONV_BIAS) {
        if b.shape != [two_h] {
            return Err(mismatch(
                file,
                b,
                format!("[{two_h}]"),
                format!(
                    "the fused bias stacks conv_a's over conv_b's: one entry per channel of \
                     {CONV_WEIGHT} ({two_h})"
                ),
            ));
        }
    }
    if let Some(t) = file.info(CONV_HEAD_BIAS) {
        return Err(unsupported(
            format!(
                "{} {:?} is not supported: a head bias adds a constant to each logit; it \
                 changes no interaction matrix, but the loaded model has no place for it, so \
                 evaluating and truncating the model would silently differ from the checkpoint",
                t.name, t.shape
            ),
            Hint::Text(
                "decompose a model whose head has no bias (train it with bias=False on the \
                 head), or remove head.bias from the file if only the interaction matrices \
                 matter"
                    .into(),
            ),
        ));
    }
    let known = [CONV_WEIGHT, CONV_BIAS, CONV_HEAD];
    let unknown: Vec<&str> = file
        .tensors()
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !known.contains(n))
        .collect();
    if !unknown.is_empty() {
        return Err(unsupported(
            format!(
                "tensors outside the conv layout ({}): {}; decomposing without them would \
                 describe a different model",
                known.join(", "),
                unknown.join(", ")
            ),
            Hint::NameTensors { path: path.clone() },
        ));
    }

    let Some((config_path, config)) = read_sibling_config::<ConvConfig>(&path)? else {
        return Err(unsupported(
            format!(
                "a bilinear convolution ({CONV_WEIGHT} {:?}) needs the config.json saved beside \
                 it: the image size, padding and stride are not in the tensors",
                conv.shape
            ),
            Hint::Text(format!(
                "write config.json beside the model with the training values, e.g. \
                 {{\"d_hidden\": {h}, \"kernel_size\": {k}, \"padding\": {}, \"in_channels\": \
                 {c_in}, \"image_size\": 28, \"stride\": 1}}",
                k / 2
            )),
        ));
    };
    let config_err = |reason: String| IoError::Config {
        path: config_path.clone(),
        reason,
    };
    let required = |key: &str, value: Option<usize>, found: usize| match value {
        None => Err(config_err(format!(
            "'{key}' is missing and has no default; the weights say {found} ({CONV_WEIGHT} \
             {:?}): add \"{key}\": {found}",
            conv.shape
        ))),
        Some(v) if v != found => Err(config_err(format!(
            "{key} is {v} but {CONV_WEIGHT} {:?} says {found}; the config belongs to a \
             different model",
            conv.shape
        ))),
        Some(v) => Ok(v),
    };
    required("d_hidden", config.d_hidden, h)?;
    required("kernel_size", config.kernel_size, k)?;
    let in_channels = config.in_channels.unwrap_or(1);
    if in_channels != c_in {
        return Err(config_err(format!(
            "in_channels is {in_channels}{} but {CONV_WEIGHT} {:?} reads {c_in}; set \
             \"in_channels\": {c_in}",
            if config.in_channels.is_none() {
                " (the default)"
            } else {
                ""
            },
            conv.shape
        )));
    }
    let geometry = ConvGeometry {
        in_channels,
        image_size: config.image_size.unwrap_or(28),
        kernel_size: k,
        stride: config.stride.unwrap_or(1),
        padding: config.padding.unwrap_or(k / 2),
    };
    if geometry.stride == 0 || geometry.image_size == 0 {
        return Err(config_err(format!(
            "stride {} and image_size {} must both be at least 1",
            geometry.stride, geometry.image_size
        )));
    }
    let describe_geometry = || {
        format!(
            "kernel_size {k}, padding {}, stride {} over a {n}×{n} image",
            geometry.padding,
            geometry.stride,
            n = geometry.image_size
        )
    };
    let Some(out) = geometry.output_size() else {
        return Err(config_err(format!(
            "{} give no output position: the padded image ({}) is smaller than the kernel",
            describe_geometry(),
            geometry.image_size + 2 * geometry.padding
        )));
    };
    let head = matrix(file, CONV_HEAD)?;
    let width = h * out * out;
    if head.shape[1] != width {
        // The output side the head's width implies, if it is one.
        let side = (head.shape[1] % h == 0)
            .then(|| (head.shape[1] / h).isqrt())
            .filter(|s| s * s * h == head.shape[1]);
        let fits = match side {
            Some(s) => format!(
                "; the head's width is {h} channels × {s}×{s}: set image_size, padding and \
                 stride in {} to values giving an output side of {s}",
                config_path.display()
            ),
            None => format!(
                "; {} is not {h} channels times a square, so no geometry fits this head",
                head.shape[1]
            ),
        };
        return Err(mismatch(
            file,
            head,
            format!("[_, {width}]"),
            format!(
                "{} give {out}×{out} positions per channel, so the head reads {h} × {out} × \
                 {out} = {width} features{fits}",
                describe_geometry()
            ),
        ));
    }
    let classes = head.shape[0];
    let conv_info = ConvInfo {
        geometry,
        channels: h,
        output_size: out,
        view,
    };
    let bias = file.info(CONV_BIAS).is_some();
    let (d_in, d_hidden, d_out, p, notes) = match view {
        ConvView::Image => (
            geometry.input_len(),
            width,
            classes,
            Source::whole(CONV_HEAD),
            vec![format!(
                "W and V are the convolutions lifted to matrices over the flattened image \
                 (row (c·{out} + i)·{out} + j is kernel c placed at output position (i, j)): a \
                 class's eigenvectors are {}×{n}×{n} images",
                geometry.in_channels,
                n = geometry.image_size
            )],
        ),
        ConvView::Filters => (
            geometry.patch_len(),
            h,
            h,
            Source::rows(IDENTITY, 0..h),
            vec![format!(
                "the filters view: one receptive field at a position whose window lies inside \
                 the image; output c is channel c (P the identity), and its components are the \
                 channel's two eigenfilters, {}×{k}×{k} pictures",
                geometry.in_channels
            )],
        ),
    };
    Ok(ModelInfo {
        path: path.clone(),
        layout: Layout::Conv,
        layer: None,
        embed: None,
        w: Source::rows(CONV_WEIGHT, 0..h),
        v: Source::rows(CONV_WEIGHT, h..two_h),
        p,
        w_bias: bias.then(|| Source::rows(CONV_BIAS, 0..h)),
        v_bias: bias.then(|| Source::rows(CONV_BIAS, h..two_h)),
        norm_gain: None,
        norm_bias: None,
        linear: None,
        residual: false,
        d_input: d_in,
        d_in,
        d_hidden,
        d_out,
        tokens: None,
        approximation: None,
        config: Some(config_path),
        conv: Some(conv_info),
        notes,
    })
}

/// Reads the conv model `info` describes: each factor's kernels lifted over the image (or
/// kept as rows over one receptive field), each channel's bias repeated at its positions.
pub(super) fn read<T: Real>(
    file: &TensorFile,
    info: &ModelInfo,
    conv: &ConvInfo,
) -> Result<BilinearModel<T>> {
    let factor = |s: &Source| -> Result<Array2<T>> {
        let rows = s
            .rows
            .clone()
            .expect("describe names a range of block.weight");
        let kernels = file
            .read_rows::<T>(&s.tensor, rows)?
            .into_dimensionality::<Ix4>()
            .expect("describe checked block.weight has 4 dimensions");
        Ok(match conv.view {
            ConvView::Image => lift_conv(kernels.view(), &conv.geometry),
            ConvView::Filters => kernel_rows(kernels.view()),
        })
    };
    let bias = |s: &Option<Source>| -> Result<Option<ndarray::Array1<T>>> {
        let Some(s) = s else { return Ok(None) };
        let rows = s
            .rows
            .clone()
            .expect("describe names a range of block.bias");
        let b = file
            .read_rows::<T>(&s.tensor, rows)?
            .into_dimensionality::<Ix1>()
            .expect("describe checked block.bias is a vector");
        Ok(Some(match conv.view {
            ConvView::Image => channel_bias(b.view(), conv.output_size * conv.output_size),
            ConvView::Filters => b,
        }))
    };
    let p = match conv.view {
        ConvView::Image => file.read_matrix(CONV_HEAD)?,
        ConvView::Filters => Array2::eye(conv.channels),
    };
    let layer = BilinearLayer::new(factor(&info.w)?, factor(&info.v)?, p)
        .with_biases(bias(&info.w_bias)?, bias(&info.v_bias)?);
    Ok(BilinearModel::new(None, layer, None))
}
