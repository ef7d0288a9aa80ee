//! The command line on PyTorch checkpoints: `bilens inspect model.pt` lists the tensors and the
//! layout found, `bilens decompose model.pt` on the public image layout (state dict nested
//! beside a pickled config object) equals an independent eigendecomposition of the explicit
//! `Q`, an SAE checkpoint's encoder serves as output directions, and a hostile pickle is
//! refused with the file named.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::{assert_spectra_match, bilens, reference_eigenvalues, reference_interaction, repo};

fn fixture(name: &str) -> String {
    repo()
        .join("data/fixtures/pt")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn inspect_lists_the_tensors_the_layout_and_what_was_saved_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = bilens(dir.path(), &["inspect", &fixture("nested.pt")]).ok();
    for needle in [
        "4 tensors",
        "blocks.0.weight  F32   [16, 8]",
        "layout: image (residual)",
        "state dict: under 'model_state_dict'",
        "epoch: 7",
        "__main__.Config(d_input=12",
        "config object saved in it under 'config' (__main__.Config) was used",
    ] {
        assert!(run.stdout.contains(needle), "{needle}:\n{}", run.stdout);
    }
}

#[test]
fn decompose_of_the_public_image_layout_equals_the_explicit_q() {
    let dir = tempfile::tempdir().unwrap();
    bilens(
        dir.path(),
        &["decompose", &fixture("nested.pt"), "--out", "r", "--quiet"],
    )
    .ok();
    let results = dir.path().join("r/decomposition.safetensors");
    let (shape, values) = common::tensor_f64(&results, "eigenvalues");
    let twin = repo().join("data/fixtures/pt/nested.safetensors");
    let (_, block) = common::tensor_f64(&twin, "blocks.0.weight");
    let (head_shape, head) = common::tensor_f64(&twin, "head.weight");
    let (d_out, h) = (head_shape[0], head_shape[1]);
    let d = block.len() / (2 * h);
    assert_eq!(shape, [d_out, d]);
    let (w, v) = block.split_at(h * d);
    for o in 0..d_out {
        let q = reference_interaction(w, v, &head[o * h..(o + 1) * h], h, d);
        let want = reference_eigenvalues(&q, d);
        assert_spectra_match(&values[o * d..(o + 1) * d], &want, &format!("class {o}"));
    }
}

#[test]
fn an_sae_checkpoints_encoder_gives_the_output_directions() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = format!("{}:W_enc", fixture("sae.pt"));
    bilens(
        dir.path(),
        &[
            "decompose",
            &fixture("image.pt"),
            "--outputs",
            &outputs,
            "--out",
            "r",
            "--quiet",
        ],
    )
    .ok();
    let (shape, _) = common::tensor_f64(&dir.path().join("r/decomposition.safetensors"), "outputs");
    assert_eq!(shape, [10, 5]);
}

#[test]
fn a_hostile_pickle_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = bilens(dir.path(), &["inspect", &fixture("evil.pt")]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("evil.pt") && run.stderr.contains("refused as hostile"),
        "{}",
        run.stderr
    );
}

#[test]
fn key_names_the_entry_holding_the_state_dict() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("nested.pt");
    let run = bilens(dir.path(), &["inspect", &path, "--key", "model_state_dict"]).ok();
    assert!(run.stdout.contains("4 tensors"), "{}", run.stdout);
    let run = bilens(
        dir.path(),
        &["decompose", &path, "--key", "config", "--out", "r"],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("nested.pt") && run.stderr.contains("the entry 'config' is an object"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_sae_folder_gives_output_directions_folded_as_saelens_does() {
    let dir = tempfile::tempdir().unwrap();
    let sae = dir.path().join("sae");
    std::fs::create_dir(&sae).unwrap();
    std::fs::copy(
        repo().join("data/fixtures/pt/sae.safetensors"),
        sae.join("sae_weights.safetensors"),
    )
    .unwrap();
    std::fs::write(sae.join("cfg.json"), r#"{"d_in": 5, "d_sae": 10}"#).unwrap();
    let model = fixture("image.pt");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "decompose",
            model.as_str(),
            "--outputs",
            "sae:sae",
            "--k",
            "2",
            "--quiet",
        ];
        a.extend_from_slice(extra);
        a
    };
    bilens(dir.path(), &args(&["--out", "plain"])).ok();
    bilens(dir.path(), &args(&["--out", "folded", "--fold-dec-norm"])).ok();
    let (shape, plain) = common::tensor_f64(
        &dir.path().join("plain/decomposition.safetensors"),
        "outputs",
    );
    let (_, folded) = common::tensor_f64(
        &dir.path().join("folded/decomposition.safetensors"),
        "outputs",
    );
    assert_eq!(shape, [10, 5]);
    let (_, w_enc) = common::tensor_f64(&sae.join("sae_weights.safetensors"), "W_enc");
    let (_, w_dec) = common::tensor_f64(&sae.join("sae_weights.safetensors"), "W_dec");
    for i in 0..10 {
        let norm = w_dec[i * 5..(i + 1) * 5]
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt();
        for j in 0..5 {
            // W_enc is [d_in, d_sae]: feature i's encoder row is its column i.
            assert!((plain[i * 5 + j] - w_enc[j * 10 + i]).abs() < 1e-6);
            assert!((folded[i * 5 + j] - w_enc[j * 10 + i] * norm).abs() < 1e-4);
        }
    }
    let run = bilens(
        dir.path(),
        &["decompose", &model, "--fold-dec-norm", "--out", "x"],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("--fold-dec-norm applies to SAE folders"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_sae_folder_gives_the_input_basis() {
    let dir = tempfile::tempdir().unwrap();
    let sae = dir.path().join("sae_in");
    std::fs::create_dir(&sae).unwrap();
    let mut rng = common::Rng::new(3);
    common::write_tensors(
        &sae.join("sae_weights.safetensors"),
        &[
            ("W_enc", vec![8, 12], rng.vec(96)),
            ("W_dec", vec![12, 8], rng.vec(96)),
        ],
    );
    bilens(
        dir.path(),
        &[
            "decompose",
            &fixture("image.pt"),
            "--input-basis",
            "sae:sae_in",
            "--k",
            "3",
            "--out",
            "r",
            "--quiet",
        ],
    )
    .ok();
    let (shape, _) = common::tensor_f64(
        &dir.path().join("r/decomposition.safetensors"),
        "eigenvectors",
    );
    assert_eq!(shape, [5, 3, 12]);
}

/// An MNIST-style dataset of `n` random 3×4 images (the fixtures' 12 inputs) with labels in
/// 0..5 (their 5 classes), in `dir`.
fn tiny_images(dir: &std::path::Path, n: usize) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = common::Rng::new(17);
    for name in ["train", "t10k"] {
        let mut images = vec![0, 0, 8, 3];
        for dim in [n, 3, 4] {
            images.extend((dim as u32).to_be_bytes());
        }
        images.extend((0..n * 12).map(|_| (128.0 + 127.0 * rng.next()) as u8));
        let mut labels = vec![0, 0, 8, 1];
        labels.extend((n as u32).to_be_bytes());
        labels.extend((0..n).map(|i| (i % 5) as u8));
        std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), labels).unwrap();
    }
    dir.to_string_lossy().into_owned()
}

/// `--key` reaches the evaluations too (one flag shared by every command that opens a model):
/// `eval explain` and the test accuracy of the nested checkpoint, its state dict named, give
/// what its safetensors twin gives; a key naming something else is refused with the file named.
#[test]
fn key_names_the_state_dict_for_the_evaluations() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = tiny_images(&root.join("tiny"), 20);
    let (pt, twin) = (fixture("nested.pt"), fixture("nested.safetensors"));
    let explain = |model: &str, key: &[&str], out: &str| {
        let mut args = vec!["eval", "explain", model, "--data", &data, "--index", "3"];
        args.extend(key);
        args.extend(["--out", out, "--quiet"]);
        bilens(root, &args)
    };
    let pt_run = explain(&pt, &["--key", "model_state_dict"], "pt").ok();
    let twin_run = explain(&twin, &["--residual"], "twin").ok();
    assert!(
        pt_run.stdout.contains("logit = 0.5899 (linear part)"),
        "{}",
        pt_run.stdout
    );
    assert_eq!(pt_run.stdout, twin_run.stdout.replace("twin/", "pt/"));
    let read = |out: &str| std::fs::read_to_string(root.join(out).join("explain_3.json")).unwrap();
    assert_eq!(read("pt"), read("twin").replace(&twin, &pt));
    let accuracy = bilens(
        root,
        &["eval", &pt, "--key", "model_state_dict", "--data", &data],
    )
    .ok();
    let twin_accuracy = bilens(root, &["eval", &twin, "--residual", "--data", &data]).ok();
    assert_eq!(accuracy.stdout, twin_accuracy.stdout.replace(&twin, &pt));
    let wrong = explain(&pt, &["--key", "config"], "wrong");
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("nested.pt")
            && wrong.stderr.contains("the entry 'config' is an object"),
        "{}",
        wrong.stderr
    );
    assert!(!root.join("wrong").exists());
}

/// An input SAE's decoder adds `b_dec`: the layer reads `x = D f + b_dec`, so with all
/// components the stored spectrum, linear term and constant rebuild every output exactly,
/// `Σ λ (v·f)² + 2 l·f + c = u·P((W x + b) ⊙ (V x + c'))`, checked against the layer
/// evaluated by loops. SAELens's `apply_b_dec_to_input` (the encoder reads `y − b_dec`) changes
/// only the constant of an output feature's pre-activation, which the note states; the stored
/// numbers are the same whether it is true or false.
#[test]
fn an_input_saes_decoder_bias_is_exact_and_apply_b_dec_to_input_is_a_constant() {
    const D: usize = 6;
    const H: usize = 5;
    const N: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = common::Rng::new(23);
    // Rounded to f32, as the files hold them.
    let mut vec = |n: usize| common::as_f32(&rng.vec(n));
    let (w, v, p) = (vec(H * D), vec(H * D), vec(D * H));
    let (b, c) = (vec(H), vec(H));
    common::write_tensors(
        &root.join("layer.safetensors"),
        &[
            ("w", vec![H, D], w.clone()),
            ("v", vec![H, D], v.clone()),
            ("p", vec![D, H], p.clone()),
            ("b", vec![H], b.clone()),
            ("c", vec![H], c.clone()),
        ],
    );
    // One SAE serves as the output features (encoder rows) and the input basis (decoder rows).
    let (w_enc, w_dec, b_enc, b_dec) = (vec(D * N), vec(N * D), vec(N), vec(D));
    let write_sae = |name: &str, apply: bool| {
        let sae = root.join(name);
        std::fs::create_dir(&sae).unwrap();
        std::fs::write(
            sae.join("cfg.json"),
            format!(r#"{{"d_in": {D}, "d_sae": {N}, "apply_b_dec_to_input": {apply}}}"#),
        )
        .unwrap();
        common::write_tensors(
            &sae.join("sae_weights.safetensors"),
            &[
                ("W_enc", vec![D, N], w_enc.clone()),
                ("W_dec", vec![N, D], w_dec.clone()),
                ("b_enc", vec![N], b_enc.clone()),
                ("b_dec", vec![D], b_dec.clone()),
            ],
        );
    };
    write_sae("sae_true", true);
    write_sae("sae_false", false);
    let run = |sae: &str, out: &str| {
        let outputs = format!("sae:{sae}");
        bilens(
            root,
            &[
                "decompose",
                "layer.safetensors",
                "--layout",
                "single",
                "--w",
                "w",
                "--v",
                "v",
                "--p",
                "p",
                "--w-bias",
                "b",
                "--v-bias",
                "c",
                "--outputs",
                &outputs,
                "--input-basis",
                &outputs,
                "--precision",
                "f64",
                "--out",
                out,
            ],
        )
        .ok()
    };
    let on = run("sae_true", "on");
    let off = run("sae_false", "off");
    assert!(
        on.stderr
            .contains("e_i·(y − b_dec) + b_enc_i (apply_b_dec_to_input)"),
        "{}",
        on.stderr
    );
    assert!(
        off.stderr.contains("pre-activation is e_i·y + b_enc_i"),
        "{}",
        off.stderr
    );
    assert!(on.stderr.contains("x = D f + b_dec"), "{}", on.stderr);
    let file = |out: &str| root.join(out).join("decomposition.safetensors");
    for name in ["eigenvalues", "eigenvectors", "linear_terms", "constants"] {
        assert_eq!(
            common::tensor_f64(&file("on"), name),
            common::tensor_f64(&file("off"), name),
            "{name}"
        );
    }
    let (shape, values) = common::tensor_f64(&file("on"), "eigenvalues");
    assert_eq!(shape, [N, N]);
    let (_, vectors) = common::tensor_f64(&file("on"), "eigenvectors");
    let (_, linear) = common::tensor_f64(&file("on"), "linear_terms");
    let (_, constants) = common::tensor_f64(&file("on"), "constants");
    for trial in 0..5 {
        let f = vec(N);
        // x = Σ_k f_k W_dec[k] + b_dec, then the biased layer by loops.
        let x: Vec<f64> = (0..D)
            .map(|i| b_dec[i] + (0..N).map(|k| f[k] * w_dec[k * D + i]).sum::<f64>())
            .collect();
        let dot = |row: &[f64]| row.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>();
        let g: Vec<f64> = (0..H)
            .map(|a| (dot(&w[a * D..(a + 1) * D]) + b[a]) * (dot(&v[a * D..(a + 1) * D]) + c[a]))
            .collect();
        let y: Vec<f64> = (0..D)
            .map(|o| (0..H).map(|a| p[o * H + a] * g[a]).sum())
            .collect();
        for o in 0..N {
            // Output feature o reads y along its encoder row, column o of W_enc.
            let want: f64 = (0..D).map(|i| w_enc[i * N + o] * y[i]).sum();
            let mut got = constants[o];
            got += 2.0 * (0..N).map(|k| linear[o * N + k] * f[k]).sum::<f64>();
            for j in 0..N {
                let vf: f64 = (0..N).map(|k| vectors[(o * N + j) * N + k] * f[k]).sum();
                got += values[o * N + j] * vf * vf;
            }
            assert!(
                (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
                "trial {trial}, output {o}: {got} vs {want}"
            );
        }
    }
}
