//! A small layer, its output directions and the commands the shard, merge and writer-lock
//! tests run on it.

use std::path::Path;
use std::process::Command;

use super::{Rng, Run, write_tensors};

pub const D: usize = 24;
pub const H: usize = 20;
pub const D_OUT: usize = 16;

pub fn write_inputs(root: &Path) {
    let mut rng = Rng::new(15);
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
            ("encoder", vec![60, D_OUT], rng.vec(60 * D_OUT)),
            ("decoder", vec![30, D], rng.vec(30 * D)),
            ("many", vec![600, D_OUT], rng.vec(600 * D_OUT)),
        ],
    );
}

/// `bilens decompose` of the test layer into `out` with `extra` flags.
pub fn command(root: &Path, out: &str, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bilens"));
    cmd.args([
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
    ])
    .args(extra)
    .current_dir(root)
    .env("RAYON_NUM_THREADS", "2");
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub fn run(mut cmd: Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn decompose(root: &Path, out: &str, extra: &[&str]) -> Run {
    run(command(root, out, extra, &[]))
}

pub fn merge(root: &Path, shards: &[&str], out: &str) -> Run {
    let mut args = vec!["merge"];
    args.extend_from_slice(shards);
    args.extend_from_slice(&["--out", out]);
    super::bilens(root, &args)
}

#[track_caller]
pub fn assert_same_dir(a: &Path, b: &Path) {
    let list = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(a), list(b));
    for f in ["decomposition.safetensors", "summary.json"] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} of {} and {} differ",
            a.display(),
            b.display()
        );
    }
}

#[track_caller]
pub fn assert_refused(r: &Run, message: &str, hint: &str) {
    assert_eq!(r.code, 1, "stdout {}\nstderr {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(message) && r.stderr.contains(hint),
        "expected '{message}' and '{hint}' in:\n{}",
        r.stderr
    );
}

/// Four shards of `flags` (written in the order 3, 1, 4, 2) into `NAME-1..4`.
pub fn shards(root: &Path, name: &str, flags: &[&str]) {
    for m in [3, 1, 4, 2] {
        let shard = format!("{m}/4");
        let mut f = flags.to_vec();
        f.extend_from_slice(&["--shard", &shard]);
        decompose(root, &format!("{name}-{m}"), &f).ok();
    }
}

pub fn four_shards(root: &Path) -> [&'static str; 4] {
    shards(
        root,
        "s",
        &["--outputs", "sae.safetensors:encoder", "--chunk", "7"],
    );
    ["s-1", "s-2", "s-3", "s-4"]
}
