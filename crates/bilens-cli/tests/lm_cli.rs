//! Language models end to end: a bilinear transformer checkpoint in the public naming
//! (`common::lm`) decomposed per layer in SAE bases read from files, for SAE encoder rows and
//! for tokens; every spectrum equals a direct computation, tokens get their strings,
//! components their tokens. Mistakes and gated models: `lm_errors_cli.rs`.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;

use common::lm::*;
use common::{
    Rng, assert_spectra_match_f64, bilens, reference_eigenvalues, tensor_f64, write_tensors,
};

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

/// TransformerLens stores the unembedding as `W_U [d_model, d_vocab]` (tokens are columns) and
/// the embedding as `W_E [d_vocab, d_model]`: the same model in TL naming gives the same token
/// directions, spectra and component tokens as in the public naming (which the test above
/// checks against a direct computation).
#[test]
fn transformerlens_token_matrices_label_like_the_public_naming() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng::new(5);
    let m = model(&mut rng);
    write_model(&root.join("model.safetensors"), &m, &mut rng);
    write_tl_model(&root.join("tl.safetensors"), &m);
    std::fs::write(root.join("tokenizer.json"), TOKENIZER).unwrap();
    let run = |model: &str, layout: &str, out: &str| {
        bilens(
            root,
            &[
                "decompose",
                model,
                "--layout",
                layout,
                "--layer",
                "2",
                "--outputs",
                "tokens:3,4-5",
                "--tokenizer",
                "tokenizer.json",
                "--precision",
                "f64",
                "--out",
                out,
            ],
        )
        .ok();
    };
    run("model.safetensors", "lm", "lm");
    run("tl.safetensors", "tl", "tl");
    let inspect = bilens(root, &["inspect", "tl.safetensors", "--layer", "2"]).ok();
    assert!(
        inspect
            .stdout
            .contains("unembedding = unembed.W_U (read transposed)  [12, 8]"),
        "{}",
        inspect.stdout
    );
    assert!(
        inspect
            .stdout
            .contains("token embedding = embed.W_E  [12, 8]")
    );
    let summary = |out: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(out).join("summary.json")).unwrap())
            .unwrap()
    };
    let (lm, tl) = (summary("lm"), summary("tl"));
    assert_eq!(tl["outputs"][1]["label"], "' dog' - ' sat'");
    for o in 0..2 {
        assert_eq!(tl["outputs"][o]["label"], lm["outputs"][o]["label"]);
        assert_eq!(
            tl["outputs"][o]["component_tokens"],
            lm["outputs"][o]["component_tokens"]
        );
    }
    for name in ["outputs", "eigenvalues"] {
        let (shape_lm, lm) = tensor_f64(&root.join("lm/decomposition.safetensors"), name);
        let (shape_tl, tl) = tensor_f64(&root.join("tl/decomposition.safetensors"), name);
        assert_eq!(shape_lm, shape_tl, "{name}");
        for (a, b) in lm.iter().zip(&tl) {
            assert!(
                (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
                "{name}: {a} vs {b}"
            );
        }
    }
    // Token 3's direction is column 3 of W_U.
    let (_, outputs) = tensor_f64(&root.join("tl/decomposition.safetensors"), "outputs");
    assert_eq!(outputs[..D], m.lm_head[3 * D..4 * D]);
}
