//! Resumable results: a writer dropped part way (as a killed process leaves it) and started
//! again on the same job continues from its logged chunks and ends with the same bytes as an
//! uninterrupted run; a different job starts over and says why; a torn log line is ignored.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use std::ops::Range;
use std::path::Path;

use bilens_decomp::{Method, Order};
use bilens_io::{
    DECOMPOSITION_FILE, ExtraData, ExtraSpec, OutputSummary, ResultsChunk, ResultsFile,
    ResultsMeta, ResultsShape, ResultsWriter, ResumeState, SUMMARY_FILE,
};
use bilens_io::{Layout, PARTIAL_FILE, RESUME_FILE};
use ndarray::{Array1, Array2, Array3};

const N: usize = 10;
const K: usize = 3;
const D: usize = 4;

fn shape() -> ResultsShape {
    ResultsShape {
        n_out: N,
        k: K,
        d_in: D,
        d_input: None,
        d_out: 2,
        eigenvectors: true,
    }
}

fn meta() -> ResultsMeta {
    ResultsMeta::new(
        "m.safetensors",
        Layout::Single,
        Method::Full,
        Order::AbsDescending,
    )
}

fn job(k: usize) -> serde_json::Value {
    serde_json::json!({"model": "m.safetensors", "k": k, "outputs": "classes"})
}

fn extras() -> Vec<ExtraSpec> {
    let mut e = ExtraSpec::spectrum_stats::<f32>();
    e.extend(ExtraSpec::bias_terms::<f32>(D));
    e
}

/// Writes outputs `range` of deterministic synthetic results, counting a "fallback" per output.
fn write(w: &mut ResultsWriter<f32>, range: Range<usize>) {
    let n = range.len();
    let ev = Array2::from_shape_fn((n, K), |(o, i)| {
        ((range.start + o) as f32 + 1.0) / (i as f32 + 1.5)
    });
    let vecs = Array3::from_shape_fn((n, K, D), |(o, i, j)| {
        ((range.start + o) * 7 + i * 3 + j) as f32 / 9.0
    });
    let outs = Array2::from_shape_fn((n, 2), |(o, j)| ((range.start + o + j) % 2) as f32);
    let q = Array2::from_shape_fn((n, D), |(o, j)| (range.start + o) as f32 - j as f32);
    let q0 = Array1::from_shape_fn(n, |o| (range.start + o) as f32 / 3.0);
    let summaries = range
        .clone()
        .map(|o| {
            let kept = ev.row(o - range.start);
            let norm = kept.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / 0.7;
            OutputSummary::new(
                o,
                format!("out {o}"),
                kept,
                norm,
                Some(1.0 / 3.0 + o as f64),
            )
        })
        .collect();
    w.add_count("fallbacks", n as u64);
    w.write_chunk(ResultsChunk {
        first: range.start,
        eigenvalues: ev.view(),
        eigenvectors: Some(vecs.view()),
        input_eigenvectors: None,
        outputs: outs.view(),
        summaries,
        extras: vec![
            ("linear_terms", ExtraData::Float(q.view().into_dyn())),
            ("constants", ExtraData::Float(q0.view().into_dyn())),
        ],
    })
    .unwrap();
}

fn create(dir: &Path, k: usize) -> (ResultsWriter<f32>, ResumeState) {
    ResultsWriter::<f32>::create_resumable(dir, shape(), &meta(), &extras(), &[], &job(k)).unwrap()
}

fn files(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(dir.join(DECOMPOSITION_FILE)).unwrap(),
        std::fs::read(dir.join(SUMMARY_FILE)).unwrap(),
    )
}

fn uninterrupted(dir: &Path) {
    let (mut w, state) = create(dir, K);
    assert_eq!(state, ResumeState::Fresh);
    for r in [0..4, 4..8, 8..10] {
        write(&mut w, r);
    }
    w.finish().unwrap();
}

#[test]
fn a_dropped_writer_resumes_and_ends_byte_identical() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    uninterrupted(&a);
    assert!(!a.join(RESUME_FILE).exists() && !a.join(PARTIAL_FILE).exists());

    // Killed after two chunks (the third was being written: its rows are in the file but not
    // in the log).
    {
        let (mut w, _) = create(&b, K);
        write(&mut w, 0..4);
        write(&mut w, 4..8);
        assert_eq!(w.pending(), vec![8..10]);
        drop(w);
    }
    assert!(b.join(PARTIAL_FILE).exists() && b.join(RESUME_FILE).exists());
    assert!(!b.join(DECOMPOSITION_FILE).exists(), "never half a result");
    let (mut w, state) = create(&b, K);
    assert_eq!(
        state,
        ResumeState::Resumed {
            outputs: 8,
            chunks: 2
        }
    );
    assert_eq!(w.pending(), vec![8..10]);
    assert_eq!(w.count("fallbacks"), 8);
    assert_eq!(w.summaries().count(), 8);
    // Resumed work may come in other chunk sizes.
    write(&mut w, 8..9);
    write(&mut w, 9..10);
    w.finish().unwrap();
    assert!(
        files(&a) == files(&b),
        "byte-identical to the uninterrupted run"
    );
    let r = ResultsFile::open(&b).unwrap();
    assert!(r.run_id().starts_with("job-"));
    assert_eq!(r.meta().meta.extra["fallbacks"], "10");
}

#[test]
fn a_different_job_starts_over_and_says_what_changed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let (mut w, _) = create(dir, K);
    write(&mut w, 0..4);
    drop(w);
    let (w, state) =
        ResultsWriter::<f32>::create_resumable(dir, shape(), &meta(), &extras(), &[], &job(K + 1))
            .unwrap();
    assert_eq!(
        state,
        ResumeState::Discarded {
            reason: "the job differs: k was 3, now 4".into()
        }
    );
    assert_eq!(w.pending(), vec![0..N]);
}

#[test]
fn a_torn_log_line_is_ignored_and_damage_starts_over() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let (mut w, _) = create(dir, K);
    write(&mut w, 0..4);
    write(&mut w, 4..8);
    drop(w);
    // The crash cut the last line short.
    let log = dir.join(RESUME_FILE);
    let text = std::fs::read_to_string(&log).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 20;
    std::fs::write(&log, &text[..cut]).unwrap();
    let (mut w, state) = create(dir, K);
    assert_eq!(
        state,
        ResumeState::Resumed {
            outputs: 4,
            chunks: 1
        }
    );
    assert_eq!(w.pending(), vec![4..10]);
    write(&mut w, 4..10);
    w.finish().unwrap();
    let other = root.path().join("other");
    uninterrupted(&other);
    assert!(files(dir) == files(&other));

    // A damaged line in the middle, or a partial file that is not the logged one: start over.
    let (mut w, _) = create(dir, K);
    write(&mut w, 0..4);
    write(&mut w, 4..8);
    drop(w);
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("\"first\":0", "\"first\":\"x\"", 1)).unwrap();
    let (_, state) = create(dir, K);
    assert!(
        matches!(&state, ResumeState::Discarded { reason } if reason.contains("line 2 is damaged")),
        "{state:?}"
    );
    let (mut w, _) = create(dir, K);
    write(&mut w, 0..4);
    drop(w);
    std::fs::write(dir.join(PARTIAL_FILE), b"not the file").unwrap();
    let (w, state) = create(dir, K);
    assert!(
        matches!(&state, ResumeState::Discarded { reason } if reason.contains("does not match")),
        "{state:?}"
    );
    assert_eq!(w.pending(), vec![0..N]);
}
