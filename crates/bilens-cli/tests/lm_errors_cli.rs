//! Language models, what goes wrong: layer and token mistakes named with a hint, and a gated
//! model decomposed as a labelled approximation.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::lm::*;
use common::{
    Rng, assert_spectra_match_f64, bilens, reference_eigenvalues, tensor_f64, write_tensors,
};

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
                "token 99 is beyond the 12 tokens of lm_head.weight",
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
