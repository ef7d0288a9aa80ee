//! The machine's measured GEMM rate through faer (the floor every route is compared with).
//!
//!     cargo run --release -p bilens-benches --bin gemm_peak
//!
//! Prints GFLOP/s of square f32 and f64 GEMMs (`2 n³` flops) on one thread (`Par::Seq`, as
//! inside a per-output task) and on every thread (`Par::rayon(0)`), best of several runs.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measurement program: its output is the measurement"
)]

use std::time::Instant;

use bilens_benches::randn;
use bilens_decomp::{Par, Real, linalg};
use ndarray::Array2;

fn rate<T: Real>(m: usize, k: usize, n: usize, par: Par) -> f64 {
    let a: Array2<T> = randn(1, (m, k));
    let b: Array2<T> = randn(2, (k, n));
    let mut c = Array2::<T>::zeros((m, n));
    let flops = 2.0 * (m * k * n) as f64;
    let reps = ((2e10 / flops).ceil() as usize).clamp(1, 200);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            linalg::gemm(c.view_mut(), false, a.view(), b.view(), T::one(), par);
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    flops / best / 1e9
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("threads: {threads}");
    println!(
        "{:<28} {:>10} {:>10}",
        "shape (m x k x n)", "1 thread", "all"
    );
    for &(m, k, n) in &[
        (1024, 1024, 1024),
        (2048, 2048, 2048),
        (128, 1024, 65536),
        (16, 1024, 1024),
        (64, 1024, 1024),
    ] {
        for dtype in ["f32", "f64"] {
            let (one, all) = match dtype {
                "f32" => (
                    rate::<f32>(m, k, n, Par::Seq),
                    rate::<f32>(m, k, n, Par::rayon(0)),
                ),
                _ => (
                    rate::<f64>(m, k, n, Par::Seq),
                    rate::<f64>(m, k, n, Par::rayon(0)),
                ),
            };
            println!(
                "{:<28} {:>10.1} {:>10.1}",
                format!("{dtype} {m} x {k} x {n}"),
                one,
                all
            );
        }
    }
}
