//! `bilens train mnist` writes a model that `eval` and `decompose` read back, deterministically.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::{bilens, repo};

#[test]
fn a_short_training_run_saves_a_model_the_other_commands_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data/mnist");
    let data = data.to_str().unwrap();
    let args = |out: &'static str| {
        [
            "train", "mnist", "--data", data, "--out", out, "--epochs", "2", "--width", "24",
            "--seed", "7",
        ]
    };
    let run = bilens(dir.path(), &args("a")).ok();
    let reported: String = run
        .stdout
        .split("test accuracy ")
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap()
        .to_string();
    assert!(run.stderr.contains("epoch   2/2"), "{}", run.stderr);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["d_hidden"], 24);
    assert_eq!(config["residual"], false);
    let eval = bilens(dir.path(), &["eval", "a/model.safetensors", "--data", data]).ok();
    assert!(
        eval.stdout
            .starts_with(&format!("test accuracy: {reported}%")),
        "{} vs {reported}",
        eval.stdout
    );
    bilens(
        dir.path(),
        &["decompose", "a/model.safetensors", "--out", "r", "-q"],
    )
    .ok();
    // Same seed, same weights, byte for byte.
    bilens(dir.path(), &args("b")).ok();
    let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap();
    assert!(
        read("a/model.safetensors") == read("b/model.safetensors"),
        "training is deterministic for a seed"
    );
}

#[test]
fn invalid_training_options_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data/mnist");
    let run = bilens(
        dir.path(),
        &[
            "train",
            "mnist",
            "--data",
            data.to_str().unwrap(),
            "--out",
            "m",
            "--width",
            "0",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("width"), "{}", run.stderr);
    assert!(!dir.path().join("m").exists(), "nothing written");
}

#[test]
fn deep_residual_models_train_and_decompose_block_by_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data/mnist");
    let data = data.to_str().unwrap();
    let run = bilens(
        dir.path(),
        &[
            "train",
            "mnist",
            "--data",
            data,
            "--out",
            "d",
            "--epochs",
            "1",
            "--width",
            "16",
            "--layers",
            "2",
            "--residual",
        ],
    )
    .ok();
    assert!(
        run.stderr
            .contains("training 2 blocks, residual, of width 16"),
        "{}",
        run.stderr
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("d/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        (config["n_layer"].clone(), config["residual"].clone()),
        (2.into(), true.into())
    );
    let inspect = bilens(
        dir.path(),
        &["inspect", "d/model.safetensors", "--layer", "0"],
    )
    .ok();
    assert!(
        inspect
            .stdout
            .contains("layout: image (residual), block 0 of 2"),
        "{}",
        inspect.stdout
    );
    bilens(
        dir.path(),
        &["decompose", "d/model.safetensors", "--out", "r1", "-q"],
    )
    .ok();
    bilens(
        dir.path(),
        &[
            "decompose",
            "d/model.safetensors",
            "--layer",
            "0",
            "--outputs",
            "results:r1",
            "--out",
            "r0",
            "-q",
        ],
    )
    .ok();
    // Block 0's components and the test images that activate them most.
    let top = bilens(
        dir.path(),
        &[
            "eval",
            "top-inputs",
            "r0",
            "--data",
            data,
            "--images",
            "2",
            "--components",
            "1",
            "--out",
            "t",
        ],
    )
    .ok();
    assert!(
        top.stdout.contains("block 0 of d/model.safetensors"),
        "{}",
        top.stdout
    );
    let csv = std::fs::read_to_string(dir.path().join("t/top_inputs.csv")).unwrap();
    assert!(
        csv.starts_with("output,component,eigenvalue,rank,image,label,projection,activation\n"),
        "{csv}"
    );
    // The whole network's accuracy, reported as training reported it.
    let reported = run
        .stdout
        .split("test accuracy ")
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap();
    let eval = bilens(dir.path(), &["eval", "d/model.safetensors", "--data", data]).ok();
    assert!(
        eval.stdout
            .starts_with(&format!("test accuracy: {reported}%")),
        "{} vs {reported}",
        eval.stdout
    );
}

/// `--conv` trains a bilinear CNN and saves it in the conv checkpoint format: the geometry the
/// flags asked for (padding defaults to kernel / 2) in config.json, the fused kernels and the
/// head at the shapes it implies, the same bytes for the same seed.
#[test]
fn conv_models_train_and_save_the_conv_format() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data/mnist");
    let data = data.to_str().unwrap();
    let args = |out: &'static str| {
        [
            "train",
            "mnist",
            "--data",
            data,
            "--out",
            out,
            "--conv",
            "--epochs",
            "1",
            "--channels",
            "3",
            "--kernel",
            "7",
            "--stride",
            "3",
            "--batch-size",
            "512",
        ]
    };
    let run = bilens(dir.path(), &args("c")).ok();
    assert!(
        run.stderr
            .contains("training a bilinear CNN of 3 channels (7×7 kernels, stride 3, padding 3)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("test accuracy "), "{}", run.stdout);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c/config.json")).unwrap())
            .unwrap();
    for (key, want) in [
        ("d_hidden", 3),
        ("kernel_size", 7),
        ("padding", 3),
        ("stride", 3),
        ("in_channels", 1),
        ("image_size", 28),
        ("d_output", 10),
    ] {
        assert_eq!(config[key], want, "{key}");
    }
    let bytes = std::fs::read(dir.path().join("c/model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    // (28 + 6 - 7) / 3 + 1 = 10 positions a side.
    assert_eq!(st.tensor("block.weight").unwrap().shape(), [6, 1, 7, 7]);
    assert_eq!(st.tensor("head.weight").unwrap().shape(), [10, 300]);
    bilens(dir.path(), &args("d")).ok();
    assert!(
        bytes == std::fs::read(dir.path().join("d/model.safetensors")).unwrap(),
        "training is deterministic for a seed"
    );
}

/// Flags of one model with the other are refused before anything is read or written, each
/// error naming both flags.
#[test]
fn conv_flags_conflict_with_the_mlp_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data/mnist");
    let data = data.to_str().unwrap();
    for (extra, names) in [
        (&["--conv", "--layers", "2"][..], ["--conv", "--layers"]),
        (&["--conv", "--residual"][..], ["--conv", "--residual"]),
        (&["--conv", "--width", "8"][..], ["--conv", "--width"]),
        (&["--kernel", "3"][..], ["--kernel", "--conv"]),
        (&["--channels", "8"][..], ["--channels", "--conv"]),
    ] {
        let mut args = vec!["train", "mnist", "--data", data, "--out", "m"];
        args.extend_from_slice(extra);
        let run = bilens(dir.path(), &args);
        assert_eq!(run.code, 1, "{extra:?}: {}", run.stderr);
        for name in names {
            assert!(run.stderr.contains(name), "{extra:?}: {}", run.stderr);
        }
        assert!(!dir.path().join("m").exists(), "{extra:?}: nothing written");
    }
    // A kernel larger than the padded image is the library's named error, before training.
    let run = bilens(
        dir.path(),
        &[
            "train",
            "mnist",
            "--data",
            data,
            "--out",
            "m",
            "--conv",
            "--kernel",
            "40",
            "--padding",
            "0",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("kernel = 40") && run.stderr.contains("28×28"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("m").exists(), "nothing written");
}
