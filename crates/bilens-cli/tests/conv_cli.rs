//! Bilinear convolutions through the binary: a conv checkpoint written here (`block.weight`,
//! `block.bias`, `head.weight`, `config.json`) is detected, inspected, decomposed into
//! eigen-images and eigenfilters, drawn (channel grids with `--image-shape`), and evaluated on a
//! slice of MNIST; a bilinear head over flattened conv features is drawn as channel grids too.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;

use common::{Rng, bilens, mnist_slice, tensor_f64, write_tensors};

/// A conv model in `dir`: `h` channels of `c_in × k × k` kernels (padding k // 2, stride 1,
/// or no padding and stride `k` when `tiled`) over `side × side` images, a 10-class head, with
/// biases.
fn write_conv(dir: &Path, h: usize, c_in: usize, k: usize, side: usize, tiled: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng::new(3);
    let (stride, padding) = if tiled { (k, 0) } else { (1, k / 2) };
    let out = (side + 2 * padding - k) / stride + 1;
    let features = h * out * out;
    write_tensors(
        &dir.join("model.safetensors"),
        &[
            (
                "block.weight",
                vec![2 * h, c_in, k, k],
                rng.vec(2 * h * c_in * k * k),
            ),
            ("block.bias", vec![2 * h], rng.vec(2 * h)),
            ("head.weight", vec![10, features], rng.vec(10 * features)),
        ],
    );
    std::fs::write(
        dir.join("config.json"),
        format!(
            r#"{{"d_hidden": {h}, "kernel_size": {k}, "in_channels": {c_in}, "image_size": {side},
                 "stride": {stride}, "padding": {padding}}}"#
        ),
    )
    .unwrap();
}

fn count(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".png")
        })
        .count()
}

#[test]
fn conv_model_decomposes_into_eigen_images_and_eigenfilters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_conv(&d.join("conv"), 3, 1, 3, 8, false);

    let run = bilens(d, &["inspect", "conv/model.safetensors"]).ok();
    for text in [
        "layout: conv",
        "conv: 3 channels of 1×3×3 kernels (conv_a = block.weight 0..3, conv_b = 3..6), \
         stride 1, padding 1: image 1×8×8 -> features 3×8×8",
        "W = block.weight rows 0..3  [192, 64]",
    ] {
        assert!(run.stdout.contains(text), "{text}:\n{}", run.stdout);
    }

    // Eigen-images: 64-pixel eigenvectors per class, drawn as 8×8 pictures.
    bilens(
        d,
        &[
            "decompose",
            "conv/model.safetensors",
            "--out",
            "res",
            "-k",
            "6",
        ],
    )
    .ok();
    let (shape, _) = tensor_f64(&d.join("res/decomposition.safetensors"), "eigenvectors");
    assert_eq!(shape, vec![10, 6, 64]);
    let summary = std::fs::read_to_string(d.join("res/summary.json")).unwrap();
    assert!(summary.contains("\"layout\": \"conv\""), "{summary}");
    bilens(d, &["plot", "res", "--out", "figs"]).ok();
    assert_eq!(count(&d.join("figs"), "eigenvectors_"), 10);

    // Eigenfilters: one output per channel, two nonzero eigenvalues each over the 3×3 field.
    let run = bilens(
        d,
        &[
            "inspect",
            "conv/model.safetensors",
            "--layout",
            "conv-filters",
        ],
    )
    .ok();
    assert!(
        run.stdout
            .contains("layout: conv (filters view: one receptive field)")
            && run
                .stdout
                .contains("output c is channel c (P the identity)"),
        "{}",
        run.stdout
    );
    bilens(
        d,
        &[
            "decompose",
            "conv/model.safetensors",
            "--layout",
            "conv-filters",
            "--out",
            "filters",
        ],
    )
    .ok();
    let (shape, values) = tensor_f64(&d.join("filters/decomposition.safetensors"), "eigenvalues");
    assert_eq!(shape, vec![3, 9]);
    for row in values.chunks(9) {
        let scale = row[0].abs();
        assert!(row[..2].iter().all(|v| v.abs() > 1e-3), "{row:?}");
        assert!(row[2..].iter().all(|v| v.abs() < 1e-5 * scale), "{row:?}");
    }
    bilens(
        d,
        &["plot", "filters", "--out", "ff", "--image-shape", "1x3x3"],
    )
    .ok();
    assert_eq!(count(&d.join("ff"), "eigenvectors_"), 3);
}

#[test]
fn colour_convs_and_bilinear_heads_over_conv_features_draw_as_channel_grids() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Three input channels: 192-value eigenvectors, no square picture without a shape.
    write_conv(&d.join("rgb"), 2, 3, 3, 8, false);
    bilens(
        d,
        &[
            "decompose",
            "rgb/model.safetensors",
            "--out",
            "rgb-res",
            "-k",
            "4",
        ],
    )
    .ok();
    let run = bilens(d, &["plot", "rgb-res", "--out", "plain"]).ok();
    assert!(run.stderr.contains("not square images"), "{}", run.stderr);
    assert_eq!(count(&d.join("plain"), "eigenvectors_"), 0);
    bilens(
        d,
        &["plot", "rgb-res", "--out", "grid", "--image-shape", "3x8x8"],
    )
    .ok();
    assert_eq!(count(&d.join("grid"), "eigenvectors_"), 10);
    assert_eq!(count(&d.join("grid"), "overview"), 1);
    // A shape that does not hold the eigenvectors is named with what would.
    let run = bilens(
        d,
        &["plot", "rgb-res", "--out", "bad", "--image-shape", "2x8x8"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--image-shape 2x8x8: holds 128 values, but the eigenvectors have 192")
            && run.stderr.contains("give channels × height × width = 192"),
        "{}",
        run.stderr
    );
    let run = bilens(
        d,
        &[
            "plot",
            "rgb-res",
            "--out",
            "bad",
            "--image-shape",
            "3x8x8x8",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("is not CxHxW or HxW"), "{}", run.stderr);

    // A bilinear head over flattened 4×3×3 conv features, read with the single layout: 36 is
    // square, so without a shape it would be drawn as a 6×6 picture; with one, as 4 channels.
    let mut rng = Rng::new(5);
    write_tensors(
        &d.join("head.safetensors"),
        &[
            ("w", vec![8, 36], rng.vec(8 * 36)),
            ("v", vec![8, 36], rng.vec(8 * 36)),
            ("p", vec![5, 8], rng.vec(5 * 8)),
        ],
    );
    bilens(
        d,
        &[
            "decompose",
            "head.safetensors",
            "--layout",
            "single",
            "--w",
            "w",
            "--v",
            "v",
            "--p",
            "p",
            "--out",
            "head-res",
        ],
    )
    .ok();
    bilens(
        d,
        &["plot", "head-res", "--out", "hf", "--image-shape", "4x3x3"],
    )
    .ok();
    assert_eq!(count(&d.join("hf"), "eigenvectors_"), 5);
}

/// Accuracy and truncation on MNIST pixels (the other evaluations and `hosvd` read the loaded
/// model the same way and are slow in a debug build: not repeated here).
#[test]
fn a_conv_mnist_model_runs_the_evaluations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Non-overlapping 7×7 windows keep the lifted layer small (32 hidden units) for a debug
    // build; the pixel space is MNIST's 784.
    write_conv(&d.join("conv"), 2, 1, 7, 28, true);
    let slice = mnist_slice(&d.join("mnist"), 10, 100);
    let model = "conv/model.safetensors";
    let run = bilens(d, &["eval", model, "--data", &slice]).ok();
    assert!(run.stdout.contains("/100)"), "{}", run.stdout);
    let run = bilens(
        d,
        &[
            "eval",
            "truncation",
            model,
            "--data",
            &slice,
            "--max-k",
            "4",
            "--out",
            "t",
        ],
    )
    .ok();
    assert!(
        run.stdout
            .contains("the same predictions as the model on 100 of 100 images"),
        "{}",
        run.stdout
    );
    bilens(d, &["decompose", model, "--out", "res", "-k", "4"]).ok();
    bilens(d, &["explore", "res", "--out", "site"]).ok();
    assert!(d.join("site/index.html").exists());
}
