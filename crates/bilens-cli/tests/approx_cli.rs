//! `bilens eval approx` on a layer with a known answer: output o's interaction matrix has rank
//! r_o = o + 1 by construction (r_o hidden units, each `(w_aᵀx)²`, feed it), and its feature is
//! `ReLU(y_o(x))`. The correlation on active inputs is 1 from K = r_o on and clearly below 1
//! before, the summary and files say so, outputs picked with `--rows` find their columns.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;

use common::{Rng, bilens, write_tensors};

const D: usize = 12;
const OUTPUTS: usize = 4;
/// Hidden units: 1 + 2 + 3 + 4.
const H: usize = 10;
const N: usize = 600;

/// Writes the layer and the recorded activations; returns nothing, the files are the data.
fn write_case(root: &Path) {
    let mut rng = Rng::new(17);
    let w = common::as_f32(&rng.vec(H * D));
    // P: hidden unit a feeds output group(a) with weight ±(0.8..1.2); signs mixed so that
    // every feature is active on part of the inputs.
    let mut p = vec![0.0; OUTPUTS * H];
    let mut a = 0;
    for o in 0..OUTPUTS {
        for j in 0..=o {
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            p[o * H + a] = f64::from((sign * (1.0 + 0.2 * rng.next())) as f32);
            a += 1;
        }
    }
    write_tensors(
        &root.join("model.safetensors"),
        &[
            ("w", vec![H, D], w.clone()),
            ("v", vec![H, D], w.clone()),
            ("p", vec![OUTPUTS, H], p.clone()),
        ],
    );
    let x = common::as_f32(&rng.vec(N * D));
    let mut act = vec![0.0; N * OUTPUTS];
    for n in 0..N {
        let xn = &x[n * D..(n + 1) * D];
        let g: Vec<f64> = (0..H)
            .map(|a| {
                let s: f64 = (0..D).map(|i| w[a * D + i] * xn[i]).sum();
                s * s
            })
            .collect();
        for o in 0..OUTPUTS {
            let y: f64 = (0..H).map(|a| p[o * H + a] * g[a]).sum();
            act[n * OUTPUTS + o] = y.max(0.0);
        }
    }
    write_tensors(
        &root.join("acts.safetensors"),
        &[
            ("inputs", vec![N, D], x),
            ("activations", vec![N, OUTPUTS], act),
        ],
    );
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn correlations(report: &serde_json::Value, feature: usize) -> Vec<f64> {
    report["features"][feature]["correlations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap_or(f64::NAN))
        .collect()
}

#[track_caller]
fn assert_exact_from_rank(c: &[f64], rank: usize, what: &str) {
    for (k, &corr) in c.iter().enumerate() {
        if k + 1 >= rank {
            assert!(
                corr > 1.0 - 1e-6,
                "{what}: K = {} gives {corr}, expected 1",
                k + 1
            );
        } else {
            assert!(
                corr < 0.995,
                "{what}: K = {} gives {corr}, expected below 1",
                k + 1
            );
        }
    }
}

#[test]
fn eval_approx_recovers_the_rank_of_each_feature() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_case(root);
    bilens(
        root,
        &[
            "decompose",
            "model.safetensors",
            "--precision",
            "f64",
            "--out",
            "res",
        ],
    )
    .ok();
    let run = bilens(
        root,
        &[
            "eval",
            "approx",
            "res",
            "--activations",
            "acts.safetensors",
            "--max-k",
            "6",
            "--out",
            "approx",
        ],
    )
    .ok();
    assert!(
        run.stdout.contains("4 features, 600 inputs"),
        "{}",
        run.stdout
    );
    let report = read_json(&root.join("approx/approx.json"));
    for o in 0..OUTPUTS {
        let c = correlations(&report, o);
        assert_eq!(c.len(), 6);
        assert_exact_from_rank(&c, o + 1, &format!("feature {o}"));
        assert!(report["features"][o]["n_active"].as_u64().unwrap() > 20);
    }
    // At K = 2 the rank-1 and rank-2 features are exact, the others not.
    let mean2 = report["mean_at_2"].as_f64().unwrap();
    let c = |o| correlations(&report, o)[1];
    assert!((mean2 - (c(0) + c(1) + c(2) + c(3)) / 4.0).abs() < 1e-12);
    let above = (0..OUTPUTS).filter(|&o| c(o) > 0.75).count() as f64 / OUTPUTS as f64;
    assert_eq!(report["fraction_above_at_2"].as_f64().unwrap(), above);
    let summary_csv = std::fs::read_to_string(root.join("approx/approx_summary.csv")).unwrap();
    assert!(
        summary_csv.starts_with("k,mean,median,fraction_above,defined\n1,"),
        "{summary_csv}"
    );
    assert_eq!(summary_csv.lines().count(), 7);
    let features_csv = std::fs::read_to_string(root.join("approx/approx_features.csv")).unwrap();
    assert!(features_csv.starts_with("index,label,column,n_active,k1,k2,k3,k4,k5,k6\n0,0,0,"));
    assert!(root.join("approx/approx.png").exists() && root.join("approx/approx.svg").exists());

    // A subset of the features, matched to their columns by label.
    bilens(
        root,
        &[
            "decompose",
            "model.safetensors",
            "--rows",
            "1,3",
            "--precision",
            "f64",
            "--out",
            "sub",
        ],
    )
    .ok();
    bilens(
        root,
        &[
            "eval",
            "approx",
            "sub",
            "--activations",
            "acts.safetensors",
            "--out",
            "approx-sub",
        ],
    )
    .ok();
    let sub = read_json(&root.join("approx-sub/approx.json"));
    assert_eq!(sub["features"][1]["column"], 3);
    assert_exact_from_rank(&correlations(&sub, 0), 2, "row 1");
    assert_exact_from_rank(&correlations(&sub, 1), 4, "row 3");
    // K stops at the stored components (D = 12 here, fewer than the default 64).
    assert_eq!(correlations(&sub, 0).len(), D);
}

#[test]
fn eval_approx_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_case(root);
    bilens(
        root,
        &[
            "decompose",
            "model.safetensors",
            "--eigenvalues-only",
            "--out",
            "spectra",
        ],
    )
    .ok();
    let run = bilens(
        root,
        &[
            "eval",
            "approx",
            "spectra",
            "--activations",
            "acts.safetensors",
            "--out",
            "a",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("holds eigenvalues only"),
        "{}",
        run.stderr
    );
    bilens(root, &["decompose", "model.safetensors", "--out", "res"]).ok();
    write_tensors(
        &root.join("bad.safetensors"),
        &[
            ("inputs", vec![3, 5], vec![0.0; 15]),
            ("activations", vec![3, 4], vec![0.0; 12]),
        ],
    );
    let run = bilens(
        root,
        &[
            "eval",
            "approx",
            "res",
            "--activations",
            "bad.safetensors",
            "--out",
            "a",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("'inputs' has 5 columns but the eigenvectors have 12"),
        "{}",
        run.stderr
    );
    let run = bilens(
        root,
        &[
            "eval",
            "approx",
            "res",
            "--activations",
            "acts.safetensors",
            "--activations-tensor",
            "acts",
            "--out",
            "a",
        ],
    );
    assert!(
        run.stderr
            .contains("no tensor named 'acts' for the feature activations")
            && run.stderr.contains("inputs"),
        "{}",
        run.stderr
    );
}
