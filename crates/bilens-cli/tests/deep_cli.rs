//! A deep image model end to end through the binary: `inspect` shows every block, `decompose`
//! takes the last block by default and chains earlier blocks with `--outputs results:DIR`,
//! `plot` draws no pictures for blocks that read the hidden stream, and the mistakes (a block
//! past the last, chained directions of the wrong width) are named.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{Rng, bilens, tensor_f64};
use safetensors::tensor::TensorView;

/// A residual 3-block model: 36 pixels (6×6), a stream of 16 (square, so a hidden-stream
/// eigenvector would pass for a 4×4 image), 3 classes; f32 tensors and a `config.json`.
fn write_deep(dir: &Path) {
    let mut rng = Rng::new(7);
    let shapes: Vec<(String, Vec<usize>)> = vec![
        ("embed.weight".into(), vec![16, 36]),
        ("blocks.0.weight".into(), vec![32, 16]),
        ("blocks.1.weight".into(), vec![32, 16]),
        ("blocks.2.weight".into(), vec![32, 16]),
        ("head.weight".into(), vec![3, 16]),
    ];
    let bytes: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(_, s)| {
            (0..s.iter().product::<usize>())
                .flat_map(|_| ((0.4 * rng.next()) as f32).to_le_bytes())
                .collect()
        })
        .collect();
    let views: HashMap<String, TensorView<'_>> = shapes
        .iter()
        .zip(&bytes)
        .map(|((n, s), b)| {
            (
                n.clone(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"d_hidden": 16, "n_layer": 3, "d_input": 36, "d_output": 3, "residual": true}"#,
    )
    .unwrap();
}

#[test]
fn deep_model_decomposes_block_by_block_and_chains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_deep(d);

    let run = bilens(d, &["inspect", "model.safetensors"]).ok();
    for text in [
        "blocks.1.weight",
        "layout: image (residual), block 2 of 3",
        "P = head.weight  [3, 16]",
        "no block chosen: block 2, the last",
    ] {
        assert!(run.stdout.contains(text), "{text}:\n{}", run.stdout);
    }

    // The last block by default, along the classes; then block 1 along its components.
    bilens(
        d,
        &["decompose", "model.safetensors", "--out", "b2", "-k", "4"],
    )
    .ok();
    let run = bilens(
        d,
        &[
            "decompose",
            "model.safetensors",
            "--layer",
            "1",
            "--outputs",
            "results:b2",
            "--out",
            "b1",
        ],
    )
    .ok();
    assert!(
        run.stderr.contains("reads the hidden stream, not pixels"),
        "{}",
        run.stderr
    );
    // Block 1's directions are block 2's 3 × 4 components, in order.
    let (shape, directions) = tensor_f64(&d.join("b1/decomposition.safetensors"), "outputs");
    let (stored_shape, stored) =
        tensor_f64(&d.join("b2/decomposition.safetensors"), "eigenvectors");
    assert_eq!((shape, stored_shape), (vec![12, 16], vec![3, 4, 16]));
    assert_eq!(directions, stored);
    let summary = std::fs::read_to_string(d.join("b1/summary.json")).unwrap();
    assert!(summary.contains("\"label\": \"0.c0\""), "{summary}");

    // Block 0 along the top component of block 1's first output: pictures in pixels.
    bilens(
        d,
        &[
            "decompose",
            "model.safetensors",
            "--layer",
            "0",
            "--outputs",
            "results:b1",
            "--rows",
            "0",
            "--out",
            "b0",
        ],
    )
    .ok();
    let (shape, _) = tensor_f64(
        &d.join("b0/decomposition.safetensors"),
        "input_eigenvectors",
    );
    assert_eq!(shape[2], 36);

    // Figures: block 1's square-length eigenvectors are not drawn as images; block 0's are.
    let run = bilens(d, &["plot", "b1", "--out", "f1"]).ok();
    assert!(
        run.stderr.contains("block 1 reads the hidden stream"),
        "{}",
        run.stderr
    );
    let drawn = |dir: &str| {
        std::fs::read_dir(d.join(dir))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("eigenvectors_")
            })
            .count()
    };
    assert_eq!(drawn("f1"), 0);
    bilens(d, &["plot", "b0", "--out", "f0"]).ok();
    assert!(drawn("f0") > 0);
}

#[test]
fn deep_model_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_deep(d);
    let run = bilens(
        d,
        &[
            "decompose",
            "model.safetensors",
            "--layer",
            "3",
            "--out",
            "x",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("the model has no layer 3; it holds blocks 0..3")
            && run.stderr.contains("--layer I"),
        "{}",
        run.stderr
    );
    // The last block's components are stream vectors: not directions of the head's outputs.
    bilens(
        d,
        &["decompose", "model.safetensors", "--out", "b2", "-k", "2"],
    )
    .ok();
    let run = bilens(
        d,
        &[
            "decompose",
            "model.safetensors",
            "--outputs",
            "results:b2",
            "--out",
            "x",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("its components have 16 entries")
            && run.stderr.contains("d_out = 3")
            && run.stderr.contains("--layer I+1"),
        "{}",
        run.stderr
    );
    let run = bilens(
        d,
        &[
            "decompose",
            "model.safetensors",
            "--layer",
            "1",
            "--outputs",
            "results:nowhere",
            "--out",
            "x",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("no such results directory"),
        "{}",
        run.stderr
    );
    // Evaluations that treat one block as the classifier refuse a deep model.
    let run = bilens(
        d,
        &[
            "eval",
            "truncation",
            "model.safetensors",
            "--data",
            ".",
            "--out",
            "t",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("3 bilinear blocks"), "{}", run.stderr);
}

/// `eval bottleneck` on the shipped 3-block model: every block's curve in the CSV, and with
/// every component the model's own predictions on every image; its mistakes are named.
#[test]
fn the_shipped_deep_model_truncates_block_by_block() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = common::mnist_slice(&d.join("mnist"), 1, 1000);
    let model = common::repo().join("data/models/mnist-deep3/model.safetensors");
    let model = model.to_str().unwrap();
    let run = bilens(
        d,
        &[
            "eval",
            "bottleneck",
            model,
            "--data",
            &data,
            "--ranks",
            "0,8,256",
            "--out",
            "b",
        ],
    )
    .ok();
    assert!(
        run.stdout.contains("block 0 (256 components")
            && run.stdout.contains("block 2 (256 components")
            && !run.stdout.contains("a bug"),
        "{}",
        run.stdout
    );
    let csv = std::fs::read_to_string(d.join("b/bottleneck.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 9, "{csv}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("b/bottleneck.json")).unwrap())
            .unwrap();
    for block in report["blocks"].as_array().unwrap() {
        assert_eq!(block["same_as_model"][2], 1000, "{block}");
        // Removing a block's tensor entirely costs accuracy; 8 of 256 components cost less.
        let acc: Vec<f64> = (0..3)
            .map(|j| block["accuracy"][j].as_f64().unwrap())
            .collect();
        assert!(acc[0] < acc[2] && acc[0] <= acc[1], "{block}");
    }
    assert!(d.join("b/bottleneck.png").is_file() && d.join("b/bottleneck.svg").is_file());

    let run = bilens(
        d,
        &[
            "eval",
            "bottleneck",
            model,
            "--data",
            &data,
            "--ranks",
            "4,300",
            "--out",
            "x",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("--ranks")
            && run.stderr.contains("block 0 has only 256 HOSVD components"),
        "{}",
        run.stderr
    );
    let run = bilens(
        d,
        &[
            "eval",
            "bottleneck",
            model,
            "--data",
            &data,
            "--eigenvectors",
            "0",
            "--out",
            "x",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--eigenvectors"), "{}", run.stderr);
    assert!(!d.join("x").exists());
}
