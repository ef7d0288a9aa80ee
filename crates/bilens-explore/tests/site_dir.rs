//! What a site is made from and where it goes: incomplete results refused as `bilens plot`
//! refuses them, an existing site replaced whole (and nothing else replaced), evaluations
//! beside the results taken when they fit and left out, with the reason, when they do not.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;

use bilens_explore::{EvaluationKind, ExploreError, ExploreOptions, explore};
use bilens_io::ResultsFile;
use common::{Spec, chunked, record, write_results};
use serde_json::json;

fn results(root: &Path, name: &str, spec: &Spec) -> std::path::PathBuf {
    let dir = root.join(name);
    write_results::<f32>(&dir, spec);
    dir
}

fn siblings(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The refusal of `dir`: explore's error must carry `ResultsFile::open`'s own.
fn refusal(dir: &Path, site: &Path) -> String {
    let e = explore(dir, site, &ExploreOptions::default()).unwrap_err();
    let ExploreError::Results(io) = &e else {
        panic!("not a results refusal: {e}")
    };
    assert!(e.hint().is_some());
    assert!(!site.exists(), "a refused site was written");
    io.to_string()
}

#[test]
fn incomplete_results_are_refused_as_plot_refuses_them() {
    let root = tempfile::tempdir().unwrap();
    let spec = Spec::new(4, 3, 8);
    let site = root.path().join("site");

    let missing = results(root.path(), "missing", &spec);
    std::fs::remove_file(missing.join("summary.json")).unwrap();
    let plot = ResultsFile::open(&missing).unwrap_err().to_string();
    assert_eq!(refusal(&missing, &site), plot);
    assert!(plot.contains("summary.json: missing"));

    // A crash between the two renames: the summary of another run.
    let a = results(root.path(), "a", &spec);
    let b = results(root.path(), "b", &spec);
    std::fs::copy(b.join("summary.json"), a.join("summary.json")).unwrap();
    let plot = ResultsFile::open(&a).unwrap_err().to_string();
    assert!(plot.contains("different runs"));
    assert_eq!(refusal(&a, &site), plot);

    // An interrupted decomposition in progress beside complete files of an earlier job.
    for file in ["resume.jsonl", "decomposition.safetensors.partial"] {
        let dir = results(root.path(), &format!("interrupted-{file}"), &spec);
        std::fs::write(dir.join(file), b"").unwrap();
        let message = refusal(&dir, &site);
        assert!(
            message.contains(file) && message.contains("interrupted"),
            "{message}"
        );
    }
    assert!(refusal(&root.path().join("nowhere"), &site).contains("no such results directory"));
}

#[test]
fn an_existing_site_is_replaced_whole_and_nothing_else_is() {
    let root = tempfile::tempdir().unwrap();
    let small = results(root.path(), "small", &Spec::new(3, 2, 8));
    let large = results(root.path(), "large", &Spec::new(7, 2, 8));
    let site = root.path().join("site");
    explore(&small, &site, &ExploreOptions::default()).unwrap();
    std::fs::write(site.join("left-over.txt"), b"from the first site").unwrap();
    explore(&large, &site, &ExploreOptions::default()).unwrap();
    assert!(!site.join("left-over.txt").exists());
    assert_eq!(chunked(&site, "index", "rows").len(), 7);
    // No temporary directory is left beside it.
    assert_eq!(siblings(root.path()), ["large", "site", "small"]);

    // A failure leaves the previous site as it was.
    std::fs::remove_file(small.join("summary.json")).unwrap();
    explore(&small, &site, &ExploreOptions::default()).unwrap_err();
    assert_eq!(chunked(&site, "index", "rows").len(), 7);
    assert_eq!(siblings(root.path()), ["large", "site", "small"]);

    // A directory that is not a site is not replaced, nor are the results.
    let other = root.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("paper.tex"), b"keep me").unwrap();
    let e = explore(&large, &other, &ExploreOptions::default()).unwrap_err();
    assert!(matches!(e, ExploreError::NotASite { .. }), "{e}");
    assert_eq!(std::fs::read(other.join("paper.tex")).unwrap(), b"keep me");
    for inside in [large.clone(), large.join("site"), root.path().to_path_buf()] {
        let e = explore(&large, &inside, &ExploreOptions::default()).unwrap_err();
        assert!(matches!(e, ExploreError::Overlap { .. }), "{e}");
    }
    assert!(ResultsFile::open(&large).is_ok());

    // An empty directory is used.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    explore(&large, &empty, &ExploreOptions::default()).unwrap();
    assert_eq!(record(&empty, "site")["n_outputs"], 7);
}

/// An `approx.json` as `bilens eval approx` writes it, for outputs labelled `labels`.
fn approx_report(dir: &Path, results: &Path, labels: &[String]) {
    let features: Vec<_> = labels
        .iter()
        .enumerate()
        .map(|(o, l)| {
            json!({"index": o, "label": l, "column": o, "n_active": 100 + o,
                   "correlations": [0.1 * o as f64, if o == 1 { None } else { Some(0.5) }, 0.9]})
        })
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    let report = json!({
        "results": results.display().to_string(), "activations": "acts.safetensors",
        "n_inputs": 400, "max_k": 3, "threshold": 0.75, "mean_at_2": 0.5,
        "fraction_above_at_2": 0.0, "k": [1, 2, 3], "mean": [0.1, 0.5, 0.9],
        "median": [0.1, 0.5, 0.9], "fraction_above": [0.0, 0.0, 1.0],
        "defined": [4, 3, 4], "features": features,
    });
    std::fs::write(dir.join("approx.json"), report.to_string()).unwrap();
}

#[test]
fn evaluations_beside_the_results_are_taken_when_they_fit() {
    let root = tempfile::tempdir().unwrap();
    let dir = results(root.path(), "layer3", &Spec::new(4, 3, 8));
    let labels: Vec<String> = (0..4).map(|o| o.to_string()).collect();
    approx_report(&root.path().join("approx"), &dir, &labels);
    // Another evaluation of other outputs, and one naming another results directory.
    let other: Vec<String> = (0..4).map(|o| format!("f{o}")).collect();
    approx_report(&root.path().join("approx-other"), &dir, &other);
    let elsewhere = results(root.path(), "layer4", &Spec::new(4, 3, 8));
    approx_report(&root.path().join("approx-layer4"), &elsewhere, &labels);

    let site = root.path().join("site");
    let report = explore(&dir, &site, &ExploreOptions::default()).unwrap();
    assert_eq!(report.evaluations.len(), 1);
    assert_eq!(report.evaluations[0].kind, EvaluationKind::Approximation);
    assert_eq!(
        report.evaluations[0].path,
        root.path().join("approx").join("approx.json")
    );
    let reasons: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|s| {
            (
                s.path
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].0 == "approx-layer4" && reasons[0].1.contains("evaluates the results in"));
    assert!(reasons[1].0 == "approx-other" && reasons[1].1.contains("'f0'"));

    let rows = chunked(&site, "index", "rows");
    assert_eq!(rows[0]["approx_r2"], 0.5);
    assert!(rows[1]["approx_r2"].is_null());
    let pages = chunked(&site, "outputs", "outputs");
    assert_eq!(pages[3]["approx"]["n_active"], 103);
    assert_eq!(
        pages[3]["approx"]["correlations"],
        json!([0.30000000000000004, 0.5, 0.9])
    );
    assert_eq!(record(&site, "site")["approx"]["n_inputs"], 400);

    // Named explicitly, a report that does not fit is an error; without discovery none is
    // looked for.
    let options = ExploreOptions {
        evaluations: vec![root.path().join("approx-other")],
        ..ExploreOptions::default()
    };
    let e = explore(&dir, &site, &options).unwrap_err();
    assert!(matches!(e, ExploreError::Evaluation { .. }), "{e}");
    let quiet = ExploreOptions {
        discover_evaluations: false,
        ..ExploreOptions::default()
    };
    let report = explore(&dir, &site, &quiet).unwrap();
    assert!(report.evaluations.is_empty() && report.skipped.is_empty());
    assert!(
        chunked(&site, "index", "rows")[0]
            .get("approx_r2")
            .is_none()
    );
}

#[test]
fn a_truncation_of_the_same_model_gives_each_class_its_recovery() {
    let root = tempfile::tempdir().unwrap();
    let mut spec = Spec::new(3, 4, 8);
    spec.outputs = "classes";
    let dir = results(root.path(), "results", &spec);
    let eval = root.path().join("truncation");
    std::fs::create_dir(&eval).unwrap();
    // The results name model.safetensors (relative, absent): the report must name the same.
    let report = json!({
        "model": "model.safetensors", "test_images": 100, "components_per_class": 4,
        "k": [0, 1, 2], "model_accuracy": 0.9,
        "rules": [
            {"rule": "abs", "accuracy": [0.1, 0.5, 0.89], "accuracy_all": 0.9, "recovery_k": 2},
            {"rule": "paired", "accuracy": [0.1, 0.8, 0.9], "accuracy_all": 0.9, "recovery_k": 2},
        ],
    });
    std::fs::write(eval.join("truncation.json"), report.to_string()).unwrap();
    // Per rule, k = 0, 1, 2 and all; class 0 recovers at k = 1 (0.795 >= 0.8 - 0.01), class 1
    // at k = 2 (0.935 < 0.95 - 0.01), class 2 never stays within (k = 0 is, by chance).
    let csv = "rule,k,accuracy,correct,total,components,class_0,class_1,class_2\n\
               abs,0,0.1,10,100,0,0.100000,0.100000,0.995000\n\
               abs,1,0.5,50,100,1,0.795000,0.935000,0.200000\n\
               abs,2,0.89,89,100,2,0.800000,0.950000,0.500000\n\
               abs,4,0.9,90,100,4,0.800000,0.950000,0.990000\n\
               paired,0,0.1,10,100,0,0.100000,0.100000,0.100000\n\
               paired,1,0.8,80,100,2,0.800000,0.900000,0.700000\n\
               paired,2,0.9,90,100,4,0.800000,0.950000,0.990000\n\
               paired,4,0.9,90,100,4,0.800000,0.950000,0.990000\n";
    std::fs::write(eval.join("truncation.csv"), csv).unwrap();
    let site = root.path().join("site");
    let found = explore(&dir, &site, &ExploreOptions::default()).unwrap();
    assert_eq!(found.evaluations[0].kind, EvaluationKind::Truncation);
    let rows = chunked(&site, "index", "rows");
    let recovery: Vec<_> = rows.iter().map(|r| r["truncation_k"].clone()).collect();
    assert_eq!(recovery, [json!(1), json!(2), json!(null)]);
    let pages = chunked(&site, "outputs", "outputs");
    assert_eq!(
        pages[2]["truncation"][1],
        json!({"rule": "paired", "accuracy": [0.1, 0.7, 0.99], "accuracy_all": 0.99, "recovery_k": 2})
    );
    assert_eq!(record(&site, "site")["truncation"]["model_accuracy"], 0.9);

    // Results of other outputs than classes cannot use it.
    let contrast = results(root.path(), "contrast", &Spec::new(3, 4, 8));
    let report = explore(
        &contrast,
        &root.path().join("site2"),
        &ExploreOptions::default(),
    )
    .unwrap();
    assert!(report.evaluations.is_empty());
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.reason.contains("per class"))
    );
}
