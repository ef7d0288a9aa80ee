//! The conv layout: a bilinear convolution checkpoint (`block.weight`, `block.bias`,
//! `head.weight`, `config.json`) written with the reference serialiser and read back, lifted;
//! auto-detection, the filters view, `inspect`, and every refusal with its message.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::{Path, PathBuf};

use bilens_decomp::{ConvGeometry, channel_bias, kernel_rows, lift_conv};
use bilens_io::{ConvView, IoError, Layout, LayoutSpec, inspect_model, load_model};
use common::{Raw, bytes_of, mat, message_and_hint, raw, save, vector_raw};
use ndarray::{Array1, Array2, Array4, s};
use safetensors::Dtype;

const AUTO: LayoutSpec = LayoutSpec::Auto {
    residual: None,
    layer: None,
};

/// A conv model's weights: `h` channels per factor of `c_in × k × k` kernels, a head over
/// `h × out × out` features.
struct ConvWeights {
    fused: Array4<f64>,
    bias: Array1<f64>,
    head: Array2<f64>,
}

fn weights(h: usize, c_in: usize, k: usize, out: usize, classes: usize) -> ConvWeights {
    let flat = mat(2 * h, c_in * k * k, 7);
    ConvWeights {
        fused: flat.into_shape_with_order((2 * h, c_in, k, k)).unwrap(),
        bias: mat(1, 2 * h, 8).row(0).to_owned(),
        head: mat(classes, h * out * out, 9),
    }
}

fn conv_raw(name: &str, a: &Array4<f64>, dtype: Dtype) -> Raw {
    let (n, c, k, _) = a.dim();
    let flat = a.clone().into_shape_with_order((n, c * k * k)).unwrap();
    (
        name.to_string(),
        dtype,
        a.shape().to_vec(),
        bytes_of(&flat, dtype),
    )
}

fn write(dir: &Path, tensors: &[Raw], config: Option<&str>) -> PathBuf {
    let path = dir.join("model.safetensors");
    save(&path, tensors);
    if let Some(c) = config {
        std::fs::write(dir.join("config.json"), c).unwrap();
    }
    path
}

fn tensors(m: &ConvWeights, bias: bool, dtype: Dtype) -> Vec<Raw> {
    let mut t = vec![
        conv_raw("block.weight", &m.fused, dtype),
        raw("head.weight", &m.head, dtype),
    ];
    if bias {
        t.push(vector_raw("block.bias", &m.bias, dtype));
    }
    t
}

#[test]
fn a_conv_checkpoint_reads_back_as_its_lifted_layer() {
    // (c_in, k, stride, padding, image size, output side, bias, dtype)
    let cases = [
        (1, 3, 1, 1, 6, 6, true, Dtype::F64),
        (3, 3, 2, 0, 7, 3, false, Dtype::F64),
        (1, 5, 1, 2, 8, 8, true, Dtype::F32),
    ];
    for (c_in, k, stride, padding, image, out, bias, dtype) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (h, classes) = (2, 3);
        let m = weights(h, c_in, k, out, classes);
        let config = format!(
            r#"{{"d_hidden": {h}, "kernel_size": {k}, "padding": {padding}, "in_channels": {c_in},
                "image_size": {image}, "stride": {stride}, "lr": 0.001}}"#
        );
        let path = write(dir.path(), &tensors(&m, bias, dtype), Some(&config));
        let loaded = load_model::<f64>(&path, &AUTO).unwrap();
        let info = &loaded.info;
        assert_eq!(info.layout, Layout::Conv);
        let conv = info.conv.unwrap();
        let geometry = ConvGeometry {
            in_channels: c_in,
            image_size: image,
            kernel_size: k,
            stride,
            padding,
        };
        assert_eq!(conv.geometry, geometry);
        assert_eq!((conv.channels, conv.output_size), (h, out));
        assert_eq!(
            (info.d_input, info.d_in, info.d_hidden, info.d_out),
            (
                c_in * image * image,
                c_in * image * image,
                h * out * out,
                classes
            )
        );
        let layer = loaded.model.layer();
        let (a, b) = (
            m.fused.slice(s![..h, .., .., ..]),
            m.fused.slice(s![h.., .., .., ..]),
        );
        assert_eq!(layer.w(), lift_conv(a, &geometry));
        assert_eq!(layer.v(), lift_conv(b, &geometry));
        assert_eq!(layer.p(), m.head);
        if bias {
            let positions = out * out;
            assert_eq!(
                layer.w_bias().unwrap(),
                channel_bias(m.bias.slice(s![..h]), positions)
            );
            assert_eq!(
                layer.v_bias().unwrap(),
                channel_bias(m.bias.slice(s![h..]), positions)
            );
        } else {
            assert!(!layer.has_biases());
        }
        assert!(loaded.model.embed().is_none() && loaded.model.linear().is_none());

        // The filters view: the kernels as rows over one receptive field, P the identity.
        let filters = load_model::<f64>(
            &path,
            &LayoutSpec::Conv {
                view: ConvView::Filters,
            },
        )
        .unwrap();
        let f = filters.model.layer();
        assert_eq!(f.w(), kernel_rows(a));
        assert_eq!(f.v(), kernel_rows(b));
        assert_eq!(f.p(), Array2::<f64>::eye(h));
        assert_eq!(
            (filters.info.d_in, filters.info.d_hidden, filters.info.d_out),
            (c_in * k * k, h, h)
        );
        if bias {
            assert_eq!(f.w_bias().unwrap(), m.bias.slice(s![..h]));
        }
    }
}

#[test]
fn inspect_shows_the_convolution() {
    let dir = tempfile::tempdir().unwrap();
    let m = weights(4, 1, 5, 8, 10);
    let path = write(
        dir.path(),
        &tensors(&m, true, Dtype::F32),
        Some(r#"{"d_hidden": 4, "kernel_size": 5, "image_size": 8}"#),
    );
    let inspection = inspect_model(&path, &AUTO).unwrap();
    let text = inspection.model.unwrap().to_string();
    for want in [
        "layout: conv",
        "conv: 4 channels of 1×5×5 kernels (conv_a = block.weight 0..4, conv_b = 4..8), stride \
         1, padding 2: image 1×8×8 -> features 4×8×8",
        "W = block.weight rows 0..4  [256, 64]",
        "P = head.weight  [10, 256]",
        "b = block.bias rows 0..4  [256]",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let filters = inspect_model(
        &path,
        &LayoutSpec::Conv {
            view: ConvView::Filters,
        },
    )
    .unwrap();
    let text = filters.model.unwrap().to_string();
    assert!(
        text.contains("layout: conv (filters view: one receptive field)"),
        "{text}"
    );
    assert!(
        text.contains("P = identity (the block writes the stream)  [4, 4]"),
        "{text}"
    );
}

/// The error of loading `tensors` with `config` beside them, as message and hint.
fn refusal(tensors: &[Raw], config: Option<&str>, spec: &LayoutSpec) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), tensors, config);
    let e: IoError = load_model::<f32>(&path, spec).unwrap_err();
    message_and_hint(&e)
}

const CONFIG: &str = r#"{"d_hidden": 2, "kernel_size": 3, "image_size": 6}"#;

#[test]
fn bad_conv_models_are_refused_with_what_was_expected_and_found() {
    let m = weights(2, 1, 3, 6, 3);
    let good = tensors(&m, true, Dtype::F32);
    let conv = LayoutSpec::Conv {
        view: ConvView::Image,
    };

    // Geometry that does not give the head's width: say both, and what would fit.
    let (msg, _) = refusal(
        &good,
        Some(r#"{"d_hidden": 2, "kernel_size": 3, "padding": 0, "image_size": 6}"#),
        &AUTO,
    );
    assert!(
        msg.contains("'head.weight' has shape [3, 72], expected [_, 32]")
            && msg.contains("kernel_size 3, padding 0, stride 1 over a 6×6 image give 4×4 positions per channel, so the head reads 2 × 4 × 4 = 32 features")
            && msg.contains("the head's width is 2 channels × 6×6"),
        "{msg}"
    );
    let (msg, _) = refusal(
        &good,
        Some(r#"{"d_hidden": 2, "kernel_size": 3, "stride": 2, "image_size": 6}"#),
        &conv,
    );
    assert!(
        msg.contains("give 3×3 positions per channel") && msg.contains("= 18 features"),
        "{msg}"
    );
    // A head whose width is no square map of the channels.
    let mut odd_head = good.clone();
    odd_head[1] = raw("head.weight", &mat(3, 70, 1), Dtype::F32);
    let (msg, _) = refusal(&odd_head, Some(CONFIG), &AUTO);
    assert!(msg.contains("70 is not 2 channels times a square"), "{msg}");

    // A fused weight with an odd first dimension.
    let mut odd = good.clone();
    odd[0] = conv_raw(
        "block.weight",
        &mat(3, 9, 1).into_shape_with_order((3, 1, 3, 3)).unwrap(),
        Dtype::F32,
    );
    let (msg, _) = refusal(&odd, Some(CONFIG), &conv);
    assert!(
        msg.contains("'block.weight' has shape [3, 1, 3, 3]")
            && msg.contains("its first dimension must be even"),
        "{msg}"
    );
    // Non-square kernels.
    let mut rect = good.clone();
    rect[0] = (
        "block.weight".into(),
        Dtype::F32,
        vec![4, 1, 2, 3],
        bytes_of(&mat(4, 6, 1), Dtype::F32),
    );
    let (msg, _) = refusal(&rect, Some(CONFIG), &conv);
    assert!(msg.contains("square kernels"), "{msg}");
    // A 2-dimensional block.weight with the conv layout asked for.
    let mut flat = good.clone();
    flat[0] = raw("block.weight", &mat(4, 9, 1), Dtype::F32);
    let (msg, _) = refusal(&flat, Some(CONFIG), &conv);
    assert!(msg.contains("has 4 dimensions"), "{msg}");

    // No config.json: the geometry is not in the tensors.
    let (msg, hint) = refusal(&good, None, &AUTO);
    assert!(
        msg.contains("needs the config.json saved beside it"),
        "{msg}"
    );
    assert!(
        hint.contains(r#""d_hidden": 2, "kernel_size": 3, "padding": 1"#),
        "{hint}"
    );
    // Keys without a default.
    let (msg, _) = refusal(&good, Some(r#"{"kernel_size": 3, "image_size": 6}"#), &AUTO);
    assert!(
        msg.contains("'d_hidden' is missing and has no default; the weights say 2")
            && msg.contains(r#"add "d_hidden": 2"#),
        "{msg}"
    );
    let (msg, _) = refusal(&good, Some(r#"{"d_hidden": 2, "image_size": 6}"#), &AUTO);
    assert!(
        msg.contains("'kernel_size' is missing and has no default"),
        "{msg}"
    );
    // Keys that disagree with the weights.
    let (msg, _) = refusal(
        &good,
        Some(r#"{"d_hidden": 2, "kernel_size": 5, "image_size": 6}"#),
        &AUTO,
    );
    assert!(
        msg.contains("kernel_size is 5 but block.weight [4, 1, 3, 3] says 3"),
        "{msg}"
    );
    let (msg, _) = refusal(
        &good,
        Some(r#"{"d_hidden": 2, "kernel_size": 3, "in_channels": 3, "image_size": 6}"#),
        &AUTO,
    );
    assert!(
        msg.contains("in_channels is 3 but block.weight [4, 1, 3, 3] reads 1"),
        "{msg}"
    );
    let (msg, _) = refusal(
        &good,
        Some(r#"{"d_hidden": 2, "kernel_size": 3, "image_size": 6, "stride": 0}"#),
        &AUTO,
    );
    assert!(
        msg.contains("stride 0 and image_size 6 must both be at least 1"),
        "{msg}"
    );
    let (msg, _) = refusal(
        &good,
        Some(r#"{"d_hidden": 2, "kernel_size": 3, "image_size": 1, "padding": 0}"#),
        &AUTO,
    );
    assert!(
        msg.contains("give no output position: the padded image (1) is smaller than the kernel"),
        "{msg}"
    );

    // A bias of the wrong length, a head bias, and a tensor the layout does not know.
    let mut short_bias = good.clone();
    short_bias[2] = vector_raw("block.bias", &Array1::zeros(3), Dtype::F32);
    let (msg, _) = refusal(&short_bias, Some(CONFIG), &AUTO);
    assert!(
        msg.contains("'block.bias' has shape [3], expected [4]"),
        "{msg}"
    );
    let mut head_bias = good.clone();
    head_bias.push(vector_raw("head.bias", &Array1::zeros(3), Dtype::F32));
    let (msg, hint) = refusal(&head_bias, Some(CONFIG), &AUTO);
    assert!(msg.contains("head.bias [3] is not supported"), "{msg}");
    assert!(hint.contains("bias=False on the head"), "{hint}");
    let mut extra = good.clone();
    extra.push(vector_raw("norm.weight", &Array1::zeros(3), Dtype::F32));
    let (msg, _) = refusal(&extra, Some(CONFIG), &AUTO);
    assert!(
        msg.contains(
            "tensors outside the conv layout (block.weight, block.bias, head.weight): norm.weight"
        ),
        "{msg}"
    );

    // Options that do not apply to a conv model.
    let (msg, _) = refusal(
        &good,
        Some(CONFIG),
        &LayoutSpec::Auto {
            residual: None,
            layer: Some(0),
        },
    );
    assert!(
        msg.contains("the file holds a bilinear convolution"),
        "{msg}"
    );
    let (msg, _) = refusal(
        &good,
        Some(CONFIG),
        &LayoutSpec::Auto {
            residual: Some(true),
            layer: None,
        },
    );
    assert!(
        msg.contains("residual = true applies to the image layout"),
        "{msg}"
    );
}
