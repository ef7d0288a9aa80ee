//! SAE folders as sets of vectors: SAELens's (`cfg.json` + `sae_weights.safetensors`, `W_enc
//! [d_in, d_sae]`, `W_dec [d_sae, d_in]`), the public bilinear code's (`w_enc.weight [d_sae,
//! d_in]`, `w_dec.weight [d_in, d_sae]`) and one saved by `torch.save`; SAELens's
//! `fold_W_dec_norm`; and each refusal.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::{Path, PathBuf};

use bilens_io::{IoError, SAE_ROLES, read_rows};
use common::{mat, raw, save};
use ndarray::{Array2, Axis};
use safetensors::Dtype;

const D_IN: usize = 6;
const D_SAE: usize = 10;

fn saelens(dir: &Path) -> (Array2<f64>, Array2<f64>) {
    let w_enc = mat(D_IN, D_SAE, 1);
    let w_dec = mat(D_SAE, D_IN, 2);
    std::fs::write(
        dir.join("cfg.json"),
        r#"{"d_in": 6, "d_sae": 10, "apply_b_dec_to_input": true}"#,
    )
    .unwrap();
    save(
        &dir.join("sae_weights.safetensors"),
        &[
            raw("W_enc", &w_enc, Dtype::F32),
            raw("W_dec", &w_dec, Dtype::F32),
            raw("b_enc", &mat(1, D_SAE, 3), Dtype::F32),
            raw("b_dec", &mat(1, D_IN, 4), Dtype::F32),
        ],
    );
    (w_enc, w_dec)
}

fn rows(dir: &Path, role: &str) -> Array2<f64> {
    read_rows::<f64>(dir, role, D_IN, "output directions")
        .unwrap()
        .rows
}

#[test]
fn a_saelens_folder_gives_encoder_rows_and_decoder_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (w_enc, w_dec) = saelens(dir.path());
    assert_eq!(rows(dir.path(), "encoder"), w_enc.t());
    assert_eq!(rows(dir.path(), "decoder"), w_dec);
}

#[test]
fn the_public_codes_folder_reads_the_same_vectors_in_its_orientation() {
    let dir = tempfile::tempdir().unwrap();
    let (w_enc, w_dec) = (mat(D_SAE, D_IN, 5), mat(D_IN, D_SAE, 6));
    save(
        &dir.path().join("model.safetensors"),
        &[
            raw("w_enc.weight", &w_enc, Dtype::F32),
            raw("w_dec.weight", &w_dec, Dtype::F32),
            raw("b_dec", &mat(1, D_IN, 7), Dtype::F32),
        ],
    );
    assert_eq!(rows(dir.path(), "encoder"), w_enc);
    assert_eq!(rows(dir.path(), "decoder"), w_dec.t());
}

#[test]
fn a_folder_holding_a_torch_save_checkpoint_reads_as_its_safetensors_twin() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/pt");
    let (pt, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::copy(fixtures.join("sae.pt"), pt.path().join("sae.pt")).unwrap();
    std::fs::copy(
        fixtures.join("sae.safetensors"),
        st.path().join("sae_weights.safetensors"),
    )
    .unwrap();
    for role in SAE_ROLES {
        let a = read_rows::<f64>(pt.path(), role, 5, "x").unwrap().rows;
        let b = read_rows::<f64>(st.path(), role, 5, "x").unwrap().rows;
        assert_eq!(a, b, "{role}");
        assert_eq!(a.dim(), (10, 5));
    }
}

#[test]
fn folding_the_decoder_norm_keeps_each_features_product_and_normalises_the_decoder() {
    let dir = tempfile::tempdir().unwrap();
    saelens(dir.path());
    let (enc, dec) = (rows(dir.path(), "encoder"), rows(dir.path(), "decoder"));
    let (enc_f, dec_f) = (
        rows(dir.path(), "encoder_folded"),
        rows(dir.path(), "decoder_folded"),
    );
    for i in 0..D_SAE {
        let norm = dec.row(i).dot(&dec.row(i)).sqrt();
        assert!((dec_f.row(i).dot(&dec_f.row(i)) - 1.0).abs() < 1e-12);
        for j in 0..D_IN {
            assert!((enc_f[[i, j]] - enc[[i, j]] * norm).abs() < 1e-12);
            assert!((dec_f[[i, j]] * norm - dec[[i, j]]).abs() < 1e-12);
        }
    }
    // The SAE's function is unchanged: Σ_i dec_i (enc_i · x) is the same with both.
    let x = ndarray::Array1::from_shape_fn(D_IN, |j| j as f64 - 2.5);
    let recon = |e: &Array2<f64>, d: &Array2<f64>| d.t().dot(&e.dot(&x));
    let (a, b) = (recon(&enc, &dec), recon(&enc_f, &dec_f));
    assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-9));
    assert_eq!(enc.len_of(Axis(0)), D_SAE);
}

#[test]
fn an_unknown_role_a_wrong_width_and_missing_or_ambiguous_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    saelens(dir.path());
    let e = read_rows::<f32>(dir.path(), "W_enc", D_IN, "output directions").unwrap_err();
    let m = e.to_string();
    assert!(
        matches!(e, IoError::MissingVectors { .. }) && m.contains("encoder_folded"),
        "{m}"
    );
    let e = read_rows::<f32>(dir.path(), "encoder", 7, "output directions").unwrap_err();
    assert!(matches!(e, IoError::VectorShape { width: 7, .. }), "{e}");
    assert!(e.to_string().contains("sae_weights.safetensors"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    let m = read_rows::<f32>(empty.path(), "encoder", D_IN, "x")
        .unwrap_err()
        .to_string();
    assert!(m.contains("an SAE folder without weights"), "{m}");

    let two = tempfile::tempdir().unwrap();
    for name in ["a.safetensors", "b.pt"] {
        std::fs::write(two.path().join(name), b"x").unwrap();
    }
    let m = read_rows::<f32>(two.path(), "encoder", D_IN, "x")
        .unwrap_err()
        .to_string();
    assert!(m.contains("2 weights files (a.safetensors, b.pt)"), "{m}");

    let other = tempfile::tempdir().unwrap();
    save(
        &other.path().join("model.safetensors"),
        &[raw("encoder.weight", &mat(D_SAE, D_IN, 1), Dtype::F32)],
    );
    let m = read_rows::<f32>(other.path(), "encoder", D_IN, "x")
        .unwrap_err()
        .to_string();
    assert!(m.contains("expected W_enc and W_dec (SAELens)"), "{m}");
}
