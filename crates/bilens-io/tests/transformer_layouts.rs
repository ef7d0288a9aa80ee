//! Transformer layouts: a bilinear transformer in the public code's naming (`lm`) and a
//! Llama-style gated model (`gated`), each written as a small multi-layer checkpoint with
//! attention and embeddings beside the MLPs; the loaded layer is checked against the layer
//! computed directly, only that layer's bytes are read, and every refusal has its message.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::{Path, PathBuf};

use bilens_decomp::Par;
use bilens_io::{
    IoError, Layout, LayoutSpec, Source, TensorFile, describe_model, inspect_model, load_model,
    model_layers, read_model,
};
use common::{Raw, mat, message_and_hint, raw, save, vector_raw};
use ndarray::{Array1, Array2, Axis, concatenate};
use safetensors::Dtype;

const D: usize = 6;
const H: usize = 5;
const VOCAB: usize = 7;

fn auto(layer: Option<usize>) -> LayoutSpec {
    LayoutSpec::Auto {
        residual: None,
        layer,
    }
}

/// One MLP's weights: `y = P((W n + b) ⊙ (V n + c))`, `n = γ ⊙ x + β`.
struct Mlp {
    w: Array2<f64>,
    v: Array2<f64>,
    p: Array2<f64>,
    b: Array1<f64>,
    c: Array1<f64>,
    gain: Array1<f64>,
    shift: Array1<f64>,
}

fn mlp(layer: u64) -> Mlp {
    let row = |seed: u64, n: usize| mat(1, n, seed).index_axis_move(Axis(0), 0);
    Mlp {
        w: mat(H, D, 10 * layer + 1),
        v: mat(H, D, 10 * layer + 2),
        p: mat(D, H, 10 * layer + 3),
        b: row(10 * layer + 4, H),
        c: row(10 * layer + 5, H),
        gain: row(10 * layer + 6, D).mapv(|g| 1.0 + g),
        shift: row(10 * layer + 7, D),
    }
}

impl Mlp {
    fn forward(&self, x: &Array2<f64>, biases: bool, gain: bool, shift: bool) -> Array2<f64> {
        let mut n = x.clone();
        if gain {
            n = &n * &self.gain;
        }
        if shift {
            n = &n + &self.shift;
        }
        let (mut l, mut r) = (n.dot(&self.w.t()), n.dot(&self.v.t()));
        if biases {
            l = &l + &self.b;
            r = &r + &self.c;
        }
        (l * r).dot(&self.p.t())
    }
}

/// A bilinear transformer of `layers` layers in the public naming, with attention, the final
/// norm and the embeddings; `norm` adds `n2.weight` (and `n2.bias`), `bias` the MLP biases.
fn lm_tensors(layers: usize, norm: bool, shift: bool, bias: bool, old_naming: bool) -> Vec<Raw> {
    let mut t = vec![
        raw("transformer.wte.weight", &mat(VOCAB, D, 90), Dtype::F32),
        raw("lm_head.weight", &mat(VOCAB, D, 91), Dtype::F32),
    ];
    for i in 0..layers {
        let m = mlp(i as u64);
        let h = |rest: &str| format!("transformer.h.{i}.{rest}");
        let fused = concatenate(Axis(0), &[m.w.view(), m.v.view()]).unwrap();
        t.push(raw(&h("mlp.w.weight"), &fused, Dtype::F32));
        let p_name = if old_naming {
            "mlp.o.weight"
        } else {
            "mlp.p.weight"
        };
        t.push(raw(&h(p_name), &m.p, Dtype::F32));
        t.push(raw(&h("attn.qkv.weight"), &mat(3 * D, D, 50), Dtype::F32));
        t.push(raw(&h("attn.o.weight"), &mat(D, D, 51), Dtype::F32));
        if bias {
            let bc = concatenate(Axis(0), &[m.b.view(), m.c.view()]).unwrap();
            t.push(vector_raw(&h("mlp.w.bias"), &bc, Dtype::F32));
        }
        if norm {
            t.push(vector_raw(&h("n2.weight"), &m.gain, Dtype::F32));
            t.push(vector_raw(&h("n1.weight"), &m.gain, Dtype::F32));
        }
        if shift {
            t.push(vector_raw(&h("n2.bias"), &m.shift, Dtype::F32));
        }
    }
    t
}

fn write(dir: &Path, tensors: &[Raw], config: Option<&str>) -> PathBuf {
    let path = dir.join("model.safetensors");
    save(&path, tensors);
    if let Some(c) = config {
        std::fs::write(dir.join("config.json"), c).unwrap();
    }
    path
}

#[track_caller]
fn assert_close(a: &Array2<f64>, b: &Array2<f64>) {
    common::assert_close(a, b, 1e-10);
}

#[test]
fn lm_layer_with_norm_gain_shift_and_biases_equals_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &lm_tensors(3, true, true, true, false), None);
    let x = mat(4, D, 77);
    for layer in 0..3 {
        for spec in [LayoutSpec::Lm { layer: Some(layer) }, auto(Some(layer))] {
            let loaded = load_model::<f64>(&path, &spec).unwrap();
            let info = &loaded.info;
            assert_eq!(info.layout, Layout::Lm);
            let choice = info.layer.as_ref().unwrap();
            assert_eq!(
                (choice.index, choice.available.clone()),
                (layer, vec![0, 1, 2])
            );
            assert_eq!((info.d_in, info.d_hidden, info.d_out), (D, H, D));
            let fused = format!("transformer.h.{layer}.mlp.w.weight");
            assert_eq!(
                info.w,
                Source {
                    tensor: fused.clone(),
                    rows: Some(0..H)
                }
            );
            assert_eq!(info.v.rows, Some(H..2 * H));
            assert_eq!(
                info.norm_gain.as_ref().unwrap().tensor,
                format!("transformer.h.{layer}.n2.weight")
            );
            assert!(info.embed.is_none() && info.linear.is_none() && !info.residual);
            assert!(info.approximation.is_none());
            let tokens = info.tokens.as_ref().unwrap();
            assert_eq!(tokens.vocab_size, VOCAB);
            assert_eq!(
                tokens.embedding.as_ref().unwrap().tensor,
                "transformer.wte.weight"
            );
            assert_eq!(
                tokens.unembedding.as_ref().unwrap().tensor,
                "lm_head.weight"
            );
            let y = loaded.model.forward(x.view(), Par::Seq);
            assert_close(&y, &mlp(layer as u64).forward(&x, true, true, true));
        }
    }
}

#[test]
fn lm_layer_reads_only_its_own_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &lm_tensors(4, true, false, true, false), None);
    let file = TensorFile::open(&path).unwrap();
    let info = describe_model(&file, &LayoutSpec::Lm { layer: Some(2) }).unwrap();
    assert_eq!(file.bytes_read(), 0, "describing reads no data");
    read_model::<f32>(&file, &info).unwrap();
    // mlp.w [2H, D], mlp.p [D, H], mlp.w.bias [2H], n2.weight [D], all F32.
    let expected = 4 * (2 * H * D + D * H + 2 * H + D);
    assert_eq!(file.bytes_read(), expected as u64);
    assert_eq!(model_layers(&file, &auto(None)).unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn older_files_name_the_projection_mlp_o() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &lm_tensors(1, false, false, false, true), None);
    // One layer: no --layer needed.
    let loaded = load_model::<f64>(&path, &auto(None)).unwrap();
    assert_eq!(loaded.info.p.tensor, "transformer.h.0.mlp.o.weight");
    let x = mat(3, D, 5);
    assert_close(
        &loaded.model.forward(x.view(), Par::Seq),
        &mlp(0).forward(&x, false, false, false),
    );
    // Without a gain to fold, the note says the layer reads the normalised stream.
    assert!(
        loaded
            .info
            .notes
            .iter()
            .any(|n| n.contains("reads the normalised residual stream")),
        "{:?}",
        loaded.info.notes
    );
}

#[test]
fn several_layers_need_a_layer_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &lm_tensors(3, false, false, false, false), None);
    let e = load_model::<f32>(&path, &auto(None)).unwrap_err();
    let (msg, hint) = message_and_hint(&e);
    assert!(
        msg.ends_with("the model holds layers 0..3; which one to decompose?"),
        "{msg}"
    );
    assert!(
        hint.contains("one of the layers") && hint.contains("every layer"),
        "{hint}"
    );
    let e = load_model::<f32>(&path, &LayoutSpec::Lm { layer: Some(7) }).unwrap_err();
    assert!(matches!(e, IoError::Layer { .. }));
    assert!(
        e.to_string()
            .ends_with("the model has no layer 7; it holds layers 0..3"),
        "{e}"
    );
    // inspect still lists the tensors and explains.
    let i = inspect_model(&path, &auto(None)).unwrap();
    assert!(i.model.is_err() && i.tensors.len() > 6);
}

#[test]
fn unknown_norm_parameters_are_refused_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = lm_tensors(1, false, false, false, false);
    let ones = Array1::from_elem(D, 1.0);
    t.push(vector_raw("transformer.h.0.n2.alpha", &ones, Dtype::F32));
    t.push(vector_raw("transformer.h.0.n2.gamma", &ones, Dtype::F32));
    let path = write(dir.path(), &t, None);
    let e = load_model::<f32>(&path, &auto(None)).unwrap_err();
    let (msg, hint) = message_and_hint(&e);
    assert!(
        msg.contains(
            "the norm before the MLP (transformer.h.0.n2) has parameters bilens cannot fold"
        ) && msg.contains("transformer.h.0.n2.alpha, transformer.h.0.n2.gamma"),
        "{msg}"
    );
    assert!(hint.contains("single layout"), "{hint}");
}

#[test]
fn lm_config_gate_marks_an_approximation_and_bilinear_false_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &lm_tensors(1, false, false, false, false),
        Some(r#"{"n_layer": 1, "gate": "relu", "bilinear": true, "d_model": 6}"#),
    );
    let info = load_model::<f32>(&path, &auto(None)).unwrap().info;
    let a = info.approximation.unwrap();
    assert!(a.contains("relu(W x) ⊙ (V x)"), "{a}");
    std::fs::write(dir.path().join("config.json"), r#"{"bilinear": false}"#).unwrap();
    let e = load_model::<f32>(&path, &auto(None)).unwrap_err();
    assert!(e.to_string().contains("bilinear: false"), "{e}");
}

#[test]
fn lm_shape_errors_name_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    // Odd fused rows.
    let path = write(
        dir.path(),
        &[
            raw("transformer.h.0.mlp.w.weight", &mat(5, D, 1), Dtype::F32),
            raw("transformer.h.0.mlp.p.weight", &mat(D, 2, 2), Dtype::F32),
        ],
        None,
    );
    let e = load_model::<f32>(&path, &auto(None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "tensor 'transformer.h.0.mlp.w.weight' has shape [5, 6], expected [2 * d_hidden, 6]"
        ),
        "{e}"
    );
    // P reading the wrong number of hidden units.
    let path = write(
        dir.path(),
        &[
            raw("transformer.h.0.mlp.w.weight", &mat(4, D, 1), Dtype::F32),
            raw("transformer.h.0.mlp.p.weight", &mat(D, 3, 2), Dtype::F32),
        ],
        None,
    );
    let e = load_model::<f32>(&path, &auto(None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'transformer.h.0.mlp.p.weight' has shape [6, 3], expected [_, 2]"),
        "{e}"
    );
    // A norm gain of the wrong width.
    let path = write(
        dir.path(),
        &[
            raw("transformer.h.0.mlp.w.weight", &mat(4, D, 1), Dtype::F32),
            raw("transformer.h.0.mlp.p.weight", &mat(D, 2, 2), Dtype::F32),
            vector_raw("transformer.h.0.n2.weight", &Array1::ones(3), Dtype::F32),
        ],
        None,
    );
    let e = load_model::<f32>(&path, &auto(None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'transformer.h.0.n2.weight' has shape [3], expected [6]"),
        "{e}"
    );
}

/// A Llama-style model: `layers` layers, `post_attention_layernorm` gains, no `lm_head` when
/// `tied`.
fn gated_tensors(layers: usize, tied: bool) -> Vec<Raw> {
    let mut t = vec![raw(
        "model.embed_tokens.weight",
        &mat(VOCAB, D, 80),
        Dtype::BF16,
    )];
    if !tied {
        t.push(raw("lm_head.weight", &mat(VOCAB, D, 81), Dtype::BF16));
    }
    t.push(vector_raw(
        "model.norm.weight",
        &Array1::ones(D),
        Dtype::BF16,
    ));
    for i in 0..layers {
        let m = mlp(i as u64);
        let l = |rest: &str| format!("model.layers.{i}.{rest}");
        t.push(raw(&l("mlp.gate_proj.weight"), &m.w, Dtype::BF16));
        t.push(raw(&l("mlp.up_proj.weight"), &m.v, Dtype::BF16));
        t.push(raw(&l("mlp.down_proj.weight"), &m.p, Dtype::BF16));
        t.push(raw(
            &l("self_attn.q_proj.weight"),
            &mat(D, D, 60),
            Dtype::BF16,
        ));
        t.push(vector_raw(
            &l("input_layernorm.weight"),
            &m.gain,
            Dtype::BF16,
        ));
        t.push(vector_raw(
            &l("post_attention_layernorm.weight"),
            &m.gain,
            Dtype::BF16,
        ));
    }
    t
}

#[test]
fn gated_layer_is_read_bilinearly_and_labelled_an_approximation() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &gated_tensors(2, false),
        Some(r#"{"model_type": "llama", "hidden_act": "silu", "hidden_size": 6}"#),
    );
    let x = mat(3, D, 12);
    for spec in [LayoutSpec::Gated { layer: Some(1) }, auto(Some(1))] {
        let loaded = load_model::<f64>(&path, &spec).unwrap();
        let info = &loaded.info;
        assert_eq!(info.layout, Layout::Gated);
        assert_eq!(info.w.tensor, "model.layers.1.mlp.gate_proj.weight");
        assert_eq!(info.v.tensor, "model.layers.1.mlp.up_proj.weight");
        assert_eq!(info.p.tensor, "model.layers.1.mlp.down_proj.weight");
        assert_eq!(
            info.norm_gain.as_ref().unwrap().tensor,
            "model.layers.1.post_attention_layernorm.weight"
        );
        let a = info.approximation.as_ref().unwrap();
        assert!(a.contains("down(silu(gate x) ⊙ up x)"), "{a}");
        assert!(info.to_string().contains("approximation: a gated MLP"));
        // The mat() values are exact in BF16, so the layer is the bilinear one exactly.
        assert_close(
            &loaded.model.forward(x.view(), Par::Seq),
            &mlp(1).forward(&x, false, true, false),
        );
    }
}

#[test]
fn gated_without_lm_head_ties_the_unembedding_and_gemma_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &gated_tensors(1, true), None);
    let info = load_model::<f32>(&path, &auto(None)).unwrap().info;
    let tokens = info.tokens.unwrap();
    assert_eq!(
        tokens.unembedding.unwrap().tensor,
        "model.embed_tokens.weight"
    );
    assert!(
        info.notes.iter().any(|n| n.contains("tied")),
        "{:?}",
        info.notes
    );

    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "gemma2"}"#,
    )
    .unwrap();
    let e = load_model::<f32>(&path, &auto(None)).unwrap_err();
    let (msg, hint) = message_and_hint(&e);
    assert!(
        msg.contains("Gemma") && msg.contains("(1 + weight)"),
        "{msg}"
    );
    assert!(hint.contains("the norm gain"), "{hint}");
}

#[test]
fn a_file_with_both_families_is_ambiguous_and_flags_that_do_not_apply_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = lm_tensors(1, false, false, false, false);
    t.extend(gated_tensors(1, true));
    let path = write(dir.path(), &t, None);
    let e = load_model::<f32>(&path, &auto(None)).unwrap_err();
    assert!(matches!(e, IoError::AmbiguousLayout { .. }), "{e}");
    // Each family is still loadable by name.
    load_model::<f32>(&path, &LayoutSpec::Lm { layer: None }).unwrap();
    load_model::<f32>(&path, &LayoutSpec::Gated { layer: None }).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &lm_tensors(1, false, false, false, false), None);
    let e = load_model::<f32>(
        &path,
        &LayoutSpec::Auto {
            residual: Some(true),
            layer: None,
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("residual = true applies to the image layout"),
        "{e}"
    );
    let single = write(
        dir.path(),
        &[
            raw("w", &mat(2, 3, 1), Dtype::F32),
            raw("v", &mat(2, 3, 2), Dtype::F32),
            raw("p", &mat(1, 2, 3), Dtype::F32),
        ],
        None,
    );
    let e = load_model::<f32>(&single, &auto(Some(0))).unwrap_err();
    assert!(
        e.to_string()
            .contains("a layer was chosen, which applies to layered models"),
        "{e}"
    );
    let file = TensorFile::open(&single).unwrap();
    let e = model_layers(&file, &auto(None)).unwrap_err();
    assert!(e.to_string().contains("no numbered layers"), "{e}");
}
