//! A results directory has one writer at a time: a second writer is refused and touches
//! nothing; a killed writer leaves the directory free to resume.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::shards::*;

#[test]
fn a_second_writer_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let flags = ["--outputs", "sae.safetensors:encoder", "--chunk", "7"];
    // An interrupted run's state, then a live writer of the directory: this test process.
    let killed = run(command(
        root,
        "r",
        &flags,
        &[("BILENS_TEST_ABORT_AFTER_CHUNKS", "2")],
    ));
    assert_ne!(killed.code, 0);
    let state = |f: &str| std::fs::read(root.join("r").join(f)).unwrap();
    let before = (
        state("resume.jsonl"),
        state("decomposition.safetensors.partial"),
    );
    let lock = bilens_io::WriterLock::acquire(&root.join("r")).unwrap();
    let holder = format!("pid {} on host", std::process::id());
    for extra in [&[][..], &["--restart"], &["--k", "3"]] {
        let second = decompose(root, "r", &[&flags[..], extra].concat());
        assert_refused(
            &second,
            &format!("r: another bilens run is writing this directory ({holder}"),
            "wait for that run to finish, or stop it",
        );
    }
    let after = (
        state("resume.jsonl"),
        state("decomposition.safetensors.partial"),
    );
    assert!(
        before == after,
        "a refused writer changed the live run's state"
    );
    // Released: the same job resumes.
    drop(lock);
    let resumed = decompose(root, "r", &flags).ok();
    assert!(
        resumed
            .stderr
            .contains("resumed an interrupted run: 14 of 60 outputs"),
        "{}",
        resumed.stderr
    );
}

#[test]
fn a_killed_writer_leaves_the_directory_free_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let flags = [
        "--outputs",
        "sae.safetensors:many",
        "--chunk",
        "1",
        "--method",
        "full",
    ];
    let mut first = command(root, "r", &flags, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = root.join("r/resume.jsonl");
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(60) {
        if first.try_wait().unwrap().is_some() {
            break;
        }
        if std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) >= 3 {
            // SIGKILL: no cleanup; the lock file stays behind, its lock goes with the process.
            first.kill().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    first.wait().unwrap();
    assert!(killed, "the run finished before it could be killed");
    let resumed = decompose(root, "r", &flags).ok();
    assert!(
        resumed.stderr.contains("resumed an interrupted run"),
        "{}",
        resumed.stderr
    );
    assert!(!root.join("r/writer.lock").exists());
    decompose(root, "whole", &flags).ok();
    assert_same_dir(&root.join("whole"), &root.join("r"));
}
