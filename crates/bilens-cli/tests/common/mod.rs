//! Running the `bilens` binary as a user would, and reading what it wrote.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "shared by several test files, each using a part; a panic is a failed test"
)]

pub mod lm;
pub mod shards;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped model file.
pub fn shipped_model() -> PathBuf {
    repo().join("data/models/mnist-bilinear/model.safetensors")
}

/// What a run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "bilens failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `bilens args...` in `dir`.
pub fn bilens(dir: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_bilens"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An f32 or f64 tensor of a safetensors file as f64, read with the reference parser.
pub fn tensor_f64(path: &Path, name: &str) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let data = match t.dtype() {
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
        other => panic!("unexpected dtype {other:?}"),
    };
    (t.shape().to_vec(), data)
}

/// Eigenvalues of the symmetric `n x n` row-major matrix `q`, descending |λ|, by faer's dense
/// solver directly (not through bilens).
pub fn reference_eigenvalues(q: &[f64], n: usize) -> Vec<f64> {
    let m = faer::Mat::from_fn(n, n, |i, j| q[i * n + j]);
    let mut values = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    values.sort_by(|a, b| {
        b.abs()
            .partial_cmp(&a.abs())
            .unwrap()
            .then(b.partial_cmp(a).unwrap())
    });
    values
}

/// `Q = sym(Σ_a c_a w_a v_aᵀ)` from row-major `W, V: [h, d]`, by plain loops in f64.
pub fn reference_interaction(w: &[f64], v: &[f64], c: &[f64], h: usize, d: usize) -> Vec<f64> {
    let mut q = vec![0.0; d * d];
    for a in 0..h {
        if c[a] == 0.0 {
            continue;
        }
        for i in 0..d {
            let wi = c[a] * w[a * d + i];
            let vi = c[a] * v[a * d + i];
            for j in 0..d {
                q[i * d + j] += 0.5 * (wi * v[a * d + j] + vi * w[a * d + j]);
            }
        }
    }
    q
}

/// Asserts an f32 spectrum `got` (descending |λ|) matches the f64 reference to 1e-4 relative:
/// each of the top 50 eigenvalues relative to itself, every eigenvalue relative to the largest.
/// (The small eigenvalues of an f32 computation are resolved only to about `1e-6 max|λ|`: `Q`
/// itself is formed in f32 with `d_hidden`-term sums.)
#[track_caller]
pub fn assert_spectra_match(got: &[f64], want: &[f64], what: &str) {
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * if i < 50 { w.abs() } else { scale };
        assert!((g - w).abs() <= tol, "{what}: λ_{i} = {g}, reference {w}");
    }
}

/// Asserts an f64 spectrum matches the reference to `1e-9` of its largest eigenvalue.
#[track_caller]
pub fn assert_spectra_match_f64(got: &[f64], want: &[f64], what: &str) {
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * scale,
            "{what}: λ_{i} = {g}, reference {w}"
        );
    }
}

/// A seeded xorshift generator of values in [-1, 1) (tests need reproducible data, not quality).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// Writes F32 tensors `(name, shape, values)` with the safetensors crate.
pub fn write_tensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f64>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect())
        .collect();
    let views: std::collections::HashMap<String, safetensors::tensor::TensorView<'_>> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.to_string(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// The values a test wrote, rounded to f32 as the file holds them.
pub fn as_f32(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x as f32)).collect()
}

/// `c = Pᵀu` for row-major `P: [o, h]`.
pub fn coefficients(p: &[f64], u: &[f64], h: usize) -> Vec<f64> {
    let mut c = vec![0.0; h];
    for (o, &uo) in u.iter().enumerate() {
        for a in 0..h {
            c[a] += uo * p[o * h + a];
        }
    }
    c
}

/// Writes the first `n_train` training and `n_test` test images of the shipped MNIST into
/// `dir` as raw IDX files, and returns `dir` as a string.
pub fn mnist_slice(dir: &Path, n_train: usize, n_test: usize) -> String {
    let d = bilens_io::load_image_dataset(&repo().join("data/mnist")).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, set: &bilens_io::ImageSet, n: usize| {
        let mut images = vec![0, 0, 8, 3];
        for dim in [n, set.rows, set.cols] {
            images.extend((dim as u32).to_be_bytes());
        }
        images.extend(set.images.slice(ndarray::s![..n, ..]).iter());
        let mut labels = vec![0, 0, 8, 1];
        labels.extend((n as u32).to_be_bytes());
        labels.extend(set.labels.iter().take(n));
        std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), labels).unwrap();
    };
    write("train", &d.train, n_train);
    write("t10k", &d.test, n_test);
    dir.to_str().unwrap().to_string()
}
