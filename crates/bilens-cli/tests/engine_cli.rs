//! The decomposition engine through the binary: output directions from files, contrasts and
//! rows, feature bases, biases, norm gains, both routes, spectra only, and HOSVD, each against
//! an independent computation.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use common::{
    Rng, as_f32, assert_spectra_match, assert_spectra_match_f64, bilens, coefficients,
    reference_eigenvalues, reference_interaction, tensor_f64, write_tensors,
};

const D: usize = 40;
const H: usize = 56;
const O: usize = 12;

/// A random single layer plus an "SAE encoder" of 30 output directions and a decoder basis of
/// 60 features, as f32 files; returns the exact values written.
struct Fixture {
    dir: tempfile::TempDir,
    w: Vec<f64>,
    v: Vec<f64>,
    p: Vec<f64>,
    enc: Vec<f64>,
    dec: Vec<f64>,
    wb: Vec<f64>,
    vb: Vec<f64>,
    gain: Vec<f64>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(42);
    let f = Fixture {
        w: as_f32(&rng.vec(H * D)),
        v: as_f32(&rng.vec(H * D)),
        p: as_f32(&rng.vec(O * H)),
        enc: as_f32(&rng.vec(30 * O)),
        dec: as_f32(&rng.vec(D * 60)),
        wb: as_f32(&rng.vec(H)),
        vb: as_f32(&rng.vec(H)),
        gain: as_f32(&rng.vec(D).iter().map(|x| 1.0 + 0.5 * x).collect::<Vec<_>>()),
        dir,
    };
    write_tensors(
        &f.dir.path().join("layer.safetensors"),
        &[
            ("w", vec![H, D], f.w.clone()),
            ("v", vec![H, D], f.v.clone()),
            ("p", vec![O, H], f.p.clone()),
            ("w_bias", vec![H], f.wb.clone()),
            ("v_bias", vec![H], f.vb.clone()),
            ("ln.weight", vec![D], f.gain.clone()),
        ],
    );
    write_tensors(
        &f.dir.path().join("sae.safetensors"),
        &[
            ("encoder.weight", vec![30, O], f.enc.clone()),
            ("decoder.weight", vec![D, 60], f.dec.clone()),
        ],
    );
    f
}

const SINGLE: [&str; 8] = ["--layout", "single", "--w", "w", "--v", "v", "--p", "p"];

fn run(f: &Fixture, extra: &[&str]) -> common::Run {
    let mut args = vec!["decompose", "layer.safetensors"];
    args.extend(SINGLE);
    args.extend(extra);
    args.push("-q");
    bilens(f.dir.path(), &args)
}

fn eigenvalues(f: &Fixture, out: &str) -> (Vec<usize>, Vec<f64>) {
    tensor_f64(
        &f.dir.path().join(out).join("decomposition.safetensors"),
        "eigenvalues",
    )
}

#[test]
fn outputs_from_a_file_top_16_match_a_dense_reference_in_f32_and_f64() {
    let f = fixture();
    for precision in ["f32", "f64"] {
        let out = format!("enc-{precision}");
        run(
            &f,
            &[
                "--outputs",
                "sae.safetensors:encoder.weight",
                "--k",
                "16",
                "--precision",
                precision,
                "--out",
                &out,
            ],
        )
        .ok();
        let (shape, got) = eigenvalues(&f, &out);
        assert_eq!(shape, vec![30, 16]);
        for r in [0, 17, 29] {
            let c = coefficients(&f.p, &f.enc[r * O..(r + 1) * O], H);
            let want = reference_eigenvalues(&reference_interaction(&f.w, &f.v, &c, H, D), D);
            let got = &got[r * 16..(r + 1) * 16];
            if precision == "f32" {
                assert_spectra_match(got, &want[..16], &format!("f32 row {r}"));
            } else {
                assert_spectra_match_f64(got, &want[..16], &format!("f64 row {r}"));
            }
        }
    }
}

#[test]
fn contrasts_rows_routes_and_spectra_only() {
    let f = fixture();
    run(
        &f,
        &[
            "--outputs",
            "contrast:3-5",
            "--out",
            "contrast",
            "--precision",
            "f64",
        ],
    )
    .ok();
    let (_, got) = eigenvalues(&f, "contrast");
    let mut u = vec![0.0; O];
    u[3] = 1.0;
    u[5] = -1.0;
    let want = reference_eigenvalues(
        &reference_interaction(&f.w, &f.v, &coefficients(&f.p, &u, H), H, D),
        D,
    );
    assert_spectra_match_f64(&got, &want, "contrast 3-5");

    run(
        &f,
        &["--rows", "2,7..9", "--out", "rows", "--eigenvalues-only"],
    )
    .ok();
    let path = f.dir.path().join("rows/decomposition.safetensors");
    assert_eq!(tensor_f64(&path, "eigenvalues").0, vec![3, D]);
    let (_, outputs) = tensor_f64(&path, "outputs");
    assert_eq!(outputs[2], 1.0, "first row is class 2");
    assert_eq!(outputs[O + 7], 1.0, "second row is class 7");
    let names = safetensors::SafeTensors::deserialize(&std::fs::read(&path).unwrap())
        .unwrap()
        .names()
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    assert!(
        !names.iter().any(|n| n == "eigenvectors"),
        "spectra only: {names:?}"
    );

    // Both routes give the same results for many outputs.
    let enc = [
        "--outputs",
        "sae.safetensors:encoder.weight",
        "--k",
        "8",
        "--precision",
        "f64",
    ];
    run(
        &f,
        &[&enc[..], &["--route", "direct", "--out", "direct"]].concat(),
    )
    .ok();
    run(
        &f,
        &[&enc[..], &["--route", "shared", "--out", "shared"]].concat(),
    )
    .ok();
    let (_, a) = eigenvalues(&f, "direct");
    let (_, b) = eigenvalues(&f, "shared");
    assert!(
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-9),
        "routes agree"
    );
    let summary = std::fs::read_to_string(f.dir.path().join("shared/summary.json")).unwrap();
    assert!(summary.contains("\"route\": \"shared-basis\""));
}

#[test]
fn a_feature_basis_puts_eigenvectors_in_feature_space() {
    let f = fixture();
    run(
        &f,
        &[
            "--input-basis",
            "sae.safetensors:decoder.weight",
            "--rows",
            "0..2",
            "--out",
            "basis",
            "--precision",
            "f64",
            "--interactions",
            "5",
        ],
    )
    .ok();
    let path = f.dir.path().join("basis/decomposition.safetensors");
    let (shape, got) = tensor_f64(&path, "eigenvalues");
    assert_eq!(
        shape,
        vec![2, D],
        "at most d_in nonzero eigenvalues of Dᵀ Q D"
    );
    assert_eq!(tensor_f64(&path, "eigenvectors").0, vec![2, D, 60]);
    assert_eq!(tensor_f64(&path, "self_interaction_values").0, vec![2, 5]);
    // Reference: the explicit [60, 60] matrix Dᵀ Q D of class 1.
    let mut u = vec![0.0; O];
    u[1] = 1.0;
    let q = reference_interaction(&f.w, &f.v, &coefficients(&f.p, &u, H), H, D);
    let n = 60;
    let mut qd = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..n {
            let mut x = 0.0;
            for i in 0..D {
                for j in 0..D {
                    x += f.dec[i * n + a] * q[i * D + j] * f.dec[j * n + b];
                }
            }
            qd[a * n + b] = x;
        }
    }
    let want = reference_eigenvalues(&qd, n);
    assert_spectra_match_f64(&got[D..2 * D], &want[..D], "feature basis class 1");
    let (_, diag) = tensor_f64(&path, "self_interaction_values");
    let largest = (0..n)
        .map(|a| qd[a * n + a])
        .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    assert!(
        (diag[5] - largest).abs() < 1e-9 * largest.abs(),
        "top self interaction of class 1"
    );
}

#[test]
fn biases_give_linear_terms_and_constants_and_gains_fold_into_w_and_v() {
    let f = fixture();
    run(
        &f,
        &[
            "--w-bias",
            "w_bias",
            "--v-bias",
            "v_bias",
            "--out",
            "bias",
            "--precision",
            "f64",
        ],
    )
    .ok();
    let path = f.dir.path().join("bias/decomposition.safetensors");
    let (_, q) = tensor_f64(&path, "linear_terms");
    let (_, q0) = tensor_f64(&path, "constants");
    let (_, vals) = tensor_f64(&path, "eigenvalues");
    let (_, vecs) = tensor_f64(&path, "eigenvectors");
    // The biased layer on random x equals Σλ(vᵀx)² + 2qᵀx + q0 for output 4.
    let mut rng = Rng::new(9);
    let x = rng.vec(D);
    let o = 4;
    let mut y = 0.0;
    for a in 0..H {
        let wx: f64 = (0..D).map(|i| f.w[a * D + i] * x[i]).sum::<f64>() + f.wb[a];
        let vx: f64 = (0..D).map(|i| f.v[a * D + i] * x[i]).sum::<f64>() + f.vb[a];
        y += f.p[o * H + a] * wx * vx;
    }
    let mut rebuilt = q0[o] + 2.0 * (0..D).map(|i| q[o * D + i] * x[i]).sum::<f64>();
    for k in 0..D {
        let proj: f64 = (0..D).map(|i| vecs[(o * D + k) * D + i] * x[i]).sum();
        rebuilt += vals[o * D + k] * proj * proj;
    }
    assert!(
        (rebuilt - y).abs() < 1e-9 * y.abs().max(1.0),
        "biased output {y} vs rebuilt {rebuilt}"
    );

    // A norm gain equals writing W diag(γ), V diag(γ) out explicitly.
    run(
        &f,
        &[
            "--norm-gain",
            "ln.weight",
            "--out",
            "gain",
            "--precision",
            "f64",
        ],
    )
    .ok();
    let scaled = |m: &[f64]| (0..H * D).map(|i| m[i] * f.gain[i % D]).collect::<Vec<_>>();
    let (ws, vs) = (scaled(&f.w), scaled(&f.v));
    let (_, got) = eigenvalues(&f, "gain");
    let mut u = vec![0.0; O];
    u[0] = 1.0;
    let want = reference_eigenvalues(
        &reference_interaction(&ws, &vs, &coefficients(&f.p, &u, H), H, D),
        D,
    );
    assert_spectra_match_f64(&got[..D], &want, "norm gain class 0");
}

#[test]
fn hosvd_singular_values_match_an_svd_of_the_materialised_tensor() {
    let f = fixture();
    let mut args = vec![
        "hosvd",
        "layer.safetensors",
        "--components",
        "6",
        "--out",
        "h",
        "--precision",
        "f64",
        "-q",
    ];
    args.extend(SINGLE);
    bilens(f.dir.path(), &args).ok();
    let (_, sv) = tensor_f64(
        &f.dir.path().join("h/decomposition.safetensors"),
        "singular_values",
    );
    // B_flat [O, D²], symmetrised in (i, j), materialised here and decomposed by faer's SVD.
    let b = faer::Mat::from_fn(O, D * D, |o, ij| {
        let (i, j) = (ij / D, ij % D);
        (0..H)
            .map(|a| {
                f.p[o * H + a]
                    * 0.5
                    * (f.w[a * D + i] * f.v[a * D + j] + f.v[a * D + i] * f.w[a * D + j])
            })
            .sum::<f64>()
    });
    let svd = b.thin_svd().unwrap();
    for (s, got) in sv.iter().enumerate().take(6) {
        let want = svd.S()[s];
        assert!((got - want).abs() < 1e-4 * want, "σ_{s}: {got} vs {want}");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(f.dir.path().join("h/summary.json")).unwrap(),
    )
    .unwrap();
    assert!(summary["hosvd"]["fraction_kept"].as_f64().unwrap() > 0.0);
    let run = bilens(f.dir.path(), &["plot", "h", "--out", "hf"]).ok();
    assert!(run.stdout.contains("figures"));
    assert!(f.dir.path().join("hf/singular_values.png").is_file());
}

#[test]
fn bad_engine_options_are_named() {
    let f = fixture();
    let r = run(
        &f,
        &["--outputs", "sae.safetensors:decoder.weight", "--out", "x"],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("decoder.weight") && r.stderr.contains("12"),
        "{}",
        r.stderr
    );
    let r = run(&f, &["--rows", "0..99", "--out", "x"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("out of range"), "{}", r.stderr);
    let r = run(&f, &["--interactions", "3", "--out", "x"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("--interactions: needs an input basis"),
        "{}",
        r.stderr
    );
    let r = run(&f, &["--outputs", "contrast:1-99", "--out", "x"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("below d_out = 12"), "{}", r.stderr);
}
