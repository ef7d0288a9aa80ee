//! Long runs survive faults, and results do not depend on how the work was split: a decompose
//! killed part way (by the test hook at a known chunk, or by SIGKILL at an arbitrary moment)
//! and restarted with the same command ends with files byte-identical to an uninterrupted
//! run's; outputs are never half-written; the same job gives the same bytes whatever the
//! thread count and chunk size.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Rng, Run, write_tensors};

const D: usize = 24;
const H: usize = 20;
const D_OUT: usize = 16;
const N_DIRS: usize = 60;

/// A single layer with biases, a set of output directions and an overcomplete basis.
fn write_inputs(root: &Path) {
    let mut rng = Rng::new(21);
    write_tensors(
        &root.join("model.safetensors"),
        &[
            ("w", vec![H, D], rng.vec(H * D)),
            ("v", vec![H, D], rng.vec(H * D)),
            ("p", vec![D_OUT, H], rng.vec(D_OUT * H)),
            ("b_w", vec![H], rng.vec(H)),
            ("b_v", vec![H], rng.vec(H)),
        ],
    );
    write_tensors(
        &root.join("sae.safetensors"),
        &[
            ("encoder", vec![N_DIRS, D_OUT], rng.vec(N_DIRS * D_OUT)),
            ("decoder", vec![30, D], rng.vec(30 * D)),
            // Enough directions that a run of one-output chunks takes a while to kill.
            ("many", vec![400, D_OUT], rng.vec(400 * D_OUT)),
        ],
    );
}

/// The `bilens decompose` command of the directions with the given extra flags, threads and
/// environment.
fn command(root: &Path, out: &str, extra: &[&str], threads: &str, env: &[(&str, &str)]) -> Command {
    let mut args = vec![
        "decompose",
        "model.safetensors",
        "--layout",
        "single",
        "--w",
        "w",
        "--v",
        "v",
        "--p",
        "p",
        "--w-bias",
        "b_w",
        "--v-bias",
        "b_v",
        "--out",
        out,
    ];
    if !extra.contains(&"--outputs") {
        args.extend_from_slice(&["--outputs", "sae.safetensors:encoder"]);
    }
    args.extend_from_slice(extra);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bilens"));
    cmd.args(&args)
        .current_dir(root)
        .env("RAYON_NUM_THREADS", threads);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs [`command`] to the end.
fn decompose(root: &Path, out: &str, extra: &[&str], threads: &str, env: &[(&str, &str)]) -> Run {
    let out = command(root, out, extra, threads, env).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn files(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(dir.join("decomposition.safetensors")).unwrap(),
        std::fs::read(dir.join("summary.json")).unwrap(),
    )
}

#[track_caller]
fn assert_same_files(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert!(fa.0 == fb.0, "{} and {} differ", a.display(), b.display());
    assert!(
        fa.1 == fb.1,
        "summaries differ:\n{}\n{}",
        String::from_utf8_lossy(&fa.1),
        String::from_utf8_lossy(&fb.1)
    );
}

#[test]
fn a_run_killed_at_a_chunk_resumes_to_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let flags = ["--chunk", "7", "--input-basis", "sae.safetensors:decoder"];
    decompose(root, "whole", &flags, "2", &[]).ok();

    let killed = decompose(
        root,
        "killed",
        &flags,
        "2",
        &[("BILENS_TEST_ABORT_AFTER_CHUNKS", "3")],
    );
    assert_ne!(killed.code, 0, "the hook aborts the run");
    let out = root.join("killed");
    assert!(
        !out.join("decomposition.safetensors").exists(),
        "never half a result"
    );
    assert!(!out.join("summary.json").exists());
    assert!(out.join("decomposition.safetensors.partial").exists());
    let log = std::fs::read_to_string(out.join("resume.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1 + 3, "a header and three chunks");

    // The same command, with another thread count: resumes and matches the whole run.
    let resumed = decompose(root, "killed", &flags, "1", &[]).ok();
    assert!(
        resumed
            .stderr
            .contains("resumed an interrupted run: 21 of 60 outputs were already done"),
        "{}",
        resumed.stderr
    );
    assert_same_files(&root.join("whole"), &out);
    assert!(
        !out.join("resume.jsonl").exists()
            && !out.join("decomposition.safetensors.partial").exists()
    );

    // Run again: nothing to do. With --restart: recomputed, same bytes.
    let again = decompose(root, "killed", &flags, "2", &[]).ok();
    assert!(
        again
            .stderr
            .contains("already holds the complete results of this job"),
        "{}",
        again.stderr
    );
    assert!(
        again.stdout.contains("decomposed 60 outputs"),
        "{}",
        again.stdout
    );
    let restart = [
        "--chunk",
        "7",
        "--input-basis",
        "sae.safetensors:decoder",
        "--restart",
    ];
    let re = decompose(root, "killed", &restart, "2", &[]).ok();
    assert!(!re.stderr.contains("already holds"), "{}", re.stderr);
    assert_same_files(&root.join("whole"), &out);
}

#[test]
fn another_job_in_the_same_directory_starts_over_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let killed = decompose(
        root,
        "r",
        &["--chunk", "10", "--k", "5"],
        "2",
        &[("BILENS_TEST_ABORT_AFTER_CHUNKS", "2")],
    );
    assert_ne!(killed.code, 0);
    let other = decompose(root, "r", &["--chunk", "10", "--k", "6"], "2", &[]).ok();
    assert!(
        other.stderr.contains(
            "held an interrupted run of another job, discarded (the job differs: k was 5, now 6)"
        ),
        "{}",
        other.stderr
    );
    decompose(root, "fresh", &["--k", "6"], "2", &[]).ok();
    assert_same_files(&root.join("fresh"), &root.join("r"));
}

#[test]
fn a_run_killed_at_any_moment_resumes_to_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let flags = [
        "--chunk",
        "1",
        "--method",
        "full",
        "--outputs",
        "sae.safetensors:many",
    ];
    decompose(root, "whole", &flags, "2", &[]).ok();
    let mut child = command(root, "killed", &flags, "2", &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no cleanup) once a few chunks are logged, wherever it is then.
    let log = root.join("killed/resume.jsonl");
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let lines = std::fs::read_to_string(&log).map_or(0, |t| t.lines().count());
        if lines >= 5 {
            child.kill().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.wait().unwrap();
    assert!(killed, "the run finished before it could be killed");
    assert!(!root.join("killed/decomposition.safetensors").exists());
    let resumed = decompose(root, "killed", &flags, "2", &[]).ok();
    assert!(
        resumed.stderr.contains("resumed an interrupted run"),
        "{}",
        resumed.stderr
    );
    assert_same_files(&root.join("whole"), &root.join("killed"));
}

#[test]
fn results_do_not_depend_on_threads_or_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let configs: [&[&str]; 3] = [
        &["--method", "full", "--route", "direct"],
        &["--method", "lanczos", "--k", "3", "--route", "shared"],
        &[
            "--input-basis",
            "sae.safetensors:decoder",
            "--interactions",
            "4",
            "--precision",
            "f64",
        ],
    ];
    for (i, config) in configs.iter().enumerate() {
        let name = |s: &str| format!("{s}-{i}");
        decompose(root, &name("one"), config, "1", &[]).ok();
        let mut chunked = config.to_vec();
        chunked.extend_from_slice(&["--chunk", "7"]);
        decompose(root, &name("two"), &chunked, "2", &[]).ok();
        decompose(root, &name("three"), config, "3", &[]).ok();
        assert_same_files(&root.join(name("one")), &root.join(name("two")));
        assert_same_files(&root.join(name("one")), &root.join(name("three")));
    }
    // Twice the same: identical, including metadata (the run_id is the job's).
    let again = decompose(
        root,
        "one-0",
        &["--method", "full", "--route", "direct", "--restart"],
        "1",
        &[],
    )
    .ok();
    assert!(!again.stderr.contains("already"), "{}", again.stderr);
    assert_same_files(&root.join("one-0"), &root.join("two-0"));
}
