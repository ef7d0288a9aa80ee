//! The main job on shipped data: `bilens demo`, `decompose`, `plot`, `eval`, `inspect` on the
//! shipped MNIST model, checked against an independent computation.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::{
    assert_spectra_match, assert_spectra_match_f64, bilens, reference_eigenvalues,
    reference_interaction, shipped_model, tensor_f64,
};

#[test]
fn demo_writes_results_and_figures_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = bilens(
        dir.path(),
        &[
            "demo",
            "--out",
            "out",
            "--model",
            shipped_model().to_str().unwrap(),
            "--data",
            common::repo().join("data/mnist").to_str().unwrap(),
        ],
    )
    .ok();
    assert!(run.stdout.contains("accuracy: 98.06%"), "{}", run.stdout);
    assert!(run.stdout.contains("class 9"), "{}", run.stdout);
    let out = dir.path().join("out");
    for f in [
        "results/decomposition.safetensors",
        "results/summary.json",
        "figures/overview.png",
        "figures/overview.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for c in 0..10 {
        for kind in ["eigenvectors", "spectrum"] {
            for ext in ["png", "svg"] {
                assert!(
                    out.join(format!("figures/{kind}_{c}.{ext}")).is_file(),
                    "{kind}_{c}.{ext} missing"
                );
            }
        }
    }
    let results = out.join("results/decomposition.safetensors");
    let (shape, _) = tensor_f64(&results, "eigenvalues");
    assert_eq!(shape, vec![10, 512]);
    assert_eq!(tensor_f64(&results, "eigenvectors").0, vec![10, 512, 512]);
    assert_eq!(
        tensor_f64(&results, "input_eigenvectors").0,
        vec![10, 512, 784]
    );
    assert_eq!(tensor_f64(&results, "outputs").0, vec![10, 10]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["outputs"].as_array().unwrap().len(), 10);
    // All components kept: Σλ² = ‖Q‖_F² up to f32 rounding of the eigenvalues.
    let kept = summary["outputs"][0]["fraction_kept"].as_f64().unwrap();
    assert!((kept - 1.0).abs() < 1e-5, "fraction kept {kept}");
    // The demo run from elsewhere without --model finds the shipped files too.
    let run = bilens(dir.path(), &["demo", "--out", "again", "-q"]).ok();
    assert!(run.stdout.contains("accuracy: 98.06%"));
}

#[test]
fn shipped_model_eigenvalues_match_an_independent_dense_eigendecomposition() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped_model();
    bilens(
        dir.path(),
        &["decompose", model.to_str().unwrap(), "--out", "r", "-q"],
    )
    .ok();
    bilens(
        dir.path(),
        &[
            "decompose",
            model.to_str().unwrap(),
            "--out",
            "r64",
            "--precision",
            "f64",
            "-q",
        ],
    )
    .ok();
    let (_, got) = tensor_f64(
        &dir.path().join("r/decomposition.safetensors"),
        "eigenvalues",
    );
    let (_, got64) = tensor_f64(
        &dir.path().join("r64/decomposition.safetensors"),
        "eigenvalues",
    );
    // Reference: weights read with the safetensors crate, Q formed by loops in f64, faer's eigh.
    let (_, block) = tensor_f64(&model, "blocks.0.weight");
    let (_, head) = tensor_f64(&model, "head.weight");
    let (h, d) = (512, 512);
    let (w, v) = block.split_at(h * d);
    for class in [0usize, 3, 7] {
        let q = reference_interaction(w, v, &head[class * h..(class + 1) * h], h, d);
        let want = reference_eigenvalues(&q, d);
        assert_spectra_match(
            &got[class * d..(class + 1) * d],
            &want,
            &format!("class {class}"),
        );
        assert_spectra_match_f64(
            &got64[class * d..(class + 1) * d],
            &want,
            &format!("class {class} in f64"),
        );
    }
}

#[test]
fn plot_redraws_from_the_results_directory_alone() {
    let dir = tempfile::tempdir().unwrap();
    bilens(
        dir.path(),
        &[
            "decompose",
            shipped_model().to_str().unwrap(),
            "--out",
            "r",
            "--k",
            "24",
            "-q",
        ],
    )
    .ok();
    let run = bilens(
        dir.path(),
        &["plot", "r", "--out", "figs", "--per-sign", "3"],
    )
    .ok();
    assert!(run.stdout.contains("wrote 21 figures"), "{}", run.stdout);
    let svg = std::fs::read_to_string(dir.path().join("figs/eigenvectors_3.svg")).unwrap();
    assert!(svg.contains("class 3: top eigenvectors"));
}

#[test]
fn eval_and_inspect_report_on_the_shipped_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::repo().join("data/mnist");
    let run = bilens(
        dir.path(),
        &[
            "eval",
            shipped_model().to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(
        run.stdout.starts_with("test accuracy: 98.06% (9806/10000)"),
        "{}",
        run.stdout
    );
    let run = bilens(dir.path(), &["inspect", shipped_model().to_str().unwrap()]).ok();
    for needle in [
        "blocks.0.weight  F32   [1024, 512]",
        "layout: image (not residual)",
        "d_input 784, d_in 512, d_hidden 512, d_out 10",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            run.stdout
        );
    }
}
