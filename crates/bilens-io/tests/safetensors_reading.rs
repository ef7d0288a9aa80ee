//! Reading safetensors files: every supported dtype, partial reads, and one test per way a
//! file can be wrong, each checking the message the user sees and its hint.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::collections::HashMap;

use bilens_io::{IoError, TensorFile, TensorInfo};
use common::{mat, message_and_hint, raw, raw_file, save, save_with_metadata};
use ndarray::Array2;
use safetensors::Dtype;

#[test]
fn reads_every_supported_dtype_into_f32_and_f64() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let a = mat(3, 5, 1);
    save(
        &path,
        &[
            raw("a_f32", &a, Dtype::F32),
            raw("a_f64", &a, Dtype::F64),
            raw("a_f16", &a, Dtype::F16),
            raw("a_bf16", &a, Dtype::BF16),
        ],
    );
    let f = TensorFile::open(&path).unwrap();
    for name in ["a_f32", "a_f64", "a_f16", "a_bf16"] {
        let x: Array2<f64> = f.read_matrix(name).unwrap();
        assert_eq!(x, a, "{name} as f64");
        let y: Array2<f32> = f.read_matrix(name).unwrap();
        assert_eq!(y, a.mapv(|v| v as f32), "{name} as f32");
    }
}

#[test]
fn lists_tensors_sorted_with_dtype_and_shape_and_reads_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save_with_metadata(
        &path,
        &[
            raw("zeta", &mat(2, 3, 1), Dtype::BF16),
            raw("alpha", &mat(4, 1, 2), Dtype::F32),
        ],
        Some(HashMap::from([("format".to_string(), "pt".to_string())])),
    );
    let f = TensorFile::open(&path).unwrap();
    assert_eq!(
        f.tensors(),
        &[
            TensorInfo {
                name: "alpha".into(),
                dtype: "F32".into(),
                shape: vec![4, 1]
            },
            TensorInfo {
                name: "zeta".into(),
                dtype: "BF16".into(),
                shape: vec![2, 3]
            },
        ]
    );
    assert_eq!(f.metadata()["format"], "pt");
    assert_eq!(f.info("zeta").unwrap().elements(), 6);
    assert!(f.info("nope").is_none());
}

#[test]
fn reads_a_range_of_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let a = mat(6, 4, 3);
    save(&path, &[raw("a", &a, Dtype::F16)]);
    let f = TensorFile::open(&path).unwrap();
    let rows = f.read_rows::<f64>("a", 2..5).unwrap();
    assert_eq!(rows.shape(), &[3, 4]);
    assert_eq!(rows, a.slice(ndarray::s![2..5, ..]).into_dyn());
    assert_eq!(f.read_rows::<f64>("a", 3..3).unwrap().shape(), &[0, 4]);
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.safetensors");
    let e = TensorFile::open(&path).unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert_eq!(m, format!("{}: no such file or directory", path.display()));
    assert!(h.contains("check the path"), "{h}");
}

#[test]
fn a_directory_is_not_a_model_file() {
    let dir = tempfile::tempdir().unwrap();
    save(
        &dir.path().join("model.safetensors"),
        &[raw("a", &mat(1, 1, 0), Dtype::F32)],
    );
    let m = TensorFile::open(dir.path()).unwrap_err().to_string();
    assert!(
        m.contains("not a safetensors file: it is a directory (did you mean")
            && m.contains("model.safetensors?)"),
        "{m}"
    );
}

#[test]
fn text_file_is_not_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.safetensors");
    std::fs::write(&path, "these are not weights\nat all\n").unwrap();
    let e = TensorFile::open(&path).unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert_eq!(
        m,
        format!(
            "{}: not a safetensors file: it looks like a text file",
            path.display()
        )
    );
    assert!(
        h.contains("PyTorch checkpoints written by torch.save"),
        "{h}"
    );
    // Short text, shorter than the 8-byte length, too.
    std::fs::write(&path, "hi\n").unwrap();
    let m = TensorFile::open(&path).unwrap_err().to_string();
    assert!(m.ends_with("it looks like a text file"), "{m}");
}

#[test]
fn png_is_named_and_a_broken_zip_is_read_as_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("figure.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend([0u8; 64]);
    std::fs::write(&png, &bytes).unwrap();
    let m = TensorFile::open(&png).unwrap_err().to_string();
    assert!(
        m.ends_with("not a safetensors file: it looks like a PNG image"),
        "{m}"
    );
    let pt = dir.path().join("model.pt");
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend([7u8; 64]);
    std::fs::write(&pt, &bytes).unwrap();
    let m = TensorFile::open(&pt).unwrap_err().to_string();
    assert!(
        m.contains("model.pt: cannot read this PyTorch checkpoint: zip archive:"),
        "{m}"
    );
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    save(&good, &[raw("a", &mat(4, 4, 0), Dtype::F32)]);
    let bytes = std::fs::read(&good).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;

    // Cut in the data: the header is intact and says how much is missing.
    let path = dir.path().join("cut.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let e = TensorFile::open(&path).unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert_eq!(
        m,
        format!(
            "{}: truncated: the header declares 64 bytes of tensor data but only 54 follow it \
             (the file is {} bytes, {} expected)",
            path.display(),
            bytes.len() - 10,
            bytes.len()
        )
    );
    assert!(h.contains("incomplete"), "{h}");

    // Cut in the header.
    std::fs::write(&path, &bytes[..8 + n / 2]).unwrap();
    let m = TensorFile::open(&path).unwrap_err().to_string();
    assert!(
        m.contains(&format!(
            "truncated: the header declares {n} bytes but only {} follow the 8-byte length",
            n / 2
        )),
        "{m}"
    );

    // Empty.
    std::fs::write(&path, b"").unwrap();
    let m = TensorFile::open(&path).unwrap_err().to_string();
    assert!(m.ends_with("truncated: the file is empty"), "{m}");
}

#[test]
fn corrupt_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let open = |header: &str, data: &[u8]| {
        raw_file(&path, header, data);
        let e = TensorFile::open(&path).unwrap_err();
        assert!(matches!(e, IoError::CorruptHeader { .. }), "{e:?}");
        let (m, h) = message_and_hint(&e);
        assert!(h.contains("damaged"), "{h}");
        m
    };
    let m = open(
        r#"{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]"#,
        &[0; 16],
    );
    assert!(
        m.contains("corrupt safetensors header: the header is not valid JSON"),
        "{m}"
    );
    let m = open(
        r#"{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}"#,
        &[0; 12],
    );
    assert!(
        m.ends_with(
            "corrupt safetensors header: tensor 'a': F32 [2, 2] needs 16 bytes but its \
             data_offsets [0, 12] span 12"
        ),
        "{m}"
    );
    let m = open(
        r#"{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "b": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}"#,
        &[0; 24],
    );
    assert!(
        m.contains("tensor 'b' starts at data byte 8 but the tensors before it end at 16"),
        "{m}"
    );
    let m = open(
        r#"{"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 1]}}"#,
        &[0; 1],
    );
    assert!(m.contains("tensor 'a': unknown variant `Q4`"), "{m}");
    let m = open(
        r#"{"__metadata__": {"k": 3}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#,
        &[0; 4],
    );
    assert!(
        m.ends_with("__metadata__ must map strings to strings"),
        "{m}"
    );
    let m = open(
        r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#,
        &[0; 12],
    );
    assert!(m.contains("8 bytes follow the last tensor's data"), "{m}");
}

#[test]
fn missing_tensor_lists_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(
        &path,
        &[
            raw("b", &mat(1, 1, 0), Dtype::F32),
            raw("a", &mat(1, 1, 0), Dtype::F32),
        ],
    );
    let f = TensorFile::open(&path).unwrap();
    let e = f.read::<f32>("c").unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert_eq!(
        m,
        format!(
            "{}: no tensor named 'c'; the file holds 2 tensors: a, b",
            path.display()
        )
    );
    assert!(
        h.contains("for its tensors") && h.contains("single layout"),
        "{h}"
    );
}

#[test]
fn unsupported_dtype_names_file_tensor_dtype_and_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(
        &path,
        &[(
            "steps".into(),
            Dtype::I32,
            vec![2, 2],
            [1i32, 2, 3, 4]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        )],
    );
    let f = TensorFile::open(&path).unwrap();
    assert_eq!(f.tensors()[0].dtype, "I32", "listing works for any dtype");
    let e = f.read::<f64>("steps").unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert_eq!(
        m,
        format!(
            "{}: tensor 'steps' has dtype I32, which bilens does not read; supported dtypes: \
             F32, F64, F16, BF16",
            path.display()
        )
    );
    assert!(h.contains("floating-point"), "{h}");
}

#[test]
fn non_finite_weights_are_refused_with_count_and_first_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut a = mat(3, 4, 0);
    a[[1, 2]] = f64::NAN;
    a[[2, 0]] = f64::INFINITY;
    save(
        &path,
        &[raw("w", &a, Dtype::F32), raw("w16", &a, Dtype::BF16)],
    );
    let f = TensorFile::open(&path).unwrap();
    for name in ["w", "w16"] {
        let e = f.read::<f32>(name).unwrap_err();
        let (m, h) = message_and_hint(&e);
        assert_eq!(
            m,
            format!(
                "{}: tensor '{name}' holds 2 non-finite values (NaN or infinity) out of 12, the \
                 first at index [1, 2]",
                path.display()
            )
        );
        assert!(h.contains("training diverged"), "{h}");
    }
    // The index is reported in the whole tensor's coordinates for a partial read.
    let e = f.read_rows::<f64>("w", 2..3).unwrap_err().to_string();
    assert!(e.contains("holds 1 non-finite value (NaN"), "{e}");
    assert!(e.ends_with("out of 4, the first at index [2, 0]"), "{e}");
    // Rows without one read fine.
    assert!(f.read_rows::<f64>("w", 0..1).is_ok());
}
