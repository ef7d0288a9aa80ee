//! The fuzzers' seed corpus (`fuzz/seeds/`, real checkpoints in every layout and malformed
//! files) run through the loader in the normal test suite: every file is either read or
//! refused with a message and, for a user's mistake, a hint — never a panic. Inputs that ever
//! crashed a fuzz target are added to the corpus, so this also guards against their return.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use std::path::{Path, PathBuf};

use bilens_io::{LayoutSpec, TensorFile, inspect_model, load_model, model_layers};

fn seeds(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn specs() -> Vec<LayoutSpec> {
    vec![
        LayoutSpec::default(),
        LayoutSpec::Image {
            residual: None,
            layer: None,
        },
        LayoutSpec::Lm { layer: Some(1) },
        LayoutSpec::Gated { layer: None },
        LayoutSpec::Auto {
            residual: None,
            layer: Some(0),
        },
        LayoutSpec::Single {
            w: "w".into(),
            v: "v".into(),
            p: "p".into(),
            embed: Some("e".into()),
            w_bias: Some("b".into()),
            v_bias: Some("c".into()),
            norm_gain: Some("g".into()),
        },
    ]
}

#[test]
fn every_seed_is_read_or_refused_with_a_message() {
    let files = seeds("open");
    assert!(files.len() >= 20, "the corpus is there: {}", files.len());
    let (mut loaded, mut refused) = (0, 0);
    for path in &files {
        // The loader reads a sibling config.json; each seed gets a directory of its own.
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model.safetensors");
        std::fs::copy(path, &model).unwrap();
        if let Ok(file) = TensorFile::open(&model) {
            for t in file.tensors() {
                let _ = file.read::<f32>(&t.name);
            }
        }
        for spec in specs() {
            let _ = inspect_model(&model, &spec);
            if let Ok(file) = TensorFile::open(&model) {
                let _ = model_layers(&file, &spec);
            }
            match load_model::<f64>(&model, &spec) {
                Ok(m) => {
                    loaded += 1;
                    assert!(!m.info.to_string().is_empty());
                }
                Err(e) => {
                    refused += 1;
                    let message = e.to_string();
                    assert!(
                        message.starts_with(&model.display().to_string()),
                        "{}: the message names the file: {message}",
                        path.display()
                    );
                }
            }
        }
    }
    // Each real checkpoint loads under its own layout; the malformed ones never do.
    assert!(
        loaded >= 6 && refused > loaded,
        "{loaded} loaded, {refused} refused"
    );
}

#[test]
fn every_pickle_seed_is_read_or_refused_naming_the_file() {
    let files = seeds("pickle");
    assert!(files.len() >= 15, "the corpus is there: {}", files.len());
    let (mut read, mut refused) = (0, 0);
    for path in &files {
        for key in [None, Some("model_state_dict")] {
            match TensorFile::open_key(path, key) {
                Ok(file) => {
                    read += 1;
                    for t in file.tensors() {
                        let _ = file.read::<f32>(&t.name);
                    }
                    let _ = load_model::<f64>(path, &LayoutSpec::default());
                }
                Err(e) => {
                    refused += 1;
                    let message = e.to_string();
                    assert!(
                        message.starts_with(&path.display().to_string()),
                        "the message names the file: {message}"
                    );
                }
            }
        }
    }
    // The torch.save fixtures and the one good hand-built file read; the faulty ones do not.
    assert!(
        read >= 10 && refused >= 10,
        "{read} read, {refused} refused"
    );
}
