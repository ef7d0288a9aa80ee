//! Sets of vectors named `FILE:TENSOR` (output directions, input bases): stored as rows or as
//! columns, in any float dtype, and every refusal with its message.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use bilens_io::{IoError, read_rows};
use common::{mat, message_and_hint, raw, save, vector_raw};
use safetensors::Dtype;

const OUTPUTS: &str = "output directions (--outputs)";

fn file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("sae.safetensors");
    let mut nan = mat(3, 10, 4);
    nan[[1, 7]] = f64::NAN;
    save(
        &path,
        &[
            raw("encoder.weight", &mat(6, 10, 1), Dtype::F32),
            raw("decoder.weight", &mat(10, 6, 2), Dtype::BF16),
            raw("square", &mat(10, 10, 3), Dtype::F16),
            raw("enc", &mat(8, 9, 5), Dtype::F32),
            raw("nan", &nan, Dtype::F32),
            vector_raw("probe", &mat(1, 10, 6).row(0).to_owned(), Dtype::F64),
            (
                "cube".into(),
                Dtype::F32,
                vec![2, 5, 10],
                vec![0; 2 * 5 * 10 * 4],
            ),
        ],
    );
    path
}

#[test]
fn rows_columns_square_and_single_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path());

    let r = read_rows::<f64>(&path, "encoder.weight", 10, OUTPUTS).unwrap();
    assert!(!r.transposed);
    assert_eq!(r.rows, mat(6, 10, 1));

    // A decoder [d, n] gives its columns, transposed into rows, in standard layout.
    let r = read_rows::<f32>(&path, "decoder.weight", 10, "input basis (--input-basis)").unwrap();
    assert!(r.transposed);
    assert_eq!(r.rows, mat(10, 6, 2).t().mapv(|x| x as f32));
    assert!(r.rows.is_standard_layout());

    // Square: taken as rows.
    let r = read_rows::<f64>(&path, "square", 10, OUTPUTS).unwrap();
    assert!(!r.transposed);
    assert_eq!(r.rows, mat(10, 10, 3));

    // One vector [d]: one row.
    let r = read_rows::<f64>(&path, "probe", 10, OUTPUTS).unwrap();
    assert_eq!(r.rows, mat(1, 10, 6));
    assert!(!r.transposed);

    // Width 6 reads the encoder as columns and the decoder as rows.
    let r = read_rows::<f64>(&path, "encoder.weight", 6, OUTPUTS).unwrap();
    assert!(r.transposed);
    assert_eq!(r.rows, mat(6, 10, 1).t());
    assert_eq!(
        read_rows::<f64>(&path, "decoder.weight", 6, OUTPUTS)
            .unwrap()
            .rows,
        mat(10, 6, 2)
    );
}

#[test]
fn refusals_name_the_tensor_the_role_and_the_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path());
    let p = path.display().to_string();

    let e = read_rows::<f32>(&path, "enc", 10, OUTPUTS).unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert!(matches!(e, IoError::VectorShape { .. }));
    assert_eq!(
        m,
        format!(
            "{p}: tensor 'enc' has shape [8, 9]; output directions (--outputs) must be vectors \
             of length 10 ([n, 10] or [10, n])"
        )
    );
    assert_eq!(
        h,
        "name a tensor that holds one vector of length 10 per row (or per column), e.g. an SAE \
         encoder [n_features, 10] or decoder [10, n_features]"
    );
    let m = read_rows::<f32>(&path, "cube", 10, OUTPUTS)
        .unwrap_err()
        .to_string();
    assert!(
        m.ends_with(
            "tensor 'cube' has shape [2, 5, 10]; output directions (--outputs) must be vectors \
             of length 10 ([n, 10] or [10, n])"
        ),
        "{m}"
    );
    let m = read_rows::<f32>(&path, "probe", 9, OUTPUTS)
        .unwrap_err()
        .to_string();
    assert!(
        m.ends_with(
            "tensor 'probe' has shape [10]; output directions (--outputs) must be vectors of \
             length 9 ([n, 9] or [9, n])"
        ),
        "{m}"
    );

    let e = read_rows::<f32>(&path, "encoder", 10, "input basis (--input-basis)").unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert_eq!(
        m,
        format!(
            "{p}: no tensor named 'encoder' for the input basis (--input-basis); the file holds \
             7 tensors: cube, decoder.weight, enc, encoder.weight, nan, probe, square"
        )
    );
    assert_eq!(
        h,
        format!("inspect {p} for its tensors, and name one of them")
    );

    let e = read_rows::<f32>(&path, "nan", 10, OUTPUTS).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{p}: tensor 'nan' holds 1 non-finite value (NaN or infinity) out of 30, the first \
             at index [1, 7]"
        )
    );

    let missing = dir.path().join("nope.safetensors");
    let e = read_rows::<f32>(&missing, "enc", 10, OUTPUTS).unwrap_err();
    assert!(matches!(e, IoError::NotFound { .. }), "{e}");

    // Integer tensors are not vectors bilens reads.
    let ints = dir.path().join("ints.safetensors");
    save(
        &ints,
        &[("ids".into(), Dtype::I64, vec![2, 10], vec![0; 160])],
    );
    let m = read_rows::<f32>(&ints, "ids", 10, OUTPUTS)
        .unwrap_err()
        .to_string();
    assert!(m.contains("tensor 'ids' has dtype I64"), "{m}");
}
