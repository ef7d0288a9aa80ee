//! The paper's evaluations as a user runs them: `bilens eval truncation|adversarial|explain|
//! consistency` on the shipped model and on small models trained here.
//!
//! The binary under test is a debug build, in which even faer's generic kernels run
//! unoptimised, so only the truncation test uses the shipped 512-wide model; the others train
//! a 24-wide model on a small slice of MNIST written here as raw IDX files (the first images of
//! each split), which keeps the suite fast.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;

use common::{bilens, mnist_slice, shipped_model};

/// Trains a 24-wide model on `slice` (8 epochs, batches of 256) into `dir/<name>` and returns
/// its model file.
fn tiny_model(dir: &Path, slice: &str, name: &str, seed: &str) -> String {
    bilens(
        dir,
        &[
            "train",
            "mnist",
            "--data",
            slice,
            "--out",
            name,
            "--width",
            "24",
            "--epochs",
            "8",
            "--batch-size",
            "256",
            "--seed",
            seed,
            "-q",
        ],
    )
    .ok();
    dir.join(name)
        .join("model.safetensors")
        .to_str()
        .unwrap()
        .to_string()
}

/// The test accuracy line of `bilens eval MODEL --data DIR`: `(correct, total)`.
fn plain_eval(dir: &Path, model: &str, data: &str) -> (usize, usize) {
    let run = bilens(dir, &["eval", model, "--data", data]).ok();
    let inner = run
        .stdout
        .split('(')
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let (c, n) = inner.split_once('/').unwrap();
    (c.parse().unwrap(), n.parse().unwrap())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Rows of a CSV file as maps from column name to field.
fn csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn truncation_at_all_components_is_the_shipped_model_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped_model();
    let m = model.to_str().unwrap();
    let slice = mnist_slice(&dir.path().join("mnist"), 2000, 1000);
    let run = bilens(
        dir.path(),
        &[
            "eval",
            "truncation",
            m,
            "--data",
            &slice,
            "--max-k",
            "12",
            "--out",
            "t",
        ],
    )
    .ok();
    assert!(
        run.stdout
            .contains("the same predictions as the model on 1000 of 1000 images"),
        "{}",
        run.stdout
    );
    // The model's own accuracy, as `bilens eval` (f32 forward pass) counts it.
    let (correct, total) = plain_eval(dir.path(), m, &slice);
    assert_eq!(total, 1000);
    let rows = csv(&dir.path().join("t/truncation.csv"));
    // Every rule: k = 0..=12 and k = 512.
    assert_eq!(rows.len(), 3 * 14);
    assert_eq!(
        rows[0].keys().filter(|k| k.starts_with("class_")).count(),
        10
    );
    let zeros = dir.path().join("mnist").join("t10k-labels-idx1-ubyte");
    let class0 = std::fs::read(zeros).unwrap()[8..]
        .iter()
        .filter(|&&l| l == 0)
        .count();
    for rule in ["abs", "paired", "activation"] {
        let of_rule: Vec<_> = rows.iter().filter(|r| r["rule"] == rule).collect();
        let ks: Vec<usize> = of_rule.iter().map(|r| r["k"].parse().unwrap()).collect();
        assert_eq!(ks, (0..=12).chain([512]).collect::<Vec<_>>(), "{rule}");
        // All components: exactly the model's count.
        let all = of_rule.last().unwrap();
        assert_eq!(all["correct"], correct.to_string(), "{rule}");
        // No component: every logit is zero and argmax picks class 0.
        assert_eq!(of_rule[0]["correct"], class0.to_string(), "{rule}");
        // Accuracy climbs: k = 12 is far above k = 1.
        let acc = |k: usize| -> f64 { of_rule[k]["accuracy"].parse().unwrap() };
        assert!(acc(12) > acc(1) + 0.3, "{rule}: {} vs {}", acc(12), acc(1));
    }
    // Paired keeps k of each sign: twice the components at small k.
    let paired3 = rows
        .iter()
        .find(|r| r["rule"] == "paired" && r["k"] == "3")
        .unwrap();
    assert_eq!(paired3["components"], "6.000000");
    let summary = json(&dir.path().join("t/truncation.json"));
    assert_eq!(summary["model_correct"], correct);
    assert_eq!(summary["components_per_class"], 512);
    for r in summary["rules"].as_array().unwrap() {
        assert_eq!(r["same_predictions_as_model_at_all"], 1000);
    }
    for ext in ["png", "svg"] {
        assert!(dir.path().join(format!("t/truncation.{ext}")).is_file());
    }
}

#[test]
fn adversarial_masks_beat_permuted_masks() {
    let dir = tempfile::tempdir().unwrap();
    let slice = mnist_slice(&dir.path().join("mnist"), 4096, 1000);
    let model = tiny_model(dir.path(), &slice, "tiny", "1");
    let run = bilens(
        dir.path(),
        &[
            "eval",
            "adversarial",
            &model,
            "--data",
            &slice,
            "--targets",
            "3,5",
            "--steps",
            "10",
            "--baselines",
            "2",
            "--out",
            "a",
        ],
    )
    .ok();
    assert!(run.stdout.contains("mean over 2 targets"), "{}", run.stdout);
    let rows = csv(&dir.path().join("a/adversarial.csv"));
    // Two targets and their mean, 11 strengths each.
    assert_eq!(rows.len(), 3 * 11);
    let mean_last = rows.iter().rfind(|r| r["target"] == "mean").unwrap();
    let mask: f64 = mean_last["mask_target_rate"].parse().unwrap();
    let random: f64 = mean_last["random_target_rate"].parse().unwrap();
    assert!(
        mask > 0.5 && mask > 10.0 * random,
        "mask {mask}, random {random}"
    );
    // At strength 0 nothing is added: the clean accuracy on other classes, no target.
    let first = &rows[0];
    assert_eq!(first["strength"], "0.000000");
    assert_eq!(first["mask_accuracy"], first["random_accuracy"]);
    let summary = json(&dir.path().join("a/adversarial.json"));
    let (correct, total) = plain_eval(dir.path(), &model, &slice);
    assert_eq!(
        summary["clean_accuracy"].as_f64().unwrap(),
        correct as f64 / total as f64
    );
    for f in [
        "adversarial.png",
        "adversarial_masks.png",
        "adversarial_masks.svg",
    ] {
        assert!(dir.path().join("a").join(f).is_file(), "{f}");
    }
}

#[test]
fn explanation_components_add_up_to_the_logit() {
    let dir = tempfile::tempdir().unwrap();
    let slice = mnist_slice(&dir.path().join("mnist"), 4096, 10);
    let model = tiny_model(dir.path(), &slice, "tiny", "1");
    let run = bilens(
        dir.path(),
        &[
            "eval", "explain", &model, "--data", &slice, "--index", "0", "--out", "e",
        ],
    )
    .ok();
    // The first MNIST test image is a 7.
    assert!(
        run.stdout.starts_with("test image 0: label 7, predicted "),
        "{}",
        run.stdout
    );
    let e = json(&dir.path().join("e/explain_0.json"));
    assert_eq!(e["logits"].as_array().unwrap().len(), 10);
    let logit = e["logit"].as_f64().unwrap();
    assert!(e["reconstruction_error"].as_f64().unwrap().abs() < 1e-9 * logit.abs().max(1.0));
    let top = e["top_components"].as_array().unwrap();
    assert!(top.len() >= 10 && top.len() <= 24);
    let c: Vec<f64> = top
        .iter()
        .map(|c| c["contribution"].as_f64().unwrap())
        .collect();
    assert!(c.windows(2).all(|w| w[0].abs() >= w[1].abs()), "{c:?}");
    for f in ["explain_0.png", "explain_0.svg", "explain_0_logits.png"] {
        assert!(dir.path().join("e").join(f).is_file(), "{f}");
    }
}

#[test]
fn a_model_is_perfectly_consistent_with_a_copy_of_itself() {
    let dir = tempfile::tempdir().unwrap();
    let slice = mnist_slice(&dir.path().join("mnist"), 4096, 10);
    let model = tiny_model(dir.path(), &slice, "tiny", "1");
    let copy = dir.path().join("copy.safetensors");
    std::fs::copy(&model, &copy).unwrap();
    let run = bilens(
        dir.path(),
        &[
            "eval",
            "consistency",
            &model,
            "copy.safetensors",
            "--top",
            "8",
            "--out",
            "c",
        ],
    )
    .ok();
    assert!(run.stdout.contains("2 models, 1 pairs"), "{}", run.stdout);
    let summary = json(&dir.path().join("c/consistency.json"));
    for key in ["mean_matched_by_rank", "mean_same_rank_by_rank"] {
        let v = summary[key].as_array().unwrap();
        assert_eq!(v.len(), 8);
        assert!(
            v.iter().all(|x| (x.as_f64().unwrap() - 1.0).abs() < 1e-9),
            "{key}: {v:?}"
        );
    }
    assert_eq!(csv(&dir.path().join("c/consistency.csv")).len(), 10 * 8);
    // Another seed finds similar but not identical components; the matching maximises the
    // total |cos| over ranks, so its sum is at least the rank-by-rank sum.
    let other = tiny_model(dir.path(), &slice, "other", "2");
    bilens(
        dir.path(),
        &[
            "eval",
            "consistency",
            &model,
            &other,
            "--top",
            "5",
            "--out",
            "s",
        ],
    )
    .ok();
    let seeds = json(&dir.path().join("s/consistency.json"));
    let m = seeds["mean_matched_by_rank"].as_array().unwrap();
    let r = seeds["mean_same_rank_by_rank"].as_array().unwrap();
    let (mut sum_m, mut sum_r) = (0.0, 0.0);
    for (a, b) in m.iter().zip(r) {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!(a < 1.0 - 1e-6 && a > 0.0, "{a}");
        sum_m += a;
        sum_r += b;
    }
    assert!(
        sum_m + 1e-12 >= sum_r,
        "matched {sum_m} < same rank {sum_r}"
    );
    // One model is not a comparison.
    let one = bilens(
        dir.path(),
        &["eval", "consistency", "copy.safetensors", "--out", "d"],
    );
    assert_eq!(one.code, 1, "{}", one.stderr);
}

#[test]
fn evaluation_errors_name_the_option_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped_model();
    let m = model.to_str().unwrap();
    let slice = mnist_slice(&dir.path().join("mnist"), 10, 10);
    let missing = bilens(
        dir.path(),
        &[
            "eval",
            "truncation",
            m,
            "--data",
            "no-such-dir",
            "--out",
            "t",
        ],
    );
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("no-such-dir"), "{}", missing.stderr);
    let mask = bilens(
        dir.path(),
        &[
            "eval",
            "adversarial",
            m,
            "--data",
            &slice,
            "--components",
            "4",
            "--mask",
            "4",
            "--out",
            "a",
        ],
    );
    assert_eq!(mask.code, 1, "{}", mask.stderr);
    assert!(mask.stderr.contains("--mask 4"), "{}", mask.stderr);
    assert!(mask.stderr.contains("hint:"), "{}", mask.stderr);
    let index = bilens(
        dir.path(),
        &[
            "eval", "explain", m, "--data", &slice, "--index", "10", "--out", "e",
        ],
    );
    assert_eq!(index.code, 1, "{}", index.stderr);
    assert!(index.stderr.contains("--index 10"), "{}", index.stderr);
    // `bilens eval` with neither a model nor an evaluation is a usage error.
    let bare = bilens(dir.path(), &["eval"]);
    assert_eq!(bare.code, 1, "{}", bare.stderr);
}
