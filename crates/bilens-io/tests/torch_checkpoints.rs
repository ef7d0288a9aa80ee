//! PyTorch checkpoints: the fixtures `torch.save` wrote (data/fixtures/pt, see make.py there)
//! read to exactly the numbers of their safetensors twins and decompose to the same
//! eigenvalues; the state dict is found under its key; a config object pickled beside the
//! weights is used as config.json would be; and hostile or damaged files are refused with the
//! file and the problem named, each a regression test.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use std::path::{Path, PathBuf};
use std::time::Instant;

use bilens_decomp::{Order, Par, eigh_full, interaction_matrix};
use bilens_io::{FileFormat, IoError, LayoutSpec, TensorFile, load_model, read_rows};
use ndarray::Array1;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/pt")
        .join(name)
}

/// Every tensor of `pt` equals its twin's: names, dtypes, shapes, and every value (whole and by
/// a range of rows).
fn assert_same_tensors(pt: &str, twin: &str) {
    let a = TensorFile::open(&fixture(pt)).unwrap();
    let b = TensorFile::open(&fixture(twin)).unwrap();
    assert_eq!(a.format(), FileFormat::Torch);
    assert_eq!(b.format(), FileFormat::Safetensors);
    assert_eq!(a.tensors(), b.tensors(), "{pt} vs {twin}");
    for t in a.tensors() {
        let x = a.read::<f64>(&t.name).unwrap();
        let y = b.read::<f64>(&t.name).unwrap();
        assert_eq!(x, y, "{pt}: tensor {}", t.name);
        if t.shape.first().is_some_and(|&n| n >= 3) {
            let x = a.read_rows::<f64>(&t.name, 1..3).unwrap();
            let y = b.read_rows::<f64>(&t.name, 1..3).unwrap();
            assert_eq!(x, y, "{pt}: rows 1..3 of {}", t.name);
        }
    }
}

#[test]
fn every_fixture_reads_the_numbers_of_its_safetensors_twin() {
    for (pt, twin) in [
        ("image.pt", "image.safetensors"),
        ("legacy.pt", "image.safetensors"),
        ("proto4.pt", "image.safetensors"),
        ("nested.pt", "nested.safetensors"),
        ("public_image.pt", "nested.safetensors"),
        ("dtypes.pt", "dtypes.safetensors"),
        ("strided.pt", "strided.safetensors"),
        ("sae.pt", "sae.safetensors"),
    ] {
        assert_same_tensors(pt, twin);
    }
}

/// Eigenvalues of `Q(e_o)` for every output of the model in `path`, as `spec` loads it.
fn spectra(path: &Path, spec: &LayoutSpec) -> Vec<Array1<f64>> {
    let m = load_model::<f64>(path, spec).unwrap().model;
    (0..m.layer().d_out())
        .map(|o| {
            let mut u = Array1::zeros(m.layer().d_out());
            u[o] = 1.0;
            let q = interaction_matrix(m.layer(), u.view());
            eigh_full(q.view(), None, Order::AbsDescending, false, Par::Seq)
                .unwrap()
                .values
        })
        .collect()
}

#[test]
fn every_model_fixture_decomposes_to_its_twins_eigenvalues() {
    let image = LayoutSpec::Image {
        residual: Some(true),
        layer: None,
    };
    for (pt, twin, spec) in [
        ("image.pt", "image.safetensors", LayoutSpec::default()),
        ("legacy.pt", "image.safetensors", LayoutSpec::default()),
        ("proto4.pt", "image.safetensors", LayoutSpec::default()),
        ("nested.pt", "nested.safetensors", image.clone()),
        ("public_image.pt", "nested.safetensors", image),
        ("dtypes.pt", "dtypes.safetensors", LayoutSpec::default()),
        ("strided.pt", "strided.safetensors", LayoutSpec::default()),
    ] {
        let a = spectra(&fixture(pt), &spec);
        let b = spectra(&fixture(twin), &spec);
        assert!(!a.is_empty() && a[0].len() > 1);
        assert_eq!(a, b, "{pt} vs {twin}");
    }
}

#[test]
fn the_state_dict_is_found_under_its_key_and_a_config_object_is_used() {
    let info = load_model::<f32>(&fixture("nested.pt"), &LayoutSpec::default())
        .unwrap()
        .info;
    // residual and bias come from the pickled Config (no config.json beside the fixtures).
    assert!(info.residual);
    assert!(info.w_bias.is_some() && info.linear.is_some());
    assert_eq!(info.config, None);
    assert!(
        info.notes
            .iter()
            .any(|n| n.contains("under 'config' (__main__.Config) was used")),
        "{:?}",
        info.notes
    );
    let file = TensorFile::open(&fixture("nested.pt")).unwrap();
    let meta = file.metadata();
    assert_eq!(meta["state dict"], "under 'model_state_dict'");
    assert_eq!(meta["epoch"], "7");
    assert!(meta["config"].starts_with("__main__.Config(d_input=12, d_hidden=8"));
    assert!(file.info("blocks.0.weight").is_some());
    assert!(file.info("model_state_dict.blocks.0.weight").is_none());

    // A config.json beside the checkpoint wins, and the notes say so.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("model.pt");
    std::fs::copy(fixture("nested.pt"), &copy).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"residual": false, "bias": true}"#,
    )
    .unwrap();
    let info = load_model::<f32>(&copy, &LayoutSpec::default())
        .unwrap()
        .info;
    assert!(!info.residual);
    assert_eq!(info.config, Some(dir.path().join("config.json")));
    assert!(
        info.notes
            .iter()
            .any(|n| n.contains("a config.json beside the weights wins")),
        "{:?}",
        info.notes
    );
}

#[test]
fn a_named_key_picks_the_state_dict_and_a_wrong_one_lists_the_keys() {
    let path = fixture("nested.pt");
    let file = TensorFile::open_key(&path, Some("model_state_dict")).unwrap();
    assert_eq!(file.tensors().len(), 4);
    let e = TensorFile::open_key(&path, Some("weights")).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("nested.pt") && m.contains("no entry 'weights'") && m.contains("'epoch'"),
        "{m}"
    );
    let m = TensorFile::open_key(&path, Some("epoch"))
        .unwrap_err()
        .to_string();
    assert!(m.contains("'epoch' is an int, not a dict"), "{m}");
    let m = TensorFile::open_key(&fixture("image.safetensors"), Some("model"))
        .unwrap_err()
        .to_string();
    assert!(m.contains("not a PyTorch checkpoint"), "{m}");
}

#[test]
fn sae_tensors_of_a_checkpoint_are_vectors_like_any_other() {
    let a = read_rows::<f64>(&fixture("sae.pt"), "W_enc", 5, "output directions").unwrap();
    let b = read_rows::<f64>(&fixture("sae.safetensors"), "W_enc", 5, "output directions").unwrap();
    assert!(a.transposed);
    assert_eq!(a, b);
}

#[test]
fn strided_views_are_gathered_and_counted_by_what_they_touch() {
    let file = TensorFile::open(&fixture("strided.pt")).unwrap();
    let w = file.read::<f64>("w").unwrap();
    assert_eq!(w.shape(), [6, 4]);
    assert_eq!(file.bytes_read(), 6 * 4 * 4);
}

// ---- hostile and damaged files ----

/// A legacy-format checkpoint assembled by hand: torch's five pickles around `object`, then
/// the storages (`(element count, bytes)`) under keys "0", "1", ...
fn legacy(object: &[u8], storages: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.");
    out.extend_from_slice(b"\x80\x02M\xe9\x03.");
    out.extend_from_slice(b"\x80\x02}.");
    out.extend_from_slice(object);
    out.extend_from_slice(b"\x80\x02](");
    for i in 0..storages.len() {
        let k = i.to_string();
        out.push(b'X');
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
    }
    out.extend_from_slice(b"e.");
    for (count, bytes) in storages {
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// A pickled small integer (`BININT1`, `BININT` or an 8-byte `LONG1`).
fn int(v: u64) -> Vec<u8> {
    if v < 256 {
        vec![b'K', v as u8]
    } else {
        let mut b = vec![0x8a, 8];
        b.extend_from_slice(&v.to_le_bytes());
        b
    }
}

/// The pickle of `{"w": tensor}` whose tensor is `_rebuild_tensor_v2` of FloatStorage "0"
/// (declared `numel` elements) at `offset` with `size` and `stride`.
fn tensor_dict(numel: u64, offset: u64, size: &[u64], stride: &[u64]) -> Vec<u8> {
    let mut p = b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n(".to_vec();
    p.extend_from_slice(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000");
    p.extend_from_slice(b"X\x03\x00\x00\x00cpu");
    p.extend(int(numel));
    p.extend_from_slice(b"tQ");
    p.extend(int(offset));
    for dims in [size, stride] {
        p.push(b'(');
        for &d in dims {
            p.extend(int(d));
        }
        p.push(b't');
    }
    p.extend_from_slice(b"\x89NtRu.");
    p
}

/// Writes `bytes` to a file and opens it; the error's message, which must name the file.
fn refusal(bytes: &[u8]) -> (String, IoError) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.pt");
    std::fs::write(&path, bytes).unwrap();
    let e = TensorFile::open(&path).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("hostile.pt"), "{m}");
    (m, e)
}

#[test]
fn the_hand_built_legacy_file_reads_so_the_refusals_below_are_of_their_one_fault() {
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.pt");
    std::fs::write(
        &path,
        legacy(&tensor_dict(4, 0, &[2, 2], &[1, 2]), &[(4, data)]),
    )
    .unwrap();
    let f = TensorFile::open(&path).unwrap();
    // Column-major strides: the transpose of [[1, 2], [3, 4]].
    assert_eq!(
        f.read::<f64>("w").unwrap().into_raw_vec_and_offset().0,
        [1.0, 3.0, 2.0, 4.0]
    );
}

#[test]
fn a_pickle_that_would_run_code_is_refused() {
    let e = TensorFile::open(&fixture("evil.pt")).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("evil.pt") && m.contains("posix.system") && m.contains("hostile"),
        "{m}"
    );
    // And by hand, as the classic protocol-0 payload in a legacy checkpoint.
    let (m, _) = refusal(&legacy(b"cos\nsystem\n(S'touch /tmp/x'\ntR.", &[]));
    assert!(m.contains("os.system"), "{m}");
    assert!(!Path::new("/tmp/bilens-pt-fixture-was-executed").exists());
}

#[test]
fn a_memo_bomb_costs_nothing() {
    // x = []; 60 times x = (x, x) through the memo: 2^60 leaves if expanded, 60 nodes here.
    let mut p = b"\x80\x02}(X\x04\x00\x00\x00bomb]q\x00".to_vec();
    for _ in 0..60 {
        p.extend_from_slice(b"0h\x00h\x00\x86q\x00");
    }
    // And a memo index of 4 billion, which a vector-backed memo would allocate.
    p.extend_from_slice(b"r\xff\xff\xff\xffu.");
    let start = Instant::now();
    let (m, _) = refusal(&legacy(&p, &[]));
    assert!(m.contains("no state dict"), "{m}");
    assert!(start.elapsed().as_secs() < 5);
}

#[test]
fn truncated_checkpoints_are_refused_at_every_cut() {
    for name in ["image.pt", "legacy.pt", "nested.pt"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in (0..bytes.len()).step_by(7) {
            let (m, _) = refusal(&bytes[..cut]);
            assert!(!m.is_empty());
        }
    }
    let bytes = std::fs::read(fixture("legacy.pt")).unwrap();
    let (_, e) = refusal(&bytes[..bytes.len() - 3]);
    assert!(matches!(e, IoError::Truncated { .. }), "{e}");
}

#[test]
fn a_plain_pickle_and_a_zip_without_data_pkl_are_not_checkpoints() {
    let (m, _) = refusal(b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.");
    assert!(m.contains("not a torch.save checkpoint"), "{m}");
    let mut zip = std::fs::read(fixture("image.pt")).unwrap();
    // Rename every "data.pkl" so that none is left.
    for i in 0..zip.len() - 8 {
        if &zip[i..i + 8] == b"data.pkl" {
            zip[i..i + 8].copy_from_slice(b"data.xyz");
        }
    }
    let (m, _) = refusal(&zip);
    assert!(m.contains("without data.pkl"), "{m}");
}

#[test]
fn extents_past_the_storage_and_overflowing_shapes_are_refused() {
    let four: Vec<u8> = vec![0; 16];
    for (pickle, needle) in [
        (
            tensor_dict(4, 100, &[2, 2], &[2, 1]),
            "past the end of its storage",
        ),
        (tensor_dict(4, 0, &[3, 2], &[2, 1]), "reaches element 5"),
        (tensor_dict(4, 0, &[1 << 62, 1 << 62], &[1, 1]), "overflows"),
        (tensor_dict(4, 0, &[1 << 40], &[0]), "to bound memory"),
        (tensor_dict(4, 0, &[4, 2], &[u64::MAX >> 1, 1]), "overflows"),
        (
            tensor_dict(1 << 20, 0, &[2, 2], &[2, 1]),
            "should hold 1048576 elements",
        ),
    ] {
        let (m, _) = refusal(&legacy(&pickle, &[(4, four.clone())]));
        assert!(
            m.contains(needle) && m.contains("tensor 'w'"),
            "{needle}: {m}"
        );
    }
    // A storage that declares more elements than the file holds.
    let (m, e) = refusal(&legacy(
        &tensor_dict(4, 0, &[2, 2], &[2, 1]),
        &[(1 << 60, four)],
    ));
    assert!(
        matches!(e, IoError::Truncated { .. }) && m.contains("storage '0'"),
        "{m}"
    );
}

#[test]
fn a_transformer_lens_state_dict_is_read_transposed_by_auto_and_by_tl() {
    let tl = fixture("tl.pt");
    let linear = LayoutSpec::Single {
        w: "w".into(),
        v: "v".into(),
        p: "p".into(),
        embed: None,
        w_bias: Some("b".into()),
        v_bias: Some("c".into()),
        norm_gain: Some("g".into()),
    };
    let want = load_model::<f64>(&fixture("tl_linear.safetensors"), &linear).unwrap();
    for spec in [
        LayoutSpec::Auto {
            residual: None,
            layer: Some(1),
        },
        LayoutSpec::Tl { layer: Some(1) },
    ] {
        let got = load_model::<f64>(&tl, &spec).unwrap();
        assert_eq!(got.info.layout, bilens_io::Layout::Tl);
        assert_eq!(
            (got.info.d_in, got.info.d_hidden, got.info.d_out),
            (6, 9, 6)
        );
        assert_eq!(got.info.layer.as_ref().unwrap().available, [0, 1]);
        assert!(got.info.notes.iter().any(|n| n.contains("read transposed")));
        assert!(
            got.info
                .notes
                .iter()
                .any(|n| n.contains("blocks.1.mlp.b_out"))
        );
        let x = ndarray::Array2::from_shape_fn((3, 6), |(i, j)| (i as f64 - j as f64) / 4.0);
        assert_eq!(
            got.model.forward(x.view(), Par::Seq),
            want.model.forward(x.view(), Par::Seq)
        );
        assert_eq!(
            spectra(&tl, &spec),
            spectra(&fixture("tl_linear.safetensors"), &linear)
        );
    }
    // Two layers: which one must be said.
    let e = load_model::<f64>(&tl, &LayoutSpec::Tl { layer: None }).unwrap_err();
    assert!(e.to_string().contains("layers 0, 1"), "{e}");
}

/// Fuzzing finding (pickle target, crash-aa0a8baa...): a state dict naming one tensor twice,
/// with two shapes, listed both while reading one, so a read by the listed shape went out of
/// range. Now refused.
#[test]
fn a_tensor_named_twice_is_refused() {
    let once = tensor_dict(4, 0, &[2, 2], &[2, 1]);
    // {"w": t, "w": t'} — the same dict entry set twice with another shape.
    let body = &once[2..once.len() - 2]; // without the PROTO header and "u." ending
    let entry = &body[2..]; // without "}(" 
    let mut twice = b"\x80\x02}(".to_vec();
    twice.extend_from_slice(entry);
    let mut second = entry.to_vec();
    // The second entry's size (2, 2) becomes (1, 2).
    let at = second
        .windows(6)
        .position(|w| w == b"(K\x02K\x02t")
        .unwrap();
    second[at + 2] = 1;
    twice.extend_from_slice(&second);
    twice.extend_from_slice(b"u.");
    let (m, _) = refusal(&legacy(&twice, &[(4, vec![0; 16])]));
    assert!(m.contains("two tensors named 'w'"), "{m}");
    // And the fuzzer's own input, kept among the seeds.
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds/pickle/crash-aa0a8baabd8613eeb519b1c2a90c7f72e8d38557.pt");
    let m = TensorFile::open(&seed).unwrap_err().to_string();
    assert!(m.contains("two tensors named 'blocks.0.mlp.W_gate'"), "{m}");
}
