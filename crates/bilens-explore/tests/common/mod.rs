//! Seeded results directories written with bilens-io's writer, and readers of what a site and
//! a results directory hold that do not go through the explorer (serde_json for the site, the
//! safetensors crate for the tensors).
#![allow(dead_code, reason = "each test file uses part of the helpers")]
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use std::path::Path;

use bilens_decomp::{Method, Order, Real, TopInteractions};
use bilens_io::{
    ComponentTokens, Element, ExtraData, ExtraSpec, HosvdSummary, InteractionArrays, OutputSummary,
    ResultsChunk, ResultsMeta, ResultsShape, ResultsWriter, TensorSpec, TokenScore, names,
};
use ndarray::{Array1, Array2, Array3, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::Value;

/// What a synthetic results directory holds.
#[derive(Clone, Debug)]
pub struct Spec {
    pub n_out: usize,
    pub k: usize,
    pub d_in: usize,
    pub d_input: Option<usize>,
    pub d_out: usize,
    pub layout: &'static str,
    /// The layer (an image model's block) the results were made for.
    pub layer: Option<usize>,
    /// The `outputs` metadata (`classes`, `tokens:...`, `hosvd of classes`, a file).
    pub outputs: &'static str,
    /// Feature-basis results: interactions and `input_basis` metadata.
    pub basis: bool,
    /// Component tokens for the first two components of every output.
    pub tokens: bool,
    /// HOSVD globals (singular values, output vectors).
    pub hosvd: bool,
    /// Eigenvectors stored.
    pub eigenvectors: bool,
    pub seed: u64,
}

impl Spec {
    pub fn new(n_out: usize, k: usize, d_in: usize) -> Self {
        Self {
            n_out,
            k,
            d_in,
            d_input: None,
            d_out: 5,
            layout: "single",
            layer: None,
            outputs: "file.safetensors:enc",
            basis: false,
            tokens: false,
            hosvd: false,
            eigenvectors: true,
            seed: 7,
        }
    }
}

pub fn label(o: usize) -> String {
    o.to_string()
}

/// Writes a results directory of `spec` in precision `T`: random eigenvalues sorted by
/// descending `|λ|`, random eigenvectors and output directions, statistics from the kept
/// eigenvalues with a `‖Q‖²` a quarter larger (so not everything is kept).
pub fn write_results<T: Real + Element>(dir: &Path, spec: &Spec) {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut normal = |shape: &[usize]| -> Vec<f64> {
        (0..shape.iter().product::<usize>())
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect()
    };
    let n = spec.n_out;
    let mut eigenvalues = Array2::from_shape_vec((n, spec.k), normal(&[n, spec.k])).unwrap();
    for mut row in eigenvalues.rows_mut() {
        let mut v = row.to_vec();
        v.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
        row.assign(&Array1::from(v));
    }
    let vectors =
        Array3::from_shape_vec((n, spec.k, spec.d_in), normal(&[n, spec.k, spec.d_in])).unwrap();
    let input_vectors = spec
        .d_input
        .map(|d| Array3::from_shape_vec((n, spec.k, d), normal(&[n, spec.k, d])).unwrap());
    let outputs = Array2::from_shape_vec((n, spec.d_out), normal(&[n, spec.d_out])).unwrap();

    let shape = ResultsShape {
        n_out: n,
        k: spec.k,
        d_in: spec.d_in,
        d_input: spec.d_input,
        d_out: spec.d_out,
        eigenvectors: spec.eigenvectors,
    };
    let mut meta = ResultsMeta::new(
        "model.safetensors",
        spec.layout.parse().unwrap(),
        Method::Full,
        Order::AbsDescending,
    );
    meta.outputs = Some(spec.outputs.parse().unwrap());
    meta.layer = spec.layer;
    if spec.basis {
        meta.input_basis = Some("basis.safetensors:dec".parse().unwrap());
    }
    let m = 4;
    let mut extras = ExtraSpec::spectrum_stats::<T>();
    if spec.basis {
        extras.extend(ExtraSpec::interactions::<T>(m));
    }
    let s_count = n;
    let globals = if spec.hosvd {
        vec![
            TensorSpec::new(names::SINGULAR_VALUES, <T as Element>::DTYPE, &[s_count]),
            TensorSpec::new(
                names::OUTPUT_VECTORS,
                <T as Element>::DTYPE,
                &[s_count, spec.d_out],
            ),
        ]
    } else {
        Vec::new()
    };
    let mut w = ResultsWriter::<T>::create(dir, shape, &meta, &extras, &globals).unwrap();
    let cast2 = |a: ndarray::ArrayView2<'_, f64>| a.mapv(T::of_f64);
    let cast3 = |a: ndarray::ArrayView3<'_, f64>| a.mapv(T::of_f64);
    // Two chunks, so that the writer's streaming is exercised too.
    let half = n / 2;
    for range in [0..half, half..n] {
        if range.is_empty() {
            continue;
        }
        let ev = cast2(eigenvalues.slice(s![range.clone(), ..]));
        let vecs = cast3(vectors.slice(s![range.clone(), .., ..]));
        let ivecs = input_vectors
            .as_ref()
            .map(|v| cast3(v.slice(s![range.clone(), .., ..])));
        let outs = cast2(outputs.slice(s![range.clone(), ..]));
        let summaries: Vec<OutputSummary> = range
            .clone()
            .map(|o| {
                let kept = ev.row(o - range.start);
                let sq: f64 = kept.iter().map(|x| x.as_f64().powi(2)).sum();
                let abs: f64 = kept.iter().map(|x| x.as_f64().abs()).sum();
                let mut s = OutputSummary::new(o, label(o), kept, 1.25 * sq, Some(abs));
                if spec.tokens {
                    s.component_tokens = Some(
                        (0..2.min(spec.k))
                            .map(|c| ComponentTokens {
                                component: c,
                                eigenvalue: kept[c].as_f64(),
                                top: (0..3)
                                    .map(|t| token(o * 7 + c * 3 + t, 1.0 / (t as f64 + 1.5)))
                                    .collect(),
                                bottom: (0..3)
                                    .map(|t| token(o * 5 + c + t, -1.0 / (t as f64 + 2.5)))
                                    .collect(),
                            })
                            .collect(),
                    );
                }
                s
            })
            .collect();
        let tops: Vec<TopInteractions<T>> = range
            .clone()
            .map(|o| TopInteractions {
                self_interactions: (0..m)
                    .map(|j| (o + j, T::of_f64(1.0 / (j as f64 + 1.0))))
                    .collect(),
                cross_interactions: (0..m)
                    .map(|j| (j, o + j + 1, T::of_f64(-0.5 / (j as f64 + 1.0))))
                    .collect(),
            })
            .collect();
        let arrays = InteractionArrays::new(&tops, m);
        let extra_rows: Vec<(&str, ExtraData<'_, T>)> = if spec.basis {
            arrays.extras()
        } else {
            Vec::new()
        };
        w.write_chunk(ResultsChunk {
            first: range.start,
            eigenvalues: ev.view(),
            eigenvectors: spec.eigenvectors.then(|| vecs.view()),
            input_eigenvectors: ivecs
                .as_ref()
                .filter(|_| spec.eigenvectors)
                .map(|v| v.view()),
            outputs: outs.view(),
            summaries,
            extras: extra_rows,
        })
        .unwrap();
    }
    if spec.hosvd {
        let sv: Array1<T> = (0..s_count)
            .map(|i| T::of_f64(2.0 / (i as f64 + 1.0)))
            .collect();
        w.write_global(names::SINGULAR_VALUES, sv.view().into_dyn())
            .unwrap();
        let ov = cast2(outputs.view());
        w.write_global(names::OUTPUT_VECTORS, ov.view().into_dyn())
            .unwrap();
        w.set_hosvd_summary(HosvdSummary {
            singular_values: sv.iter().map(|x| x.as_f64()).collect(),
            total_sq: 10.0,
            fraction_kept: 0.5,
        });
    }
    w.finish().unwrap();
}

fn token(id: usize, score: f64) -> TokenScore {
    TokenScore {
        id,
        token: format!("tok{id}"),
        score,
    }
}

/// A JSON file.
pub fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A site's data record `key` (`data/KEY.json`), after checking that `data/KEY.js` holds the
/// same JSON text as the argument of `bilensData("KEY", …);`.
pub fn record(site: &Path, key: &str) -> Value {
    let text = std::fs::read_to_string(site.join("data").join(format!("{key}.json"))).unwrap();
    let script = std::fs::read_to_string(site.join("data").join(format!("{key}.js"))).unwrap();
    assert_eq!(
        script,
        format!("bilensData(\"{key}\", {text});\n"),
        "{key}.js"
    );
    serde_json::from_str(&text).unwrap()
}

/// The data key of chunk `i` of a site's `index` or `outputs` files.
pub fn chunk_key(chunks: &Value, i: usize) -> String {
    let digits = chunks["digits"].as_u64().unwrap() as usize;
    format!("{}{i:0digits$}", chunks["prefix"].as_str().unwrap())
}

/// Every record of a chunked set (`index` rows or `outputs` pages), in order, checking that
/// chunk `i` starts at `i * size` and that together they hold outputs `0..n` once each.
pub fn chunked(site: &Path, set: &str, field: &str) -> Vec<Value> {
    let description = record(site, "site");
    let chunks = &description[set];
    let size = chunks["size"].as_u64().unwrap() as usize;
    let mut all = Vec::new();
    for i in 0..chunks["count"].as_u64().unwrap() as usize {
        let chunk = record(site, &chunk_key(chunks, i));
        assert_eq!(chunk["first"].as_u64().unwrap() as usize, i * size);
        all.extend(chunk[field].as_array().unwrap().iter().cloned());
    }
    for (o, r) in all.iter().enumerate() {
        assert_eq!(r["index"].as_u64().unwrap() as usize, o, "{set} record {o}");
    }
    assert_eq!(
        all.len(),
        description["n_outputs"].as_u64().unwrap() as usize
    );
    all
}

/// A float tensor of `decomposition.safetensors` read with the safetensors crate, widened to
/// f64, and its shape.
pub fn tensor(dir: &Path, name: &str) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(dir.join("decomposition.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let values = match t.dtype() {
        safetensors::Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        safetensors::Dtype::F64 => t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        d => panic!("{name}: {d:?}"),
    };
    (t.shape().to_vec(), values)
}

/// Row `i` of a flat `[rows, cols]` buffer.
pub fn row(values: &[f64], cols: usize, i: usize) -> &[f64] {
    &values[i * cols..(i + 1) * cols]
}

/// A JSON number (f64), or `None` for `null`.
pub fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// `[[i, x], ...]` as pairs.
pub fn pairs(v: &Value) -> Vec<(usize, f64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap()))
        .collect()
}
