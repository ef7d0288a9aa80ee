//! The GEMM-bound floor of one training epoch: times the eight matrix products of a training
//! step at the paper's shapes (batch 2048, 784 pixels, h = 512, 10 classes), with the same
//! operand layouts the trainer uses, and reports each one's rate and the resulting floor for an
//! epoch of 60 000 images (29 steps plus a 10 000-image test pass).
//!
//!     cargo run --release -p bilens-train --example gemm_floor
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example program: its output is the measurement"
)]

use std::time::Instant;

use bilens_decomp::Par;
use bilens_decomp::linalg::gemm;
use ndarray::Array2;

fn main() {
    let (n, d, h, c) = (2048usize, 784usize, 512usize, 10usize);
    let par = Par::rayon(0);
    let fill = |r: usize, k: usize| {
        Array2::from_shape_fn((r, k), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0 - 0.5)
    };
    let x = fill(n, d);
    let embed = fill(h, d);
    let block = fill(2 * h, h);
    let head = fill(c, h);
    let mut e = fill(n, h);
    let mut ab = fill(n, 2 * h);
    let z = fill(n, h);
    let mut logits = fill(n, c);
    let dlogits = fill(n, c);
    let mut dhead = fill(c, h);
    let mut de = fill(n, h);
    let dab = fill(n, 2 * h);
    let mut dblock = fill(2 * h, h);
    let mut dembed = fill(h, d);

    let reps = 20;
    let time = |name: &str, flops: f64, f: &mut dyn FnMut()| -> f64 {
        f();
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        let s = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "{name:<34} {:>8.2} ms  {:>6.1} GFLOP/s",
            s * 1e3,
            flops / s / 1e9
        );
        s
    };
    let f2 = |m: usize, k: usize, nn: usize| 2.0 * (m * k * nn) as f64;
    println!("threads: {}", rayon::current_num_threads());
    let mut fwd = 0.0;
    let mut bwd = 0.0;
    fwd += time("e = X Eᵀ        [2048x784x512]", f2(n, d, h), &mut || {
        gemm(e.view_mut(), false, x.view(), embed.t(), 1.0, par)
    });
    fwd += time(
        "AB = e [W;V]ᵀ   [2048x512x1024]",
        f2(n, h, 2 * h),
        &mut || gemm(ab.view_mut(), false, e.view(), block.t(), 1.0, par),
    );
    fwd += time("logits = z Hᵀ   [2048x512x10]", f2(n, h, c), &mut || {
        gemm(logits.view_mut(), false, z.view(), head.t(), 1.0, par)
    });
    bwd += time("dH = dlᵀ z      [10x2048x512]", f2(c, n, h), &mut || {
        gemm(dhead.view_mut(), false, dlogits.t(), z.view(), 1.0, par)
    });
    bwd += time("dz = dl H       [2048x10x512]", f2(n, c, h), &mut || {
        gemm(de.view_mut(), false, dlogits.view(), head.view(), 1.0, par)
    });
    bwd += time(
        "d[W;V] = dABᵀ e [1024x2048x512]",
        f2(2 * h, n, h),
        &mut || gemm(dblock.view_mut(), false, dab.t(), e.view(), 1.0, par),
    );
    bwd += time(
        "de = dAB [W;V]  [2048x1024x512]",
        f2(n, 2 * h, h),
        &mut || gemm(de.view_mut(), true, dab.view(), block.view(), 1.0, par),
    );
    bwd += time("dE = deᵀ X      [512x2048x784]", f2(h, n, d), &mut || {
        gemm(dembed.view_mut(), false, de.t(), x.view(), 1.0, par)
    });
    let step = fwd + bwd;
    let steps = 60_000 / n;
    let test = fwd * 10_000.0 / n as f64;
    let flops_step = f2(n, d, h) * 2.0 + f2(n, h, 2 * h) * 3.0 + f2(n, h, c) * 3.0;
    println!(
        "step: {:.1} ms ({:.2} GFLOP at {:.1} GFLOP/s); epoch floor: {steps} steps + test pass = {:.2} s",
        step * 1e3,
        flops_step / 1e9,
        flops_step / step / 1e9,
        steps as f64 * step + test
    );
}
