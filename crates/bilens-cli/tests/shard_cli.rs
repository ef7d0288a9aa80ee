//! Many machines, tried on one: a job run as shards (`decompose --shard M/N` or `--shard
//! auto` under a scheduler's environment) and merged (`bilens merge`) gives the files of a
//! single run byte for byte; merge refuses every bad set of shards with a message naming the
//! directory and what to rerun. One writer per directory: `writer_lock_cli.rs`.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::shards::*;

#[test]
fn shards_merge_into_the_bytes_of_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let configs: [&[&str]; 3] = [
        &["--outputs", "sae.safetensors:encoder", "--chunk", "7"],
        // Feature interactions (I64 extras), f64, Lanczos.
        &[
            "--outputs",
            "sae.safetensors:encoder",
            "--input-basis",
            "sae.safetensors:decoder",
            "--interactions",
            "4",
            "--precision",
            "f64",
            "--k",
            "5",
            "--chunk",
            "5",
        ],
        // The shared route and eigenvalues only, in one-output chunks.
        &["--route", "shared", "--eigenvalues-only", "--chunk", "1"],
    ];
    for (i, flags) in configs.iter().enumerate() {
        let single = format!("single-{i}");
        decompose(root, &single, flags).ok();
        let name = format!("shard{i}");
        shards(root, &name, flags);
        let dirs: Vec<String> = [2, 4, 1, 3].iter().map(|m| format!("{name}-{m}")).collect();
        let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        let merged = format!("merged-{i}");
        let m = merge(root, &dirs, &merged).ok();
        assert!(m.stdout.contains("merged 4 shards"), "{}", m.stdout);
        assert_same_dir(&root.join(&single), &root.join(&merged));
        // Merging again finds the work done.
        let again = merge(root, &dirs, &merged).ok();
        assert!(again.stderr.contains("nothing to do"), "{}", again.stderr);
    }
    // A shard is a results directory of its slice: 60 outputs in chunks of 7 (9 chunks) cut
    // 2/2/2/3 chunks.
    let summary = std::fs::read_to_string(root.join("shard0-4/summary.json")).unwrap();
    assert!(summary.contains("\"shard\": \"4/4\""), "{summary}");
    assert!(
        summary.contains("\"shard_outputs\": \"42..60\""),
        "{summary}"
    );
}

#[test]
fn shard_auto_reads_the_scheduler_environment() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let flags = ["--outputs", "sae.safetensors:encoder", "--chunk", "7"];
    let auto = [&flags[..], &["--shard", "auto"]].concat();
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "5"),
        ("SLURM_ARRAY_TASK_MIN", "4"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    run(command(root, "slurm", &auto, &slurm)).ok();
    let summary = std::fs::read_to_string(root.join("slurm/summary.json")).unwrap();
    assert!(summary.contains("\"shard\": \"2/3\""), "{summary}");

    let k8s = [&auto[..], &["--shards", "3"]].concat();
    run(command(root, "k8s", &k8s, &[("JOB_COMPLETION_INDEX", "1")])).ok();
    assert_same_dir(&root.join("slurm"), &root.join("k8s"));

    let none = decompose(root, "none", &auto);
    assert_refused(
        &none,
        "--shard auto: none of SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX",
        "give the shard as M/N",
    );
    let k8s_without_count = run(command(root, "x", &auto, &[("JOB_COMPLETION_INDEX", "0")]));
    assert_refused(
        &k8s_without_count,
        "JOB_COMPLETION_INDEX is set, so the number of shards is needed",
        "completions",
    );
    let too_many = decompose(root, "x", &[&flags[..], &["--shard", "1/20"]].concat());
    assert_refused(
        &too_many,
        "the 60 outputs make 9 chunks of 7: too few for 20 shards",
        "use at most 9 shards",
    );
    let bad = decompose(root, "x", &[&flags[..], &["--shard", "5/4"]].concat());
    assert_refused(&bad, "--shard 5/4: shard 5 of 4 does not exist", "1/4");
}

/// The four shards of the default test job, for the refusal tests.
#[test]
fn merge_refuses_a_missing_shard() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let s = four_shards(root);
    let r = merge(root, &[s[0], s[1], s[3]], "m");
    assert_refused(
        &r,
        "shard 3/4 is missing (outputs 28..42 of 60)",
        "run the missing shard (3/4, with the options of the others)",
    );
    assert!(!root.join("m/decomposition.safetensors").exists());
}

#[test]
fn merge_refuses_a_shard_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let s = four_shards(root);
    std::fs::create_dir(root.join("copy")).unwrap();
    for f in ["decomposition.safetensors", "summary.json"] {
        std::fs::copy(root.join("s-2").join(f), root.join("copy").join(f)).unwrap();
    }
    let r = merge(root, &[s[0], s[1], "copy", s[2], s[3]], "m");
    assert_refused(
        &r,
        "are both shard 2/4 (outputs 14..28)",
        "give each shard's directory once",
    );
}

#[test]
fn merge_refuses_shards_of_another_job() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let s = four_shards(root);
    decompose(
        root,
        "k3",
        &[
            "--outputs",
            "sae.safetensors:encoder",
            "--chunk",
            "7",
            "--k",
            "3",
            "--shard",
            "3/4",
        ],
    )
    .ok();
    let r = merge(root, &[s[0], s[1], "k3", s[3]], "m");
    assert_refused(
        &r,
        "k3 belongs to another job than s-1 (the job differs: k was 24, now 3",
        "rerun k3's shard with the options of the others",
    );
}

#[test]
fn merge_refuses_shards_of_another_version() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let s = four_shards(root);
    // The same shard as written by another release: the version string replaced in place
    // (same length, so the file stays valid).
    let version = env!("CARGO_PKG_VERSION");
    let other = "9".repeat(version.len());
    for f in ["decomposition.safetensors", "summary.json"] {
        let path = root.join(s[2]).join(f);
        let mut bytes = std::fs::read(&path).unwrap();
        for sep in [":", ": "] {
            let from = format!("\"bilens_version\"{sep}\"{version}\"");
            let to = format!("\"bilens_version\"{sep}\"{other}\"");
            let at = (0..bytes.len()).filter(|&i| bytes[i..].starts_with(from.as_bytes()));
            for i in at.collect::<Vec<_>>() {
                bytes[i..i + to.len()].copy_from_slice(to.as_bytes());
            }
        }
        std::fs::write(&path, bytes).unwrap();
    }
    let r = merge(root, &s, "m");
    assert_refused(
        &r,
        &format!("s-3 was written by bilens {other} but s-1 by bilens {version}"),
        "rerun every shard with one bilens version",
    );
}

#[test]
fn merge_refuses_an_incomplete_shard_and_a_directory_that_is_no_shard() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_inputs(root);
    let s = four_shards(root);
    let flags = ["--outputs", "sae.safetensors:encoder", "--chunk", "7"];
    std::fs::remove_dir_all(root.join(s[3])).unwrap();
    let killed = run(command(
        root,
        s[3],
        &[&flags[..], &["--shard", "4/4"]].concat(),
        &[("BILENS_TEST_ABORT_AFTER_CHUNKS", "1")],
    ));
    assert_ne!(killed.code, 0);
    let r = merge(root, &s, "m");
    assert_refused(
        &r,
        "s-4: the shard's run is incomplete",
        "rerun that shard's command into s-4 (it resumes from its finished chunks)",
    );
    // Resumed, it merges.
    decompose(root, s[3], &[&flags[..], &["--shard", "4/4"]].concat()).ok();
    merge(root, &s, "m").ok();

    decompose(root, "whole", &flags).ok();
    let r = merge(root, &[s[0], "whole"], "m2");
    assert_refused(
        &r,
        "whole: not a shard's results (no shard metadata)",
        "a single run's directory is already whole",
    );
}
