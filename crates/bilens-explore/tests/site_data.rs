//! The data a site is written with, checked against the results directory it was made from:
//! the index rows against `summary.json` and the eigenvalue tensor, the output pages against
//! the tensors (spectrum ends, pictures, largest entries, HOSVD vectors), `summary.json`
//! (tokens, interactions) and a brute-force computation of the nearest outputs; every record
//! also as the `.js` file the pages load.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::path::Path;

use base64::Engine as _;
use bilens_explore::{ComponentView, ExploreOptions, ImageShape, explore};
use common::{Spec, chunked, json, num, pairs, record, row, tensor, write_results};
use serde_json::Value;

fn f32_of(x: f64) -> f32 {
    x as f32
}

/// The `m` most positive (`sign` 1) or most negative (`sign` -1) of a row, by a loop.
fn spectrum_end(values: &[f64], sign: f64, m: usize) -> Vec<(usize, f64)> {
    let mut found: Vec<(usize, f64)> = values
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, v)| v * sign > 0.0)
        .collect();
    found.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    found.truncate(m);
    found
}

/// Cosines of output `o`'s direction with every other, largest first, above 1e-6.
fn nearest(outputs: &[f64], d: usize, o: usize) -> Vec<(usize, f64)> {
    let n = outputs.len() / d;
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let u = row(outputs, d, o);
    let mut found: Vec<(usize, f64)> = (0..n)
        .filter(|&j| j != o)
        .map(|j| {
            let v = row(outputs, d, j);
            let dot: f64 = u.iter().zip(v).map(|(a, b)| a * b).sum();
            (j, dot / (norm(u) * norm(v)))
        })
        .filter(|&(_, c)| c > 1e-6)
        .collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    found
}

fn make(spec: &Spec, f64_results: bool, options: &ExploreOptions) -> (tempfile::TempDir, Value) {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("results");
    if f64_results {
        write_results::<f64>(&results, spec);
    } else {
        write_results::<f32>(&results, spec);
    }
    let report = explore(&results, &root.path().join("site"), options).unwrap();
    assert_eq!(report.outputs, spec.n_out);
    assert_eq!(report.entry, root.path().join("site").join("index.html"));
    let description = record(&root.path().join("site"), "site");
    (root, description)
}

#[test]
fn the_index_lists_every_output_as_the_results_hold_it() {
    let mut spec = Spec::new(30, 12, 64);
    spec.tokens = true;
    let (root, description) = make(&spec, false, &ExploreOptions::default());
    let results = root.path().join("results");
    let site = root.path().join("site");
    assert_eq!(description["format"], "bilens-explore");
    assert_eq!(description["n_outputs"], 30);
    assert_eq!(description["components"]["view"], "image");
    let summary = json(&results.join("summary.json"));
    let (shape, eigenvalues) = tensor(&results, "eigenvalues");
    let rows = chunked(&site, "index", "rows");
    for (o, r) in rows.iter().enumerate() {
        let s = &summary["outputs"][o];
        assert_eq!(r["label"], s["label"]);
        let top: Vec<Value> = s["top_eigenvalues"].as_array().unwrap()[..4].to_vec();
        assert_eq!(r["top"], Value::Array(top), "output {o}");
        for key in ["effective_rank", "fraction_kept", "frobenius_sq"] {
            assert_eq!(r[key], s[key], "output {o} {key}");
        }
        let kept = row(&eigenvalues, shape[1], o);
        let max = kept.iter().copied().fold(f64::MIN, f64::max);
        let min = kept.iter().copied().fold(f64::MAX, f64::min);
        assert_eq!(num(&r["lambda_max"]), Some(max));
        assert_eq!(num(&r["lambda_min"]), Some(min));
        let first = &s["component_tokens"][0];
        let strings = |end: &str| -> Vec<Value> {
            first[end]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["token"].clone())
                .collect()
        };
        assert_eq!(r["tokens"]["top"], Value::Array(strings("top")));
        assert_eq!(r["tokens"]["bottom"], Value::Array(strings("bottom")));
        assert!(r.get("approx_r2").is_none() && r.get("singular_value").is_none());
    }
    let keys: Vec<&str> = description["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "index",
            "label",
            "top",
            "lambda_max",
            "lambda_min",
            "effective_rank",
            "fraction_kept",
            "frobenius_sq",
            "tokens"
        ]
    );
}

#[test]
fn output_pages_show_the_spectrum_pictures_tokens_and_nearest_outputs() {
    let mut spec = Spec::new(30, 12, 64);
    spec.tokens = true;
    let options = ExploreOptions {
        spectrum_per_sign: 5,
        components_per_sign: 3,
        ..ExploreOptions::default()
    };
    let (root, description) = make(&spec, false, &options);
    let results = root.path().join("results");
    let summary = json(&results.join("summary.json"));
    let (shape, eigenvalues) = tensor(&results, "eigenvalues");
    let (vshape, vectors) = tensor(&results, "eigenvectors");
    let (oshape, outputs) = tensor(&results, "outputs");
    assert_eq!(
        description["components"]["image"],
        serde_json::json!({"channels": 1, "height": 8, "width": 8})
    );
    let pages = chunked(&root.path().join("site"), "outputs", "outputs");
    for (o, page) in pages.iter().enumerate() {
        let kept = row(&eigenvalues, shape[1], o);
        let spectrum = &page["spectrum"];
        let positive = spectrum_end(kept, 1.0, 5);
        let negative = spectrum_end(kept, -1.0, 5);
        // Written in the results' precision: each reads back as the stored f32.
        let as_f32 = |p: Vec<(usize, f64)>| -> Vec<(usize, f32)> {
            p.into_iter().map(|(c, v)| (c, f32_of(v))).collect()
        };
        assert_eq!(
            as_f32(pairs(&spectrum["positive"])),
            as_f32(positive.clone())
        );
        assert_eq!(
            as_f32(pairs(&spectrum["negative"])),
            as_f32(negative.clone())
        );
        assert_eq!(
            spectrum["n_positive"].as_u64().unwrap() as usize
                + spectrum["n_negative"].as_u64().unwrap() as usize,
            kept.iter().filter(|v| **v != 0.0).count()
        );

        let drawn: Vec<usize> = positive
            .iter()
            .take(3)
            .chain(negative.iter().take(3))
            .map(|p| p.0)
            .collect();
        let components = page["components"].as_array().unwrap();
        let shown: Vec<usize> = components
            .iter()
            .map(|c| c["component"].as_u64().unwrap() as usize)
            .collect();
        // Components labelled by tokens (the first two) are shown too.
        let mut want = drawn.clone();
        for c in 0..2 {
            if !want.contains(&c) {
                want.push(c);
            }
        }
        assert_eq!(shown, want, "output {o}");
        for c in components {
            let i = c["component"].as_u64().unwrap() as usize;
            assert_eq!(f32_of(c["eigenvalue"].as_f64().unwrap()), f32_of(kept[i]));
            let v = &vectors[(o * vshape[1] + i) * vshape[2]..(o * vshape[1] + i + 1) * vshape[2]];
            let scale = c["image"]["scale"].as_f64().unwrap();
            let max = v.iter().fold(0f64, |m, x| m.max(x.abs()));
            assert_eq!(f32_of(scale), f32_of(max));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(c["image"]["int8"].as_str().unwrap())
                .unwrap();
            assert_eq!(bytes.len(), 64);
            for (b, x) in bytes.iter().zip(v) {
                let back = f64::from(*b as i8) / 127.0 * scale;
                assert!(
                    (back - x).abs() <= scale / 254.0 * (1.0 + 1e-6),
                    "{back} vs {x}"
                );
            }
            assert!(c.get("entries").is_none());
            let tokens = summary["outputs"][o]["component_tokens"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["component"].as_u64() == Some(i as u64));
            match tokens {
                None => assert!(c.get("tokens").is_none()),
                Some(t) => {
                    for end in ["top", "bottom"] {
                        let got = c["tokens"][end].as_array().unwrap();
                        let want = t[end].as_array().unwrap();
                        assert_eq!(got.len(), want.len());
                        for (g, w) in got.iter().zip(want) {
                            assert_eq!(g["id"], w["id"]);
                            assert_eq!(g["token"], w["token"]);
                            let score = w["score"].as_f64().unwrap();
                            assert_eq!(f32_of(g["score"].as_f64().unwrap()), f32_of(score));
                        }
                    }
                }
            }
        }

        let want = nearest(&outputs, oshape[1], o);
        let got = page["neighbours"].as_array().unwrap();
        assert_eq!(got.len(), want.len().min(8), "output {o}");
        for (g, &(j, c)) in got.iter().zip(&want) {
            let cosine = g["cosine"].as_f64().unwrap();
            assert!((cosine - c).abs() < 1e-5, "output {o}: cos {cosine} vs {c}");
            let at = g["index"].as_u64().unwrap() as usize;
            // Cosines within rounding of each other may change places.
            let theirs = want.iter().find(|p| p.0 == at).unwrap().1;
            assert!(at == j || (theirs - c).abs() < 1e-5);
            assert_eq!(g["label"], summary["outputs"][at]["label"]);
        }
        assert!(page.get("hosvd").is_none() && page.get("self_interactions").is_none());
    }
}

#[test]
fn feature_basis_pages_list_largest_entries_and_interactions() {
    let mut spec = Spec::new(9, 6, 16);
    spec.layout = "lm";
    spec.basis = true;
    let options = ExploreOptions {
        entries_per_component: 5,
        ..ExploreOptions::default()
    };
    let (root, description) = make(&spec, true, &options);
    let results = root.path().join("results");
    assert_eq!(description["components"]["view"], "entries");
    assert_eq!(description["components"]["space"], "features");
    let summary = json(&results.join("summary.json"));
    let (vshape, vectors) = tensor(&results, "eigenvectors");
    let pages = chunked(&root.path().join("site"), "outputs", "outputs");
    for (o, page) in pages.iter().enumerate() {
        for c in page["components"].as_array().unwrap() {
            let i = c["component"].as_u64().unwrap() as usize;
            let v = &vectors[(o * vshape[1] + i) * vshape[2]..(o * vshape[1] + i + 1) * vshape[2]];
            let mut want: Vec<(usize, f64)> = v.iter().copied().enumerate().collect();
            want.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            want.truncate(5);
            // f64 results are written exactly.
            assert_eq!(pairs(&c["entries"]), want);
            assert!(c.get("image").is_none());
        }
        let s = &summary["outputs"][o];
        assert_eq!(page["self_interactions"], s["top_self_interactions"]);
        assert_eq!(page["cross_interactions"], s["top_cross_interactions"]);
    }
}

#[test]
fn hosvd_pages_hold_their_singular_value_and_output_vector() {
    let mut spec = Spec::new(4, 5, 64);
    spec.hosvd = true;
    spec.outputs = "hosvd of classes";
    let (root, description) = make(&spec, false, &ExploreOptions::default());
    let results = root.path().join("results");
    assert_eq!(description["noun"], "component");
    let summary = json(&results.join("summary.json"));
    assert_eq!(description["hosvd"], summary["hosvd"]);
    let (_, sv) = tensor(&results, "singular_values");
    let (vshape, vectors) = tensor(&results, "output_vectors");
    let rows = chunked(&root.path().join("site"), "index", "rows");
    let pages = chunked(&root.path().join("site"), "outputs", "outputs");
    for o in 0..4 {
        assert_eq!(num(&rows[o]["singular_value"]), Some(sv[o]));
        let h = &pages[o]["hosvd"];
        assert_eq!(f32_of(h["singular_value"].as_f64().unwrap()), f32_of(sv[o]));
        assert_eq!(h["d_out"], 5);
        let got: Vec<(usize, f32)> = pairs(&h["output_vector"])
            .into_iter()
            .map(|(i, x)| (i, f32_of(x)))
            .collect();
        let want: Vec<(usize, f32)> = row(&vectors, vshape[1], o)
            .iter()
            .map(|&x| f32_of(x))
            .enumerate()
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn thousands_of_outputs_are_split_into_complete_chunks() {
    let mut spec = Spec::new(2100, 3, 4);
    spec.d_out = 6;
    let (root, description) = make(&spec, false, &ExploreOptions::default());
    let site = root.path().join("site");
    assert_eq!(description["index"]["count"], 3);
    assert_eq!(chunked(&site, "index", "rows").len(), 2100);
    let pages = chunked(&site, "outputs", "outputs");
    assert!(description["outputs"]["count"].as_u64().unwrap() > 1);
    assert!(
        pages
            .iter()
            .all(|p| p["neighbours"].as_array().unwrap().len() == 8)
    );
    // No data file is a giant one.
    for entry in std::fs::read_dir(site.join("data").join("outputs")).unwrap() {
        let size = entry.unwrap().metadata().unwrap().len();
        assert!(size < 1 << 20, "an output data file of {size} bytes");
    }
    // Components of a 4-wide layer are vectors, not pictures.
    assert_eq!(description["components"]["view"], "entries");
}

#[test]
fn eigenvalues_only_results_have_spectra_and_no_components() {
    let mut spec = Spec::new(5, 4, 64);
    spec.eigenvectors = false;
    let (root, description) = make(&spec, false, &ExploreOptions::default());
    assert_eq!(description["components"]["view"], "none");
    let pages = chunked(&root.path().join("site"), "outputs", "outputs");
    assert!(
        pages
            .iter()
            .all(|p| p["components"].as_array().unwrap().is_empty() && p["spectrum"]["k"] == 4)
    );
}

#[test]
fn a_deep_image_block_past_the_first_lists_entries_not_pictures() {
    // 64 = 8 x 8 would be drawn as a picture for a single layer or block 0; block 1 reads the
    // hidden stream, where a square width means nothing.
    let mut spec = Spec::new(5, 4, 64);
    spec.layout = "image";
    for (layer, view) in [(Some(1), "entries"), (Some(0), "image"), (None, "image")] {
        spec.layer = layer;
        let (_root, description) = make(&spec, false, &ExploreOptions::default());
        assert_eq!(description["components"]["view"], view, "layer {layer:?}");
    }
}

#[test]
fn an_image_shape_draws_channels_and_must_fit() {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("results");
    let mut spec = Spec::new(3, 4, 48);
    spec.d_input = Some(2 * 4 * 8);
    write_results::<f32>(&results, &spec);
    let shape = ImageShape {
        channels: 2,
        height: 4,
        width: 8,
    };
    let site = root.path().join("site");
    let options = ExploreOptions {
        image_shape: Some(shape),
        ..ExploreOptions::default()
    };
    let report = explore(&results, &site, &options).unwrap();
    assert_eq!(report.components, ComponentView::Image(shape));
    let description = record(&site, "site");
    assert_eq!(description["components"]["space"], "input");
    let (vshape, vectors) = tensor(&results, "input_eigenvectors");
    let pages = chunked(&site, "outputs", "outputs");
    let c = &pages[1]["components"][0];
    let i = c["component"].as_u64().unwrap() as usize;
    let v = &vectors[(vshape[1] + i) * 64..(vshape[1] + i + 1) * 64];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(c["image"]["int8"].as_str().unwrap())
        .unwrap();
    let scale = c["image"]["scale"].as_f64().unwrap();
    assert!(
        bytes
            .iter()
            .zip(v)
            .all(|(b, x)| (f64::from(*b as i8) / 127.0 * scale - x).abs()
                <= scale / 254.0 * (1.0 + 1e-6))
    );

    let wrong = ExploreOptions {
        image_shape: Some(ImageShape {
            channels: 3,
            height: 4,
            width: 8,
        }),
        ..ExploreOptions::default()
    };
    let e = explore(&results, &root.path().join("other"), &wrong).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image shape 3×4×8 holds 96 values, but the components have 64"
    );
    assert!(e.hint().unwrap().to_string().contains("= 64"));
    assert!(!Path::new(&root.path().join("other")).exists());
}
