//! Language models end to end: a bilinear transformer checkpoint in the public naming (random
//! weights, several layers, attention and embeddings beside the MLPs) decomposed per layer in
//! SAE bases read from files, for SAE encoder rows and for tokens; every spectrum equals a
//! direct computation, tokens get their strings, components their tokens; a gated model is
//! labelled an approximation.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;

use common::{
    Rng, assert_spectra_match_f64, bilens, reference_eigenvalues, tensor_f64, write_tensors,
};

const D: usize = 8;
const H: usize = 6;
const VOCAB: usize = 12;
const LAYERS: usize = 3;
/// Input SAE features (overcomplete) and output SAE features.
const N_IN: usize = 10;
const N_OUT: usize = 5;

/// The weights of one layer, row-major f64 (rounded to f32, as the file holds them).
struct Layer {
    w: Vec<f64>,
    v: Vec<f64>,
    p: Vec<f64>,
    gain: Vec<f64>,
}

struct Model {
    layers: Vec<Layer>,
    wte: Vec<f64>,
    lm_head: Vec<f64>,
}

fn f32s(v: Vec<f64>) -> Vec<f64> {
    common::as_f32(&v)
}

fn model(rng: &mut Rng) -> Model {
    let layers = (0..LAYERS)
        .map(|_| Layer {
            w: f32s(rng.vec(H * D)),
            v: f32s(rng.vec(H * D)),
            p: f32s(rng.vec(D * H)),
            gain: f32s(rng.vec(D).iter().map(|g| 1.0 + 0.5 * g).collect()),
        })
        .collect();
    Model {
        layers,
        wte: f32s(rng.vec(VOCAB * D)),
        lm_head: f32s(rng.vec(VOCAB * D)),
    }
}

/// Writes the checkpoint as the public code names it.
fn write_model(path: &Path, m: &Model, rng: &mut Rng) {
    let mut t: Vec<(String, Vec<usize>, Vec<f64>)> = vec![
        (
            "transformer.wte.weight".into(),
            vec![VOCAB, D],
            m.wte.clone(),
        ),
        ("lm_head.weight".into(), vec![VOCAB, D], m.lm_head.clone()),
        ("transformer.n_f.weight".into(), vec![D], vec![1.0; D]),
    ];
    for (i, l) in m.layers.iter().enumerate() {
        let mut fused = l.w.clone();
        fused.extend(&l.v);
        let name = |rest: &str| format!("transformer.h.{i}.{rest}");
        t.push((name("mlp.w.weight"), vec![2 * H, D], fused));
        t.push((name("mlp.p.weight"), vec![D, H], l.p.clone()));
        t.push((name("n2.weight"), vec![D], l.gain.clone()));
        t.push((name("attn.qkv.weight"), vec![3 * D, D], rng.vec(3 * D * D)));
        t.push((name("attn.o.weight"), vec![D, D], rng.vec(D * D)));
    }
    let refs: Vec<(&str, Vec<usize>, Vec<f64>)> = t
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    write_tensors(path, &refs);
}

fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols * rows)
        .map(|i| a[(i % rows) * cols + i / rows])
        .collect()
}

/// `sym(W'ᵀ diag(Pᵀu) V')` with the gain folded, `W' = W diag(γ)`.
fn q_of(l: &Layer, u: &[f64]) -> Vec<f64> {
    let fold = |m: &[f64]| -> Vec<f64> { (0..H * D).map(|i| m[i] * l.gain[i % D]).collect() };
    let c = common::coefficients(&l.p, u, H);
    common::reference_interaction(&fold(&l.w), &fold(&l.v), &c, H, D)
}

/// `Dᵀ Q D` for a basis whose features are the rows of `dec` `[n, D]`.
fn in_basis(q: &[f64], dec: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..n {
            let mut s = 0.0;
            for i in 0..D {
                for j in 0..D {
                    s += dec[a * D + i] * q[i * D + j] * dec[b * D + j];
                }
            }
            out[a * n + b] = s;
        }
    }
    out
}

#[test]
fn bilinear_transformer_layers_in_sae_bases_equal_a_direct_computation() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng::new(11);
    let m = model(&mut rng);
    write_model(&root.join("model.safetensors"), &m, &mut rng);
    // SAEs as SAELens stores them: W_enc [d, n], W_dec [n, d]; and as nn.Linear stores them:
    // encoder.weight [n, d], decoder.weight [d, n].
    let enc = f32s(rng.vec(N_OUT * D)); // rows: output features
    let dec = f32s(rng.vec(N_IN * D)); // rows: input features
    write_tensors(
        &root.join("sae_saelens.safetensors"),
        &[
            ("W_enc", vec![D, N_OUT], transpose(&enc, N_OUT, D)),
            ("W_dec", vec![N_IN, D], dec.clone()),
        ],
    );
    write_tensors(
        &root.join("sae_linear.safetensors"),
        &[
            ("encoder.weight", vec![N_OUT, D], enc.clone()),
            ("decoder.weight", vec![D, N_IN], transpose(&dec, N_IN, D)),
        ],
    );
    let run = bilens(
        root,
        &[
            "decompose",
            "model.safetensors",
            "--layout",
            "lm",
            "--layer",
            "all",
            "--outputs",
            "sae_saelens.safetensors:W_enc",
            "--input-basis",
            "sae_saelens.safetensors:W_dec",
            "--precision",
            "f64",
            "--out",
            "saelens",
        ],
    )
    .ok();
    assert!(run.stdout.contains("layer 2:"), "{}", run.stdout);
    assert!(
        run.stderr.contains("3 layers, one results directory each"),
        "{}",
        run.stderr
    );
    bilens(
        root,
        &[
            "decompose",
            "model.safetensors",
            "--layer",
            "1",
            "--outputs",
            "sae_linear.safetensors:encoder.weight",
            "--input-basis",
            "sae_linear.safetensors:decoder.weight",
            "--precision",
            "f64",
            "--out",
            "linear",
        ],
    )
    .ok();
    for (l, layer) in m.layers.iter().enumerate() {
        let file = root.join(format!("saelens/layer-{l}/decomposition.safetensors"));
        let (shape, values) = tensor_f64(&file, "eigenvalues");
        // Overcomplete basis: D nonzero eigenvalues per output.
        assert_eq!(shape, vec![N_OUT, D]);
        let (vshape, vectors) = tensor_f64(&file, "eigenvectors");
        assert_eq!(vshape, vec![N_OUT, D, N_IN]);
        for o in 0..N_OUT {
            let q_d = in_basis(&q_of(layer, &enc[o * D..(o + 1) * D]), &dec, N_IN);
            let want = reference_eigenvalues(&q_d, N_IN);
            let got = &values[o * D..(o + 1) * D];
            assert_spectra_match_f64(got, &want[..D], &format!("layer {l} feature {o}"));
            // Each stored eigenvector is one of Q_D: v ᵀ Q_D v = λ.
            for k in 0..D {
                let v = &vectors[(o * D + k) * N_IN..(o * D + k + 1) * N_IN];
                let mut vqv = 0.0;
                for a in 0..N_IN {
                    for b in 0..N_IN {
                        vqv += v[a] * q_d[a * N_IN + b] * v[b];
                    }
                }
                let scale = want[0].abs();
                assert!(
                    (vqv - got[k]).abs() <= 1e-9 * scale,
                    "layer {l} feature {o} λ_{k}"
                );
            }
        }
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(format!("saelens/layer-{l}/summary.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(summary["metadata"]["layer"], l.to_string());
        assert_eq!(summary["metadata"]["layout"], "lm");
    }
    // Both SAE storage conventions give the same results.
    let a = tensor_f64(
        &root.join("saelens/layer-1/decomposition.safetensors"),
        "eigenvalues",
    );
    let b = tensor_f64(
        &root.join("linear/decomposition.safetensors"),
        "eigenvalues",
    );
    assert_eq!(a, b);
}

const TOKENIZER: &str = r#"{"version": "1.0", "added_tokens": [{"id": 0, "content": "<|endoftext|>"}],
  "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"<|endoftext|>": 0, "Ġthe": 1, "Ġa": 2, "Ġcat": 3, "Ġdog": 4,
    "Ġsat": 5, "Ġran": 6, "Ċ": 7, "ing": 8, "ed": 9, ",": 10, ".": 11}, "merges": []}}"#;

#[test]
fn token_outputs_get_their_strings_and_components_their_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng::new(5);
    let m = model(&mut rng);
    write_model(&root.join("model.safetensors"), &m, &mut rng);
    std::fs::write(root.join("tokenizer.json"), TOKENIZER).unwrap();
    bilens(
        root,
        &[
            "decompose",
            "model.safetensors",
            "--layer",
            "2",
            "--outputs",
            "tokens:3,4-5",
            "--tokenizer",
            "tokenizer.json",
            "--precision",
            "f64",
            "--out",
            "tokens",
        ],
    )
    .ok();
    let file = root.join("tokens/decomposition.safetensors");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("tokens/summary.json")).unwrap())
            .unwrap();
    let labels: Vec<&str> = summary["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, [" cat", "' dog' - ' sat'"]);
    // u = lm_head[token] (and a difference of two rows) in P's output space.
    let row = |t: usize| m.lm_head[t * D..(t + 1) * D].to_vec();
    let us = [
        row(3),
        row(4).iter().zip(row(5)).map(|(a, b)| a - b).collect(),
    ];
    let (_, values) = tensor_f64(&file, "eigenvalues");
    let (_, vectors) = tensor_f64(&file, "eigenvectors");
    for (o, u) in us.iter().enumerate() {
        let want = reference_eigenvalues(&q_of(&m.layers[2], u), D);
        assert_spectra_match_f64(&values[o * D..(o + 1) * D], &want, labels[o]);
    }
    // Components labelled by the tokens whose embeddings project most and least on them.
    let comps = summary["outputs"][0]["component_tokens"]
        .as_array()
        .unwrap();
    assert_eq!(comps.len(), 4);
    let v0 = &vectors[..D];
    let scores: Vec<f64> = (0..VOCAB)
        .map(|t| (0..D).map(|j| m.wte[t * D + j] * v0[j]).sum())
        .collect();
    let mut order: Vec<usize> = (0..VOCAB).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top: Vec<u64> = comps[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        top,
        order[..5].iter().map(|&t| t as u64).collect::<Vec<_>>()
    );
    let bottom0 = comps[0]["bottom"][0]["id"].as_u64().unwrap() as usize;
    assert_eq!(bottom0, order[VOCAB - 1]);
    let strings = [
        "<|endoftext|>",
        " the",
        " a",
        " cat",
        " dog",
        " sat",
        " ran",
        "\\n",
        "ing",
        "ed",
        ",",
        ".",
    ];
    assert_eq!(comps[0]["top"][0]["token"], strings[order[0]]);
    let (tshape, ids) = tensor_f64_i64(&file, "top_tokens");
    assert_eq!(tshape, vec![2, 4, 5]);
    assert_eq!(
        ids[..5],
        top.iter().map(|&t| t as i64).collect::<Vec<_>>()[..]
    );
    assert_eq!(summary["metadata"]["tokenizer"], "tokenizer.json");

    // Figures name token outputs by their strings (made safe for file names).
    bilens(root, &["plot", "tokens", "--out", "figs"]).ok();
    assert!(root.join("figs/spectrum__cat.png").exists());
}

/// An I64 tensor read with the reference parser.
fn tensor_f64_i64(path: &Path, name: &str) -> (Vec<usize>, Vec<i64>) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let v = t
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), v)
}

#[test]
fn layer_and_token_mistakes_are_named_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng::new(2);
    let m = model(&mut rng);
    write_model(&root.join("model.safetensors"), &m, &mut rng);
    // Each mistake: the command, and what its error must say.
    let mistakes: [(&[&str], &[&str]); 5] = [
        (
            &["decompose", "model.safetensors", "--out", "r"],
            &[
                "the model holds layers 0..3; which one to decompose?",
                "hint: pass --layer I with one of them, or --layer all",
            ],
        ),
        (
            &[
                "decompose",
                "model.safetensors",
                "--layer",
                "7",
                "--out",
                "r",
            ],
            &["the model has no layer 7; it holds layers 0..3"],
        ),
        (
            &[
                "decompose",
                "model.safetensors",
                "--layer",
                "0",
                "--outputs",
                "tokens:99",
                "--out",
                "r",
            ],
            &[
                "token 99 is beyond the 12 rows of lm_head.weight",
                "hint: token ids run from 0 to 11",
            ],
        ),
        (
            &[
                "decompose",
                "model.safetensors",
                "--layer",
                "x",
                "--out",
                "r",
            ],
            &["'x' is neither a layer index nor `all`"],
        ),
        (
            &["inspect", "model.safetensors", "--layer", "all"],
            &["--layer all applies to `bilens decompose`"],
        ),
    ];
    for (args, expected) in mistakes {
        let run = bilens(root, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        for text in expected {
            assert!(run.stderr.contains(text), "{args:?}: {}", run.stderr);
        }
    }
    let run = bilens(root, &["inspect", "model.safetensors", "--layer", "1"]).ok();
    assert!(
        run.stdout
            .contains("layout: lm, layer 1 of 3 (layers 0..3)")
            && run.stdout.contains("γ = transformer.h.1.n2.weight")
            && run.stdout.contains("unembedding = lm_head.weight  [12, 8]"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_gated_model_is_decomposed_as_a_labelled_approximation() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng::new(3);
    let (w, v, p) = (rng.vec(H * D), rng.vec(H * D), rng.vec(D * H));
    write_tensors(
        &root.join("model.safetensors"),
        &[
            (
                "model.embed_tokens.weight",
                vec![VOCAB, D],
                rng.vec(VOCAB * D),
            ),
            ("model.layers.0.mlp.gate_proj.weight", vec![H, D], w.clone()),
            ("model.layers.0.mlp.up_proj.weight", vec![H, D], v.clone()),
            ("model.layers.0.mlp.down_proj.weight", vec![D, H], p.clone()),
            (
                "model.layers.0.post_attention_layernorm.weight",
                vec![D],
                vec![1.0; D],
            ),
        ],
    );
    std::fs::write(
        root.join("config.json"),
        r#"{"model_type": "llama", "hidden_act": "silu"}"#,
    )
    .unwrap();
    let run = bilens(
        root,
        &[
            "decompose",
            "model.safetensors",
            "--precision",
            "f64",
            "--outputs",
            "tokens:1",
            "--out",
            "g",
        ],
    )
    .ok();
    assert!(
        run.stderr
            .contains("note: approximation: a gated MLP down(silu(gate x) ⊙ up x)"),
        "{}",
        run.stderr
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("g/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["metadata"]["layout"], "gated");
    assert!(
        summary["metadata"]["approximation"]
            .as_str()
            .unwrap()
            .contains("read bilinearly")
    );
    // Tied unembedding: u = embed_tokens[1]; the bilinear part of the layer, exactly.
    let (_, e) = common::tensor_f64(&root.join("model.safetensors"), "model.embed_tokens.weight");
    let u = &e[D..2 * D];
    let c = common::coefficients(&common::as_f32(&p), u, H);
    let q = common::reference_interaction(&common::as_f32(&w), &common::as_f32(&v), &c, H, D);
    let (_, values) = tensor_f64(&root.join("g/decomposition.safetensors"), "eigenvalues");
    assert_spectra_match_f64(&values, &reference_eigenvalues(&q, D), "gated");
}
