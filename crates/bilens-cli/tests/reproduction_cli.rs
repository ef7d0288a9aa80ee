//! `bilens reproduce mnist` on a seconds-long budget: every study runs and the report holds
//! every claim and its figures.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::{bilens, mnist_slice};

#[test]
fn reproduce_writes_a_report_with_every_claim_and_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = mnist_slice(&dir.path().join("mnist"), 2048, 300);
    // A second slice stands in for Fashion-MNIST, which the repository does not ship.
    let fashion = mnist_slice(&dir.path().join("fashion"), 2048, 300);
    let args = [
        "reproduce",
        "mnist",
        "--smoke",
        "--out",
        "r",
        "--data",
        &mnist,
        "--fashion-data",
        &fashion,
    ];
    let run = bilens(dir.path(), &args).ok();
    let out = dir.path().join("r");
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    for needle in [
        "## Claims",
        "| claim | paper | paper's figure | bilens | bilens's figure | agrees |",
        "### Where bilens and the paper differ",
        "Truncating each class",
        "consistent across random seeds",
        "Weight decay lowers the effective rank",
        "Masks from the weights alone",
        "Fashion-MNIST",
        "bilens reproduce mnist --smoke --out r",
    ] {
        assert!(report.contains(needle), "REPORT.md lacks {needle:?}");
    }
    // Every figure the report links exists.
    for link in report.split("](").skip(1) {
        let target = link.split(')').next().unwrap();
        if target.starts_with("figures/") {
            assert!(out.join(target).is_file(), "{target} missing");
        }
    }
    for f in [
        "data/mnist/truncation.csv",
        "data/regularisation.csv",
        "data/consistency.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // stdout: the claims table and the report's path; progress went to stderr.
    assert!(
        run.stdout.starts_with("claim | paper | bilens | agrees"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("report: r/REPORT.md"), "{}", run.stdout);
    assert!(
        run.stderr.contains("trained the main model"),
        "{}",
        run.stderr
    );
    // With --resume nothing is trained again.
    let again = bilens(dir.path(), &[&args[..], &["--resume"]].concat()).ok();
    assert!(!again.stderr.contains("trained "), "{}", again.stderr);
    assert!(
        again.stderr.contains("reused the main model"),
        "{}",
        again.stderr
    );
}
