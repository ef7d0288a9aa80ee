//! The results directory: streamed writes in any chunk order, round trips in both precisions,
//! what a numpy reader sees, and the errors of reading a missing or damaged directory.
#![allow(clippy::unwrap_used)]
// A one-element list of chunks (one range) is meant: "write everything as one chunk".
#![allow(clippy::single_range_in_vec_init)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bilens_decomp::{BilinearLayer, DecomposeParams, Order, Parallelism, decompose_chunked};
use bilens_io::{
    DECOMPOSITION_FILE, IoError, OutputSummary, ResultsChunk, ResultsFile, ResultsMeta,
    ResultsShape, ResultsWriter, SUMMARY_FILE, SUMMARY_TOP, read_results,
};
use common::{mat, message_and_hint};
use ndarray::{Array2, Array3, s};

fn meta() -> ResultsMeta {
    ResultsMeta {
        model: "model.safetensors".into(),
        layout: "image".into(),
        method: "full".into(),
        order: Order::AbsDescending,
        extra: BTreeMap::from([("outputs".to_string(), "classes".to_string())]),
    }
}

/// Synthetic results for `n` outputs: values that identify their position.
struct Synthetic {
    shape: ResultsShape,
    eigenvalues: Array2<f64>,
    eigenvectors: Array3<f64>,
    input_eigenvectors: Array3<f64>,
    outputs: Array2<f64>,
}

fn synthetic(n_out: usize, k: usize) -> Synthetic {
    let (d_in, d_input, d_out) = (6, 10, 4);
    Synthetic {
        shape: ResultsShape {
            n_out,
            k,
            d_in,
            d_input: Some(d_input),
            d_out,
            eigenvectors: true,
        },
        eigenvalues: Array2::from_shape_fn((n_out, k), |(o, i)| {
            (o as f64 + 1.0) / (i as f64 + 1.0)
        }),
        eigenvectors: Array3::from_shape_fn((n_out, k, d_in), |(o, i, j)| {
            (o * 100 + i * 10 + j) as f64 / 8.0
        }),
        input_eigenvectors: Array3::from_shape_fn((n_out, k, d_input), |(o, i, j)| {
            -((o * 1000 + i * 20 + j) as f64) / 4.0
        }),
        outputs: Array2::from_shape_fn(
            (n_out, d_out),
            |(o, j)| if o % d_out == j { 1.0 } else { 0.0 },
        ),
    }
}

fn summaries(s: &Synthetic, range: std::ops::Range<usize>) -> Vec<OutputSummary> {
    range
        .map(|o| {
            let kept = s.eigenvalues.row(o);
            let norm_sq = 2.0 * kept.iter().map(|x| x * x).sum::<f64>();
            OutputSummary::new(o, o.to_string(), kept, norm_sq, None)
        })
        .collect()
}

fn write_synthetic<T: bilens_decomp::Real + bilens_io::Element>(
    dir: &Path,
    s: &Synthetic,
    chunks: &[std::ops::Range<usize>],
) {
    let mut w = ResultsWriter::<T>::create(dir, s.shape, &meta()).unwrap();
    let cast2 = |a: &Array2<f64>| a.mapv(T::of_f64);
    let cast3 = |a: &Array3<f64>| a.mapv(T::of_f64);
    for r in chunks {
        let ev = cast2(&s.eigenvalues.slice(s![r.clone(), ..]).to_owned());
        let vecs = cast3(&s.eigenvectors.slice(s![r.clone(), .., ..]).to_owned());
        let ivecs = cast3(&s.input_eigenvectors.slice(s![r.clone(), .., ..]).to_owned());
        let outs = cast2(&s.outputs.slice(s![r.clone(), ..]).to_owned());
        w.write_chunk(ResultsChunk {
            first: r.start,
            eigenvalues: ev.view(),
            eigenvectors: Some(vecs.view()),
            input_eigenvectors: Some(ivecs.view()),
            outputs: outs.view(),
            summaries: summaries(s, r.clone()),
        })
        .unwrap();
        assert!(
            !dir.join(DECOMPOSITION_FILE).exists() && !dir.join(SUMMARY_FILE).exists(),
            "nothing is visible before finish"
        );
    }
    w.finish().unwrap();
}

#[test]
fn round_trip_in_chunks_out_of_order() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("runs").join("mnist");
    let s = synthetic(7, 3);
    write_synthetic::<f32>(&dir, &s, &[4..7, 0..2, 2..4]);
    let r = read_results(&dir).unwrap();
    let f32_2 = |a: &Array2<f64>| a.mapv(|x| x as f32);
    let f32_3 = |a: &Array3<f64>| a.mapv(|x| x as f32);
    assert_eq!(r.eigenvalues, f32_2(&s.eigenvalues));
    assert_eq!(r.eigenvectors.unwrap(), f32_3(&s.eigenvectors));
    assert_eq!(r.input_eigenvectors.unwrap(), f32_3(&s.input_eigenvectors));
    assert_eq!(r.outputs, f32_2(&s.outputs));
    assert_eq!(r.summary.shape, s.shape);
    assert_eq!(r.summary.outputs, summaries(&s, 0..7));
    assert_eq!(r.summary.outputs[3].label, "3");
    assert!((r.summary.outputs[3].fraction_kept - 0.5).abs() < 1e-15);
    for (key, value) in [
        ("model", "model.safetensors"),
        ("layout", "image"),
        ("method", "full"),
        ("k", "3"),
        ("order", "abs-descending"),
        ("precision", "f32"),
        ("bilens_version", env!("CARGO_PKG_VERSION")),
        ("format_version", "1"),
        ("outputs", "classes"),
    ] {
        assert_eq!(r.metadata[key], value, "{key}");
        assert_eq!(r.summary.metadata[key], value, "{key}");
    }
    assert!(r.metadata.contains_key("run_id"));

    // Partial reads through the lazy reader.
    let file = ResultsFile::open(&dir).unwrap();
    let part = file.eigenvectors::<f64>(2..4).unwrap().unwrap();
    assert_eq!(part, s.eigenvectors.slice(s![2..4, .., ..]));
}

#[test]
fn numpy_style_readers_see_the_declared_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let s = synthetic(3, 2);
    write_synthetic::<f64>(dir.path(), &s, &[0..3]);
    let bytes = std::fs::read(dir.path().join(DECOMPOSITION_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "eigenvalues",
            "eigenvectors",
            "input_eigenvectors",
            "outputs"
        ]
    );
    for (name, shape) in [
        ("eigenvalues", vec![3, 2]),
        ("eigenvectors", vec![3, 2, 6]),
        ("input_eigenvectors", vec![3, 2, 10]),
        ("outputs", vec![3, 4]),
    ] {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), safetensors::Dtype::F64, "{name}");
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
    }
    let ev: Vec<f64> = st
        .tensor("eigenvalues")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(ev, s.eigenvalues.iter().copied().collect::<Vec<_>>());
    // f64 results read back as f32 through the convenience reader.
    let r = read_results(dir.path()).unwrap();
    assert_eq!(r.metadata["precision"], "f64");
    assert_eq!(r.eigenvalues, s.eigenvalues.mapv(|x| x as f32));
    // summary.json is pretty-printed JSON any reader can parse.
    let text = std::fs::read_to_string(dir.path().join(SUMMARY_FILE)).unwrap();
    assert!(text.contains("\n  \"format_version\": 1,"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["outputs"][2]["index"], 2);
    assert_eq!(
        json["outputs"][2]["effective_rank"],
        serde_json::Value::Null
    );
}

#[test]
fn streams_a_real_decomposition_without_eigenvectors_or_embedding() {
    let layer = BilinearLayer::new(mat(5, 4, 1), mat(5, 4, 2), mat(3, 5, 3));
    let outputs = Array2::<f64>::eye(3);
    let params = DecomposeParams {
        k: Some(2),
        eigenvectors: false,
        parallelism: Parallelism::Sequential,
        chunk_size: 2,
        ..DecomposeParams::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let shape = ResultsShape {
        n_out: 3,
        k: 2,
        d_in: 4,
        d_input: None,
        d_out: 3,
        eigenvectors: false,
    };
    let mut w = ResultsWriter::<f64>::create(dir.path(), shape, &meta()).unwrap();
    decompose_chunked(&layer, outputs.view(), None, &params, |first, part| {
        let n = part.n_outputs();
        w.write_decomposition(
            first,
            &part,
            outputs.slice(s![first..first + n, ..]),
            None,
            |o| format!("class {o}"),
        )
        .map_err(Box::<dyn std::error::Error>::from)
    })
    .unwrap();
    w.finish().unwrap();

    let r = read_results(dir.path()).unwrap();
    assert!(r.eigenvectors.is_none() && r.input_eigenvectors.is_none());
    assert_eq!(r.eigenvalues.dim(), (3, 2));
    let full = bilens_decomp::decompose(
        &layer,
        outputs.view(),
        None,
        &DecomposeParams {
            parallelism: Parallelism::Sequential,
            ..DecomposeParams::default()
        },
    )
    .unwrap();
    for o in 0..3 {
        let sum = &r.summary.outputs[o];
        assert_eq!(sum.label, format!("class {o}"));
        assert_eq!(sum.top_eigenvalues.len(), 2);
        let all = full.eigenvalues.row(o);
        let er = bilens_decomp::effective_rank_of(all);
        assert!((sum.effective_rank.unwrap() - er).abs() < 1e-9 * er);
        let kept: f64 = all.iter().take(2).map(|x| x * x).sum();
        let total: f64 = all.iter().map(|x| x * x).sum();
        assert!((sum.fraction_kept - kept / total).abs() < 1e-12);
        assert!((sum.frobenius_sq - total).abs() < 1e-9 * total);
    }
}

#[test]
fn summary_keeps_at_most_the_top_twenty() {
    let kept = ndarray::Array1::from_shape_fn(30, |i| 30.0 - i as f64);
    let s = OutputSummary::new(0, "0", kept.view(), 1e4, Some(465.0));
    assert_eq!(s.top_eigenvalues.len(), SUMMARY_TOP);
    assert_eq!(s.top_eigenvalues[0], 30.0);
    assert!((s.effective_rank.unwrap() - 465.0 * 465.0 / 1e4).abs() < 1e-12);
}

#[test]
fn incomplete_or_inconsistent_writes_are_errors_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = synthetic(4, 2);
    let mut w = ResultsWriter::<f32>::create(dir.path(), s.shape, &meta()).unwrap();
    let ev = s.eigenvalues.mapv(|x| x as f32);
    let vecs = s.eigenvectors.mapv(|x| x as f32);
    let ivecs = s.input_eigenvectors.mapv(|x| x as f32);
    let outs = s.outputs.mapv(|x| x as f32);
    let chunk = |r: std::ops::Range<usize>| ResultsChunk {
        first: r.start,
        eigenvalues: ev.slice(s![r.clone(), ..]),
        eigenvectors: Some(vecs.slice(s![r.clone(), .., ..])),
        input_eigenvectors: Some(ivecs.slice(s![r.clone(), .., ..])),
        outputs: outs.slice(s![r.clone(), ..]),
        summaries: summaries(&s, r),
    };
    w.write_chunk(chunk(0..2)).unwrap();
    let e = w.write_chunk(chunk(1..3)).unwrap_err().to_string();
    assert!(e.ends_with("output 1 was already written"), "{e}");
    let mut bad = chunk(2..3);
    bad.input_eigenvectors = None;
    let e = w.write_chunk(bad).unwrap_err().to_string();
    assert!(
        e.contains("'input_eigenvectors': declared but not given"),
        "{e}"
    );
    let mut bad = chunk(2..3);
    bad.outputs = outs.slice(s![2..4, ..]);
    let e = w.write_chunk(bad).unwrap_err().to_string();
    assert!(
        e.contains("'outputs': chunk has shape [2, 4], expected [1, 4]"),
        "{e}"
    );
    let e = w.finish().unwrap_err().to_string();
    assert!(
        e.ends_with("2 of 4 outputs were never written (the first is output 2)"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file, final or temporary, is left"
    );

    let mut m = meta();
    m.extra.insert("k".into(), "5".into());
    let e = ResultsWriter::<f32>::create(dir.path(), s.shape, &m).unwrap_err();
    assert!(
        e.to_string().contains("extra key 'k' would overwrite"),
        "{e}"
    );
}

#[test]
fn reading_a_missing_or_damaged_directory() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    let e = read_results(&dir).unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert_eq!(m, format!("{}: no such results directory", dir.display()));
    assert_eq!(
        h,
        "(re)run `bilens decompose MODEL --out DIR` to write the results directory"
    );

    let s = synthetic(2, 2);
    write_synthetic::<f32>(&dir, &s, &[0..2]);
    let summary = std::fs::read(dir.join(SUMMARY_FILE)).unwrap();

    std::fs::remove_file(dir.join(SUMMARY_FILE)).unwrap();
    let m = read_results(&dir).unwrap_err().to_string();
    assert_eq!(
        m,
        format!(
            "{}: missing: not a bilens results directory, or the decomposition did not finish",
            dir.join(SUMMARY_FILE).display()
        )
    );

    std::fs::write(dir.join(SUMMARY_FILE), b"{\"format_version\": 1}").unwrap();
    let m = read_results(&dir).unwrap_err().to_string();
    assert!(
        m.contains("summary.json: not a bilens summary: missing field"),
        "{m}"
    );

    // A summary from another run beside this decomposition.
    let other = root.path().join("other");
    write_synthetic::<f32>(&other, &s, &[0..2]);
    std::fs::copy(other.join(SUMMARY_FILE), dir.join(SUMMARY_FILE)).unwrap();
    let e = read_results(&dir).unwrap_err();
    assert!(matches!(e, IoError::Results { .. }));
    assert!(
        e.to_string()
            .ends_with("decomposition.safetensors and summary.json come from different runs (an interrupted write?)"),
        "{e}"
    );

    // A truncated decomposition keeps its diagnosis, under the results hint.
    std::fs::write(dir.join(SUMMARY_FILE), &summary).unwrap();
    let bytes = std::fs::read(dir.join(DECOMPOSITION_FILE)).unwrap();
    std::fs::write(dir.join(DECOMPOSITION_FILE), &bytes[..bytes.len() - 4]).unwrap();
    let e = read_results(&dir).unwrap_err();
    let (m, h) = message_and_hint(&e);
    assert!(
        m.starts_with(&format!(
            "{}: truncated: the header declares",
            dir.join(DECOMPOSITION_FILE).display()
        )),
        "{m}"
    );
    assert!(h.contains("bilens decompose"), "{h}");

    // A summary whose shape disagrees with the tensors.
    std::fs::write(dir.join(DECOMPOSITION_FILE), &bytes).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&summary).unwrap();
    json["shape"]["k"] = 3.into();
    std::fs::write(dir.join(SUMMARY_FILE), serde_json::to_vec(&json).unwrap()).unwrap();
    let m = read_results(&dir).unwrap_err().to_string();
    assert!(
        m.ends_with("tensor 'eigenvalues' is [2, 2] but summary.json implies [2, 3]"),
        "{m}"
    );
}
