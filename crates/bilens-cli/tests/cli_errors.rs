//! Bad input gets `error:` and `hint:` lines on stderr and exit code 1, never a panic, and never
//! a half-written output.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::bilens;

#[test]
fn missing_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = bilens(dir.path(), &["decompose", "nope.safetensors", "--out", "r"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: cannot load nope.safetensors: nope.safetensors: no such file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\nhint: check the path"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("r/decomposition.safetensors").exists());
}

#[test]
fn not_a_safetensors_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.safetensors"), "hello, I am text\n").unwrap();
    let run = bilens(dir.path(), &["inspect", "model.safetensors"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("not a safetensors file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: bilens reads .safetensors files"),
        "{}",
        run.stderr
    );
}

#[test]
fn incomplete_single_layout_flags() {
    let dir = tempfile::tempdir().unwrap();
    let run = bilens(
        dir.path(),
        &["decompose", "m.safetensors", "--out", "r", "--w", "a"],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("error: --layout single needs all of --w, --v and --p"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
}

#[test]
fn unknown_flag_is_bad_input_and_help_is_success() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bilens(dir.path(), &["decompose", "--bogus"]).code, 1);
    let help = bilens(dir.path(), &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("demo"));
}

#[test]
fn missing_results_directory_for_plot() {
    let dir = tempfile::tempdir().unwrap();
    let run = bilens(dir.path(), &["plot", "nothing", "--out", "f"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: (re)run `bilens decompose MODEL --out DIR`"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_dataset_for_eval() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::shipped_model();
    let run = bilens(
        dir.path(),
        &["eval", model.to_str().unwrap(), "--data", "no-such-dir"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);
}
