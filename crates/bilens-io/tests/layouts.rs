//! Model layouts: the paper's image models (with and without config.json, residual or not, in
//! several dtypes), named single layers, auto-detection, and every refusal with its message.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::{Path, PathBuf};

use bilens_decomp::Par;
use bilens_io::{Hint, IoError, Layout, LayoutSpec, Source, inspect_model, load_model};
use common::{Raw, mat, message_and_hint, raw, save, vector_raw};
use ndarray::{Array1, Array2, Axis, concatenate};
use safetensors::Dtype;

const IMAGE: LayoutSpec = LayoutSpec::Image {
    residual: None,
    layer: None,
};
const AUTO: LayoutSpec = LayoutSpec::Auto {
    residual: None,
    layer: None,
};

/// A tiny image model: d_input 12, d_in = d_hidden = 4, 3 classes.
struct ImageWeights {
    embed: Array2<f64>,
    w: Array2<f64>,
    v: Array2<f64>,
    head: Array2<f64>,
}

fn image_weights() -> ImageWeights {
    ImageWeights {
        embed: mat(4, 12, 1),
        w: mat(4, 4, 2),
        v: mat(4, 4, 3),
        head: mat(3, 4, 4),
    }
}

fn image_tensors(m: &ImageWeights, dtype: Dtype) -> Vec<Raw> {
    let fused = concatenate(Axis(0), &[m.w.view(), m.v.view()]).unwrap();
    vec![
        raw("embed.weight", &m.embed, dtype),
        raw("blocks.0.weight", &fused, dtype),
        raw("head.weight", &m.head, dtype),
    ]
}

fn write_model(dir: &Path, tensors: &[Raw], config: Option<&str>) -> PathBuf {
    let path = dir.join("model.safetensors");
    save(&path, tensors);
    if let Some(c) = config {
        std::fs::write(dir.join("config.json"), c).unwrap();
    }
    path
}

/// logits = H (e + g(e)) or H g(e), computed directly.
fn image_logits(m: &ImageWeights, x: &Array2<f64>, residual: bool) -> Array2<f64> {
    let e = x.dot(&m.embed.t());
    let g = e.dot(&m.w.t()) * e.dot(&m.v.t());
    let z = if residual { &e + &g } else { g };
    z.dot(&m.head.t())
}

#[track_caller]
fn assert_close(a: &Array2<f64>, b: &Array2<f64>) {
    common::assert_close(a, b, 1e-12);
}

#[test]
fn image_model_without_config_in_every_dtype() {
    let m = image_weights();
    let x = mat(5, 12, 9);
    for dtype in [Dtype::F32, Dtype::F64, Dtype::F16, Dtype::BF16] {
        let dir = tempfile::tempdir().unwrap();
        let path = write_model(dir.path(), &image_tensors(&m, dtype), None);
        let loaded = load_model::<f64>(&path, &AUTO).unwrap();
        let info = &loaded.info;
        assert_eq!(info.layout, Layout::Image);
        assert_eq!(
            (info.d_input, info.d_in, info.d_hidden, info.d_out),
            (12, 4, 4, 3)
        );
        assert!(!info.residual && info.linear.is_none() && info.config.is_none());
        assert!(info.notes[0].contains("assumed false"), "{:?}", info.notes);
        assert_eq!(
            info.w,
            Source {
                tensor: "blocks.0.weight".into(),
                rows: Some(0..4)
            }
        );
        assert_eq!(info.v.rows, Some(4..8));
        // W is the first half of the fused block ("left"), V the second.
        assert_eq!(loaded.model.layer().w(), m.w.view());
        assert_eq!(loaded.model.layer().v(), m.v.view());
        assert_eq!(loaded.model.embed().unwrap(), m.embed.view());
        assert_close(
            &loaded.model.forward(x.view(), Par::Seq),
            &image_logits(&m, &x, false),
        );
    }
}

#[test]
fn residual_image_model_from_config_and_the_override() {
    let m = image_weights();
    let x = mat(5, 12, 9);
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(
        dir.path(),
        &image_tensors(&m, Dtype::F32),
        Some(
            r#"{"d_hidden": 4, "n_layer": 1, "d_input": 12, "d_output": 3, "residual": true, "lr": 0.001}"#,
        ),
    );
    let loaded = load_model::<f64>(&path, &IMAGE).unwrap();
    assert!(loaded.info.residual && loaded.info.notes.is_empty());
    assert_eq!(loaded.info.config, Some(dir.path().join("config.json")));
    // The linear term is the head itself: logits = H(e + g(e)).
    assert_eq!(loaded.model.linear().unwrap(), m.head.view());
    assert_close(
        &loaded.model.forward(x.view(), Par::Seq),
        &image_logits(&m, &x, true),
    );
    let text = loaded.info.to_string();
    assert!(
        text.starts_with("layout: image (residual)")
            && text.contains("W = blocks.0.weight rows 0..4  [4, 4]")
            && text.contains("L = head.weight"),
        "{text}"
    );

    let forced = load_model::<f32>(
        &path,
        &LayoutSpec::Image {
            residual: Some(false),
            layer: None,
        },
    )
    .unwrap();
    assert!(!forced.info.residual && forced.model.linear().is_none());
    assert!(
        forced.info.notes[0]
            .contains("the residual setting (false) overrides config.json (residual: true)")
    );
}

/// logits of the image model with block biases `b` (of W e) and `c` (of V e).
fn biased_image_logits(
    m: &ImageWeights,
    b: &Array1<f64>,
    c: &Array1<f64>,
    x: &Array2<f64>,
    residual: bool,
) -> Array2<f64> {
    let e = x.dot(&m.embed.t());
    let g = (e.dot(&m.w.t()) + b) * (e.dot(&m.v.t()) + c);
    let z = if residual { &e + &g } else { g };
    z.dot(&m.head.t())
}

#[test]
fn image_block_biases_are_folded_in() {
    let m = image_weights();
    let fused_bias = mat(1, 8, 5).row(0).to_owned();
    let (b, c) = (
        fused_bias.slice(ndarray::s![..4]).to_owned(),
        fused_bias.slice(ndarray::s![4..]).to_owned(),
    );
    let x = mat(5, 12, 9);
    for (config, residual) in [
        (Some(r#"{"bias": true, "residual": true}"#), true),
        (Some(r#"{"bias": true}"#), false),
        (None, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut tensors = image_tensors(&m, Dtype::F32);
        tensors.push(vector_raw("blocks.0.bias", &fused_bias, Dtype::F32));
        let path = write_model(dir.path(), &tensors, config);
        let loaded = load_model::<f64>(&path, &AUTO).unwrap();
        let info = &loaded.info;
        assert_eq!(info.layout, Layout::Image);
        assert_eq!(
            info.w_bias,
            Some(Source {
                tensor: "blocks.0.bias".into(),
                rows: Some(0..4)
            })
        );
        assert_eq!(info.v_bias.as_ref().unwrap().rows, Some(4..8));
        // The first half biases W e ("left"), the second V e, as the fused block's rows.
        let layer = loaded.model.layer();
        assert_eq!(layer.w_bias().unwrap(), b.view());
        assert_eq!(layer.v_bias().unwrap(), c.view());
        assert_close(
            &loaded.model.forward(x.view(), Par::Seq),
            &biased_image_logits(&m, &b, &c, &x, residual),
        );
        let text = info.to_string();
        assert!(
            text.contains("  b = blocks.0.bias rows 0..4  [4]\n")
                && text.contains("  c = blocks.0.bias rows 4..8  [4]\n"),
            "{text}"
        );
    }
}

#[test]
fn image_bias_problems_are_named() {
    let m = image_weights();
    let load = |extra: Vec<Raw>, config: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        let mut tensors = image_tensors(&m, Dtype::F32);
        tensors.extend(extra);
        let path = write_model(dir.path(), &tensors, config);
        let e = load_model::<f32>(&path, &AUTO).unwrap_err();
        let (msg, hint) = message_and_hint(&e);
        let prefix = format!("{}: ", path.display());
        let config_prefix = format!("{}: ", dir.path().join("config.json").display());
        let msg = msg
            .strip_prefix(&prefix)
            .or_else(|| msg.strip_prefix(&config_prefix))
            .unwrap_or_else(|| panic!("{msg}"))
            .to_string();
        (e, msg, hint)
    };

    let (e, msg, hint) = load(vec![raw("blocks.0.bias", &mat(1, 8, 5), Dtype::F32)], None);
    assert!(matches!(e, IoError::ShapeMismatch { .. }));
    assert_eq!(
        msg,
        "tensor 'blocks.0.bias' has shape [1, 8], expected [8]: a fused block's bias stacks the \
         bias of W x over that of V x, so it has one entry per row of blocks.0.weight (8)"
    );
    assert!(hint.contains("inspecting"), "{hint}");

    let (e, msg, hint) = load(vec![], Some(r#"{"bias": true}"#));
    assert!(matches!(e, IoError::Config { .. }));
    assert_eq!(
        msg,
        "invalid model config: bias is true but the weights hold no tensor 'blocks.0.bias' (the \
         block's biases, [8]); the config belongs to a different model, or the bias was not saved"
    );
    assert!(hint.contains("fix config.json"), "{hint}");

    let bias = vector_raw("blocks.0.bias", &Array1::zeros(8), Dtype::F32);
    let (_, msg, _) = load(vec![bias], Some(r#"{"bias": false}"#));
    assert_eq!(
        msg,
        "invalid model config: bias is false but the weights hold blocks.0.bias [8]; the config \
         belongs to a different model"
    );

    let (e, msg, hint) = load(
        vec![vector_raw("embed.bias", &Array1::zeros(4), Dtype::F32)],
        None,
    );
    assert!(matches!(e, IoError::Unsupported { .. }));
    assert_eq!(
        msg,
        "embed.bias [4] is not supported: an embedding bias β makes the block's input \
         e = E x + β affine in the model input, and the loaded model (e = E x) has no place for \
         the shift, so evaluating and truncating it would silently differ from the checkpoint"
    );
    assert!(hint.contains("bias=False"), "{hint}");

    let (_, msg, hint) = load(
        vec![vector_raw("head.bias", &Array1::zeros(3), Dtype::F32)],
        None,
    );
    assert_eq!(
        msg,
        "head.bias [3] is not supported: a head bias adds a constant to each logit; it changes \
         no interaction matrix, but the loaded model has no place for it, so evaluating and \
         truncating the model would silently differ from the checkpoint"
    );
    assert!(hint.contains("remove head.bias"), "{hint}");

    // A NaN in the bias is found when the weights are read.
    let mut b = Array1::zeros(8);
    b[5] = f64::NAN;
    let (e, msg, _) = load(vec![vector_raw("blocks.0.bias", &b, Dtype::F32)], None);
    assert!(matches!(e, IoError::NonFinite { .. }));
    assert_eq!(
        msg,
        "tensor 'blocks.0.bias' holds 1 non-finite value (NaN or infinity) out of 4, the first \
         at index [5]"
    );
}

fn head_source() -> Source {
    Source {
        tensor: "head.weight".into(),
        rows: None,
    }
}

/// A 3-block image model on the stream of width 4: `image_tensors` plus blocks 1 and 2.
fn deep_tensors(m: &ImageWeights) -> Vec<Raw> {
    let mut tensors = image_tensors(m, Dtype::F32);
    tensors.push(raw("blocks.1.weight", &mat(8, 4, 6), Dtype::F32));
    tensors.push(raw("blocks.2.weight", &mat(8, 4, 7), Dtype::F32));
    tensors
}

#[test]
fn deep_models_pick_a_block_whose_outputs_are_the_stream_or_the_head() {
    let m = image_weights();
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(
        dir.path(),
        &deep_tensors(&m),
        Some(r#"{"n_layer": 3, "d_hidden": 4, "residual": true}"#),
    );
    let block = |layer: Option<usize>| {
        load_model::<f64>(
            &path,
            &LayoutSpec::Image {
                residual: None,
                layer,
            },
        )
        .unwrap()
    };
    // By default the last block: read by the head, its input the stream (no embedding).
    let last = block(None);
    assert_eq!(last.info.layer.as_ref().unwrap().index, 2);
    assert_eq!(last.info.p, head_source());
    assert_eq!(last.info.linear, Some(head_source()));
    assert!(last.info.embed.is_none() && last.model.embed().is_none());
    assert_eq!((last.info.d_input, last.info.d_out), (4, 3));
    assert!(
        last.info
            .notes
            .iter()
            .any(|n| n.contains("no block chosen: block 2, the last")),
        "{:?}",
        last.info.notes
    );
    // An earlier block writes the stream: P and the residual term are the identity.
    let middle = block(Some(1));
    assert!(middle.info.p.is_identity());
    assert_eq!(middle.model.layer().p(), Array2::<f64>::eye(4).view());
    assert_eq!(middle.model.linear().unwrap(), Array2::<f64>::eye(4).view());
    assert_eq!(
        middle.model.layer().w(),
        mat(8, 4, 6).slice(ndarray::s![..4, ..])
    );
    assert_eq!(middle.info.d_out, 4);
    // Block 0 reads pixels through the embedding.
    let first = block(Some(0));
    assert_eq!(first.model.embed().unwrap(), m.embed.view());
    assert_eq!((first.info.d_input, first.info.d_out), (12, 4));

    let text = inspect_model(
        &path,
        &LayoutSpec::Auto {
            residual: None,
            layer: Some(1),
        },
    )
    .unwrap()
    .model
    .unwrap()
    .to_string();
    assert!(
        text.starts_with("layout: image (residual), block 1 of 3 (blocks.0 .. blocks.2")
            && text.contains("W = blocks.1.weight rows 0..4  [4, 4]")
            && text.contains("P = identity (the block writes the stream)  [4, 4]"),
        "{text}"
    );
    // `--layer all` iterates over the blocks.
    let file = bilens_io::TensorFile::open(&path).unwrap();
    assert_eq!(
        bilens_io::model_layers(&file, &IMAGE).unwrap(),
        vec![0, 1, 2]
    );
}

#[test]
fn deep_model_mistakes_say_what_was_expected() {
    let m = image_weights();
    let check = |tensors: Vec<Raw>, config: Option<&str>, layer: Option<usize>, expected: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = write_model(dir.path(), &tensors, config);
        let e = load_model::<f32>(
            &path,
            &LayoutSpec::Image {
                residual: None,
                layer,
            },
        )
        .unwrap_err();
        let (msg, hint) = message_and_hint(&e);
        assert!(msg.contains(expected), "{msg}\nexpected: {expected}");
        hint
    };
    let hint = check(
        deep_tensors(&m),
        None,
        Some(3),
        "the model has no layer 3; it holds blocks 0..3 (an image model's bilinear blocks)",
    );
    assert!(hint.contains("layer"), "{hint}");
    let mut narrow = deep_tensors(&m);
    narrow[3] = raw("blocks.1.weight", &mat(6, 4, 6), Dtype::F32);
    check(
        narrow,
        None,
        None,
        "tensor 'blocks.2.weight' has shape [8, 4], expected [_, 3]: block 2 reads the stream \
         block 1 writes, so its columns must equal half of blocks.1.weight's rows (3)",
    );
    check(
        deep_tensors(&m),
        Some(r#"{"n_layer": 2}"#),
        None,
        "n_layer is 2 but the weights hold 3 bilinear blocks (blocks 0..3); the config belongs \
         to a different model",
    );
    let mut gap = deep_tensors(&m);
    gap.remove(3);
    check(
        gap,
        None,
        None,
        "the bilinear blocks are numbered blocks.0, blocks.2 but block 1 is missing",
    );
    // A residual model needs square blocks all along the stream.
    let mut wide = image_tensors(&m, Dtype::F32);
    wide.push(raw("blocks.1.weight", &mat(10, 4, 6), Dtype::F32));
    wide[2] = raw("head.weight", &mat(3, 5, 4), Dtype::F32);
    check(
        wide,
        Some(r#"{"residual": true}"#),
        None,
        "tensor 'blocks.1.weight' has shape [10, 4], expected [8, 4]: a residual block adds its \
         output to its input",
    );
    // Not residual, blocks may change the width; the head reads the last block's.
    let mut wide = image_tensors(&m, Dtype::F32);
    wide.push(raw("blocks.1.weight", &mat(10, 4, 6), Dtype::F32));
    check(
        wide,
        None,
        None,
        "tensor 'head.weight' has shape [3, 4], expected [_, 5]: the head reads the last \
         block's output, so its columns must equal half of blocks.1.weight's rows (5)",
    );
}

#[test]
fn image_shape_mismatches_say_expected_and_found() {
    let m = image_weights();
    let check = |tensors: Vec<Raw>, config: Option<&str>, expected: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = write_model(dir.path(), &tensors, config);
        let e = load_model::<f32>(&path, &IMAGE).unwrap_err();
        let (msg, hint) = message_and_hint(&e);
        assert_eq!(msg, format!("{}: {expected}", path.display()));
        if matches!(e, IoError::ShapeMismatch { .. }) {
            assert!(hint.contains("inspecting"), "{hint}");
        }
    };
    let mut odd = image_tensors(&m, Dtype::F32);
    odd[1] = raw("blocks.0.weight", &mat(7, 4, 1), Dtype::F32);
    check(
        odd,
        None,
        "tensor 'blocks.0.weight' has shape [7, 4], expected [2 * d_hidden, 4]: a fused block \
         stacks W over V, so its row count must be even",
    );
    let mut narrow_head = image_tensors(&m, Dtype::F32);
    narrow_head[2] = raw("head.weight", &mat(3, 5, 1), Dtype::F32);
    check(
        narrow_head,
        None,
        "tensor 'head.weight' has shape [3, 5], expected [_, 4]: the head reads the block's \
         output, so its columns must equal half of blocks.0.weight's rows (4)",
    );
    let mut wide_block = image_tensors(&m, Dtype::F32);
    wide_block[1] = raw("blocks.0.weight", &mat(8, 6, 1), Dtype::F32);
    check(
        wide_block,
        None,
        "tensor 'blocks.0.weight' has shape [8, 6], expected [_, 4]: the block reads the \
         embedding, so its columns must equal embed.weight's rows (4)",
    );
    // A residual block must map d_in to d_in.
    let mut t = image_tensors(&m, Dtype::F32);
    t[1] = raw("blocks.0.weight", &mat(6, 4, 1), Dtype::F32);
    t[2] = raw("head.weight", &mat(3, 3, 1), Dtype::F32);
    check(
        t,
        Some(r#"{"residual": true}"#),
        "tensor 'blocks.0.weight' has shape [6, 4], expected [8, 4]: a residual block adds its \
         output to its input, so d_hidden must equal d_in = 4",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(
        dir.path(),
        &image_tensors(&m, Dtype::F32),
        Some(r#"{"d_hidden": 256}"#),
    );
    let e = load_model::<f32>(&path, &IMAGE).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: invalid model config: d_hidden is 256 but the weights have embed.weight's rows \
             = 4; the config belongs to a different model",
            dir.path().join("config.json").display()
        )
    );
}

#[test]
fn image_layout_refuses_tensors_it_would_ignore() {
    let m = image_weights();
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = image_tensors(&m, Dtype::F32);
    tensors.push(raw("norm.weight", &mat(1, 4, 1), Dtype::F32));
    let path = write_model(dir.path(), &tensors, None);
    let e = load_model::<f32>(&path, &IMAGE).unwrap_err();
    let (msg, hint) = message_and_hint(&e);
    assert!(
        msg.contains(
            "tensors outside the image layout (embed.weight, blocks.0.weight, blocks.0.bias, \
             head.weight): norm.weight;"
        ),
        "{msg}"
    );
    assert!(hint.contains("single layout"), "{hint}");
}

#[test]
fn image_layout_names_a_missing_tensor() {
    let m = image_weights();
    let dir = tempfile::tempdir().unwrap();
    let tensors = image_tensors(&m, Dtype::F32);
    let path = write_model(dir.path(), &tensors[..2], None);
    let msg = load_model::<f32>(&path, &AUTO).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: no tensor named 'head.weight'; the file holds 2 tensors: blocks.0.weight, \
             embed.weight",
            path.display()
        )
    );
}

fn single_tensors(names: [&str; 3], embed: Option<&str>) -> Vec<Raw> {
    let mut t = vec![
        raw(names[0], &mat(5, 3, 1), Dtype::F32),
        raw(names[1], &mat(5, 3, 2), Dtype::F32),
        raw(names[2], &mat(2, 5, 3), Dtype::F32),
    ];
    if let Some(e) = embed {
        t.push(raw(e, &mat(3, 7, 4), Dtype::F32));
    }
    t
}

fn single_spec(w: &str, v: &str, p: &str, embed: Option<&str>) -> LayoutSpec {
    LayoutSpec::Single {
        w: w.into(),
        v: v.into(),
        p: p.into(),
        embed: embed.map(String::from),
        w_bias: None,
        v_bias: None,
        norm_gain: None,
    }
}

#[test]
fn single_layer_named_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(
        dir.path(),
        &single_tensors(
            ["layers.3.mlp.a", "layers.3.mlp.b", "layers.3.mlp.c"],
            Some("wte"),
        ),
        None,
    );
    let spec = single_spec(
        "layers.3.mlp.a",
        "layers.3.mlp.b",
        "layers.3.mlp.c",
        Some("wte"),
    );
    let loaded = load_model::<f64>(&path, &spec).unwrap();
    let info = &loaded.info;
    assert_eq!(info.layout, Layout::Single);
    assert_eq!(
        (info.d_input, info.d_in, info.d_hidden, info.d_out),
        (7, 3, 5, 2)
    );
    assert!(loaded.model.linear().is_none());
    let x = mat(4, 7, 8);
    let e = x.dot(&mat(3, 7, 4).t());
    let expected = (e.dot(&mat(5, 3, 1).t()) * e.dot(&mat(5, 3, 2).t())).dot(&mat(2, 5, 3).t());
    assert_close(&loaded.model.forward(x.view(), Par::Seq), &expected);
}

#[test]
fn single_layer_shape_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save(
        &path,
        &[
            raw("w", &mat(5, 3, 1), Dtype::F32),
            raw("v", &mat(5, 3, 2), Dtype::F32),
            raw("v_short", &mat(4, 3, 2), Dtype::F32),
            raw("p", &mat(2, 5, 3), Dtype::F32),
            raw("p_bad", &mat(2, 4, 3), Dtype::F32),
            raw("embed", &mat(3, 7, 4), Dtype::F32),
            raw("embed_bad", &mat(4, 7, 4), Dtype::F32),
            ("vec".into(), Dtype::F32, vec![5], vec![0; 20]),
        ],
    );
    let err = |w: &str, v: &str, p: &str, e: Option<&str>| {
        let e = load_model::<f32>(&path, &single_spec(w, v, p, e)).unwrap_err();
        let m = e.to_string();
        m.strip_prefix(&format!("{}: ", path.display()))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        err("w", "v_short", "p", None),
        "tensor 'v_short' has shape [4, 3], expected [5, 3]: V must have the same shape \
         [d_hidden, d_in] as W ('w')"
    );
    assert_eq!(
        err("w", "v", "p_bad", None),
        "tensor 'p_bad' has shape [2, 4], expected [_, 5]: P's columns must equal d_hidden = 5, \
         the rows of W ('w')"
    );
    assert_eq!(
        err("w", "v", "p", Some("embed_bad")),
        "tensor 'embed_bad' has shape [4, 7], expected [3, _]: the embedding's rows must equal \
         d_in = 3, the columns of W ('w')"
    );
    assert_eq!(
        err("vec", "v", "p", None),
        "tensor 'vec' has shape [5], expected [_, _]: a weight matrix has 2 dimensions"
    );
    assert!(
        err("w", "v", "q", None)
            .starts_with("no tensor named 'q'; the file holds 8 tensors: embed, embed_bad, p,")
    );
}

#[test]
fn single_layer_with_biases_and_a_norm_gain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let (b, c) = (
        mat(1, 5, 11).row(0).to_owned(),
        mat(1, 5, 12).row(0).to_owned(),
    );
    let gamma = mat(1, 3, 13).row(0).mapv(|x| 1.0 + x);
    let mut tensors = single_tensors(["mlp.w", "mlp.v", "mlp.p"], None);
    tensors.extend([
        vector_raw("mlp.b_w", &b, Dtype::F32),
        vector_raw("mlp.b_v", &c, Dtype::F32),
        vector_raw("ln.weight", &gamma, Dtype::BF16),
    ]);
    save(&path, &tensors);
    let spec = LayoutSpec::Single {
        w: "mlp.w".into(),
        v: "mlp.v".into(),
        p: "mlp.p".into(),
        embed: None,
        w_bias: Some("mlp.b_w".into()),
        v_bias: Some("mlp.b_v".into()),
        norm_gain: Some("ln.weight".into()),
    };
    let loaded = load_model::<f64>(&path, &spec).unwrap();
    let info = &loaded.info;
    assert_eq!(
        info.w_bias,
        Some(Source {
            tensor: "mlp.b_w".into(),
            rows: None
        })
    );
    assert_eq!(info.norm_gain.as_ref().unwrap().tensor, "ln.weight");
    // y = P((W diag(γ) x + b) ⊙ (V diag(γ) x + c)) on the normalised input x.
    let x = mat(4, 3, 8);
    let xg = &x * &gamma;
    let expected = ((xg.dot(&mat(5, 3, 1).t()) + &b) * (xg.dot(&mat(5, 3, 2).t()) + &c))
        .dot(&mat(2, 5, 3).t());
    assert_close(&loaded.model.forward(x.view(), Par::Seq), &expected);
    let text = info.to_string();
    assert!(
        text.contains("  γ = ln.weight  [3]\n")
            && text.contains("  b = mlp.b_w  [5]\n")
            && text.contains("  c = mlp.b_v  [5]\n"),
        "{text}"
    );
    assert_eq!(info.notes.len(), 1);
    assert!(
        info.notes[0].starts_with("the norm gain ln.weight is folded into W and V")
            && info.notes[0].ends_with("describe the normalised input"),
        "{:?}",
        info.notes
    );

    // One bias alone is fine (the other is zero).
    let only_c = LayoutSpec::Single {
        w: "mlp.w".into(),
        v: "mlp.v".into(),
        p: "mlp.p".into(),
        embed: None,
        w_bias: None,
        v_bias: Some("mlp.b_v".into()),
        norm_gain: None,
    };
    let layer = load_model::<f64>(&path, &only_c)
        .unwrap()
        .model
        .layer()
        .clone();
    assert!(layer.w_bias().is_none() && layer.v_bias().is_some());
}

#[test]
fn single_layer_bias_and_gain_problems_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut nan_gain = Array1::ones(3);
    nan_gain[2] = f64::INFINITY;
    let mut tensors = single_tensors(["w", "v", "p"], None);
    tensors.extend([
        vector_raw("bias4", &Array1::zeros(4), Dtype::F32),
        vector_raw("gain3", &Array1::ones(3), Dtype::F32),
        vector_raw("gain5", &Array1::ones(5), Dtype::F32),
        vector_raw("gain_inf", &nan_gain, Dtype::F32),
        raw("gain_row", &mat(1, 3, 1), Dtype::F32),
    ]);
    save(&path, &tensors);
    let err = |w_bias: Option<&str>, v_bias: Option<&str>, gain: Option<&str>| {
        let spec = LayoutSpec::Single {
            w: "w".into(),
            v: "v".into(),
            p: "p".into(),
            embed: None,
            w_bias: w_bias.map(String::from),
            v_bias: v_bias.map(String::from),
            norm_gain: gain.map(String::from),
        };
        let e = load_model::<f32>(&path, &spec).unwrap_err();
        let m = e.to_string();
        let m = m
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap()
            .to_string();
        (e, m)
    };
    let (e, m) = err(Some("bias4"), None, None);
    assert_eq!(
        m,
        "tensor 'bias4' has shape [4], expected [5]: the bias of W x has one entry per hidden \
         unit (d_hidden = 5, the rows of W ('w'))"
    );
    assert!(matches!(
        e.hint(),
        Some(bilens_io::Hint::CheckLayout { .. })
    ));
    assert_eq!(
        err(None, Some("bias4"), None).1,
        "tensor 'bias4' has shape [4], expected [5]: the bias of V x has one entry per hidden \
         unit (d_hidden = 5, the rows of W ('w'))"
    );
    assert_eq!(
        err(None, None, Some("gain5")).1,
        "tensor 'gain5' has shape [5], expected [3]: a norm gain has one entry per input of the \
         layer (d_in = 3, the columns of W ('w'))"
    );
    assert_eq!(
        err(None, None, Some("gain_row")).1,
        "tensor 'gain_row' has shape [1, 3], expected [3]: a norm gain has one entry per input \
         of the layer (d_in = 3, the columns of W ('w'))"
    );
    let (e, m) = err(None, None, Some("gain_inf"));
    assert!(matches!(e, IoError::NonFinite { .. }));
    assert_eq!(
        m,
        "tensor 'gain_inf' holds 1 non-finite value (NaN or infinity) out of 3, the first at \
         index [2]"
    );
    let (e, m) = err(Some("b"), None, None);
    assert!(matches!(e, IoError::MissingTensor { .. }));
    assert!(
        m.starts_with("no tensor named 'b'; the file holds 8 tensors"),
        "{m}"
    );
    // A gain of the right shape loads.
    let fine = LayoutSpec::Single {
        w: "w".into(),
        v: "v".into(),
        p: "p".into(),
        embed: None,
        w_bias: None,
        v_bias: None,
        norm_gain: Some("gain3".into()),
    };
    assert!(load_model::<f32>(&path, &fine).is_ok());
}

#[test]
fn auto_detects_recognisable_single_layers() {
    for (names, embed) in [
        (["w", "v", "p"], None),
        (
            ["left.weight", "right.weight", "proj.weight"],
            Some("embed.weight"),
        ),
        (["mlp.W_L", "mlp.W_R", "mlp.out"], None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = write_model(dir.path(), &single_tensors(names, embed), None);
        let loaded = load_model::<f32>(&path, &AUTO).unwrap();
        assert_eq!(loaded.info.layout, Layout::Single, "{names:?}");
        assert_eq!(loaded.info.w.tensor, names[0]);
        assert_eq!(loaded.info.v.tensor, names[1]);
        assert_eq!(loaded.info.p.tensor, names[2]);
        assert_eq!(loaded.info.embed.as_ref().map(|s| s.tensor.as_str()), embed);
    }
}

#[test]
fn auto_detection_fails_with_the_tensor_list_and_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = single_tensors(["w", "v", "p"], None);
    tensors.push(raw("w.bias", &mat(1, 5, 0), Dtype::BF16));
    let path = write_model(dir.path(), &tensors, None);
    let e = load_model::<f32>(&path, &AUTO).unwrap_err();
    let (msg, hint) = message_and_hint(&e);
    assert_eq!(
        msg,
        format!(
            "{}: cannot tell which tensors form the bilinear layer; the file holds 4 tensors:\n  \
             p       F32   [2, 5]\n  \
             v       F32   [5, 3]\n  \
             w       F32   [5, 3]\n  \
             w.bias  BF16  [1, 5]",
            path.display()
        )
    );
    assert_eq!(e.hint(), Some(Hint::ChooseLayout));
    assert!(
        hint.contains("single layout (W, V, P") && hint.contains("image layout"),
        "{hint}"
    );
    // Naming the tensors resolves it.
    assert!(load_model::<f32>(&path, &single_spec("w", "v", "p", None)).is_ok());
}

#[test]
fn residual_flag_does_not_apply_to_a_single_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(dir.path(), &single_tensors(["w", "v", "p"], None), None);
    let e = load_model::<f32>(
        &path,
        &LayoutSpec::Auto {
            residual: Some(true),
            layer: None,
        },
    )
    .unwrap_err();
    let (msg, hint) = message_and_hint(&e);
    assert!(
        msg.ends_with("residual = true applies to the image layout, but the file holds a single bilinear layer (w, v, p)"),
        "{msg}"
    );
    assert_eq!(e.hint(), Some(Hint::DropResidual));
    assert!(hint.contains("leave out the residual setting"), "{hint}");
}

#[test]
fn inspect_reads_no_weights() {
    let m = image_weights();
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = image_tensors(&m, Dtype::F32);
    // A NaN in the head: inspection (header only) succeeds, loading refuses.
    let mut head = m.head.clone();
    head[[2, 1]] = f64::NAN;
    tensors[2] = raw("head.weight", &head, Dtype::F32);
    let path = write_model(dir.path(), &tensors, Some(r#"{"residual": false}"#));
    let inspection = inspect_model(&path, &AUTO).unwrap();
    assert_eq!(
        inspection
            .tensors
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["blocks.0.weight", "embed.weight", "head.weight"]
    );
    let info = inspection.model.unwrap();
    assert_eq!((info.d_input, info.d_out), (12, 3));
    let e = load_model::<f32>(&path, &AUTO).unwrap_err().to_string();
    assert!(
        e.contains("tensor 'head.weight' holds 1 non-finite value"),
        "{e}"
    );

    // A layout problem is reported inside the inspection, not instead of it.
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(dir.path(), &single_tensors(["a", "b", "c"], None), None);
    let inspection = inspect_model(&path, &AUTO).unwrap();
    assert_eq!(inspection.tensors.len(), 3);
    assert!(matches!(
        inspection.model,
        Err(IoError::AmbiguousLayout { .. })
    ));
}
