//! The results directory: streamed writes in any chunk order, round trips in both precisions,
//! what a numpy reader sees, and the errors of reading a missing or damaged directory.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]
// A one-element list of chunks (one range) is meant: "write everything as one chunk".
#![allow(
    clippy::single_range_in_vec_init,
    reason = "vectors of one range are the lists of row ranges under test"
)]

mod common;

use std::path::Path;

use bilens_decomp::{
    BilinearLayer, DecomposeParams, Method, Order, Par, Parallelism, Precision, TopInteractions,
    decompose_chunked, hosvd,
};
use bilens_io::{
    CrossInteraction, DECOMPOSITION_FILE, DecompositionChunk, Dtype, ExtraData, ExtraSpec,
    InteractionArrays, IoError, Layout, OutputSummary, OutputsMeta, ResultsChunk, ResultsFile,
    ResultsMeta, ResultsShape, ResultsWriter, SUMMARY_FILE, SUMMARY_TOP, SelfInteraction,
    TensorSpec, names, read_results,
};
use common::{mat, message_and_hint};
use ndarray::{Array2, Array3, s};

fn meta() -> ResultsMeta {
    let mut m = ResultsMeta::new(
        "model.safetensors",
        Layout::Image,
        Method::Full,
        Order::AbsDescending,
    );
    m.outputs = Some(OutputsMeta::default());
    m
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
    let mut w = ResultsWriter::<T>::create(dir, s.shape, &meta(), &[], &[]).unwrap();
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
            extras: Vec::new(),
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

    // Partial reads through the lazy reader, and the metadata typed.
    let file = ResultsFile::open(&dir).unwrap();
    assert_eq!(file.meta().meta, meta());
    assert_eq!((file.meta().k, file.meta().precision), (3, Precision::F32));
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
    let mut w = ResultsWriter::<f64>::create(dir.path(), shape, &meta(), &[], &[]).unwrap();
    decompose_chunked(&layer, outputs.view(), None, &params, |first, part| {
        let n = part.n_outputs();
        let labels: Vec<String> = (first..first + n).map(|o| format!("class {o}")).collect();
        w.write_decomposition(DecompositionChunk {
            first,
            decomposition: &part,
            outputs: outputs.slice(s![first..first + n, ..]),
            input_eigenvectors: None,
            labels: &labels,
            component_tokens: None,
        })
        .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
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
    let mut w = ResultsWriter::<f32>::create(dir.path(), s.shape, &meta(), &[], &[]).unwrap();
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
        extras: Vec::new(),
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
    let e = ResultsWriter::<f32>::create(dir.path(), s.shape, &m, &[], &[]).unwrap_err();
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
    assert_eq!(e.hint(), Some(bilens_io::Hint::Decompose));
    assert_eq!(
        h,
        "decompose a model into the directory to write its results"
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
    assert!(h.contains("decompose a model"), "{h}");

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

/// Synthetic extras for `s`: bias terms and interactions (output 5 has a single cross pair,
/// so its other rows are padding).
struct Extras {
    linear_terms: Array2<f64>,
    constants: ndarray::Array1<f64>,
    tops: Vec<TopInteractions<f64>>,
}

fn extras_for(s: &Synthetic) -> Extras {
    let n = s.shape.n_out;
    let tops = (0..n)
        .map(|o| TopInteractions {
            self_interactions: vec![(o, 3.0 + o as f64), (o + 1, -2.0), (0, 0.5)],
            cross_interactions: if o == 5 {
                vec![(1, 4, -0.25)]
            } else {
                vec![(0, o + 1, 1.5), (2, 3, -1.0), (1, 5, 0.125)]
            },
        })
        .collect();
    Extras {
        linear_terms: Array2::from_shape_fn((n, s.shape.d_in), |(o, j)| {
            (o as f64 - j as f64) / 2.0
        }),
        constants: ndarray::Array1::from_shape_fn(n, |o| o as f64 * 0.25 - 1.0),
        tops,
    }
}

fn extra_specs() -> Vec<ExtraSpec> {
    let mut specs = ExtraSpec::bias_terms::<f32>(6);
    specs.extend(ExtraSpec::spectrum_stats::<f32>());
    specs.extend(ExtraSpec::interactions::<f32>(3));
    specs
}

fn global_specs() -> Vec<TensorSpec> {
    vec![
        TensorSpec::new("singular_values", Dtype::F32, &[4]),
        TensorSpec::new("feature_ids", Dtype::I64, &[5]),
    ]
}

/// Writes `s` and its extras (f32) in the given chunks, and two globals.
fn write_with_extras(dir: &Path, s: &Synthetic, x: &Extras, chunks: &[std::ops::Range<usize>]) {
    let mut w =
        ResultsWriter::<f32>::create(dir, s.shape, &meta(), &extra_specs(), &global_specs())
            .unwrap();
    for r in chunks {
        let ev = s.eigenvalues.slice(s![r.clone(), ..]).mapv(|x| x as f32);
        let vecs = s
            .eigenvectors
            .slice(s![r.clone(), .., ..])
            .mapv(|x| x as f32);
        let ivecs = s
            .input_eigenvectors
            .slice(s![r.clone(), .., ..])
            .mapv(|x| x as f32);
        let outs = s.outputs.slice(s![r.clone(), ..]).mapv(|x| x as f32);
        let q = x.linear_terms.slice(s![r.clone(), ..]).mapv(|x| x as f32);
        let q0 = x.constants.slice(s![r.clone()]).mapv(|x| x as f32);
        let tops: Vec<TopInteractions<f32>> = x.tops[r.clone()]
            .iter()
            .map(|t| TopInteractions {
                self_interactions: t
                    .self_interactions
                    .iter()
                    .map(|&(f, v)| (f, v as f32))
                    .collect(),
                cross_interactions: t
                    .cross_interactions
                    .iter()
                    .map(|&(a, b, v)| (a, b, v as f32))
                    .collect(),
            })
            .collect();
        let inter = InteractionArrays::new(&tops, 3);
        let mut extras = vec![
            (names::LINEAR_TERMS, ExtraData::Float(q.view().into_dyn())),
            (names::CONSTANTS, ExtraData::Float(q0.view().into_dyn())),
        ];
        extras.extend(inter.extras());
        w.write_chunk(ResultsChunk {
            first: r.start,
            eigenvalues: ev.view(),
            eigenvectors: Some(vecs.view()),
            input_eigenvectors: Some(ivecs.view()),
            outputs: outs.view(),
            summaries: summaries(s, r.clone()),
            extras,
        })
        .unwrap();
    }
    let sv = ndarray::arr1(&[4.0f32, 3.0, 2.0, 1.0]);
    w.write_global("singular_values", sv.view().into_dyn())
        .unwrap();
    let ids = ndarray::arr1(&[7i64, -1, 0, 3, i64::MAX]);
    w.write_global("feature_ids", ids.view().into_dyn())
        .unwrap();
    w.finish().unwrap();
}

#[test]
fn round_trip_with_extras_and_globals_in_chunks_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = synthetic(7, 3);
    let x = extras_for(&s);
    write_with_extras(dir.path(), &s, &x, &[4..7, 0..2, 2..4]);

    let r = read_results(dir.path()).unwrap();
    assert_eq!(r.eigenvalues, s.eigenvalues.mapv(|x| x as f32));
    assert_eq!(
        r.tensors.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "constants",
            "cross_interaction_values",
            "effective_rank",
            "fraction_kept",
            "frobenius_sq",
            "linear_terms",
            "self_interaction_values",
            "singular_values"
        ]
    );
    assert_eq!(
        r.index_tensors
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        [
            "cross_interaction_features",
            "feature_ids",
            "self_interaction_features"
        ]
    );
    assert_eq!(
        r.tensors["linear_terms"],
        x.linear_terms.mapv(|x| x as f32).into_dyn()
    );
    assert_eq!(
        r.tensors["constants"],
        x.constants.mapv(|x| x as f32).into_dyn()
    );
    assert_eq!(
        r.index_tensors["feature_ids"].as_slice().unwrap(),
        [7, -1, 0, 3, i64::MAX]
    );
    assert_eq!(
        r.tensors["singular_values"].as_slice().unwrap(),
        [4.0, 3.0, 2.0, 1.0]
    );
    // The statistics were filled from the summaries (effective rank unknown: NaN).
    for o in 0..7 {
        let sum = &r.summary.outputs[o];
        assert!(r.tensors["effective_rank"][[o]].is_nan());
        assert_eq!(r.tensors["fraction_kept"][[o]], sum.fraction_kept as f32);
        assert_eq!(r.tensors["frobenius_sq"][[o]], sum.frobenius_sq as f32);
    }
    // Interactions: padded with -1 / NaN beyond what an output has.
    let cf = &r.index_tensors["cross_interaction_features"];
    assert_eq!(cf.shape(), [7, 3, 2]);
    assert_eq!(
        cf.slice(s![5, .., ..]).iter().copied().collect::<Vec<_>>(),
        [1, 4, -1, -1, -1, -1]
    );
    assert!(r.tensors["cross_interaction_values"][[5, 1]].is_nan());
    assert_eq!(r.index_tensors["self_interaction_features"][[6, 1]], 7);

    // The summaries' optional fields come from the extras.
    let o3 = &r.summary.outputs[3];
    let norm: f64 = x
        .linear_terms
        .row(3)
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    assert!((o3.linear_term_norm.unwrap() - norm).abs() < 1e-6 * norm);
    assert_eq!(o3.constant, Some(-0.25));
    assert_eq!(
        o3.top_self_interactions.as_ref().unwrap(),
        &[
            SelfInteraction {
                feature: 3,
                value: 6.0
            },
            SelfInteraction {
                feature: 4,
                value: -2.0
            },
            SelfInteraction {
                feature: 0,
                value: 0.5
            },
        ]
    );
    assert_eq!(
        r.summary.outputs[5]
            .top_cross_interactions
            .as_ref()
            .unwrap(),
        &[CrossInteraction {
            features: [1, 4],
            value: -0.25
        }],
        "padding is not listed"
    );
    assert_eq!(
        r.summary
            .extras
            .iter()
            .find(|e| e.name == "cross_interaction_features"),
        Some(&TensorSpec::new(
            "cross_interaction_features",
            Dtype::I64,
            &[7, 3, 2]
        ))
    );
    assert_eq!(r.summary.globals, global_specs());
    assert!(r.summary.hosvd.is_none());

    // The lazy reader.
    let f = ResultsFile::open(dir.path()).unwrap();
    assert_eq!(f.tensor_names().len(), 4 + 9 + 2);
    assert_eq!(f.tensor_names()[0], "constants");
    assert_eq!(f.extras().len(), 9);
    assert_eq!(f.globals().len(), 2);
    let q = f.tensor::<f64>("linear_terms").unwrap().unwrap();
    assert_eq!(q, x.linear_terms.into_dyn());
    assert!(f.tensor::<f32>("no_such").unwrap().is_none());
    assert!(f.index_tensor("no_such").unwrap().is_none());
    let e = f.tensor::<f32>("feature_ids").unwrap_err();
    assert!(
        e.to_string().ends_with(
            "decomposition.safetensors: tensor 'feature_ids' holds I64 indices, not values; read \
             it as an index tensor"
        ),
        "{e}"
    );
    let e = f.index_tensor("constants").unwrap_err().to_string();
    assert!(
        e.ends_with(
            "tensor 'constants' holds F32 values, not I64 indices; read it as a float tensor"
        ),
        "{e}"
    );
}

#[test]
fn numpy_style_readers_see_every_declared_extra_and_global() {
    let dir = tempfile::tempdir().unwrap();
    let s = synthetic(7, 3);
    write_with_extras(dir.path(), &s, &extras_for(&s), &[0..7]);
    let bytes = std::fs::read(dir.path().join(DECOMPOSITION_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    use safetensors::Dtype as D;
    for (name, dtype, shape) in [
        ("linear_terms", D::F32, vec![7, 6]),
        ("constants", D::F32, vec![7]),
        ("effective_rank", D::F32, vec![7]),
        ("fraction_kept", D::F32, vec![7]),
        ("frobenius_sq", D::F32, vec![7]),
        ("self_interaction_values", D::F32, vec![7, 3]),
        ("self_interaction_features", D::I64, vec![7, 3]),
        ("cross_interaction_values", D::F32, vec![7, 3]),
        ("cross_interaction_features", D::I64, vec![7, 3, 2]),
        ("singular_values", D::F32, vec![4]),
        ("feature_ids", D::I64, vec![5]),
    ] {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), dtype, "{name}");
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
    }
    let ids: Vec<i64> = st
        .tensor("feature_ids")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(ids, [7, -1, 0, 3, i64::MAX]);
    assert_eq!(st.names().len(), 4 + 11);
}

#[test]
fn results_without_extras_keep_the_original_format() {
    let dir = tempfile::tempdir().unwrap();
    let s = synthetic(3, 2);
    write_synthetic::<f32>(dir.path(), &s, &[0..3]);
    // summary.json is exactly the format that existed before extras: no new keys at all, so
    // directories written by earlier versions are the same files and read the same way.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(SUMMARY_FILE)).unwrap()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["format_version", "metadata", "outputs", "shape"]);
    let output_keys: Vec<&str> = json["outputs"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        output_keys,
        [
            "effective_rank",
            "fraction_kept",
            "frobenius_sq",
            "index",
            "label",
            "top_eigenvalues"
        ]
    );
    let r = read_results(dir.path()).unwrap();
    assert!(r.tensors.is_empty() && r.index_tensors.is_empty());
    assert!(r.summary.extras.is_empty() && r.summary.globals.is_empty());
    assert!(r.summary.outputs[0].linear_term_norm.is_none());
    let f = ResultsFile::open(dir.path()).unwrap();
    assert_eq!(
        f.tensor_names(),
        [
            "eigenvalues",
            "eigenvectors",
            "input_eigenvectors",
            "outputs"
        ]
    );
}

#[test]
fn hosvd_results_hold_the_spectrum_and_its_vectors() {
    let layer = BilinearLayer::new(mat(5, 4, 1), mat(5, 4, 2), mat(3, 5, 3));
    for restrict in [None, Some(mat(2, 3, 7))] {
        let h = hosvd(&layer, restrict.as_ref().map(|u| u.view()), 2, Par::Seq).unwrap();
        let directions = h.component_directions();
        let dir = tempfile::tempdir().unwrap();
        let shape = ResultsShape {
            n_out: 2,
            k: 4,
            d_in: 4,
            d_input: None,
            d_out: 3,
            eigenvectors: true,
        };
        let mut w = ResultsWriter::<f64>::create(
            dir.path(),
            shape,
            &meta(),
            &ExtraSpec::spectrum_stats::<f64>(),
            &ResultsWriter::<f64>::hosvd_globals(&h),
        )
        .unwrap();
        let params = DecomposeParams {
            parallelism: Parallelism::Sequential,
            ..DecomposeParams::default()
        };
        decompose_chunked(&layer, directions.view(), None, &params, |first, part| {
            let n = part.n_outputs();
            let labels: Vec<String> = (first..first + n)
                .map(|o| format!("component {o}"))
                .collect();
            w.write_decomposition(DecompositionChunk {
                first,
                decomposition: &part,
                outputs: directions.slice(s![first..first + n, ..]),
                input_eigenvectors: None,
                labels: &labels,
                component_tokens: None,
            })
            .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .unwrap();
        w.write_hosvd(&h).unwrap();
        w.finish().unwrap();

        let r = read_results(dir.path()).unwrap();
        let hs = r.summary.hosvd.as_ref().unwrap();
        // summary.json holds f64 through JSON: equal to the last bits or one ulp.
        let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * b.abs();
        assert_eq!(hs.singular_values.len(), 2);
        for (a, b) in hs.singular_values.iter().zip(&h.singular_values) {
            assert!(close(*a, *b), "{a} {b}");
        }
        assert!(close(hs.total_sq, h.total_sq));
        let kept: f64 = h.singular_values.iter().map(|x| x * x).sum();
        assert!((hs.fraction_kept - kept / h.total_sq).abs() < 1e-12);
        let f = ResultsFile::open(dir.path()).unwrap();
        assert_eq!(
            f.tensor::<f64>("singular_values").unwrap().unwrap(),
            h.singular_values.clone().into_dyn()
        );
        assert_eq!(
            f.tensor::<f64>("output_vectors").unwrap().unwrap(),
            h.output_vectors.clone().into_dyn()
        );
        assert_eq!(
            f.tensor::<f64>("output_coefficients").unwrap(),
            h.coefficients.clone().map(|c| c.into_dyn())
        );
        // Each component Q_s has unit Frobenius norm; the statistic tensors say so.
        for o in 0..2 {
            let fro = f.tensor::<f64>("frobenius_sq").unwrap().unwrap()[[o]];
            assert!((fro - 1.0).abs() < 1e-10, "{fro}");
            let er = f.tensor::<f64>("effective_rank").unwrap().unwrap()[[o]];
            let summary_er = r.summary.outputs[o].effective_rank.unwrap();
            assert!(
                (er - summary_er).abs() <= 4.0 * f64::EPSILON * er,
                "{er} {summary_er}"
            );
        }
    }
}

#[test]
fn extra_and_global_mistakes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = synthetic(4, 2);
    let create = |extras: &[ExtraSpec], globals: &[TensorSpec]| {
        ResultsWriter::<f32>::create(dir.path(), s.shape, &meta(), extras, globals)
    };
    let msg = |e: IoError| {
        let m = e.to_string();
        let prefix = format!("{}: ", dir.path().join(DECOMPOSITION_FILE).display());
        m.strip_prefix(&prefix).unwrap_or(&m).to_string()
    };
    assert_eq!(
        msg(create(&[ExtraSpec::new("q", Dtype::F64, &[6])], &[]).unwrap_err()),
        "tensor 'q': declared F64 but the results are stored in F32: a per-output extra holds \
         F32 values or I64 indices"
    );
    assert_eq!(
        msg(create(&[], &[TensorSpec::new("outputs", Dtype::F32, &[3])]).unwrap_err()),
        "tensor 'outputs': the name belongs to a tensor every results directory has"
    );
    assert_eq!(
        msg(create(
            &[ExtraSpec::float::<f32>("q", &[])],
            &[TensorSpec::new("q", Dtype::F32, &[3])]
        )
        .unwrap_err()),
        "tensor 'q': declared twice"
    );

    let specs = [
        ExtraSpec::float::<f32>("q", &[6]),
        ExtraSpec::index("ids", &[2]),
    ];
    let globals = [TensorSpec::new("g", Dtype::F32, &[3])];
    let mut w = create(&specs, &globals).unwrap();
    let ev = s.eigenvalues.mapv(|x| x as f32);
    let vecs = s.eigenvectors.mapv(|x| x as f32);
    let ivecs = s.input_eigenvectors.mapv(|x| x as f32);
    let outs = s.outputs.mapv(|x| x as f32);
    let q = Array2::<f32>::zeros((4, 6));
    let q_bad = Array2::<f32>::zeros((4, 5));
    let ids = Array2::<i64>::zeros((4, 2));
    let ids_f = Array2::<f32>::zeros((4, 2));
    let chunk = |r: std::ops::Range<usize>| ResultsChunk {
        first: r.start,
        eigenvalues: ev.slice(s![r.clone(), ..]),
        eigenvectors: Some(vecs.slice(s![r.clone(), .., ..])),
        input_eigenvectors: Some(ivecs.slice(s![r.clone(), .., ..])),
        outputs: outs.slice(s![r.clone(), ..]),
        summaries: summaries(&s, r),
        extras: Vec::new(),
    };
    fn rows<E>(a: &Array2<E>, r: std::ops::Range<usize>) -> ndarray::ArrayViewD<'_, E> {
        a.slice(s![r, ..]).into_dyn()
    }
    let q_rows = ExtraData::Float(rows(&q, 0..2));
    let ids_rows = ExtraData::Index(rows(&ids, 0..2));
    for (extras, expected) in [
        (
            vec![("q", q_rows.clone())],
            "tensor 'ids': declared but not given",
        ),
        (
            vec![
                ("q", q_rows.clone()),
                ("ids", ids_rows.clone()),
                ("r", q_rows.clone()),
            ],
            "tensor 'r': given with a chunk but not declared as a per-output extra",
        ),
        (
            vec![
                ("q", q_rows.clone()),
                ("ids", ids_rows.clone()),
                ("q", q_rows.clone()),
            ],
            "tensor 'q': given twice in one chunk",
        ),
        (
            vec![
                ("q", q_rows.clone()),
                ("ids", ExtraData::Float(rows(&ids_f, 0..2))),
            ],
            "tensor 'ids': declared I64 but given as F32",
        ),
        (
            vec![
                ("q", ExtraData::Float(rows(&q_bad, 0..2))),
                ("ids", ids_rows.clone()),
            ],
            "tensor 'q': chunk has shape [2, 5], expected [2, 6]",
        ),
    ] {
        let mut c = chunk(0..2);
        c.extras = extras;
        assert_eq!(msg(w.write_chunk(c).unwrap_err()), expected);
    }
    // A failed chunk wrote nothing: the outputs can still be written.
    let mut c = chunk(0..2);
    c.extras = vec![("q", q_rows.clone()), ("ids", ids_rows.clone())];
    w.write_chunk(c).unwrap();
    let mut c = chunk(2..4);
    c.extras = vec![
        ("q", ExtraData::Float(rows(&q, 2..4))),
        ("ids", ExtraData::Index(rows(&ids, 2..4))),
    ];
    w.write_chunk(c).unwrap();

    let g = ndarray::arr1(&[1.0f32, 2.0, 3.0]);
    assert_eq!(
        msg(w.write_global("q", g.view().into_dyn()).unwrap_err()),
        "tensor 'q': not declared as a global tensor"
    );
    assert_eq!(
        msg(w
            .write_global("g", ndarray::arr1(&[1.0f32]).view().into_dyn())
            .unwrap_err()),
        "tensor 'g': declared shape [3] but given [1]"
    );
    assert_eq!(
        msg(w.finish().unwrap_err()),
        "tensor 'g': declared as a global tensor but never written"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file, final or temporary, is left"
    );

    let mut w = create(&[], &globals).unwrap();
    w.write_global("g", g.view().into_dyn()).unwrap();
    assert_eq!(
        msg(w.write_global("g", g.view().into_dyn()).unwrap_err()),
        "tensor 'g': already written"
    );
}

#[test]
fn a_summary_declaring_tensors_the_file_lacks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = synthetic(7, 3);
    write_with_extras(dir.path(), &s, &extras_for(&s), &[0..7]);
    let path = dir.path().join(SUMMARY_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["extras"][0]["shape"] = serde_json::json!([7, 5]);
    json["globals"][1]["name"] = "absent".into();
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let m = read_results(dir.path()).unwrap_err().to_string();
    assert!(
        m.ends_with("tensor 'linear_terms' is F32 [7, 6] but summary.json declares F32 [7, 5]"),
        "{m}"
    );
    json["extras"][0]["shape"] = serde_json::json!([7, 6]);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let m = read_results(dir.path()).unwrap_err().to_string();
    assert!(
        m.ends_with("tensor 'absent' is absent but summary.json declares I64 [5]"),
        "{m}"
    );
}
