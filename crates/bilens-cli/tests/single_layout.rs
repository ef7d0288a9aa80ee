//! `bilens decompose` on a `single`-layout file equals an independent dense eigendecomposition
//! of the explicitly formed `Q`, in f32 and f64.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::collections::HashMap;

use common::{
    assert_spectra_match, assert_spectra_match_f64, bilens, reference_eigenvalues,
    reference_interaction, tensor_f64,
};
use safetensors::tensor::TensorView;

/// Writes `W [h, d]`, `V [h, d]`, `P [o, h]` (seeded, Gaussian-ish) with the safetensors crate.
fn write_layer(path: &std::path::Path, d: usize, h: usize, o: usize) {
    let mut state = 0x1234_5678_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let bytes: Vec<Vec<u8>> = [h * d, h * d, o * h]
        .iter()
        .map(|&n| (0..n).flat_map(|_| (next() as f32).to_le_bytes()).collect())
        .collect();
    let shapes = [vec![h, d], vec![h, d], vec![o, h]];
    let names = ["mlp.w", "mlp.v", "mlp.p"];
    let views: HashMap<String, TensorView<'_>> = names
        .iter()
        .zip(&bytes)
        .zip(&shapes)
        .map(|((n, b), s)| {
            (
                n.to_string(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn single_layer_decomposition_matches_dense_eigh_in_f32_and_f64() {
    let dir = tempfile::tempdir().unwrap();
    let (d, h, o) = (48, 80, 4);
    write_layer(&dir.path().join("layer.safetensors"), d, h, o);
    let names = [
        "--layout", "single", "--w", "mlp.w", "--v", "mlp.v", "--p", "mlp.p",
    ];
    let model = dir.path().join("layer.safetensors");
    let (_, w) = tensor_f64(&model, "mlp.w");
    let (_, v) = tensor_f64(&model, "mlp.v");
    let (_, p) = tensor_f64(&model, "mlp.p");
    for precision in ["f32", "f64"] {
        let mut args = vec![
            "decompose",
            "layer.safetensors",
            "--out",
            precision,
            "--precision",
            precision,
            "-q",
        ];
        args.extend(names);
        bilens(dir.path(), &args).ok();
        let (shape, got) = tensor_f64(
            &dir.path().join(precision).join("decomposition.safetensors"),
            "eigenvalues",
        );
        assert_eq!(shape, vec![o, d]);
        for out in 0..o {
            let q = reference_interaction(&w, &v, &p[out * h..(out + 1) * h], h, d);
            let want = reference_eigenvalues(&q, d);
            let got = &got[out * d..(out + 1) * d];
            if precision == "f32" {
                assert_spectra_match(got, &want, &format!("f32 output {out}"));
            } else {
                assert_spectra_match_f64(got, &want, &format!("f64 output {out}"));
            }
        }
    }
}
