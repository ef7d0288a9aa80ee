//! Helpers shared by the loader tests: tiny real safetensors files written with the reference
//! `safetensors` crate, and deterministic weights.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "shared by several test files, each using a part; a panic is a failed test"
)]

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// Deterministic, well-spread weights: no randomness, so every run sees the same file.
pub fn mat(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        let t = (seed as f64) * 0.37 + (i as f64) * 1.3 + (j as f64) * 0.71;
        // Multiples of 1/64 in [-1, 1): exact in F32, F16 and BF16.
        ((t.sin() * 64.0).round()) / 64.0
    })
}

/// `a` equals `b` entry by entry to `tol` relative (plus `tol` absolute near zero).
#[track_caller]
pub fn assert_close(a: &Array2<f64>, b: &Array2<f64>, tol: f64) {
    assert_eq!(a.dim(), b.dim());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
    }
}

/// Little-endian bytes of `a` stored as `dtype` (F32, F64, F16 or BF16).
pub fn bytes_of(a: &Array2<f64>, dtype: Dtype) -> Vec<u8> {
    a.iter()
        .flat_map(|&x| match dtype {
            Dtype::F32 => (x as f32).to_le_bytes().to_vec(),
            Dtype::F64 => x.to_le_bytes().to_vec(),
            Dtype::F16 => half::f16::from_f64(x).to_le_bytes().to_vec(),
            Dtype::BF16 => half::bf16::from_f64(x).to_le_bytes().to_vec(),
            other => panic!("no test encoder for {other}"),
        })
        .collect()
}

/// A tensor to save: name, dtype, shape, raw bytes.
pub type Raw = (String, Dtype, Vec<usize>, Vec<u8>);

/// A matrix tensor in the given dtype.
pub fn raw(name: &str, a: &Array2<f64>, dtype: Dtype) -> Raw {
    (
        name.to_string(),
        dtype,
        a.shape().to_vec(),
        bytes_of(a, dtype),
    )
}

/// A vector tensor `[n]` in the given dtype.
pub fn vector_raw(name: &str, a: &Array1<f64>, dtype: Dtype) -> Raw {
    let m = a.clone().insert_axis(ndarray::Axis(0));
    (name.to_string(), dtype, vec![a.len()], bytes_of(&m, dtype))
}

/// Writes `tensors` with the reference serialiser.
pub fn save(path: &Path, tensors: &[Raw]) {
    save_with_metadata(path, tensors, None);
}

/// Writes `tensors` and `__metadata__` with the reference serialiser.
pub fn save_with_metadata(path: &Path, tensors: &[Raw], metadata: Option<HashMap<String, String>>) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::serialize(views, metadata).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A safetensors file whose header is exactly `header` (padded as the format requires) and
/// whose data section is `data`.
pub fn raw_file(path: &Path, header: &str, data: &[u8]) {
    let mut h = header.as_bytes().to_vec();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend_from_slice(data);
    std::fs::write(path, out).unwrap();
}

/// The error's message and hint, for assertions.
pub fn message_and_hint(e: &bilens_io::IoError) -> (String, String) {
    (
        e.to_string(),
        e.hint().map(|h| h.to_string()).unwrap_or_default(),
    )
}
