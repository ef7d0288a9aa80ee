//! Times the phases of the shared-basis route on one layer shape (a profiling aid).
//!
//!     cargo run --release -p bilens-benches --bin phases -- route D_IN D_HIDDEN D_OUT N K
//!     cargo run --release -p bilens-benches --bin phases -- lanczos D K REPS [BLOCK MAX_BASIS]
//!     cargo run --release -p bilens-benches --bin phases -- form D_IN D_OUT N REPS
//!     cargo run --release -p bilens-benches --bin phases -- methods D K REPS
//!     valgrind --tool=callgrind --toggle-collect=*eigh* target/release/phases one METHOD D K [FAMILY [REPS]]
//!
//! `methods` times every eigensolver method on `Q(u)` of three layer families at `d_in = D`
//! (`d_hidden = 4D`, `d_out = D`) for REPS random unit directions each: a Gaussian layer
//! (`N(0, 1/fan_in)`, as at initialisation), a power-law one ([`power_law_layer`]) and the
//! project's synthetic one. It prints CPU ms per output (one thread, `Par::Seq`, as inside a
//! per-output task), which solvers ran, and the worst eigenvalue error against the f64 full
//! decomposition (the distance to the nearest of its top k + 8 values) relative to `|λ_1|`.
//!
//! `one` solves one `Q(u)` of one family's layer (FAMILY: `gaussian`, the default, `power-law`
//! or `synthetic`) by METHOD, REPS times (default 1) (`full`, `lanczos`, `tridiagonal`, `auto`): a target for callgrind,
//! whose instruction counts do not depend on the load.
//!
//! `form` times only the shared-basis formation (of a layer with `d_hidden = 16`, so that the
//! basis costs little): under `perf stat -e task-clock` its CPU time compares variants on a busy
//! machine better than wall time does.
//!
//! CPU times are per thread (`/proc/thread-self/schedstat`), so that a busy machine inflates
//! them less than wall times.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measurement program: its output is the measurement"
)]

use std::time::Instant;

use bilens_benches::{power_law_layer, random_layer, synthetic_layer, unit_directions};
use bilens_decomp::{
    BilinearLayer, InteractionBasis, LanczosParams, Method, Order, Par, Solver, Spectrum, eigh,
    interaction_matrix,
};
use ndarray::{Array2, Array3};

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0.0)
}

/// What `main` prints, to stderr, for missing or malformed arguments.
const USAGE: &str = "usage: phases route D_IN D_HIDDEN D_OUT N K
       phases lanczos D K REPS [BLOCK MAX_BASIS]
       phases form D_IN D_OUT N REPS
       phases methods D K REPS
       phases one METHOD D K [FAMILY [REPS]]   (METHOD: full, lanczos, tridiagonal or auto)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Argument `i` as a number; `None` when it is absent or not one.
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<usize>().ok());
    let all = |range: std::ops::Range<usize>| range.map(num).collect::<Option<Vec<usize>>>();
    let mode = args.first().map(String::as_str);
    let done = match mode {
        Some("route") => all(1..6).map(|a| route(a[0], a[1], a[2], a[3], a[4])),
        Some("form") => all(1..5).map(|a| form(a[0], a[1], a[2], a[3])),
        Some("methods") => all(1..4).map(|a| methods(a[0], a[1], a[2])),
        Some("one") => all(2..4)
            .zip(args.get(1).and_then(|m| m.parse::<Method>().ok()))
            .map(|(a, method)| {
                one(
                    method,
                    a[0],
                    a[1],
                    args.get(4).map_or("gaussian", String::as_str),
                    num(5).unwrap_or(1).max(1),
                )
            }),
        Some("lanczos") => all(1..4).map(|a| lanczos(a[0], a[1], a[2], num(4), num(5))),
        _ => None,
    };
    if done.is_none() {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
}

fn lanczos(d: usize, k: usize, reps: usize, block: Option<usize>, max_basis: Option<usize>) {
    let (layer, dirs) = synthetic_layer(0, d, 4 * d, d, 8);
    let qs: Vec<Array2<f32>> = (0..8)
        .map(|r| interaction_matrix(&layer, dirs.row(r)))
        .collect();
    let p = LanczosParams {
        block: block.unwrap_or(0),
        max_basis: max_basis.unwrap_or(0),
        ..Default::default()
    };
    let mut worst = 0.0f64;
    let full: Vec<_> = qs
        .iter()
        .map(|q| {
            eigh(
                q.mapv(f64::from).view(),
                Some(k),
                Order::AbsDescending,
                false,
                Method::Full,
                &p,
                Par::Seq,
            )
            .expect("full")
        })
        .collect();
    let (t, c) = (Instant::now(), cpu_ns());
    for r in 0..reps {
        let q = &qs[r % qs.len()];
        let s = eigh(
            q.view(),
            Some(k),
            Order::AbsDescending,
            true,
            Method::Lanczos,
            &p,
            Par::Seq,
        )
        .expect("converges");
        let f = &full[r % qs.len()];
        for (a, b) in s.values.iter().zip(&f.values) {
            worst = worst.max((f64::from(*a) - b).abs() / b.abs());
        }
    }
    println!(
        "lanczos d {d} k {k}: {:.2} ms cpu, {:.2} ms wall each; worst relative eigenvalue error {worst:.1e}",
        (cpu_ns() - c) / 1e6 / reps as f64,
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}

fn route(d: usize, h: usize, o: usize, n: usize, k: usize) {
    let (layer, dirs) = synthetic_layer(0, d, h, o, n);
    let t = Instant::now();
    let basis = InteractionBasis::new(&layer, Par::rayon(0));
    let tb = t.elapsed().as_secs_f64();
    let fl = (o * h * d * (d + 1)) as f64;
    println!(
        "basis: {tb:.2} s, {:.0} GFLOP/s ({:.0} GFLOP)",
        fl / tb / 1e9,
        fl / 1e9
    );
    // The first formation into a fresh buffer also pays its first-touch page faults (n d² f32,
    // zeroed by the kernel); the pipeline reuses one buffer across batches, so the second,
    // warm formation is the figure to compare with the sgemm floor.
    let mut qs = Array3::<f32>::zeros((n, d, d));
    let fl = (n * o * d * (d + 1)) as f64;
    for pass in ["first", "warm"] {
        let t = Instant::now();
        basis.form_into(dirs.view(), qs.view_mut(), Par::rayon(0));
        let tf = t.elapsed().as_secs_f64();
        println!(
            "form {n} ({pass}): {tf:.3} s, {:.0} GFLOP/s ({:.1} ms per output on all threads)",
            fl / tf / 1e9,
            tf * 1e3 / n as f64
        );
    }
    let p = LanczosParams::default();
    let c = cpu_ns();
    for q in qs.outer_iter() {
        eigh(
            q,
            Some(k),
            Order::AbsDescending,
            true,
            Method::Lanczos,
            &p,
            Par::Seq,
        )
        .expect("converges");
    }
    println!(
        "lanczos: {:.2} ms cpu each",
        (cpu_ns() - c) / 1e6 / n as f64
    );
}

fn form(d: usize, o: usize, n: usize, reps: usize) {
    let (layer, dirs) = synthetic_layer(0, d, 16, o, n);
    let basis = InteractionBasis::new(&layer, Par::rayon(0));
    let mut qs = Array3::<f32>::zeros((n, d, d));
    basis.form_into(dirs.view(), qs.view_mut(), Par::rayon(0));
    let t = Instant::now();
    for _ in 0..reps {
        basis.form_into(dirs.view(), qs.view_mut(), Par::rayon(0));
    }
    let tf = t.elapsed().as_secs_f64() / reps as f64;
    let fl = (n * o * d * (d + 1)) as f64;
    println!("form {n}: {tf:.3} s, {:.0} GFLOP/s wall", fl / tf / 1e9);
}

fn methods(d: usize, k: usize, reps: usize) {
    let dirs = unit_directions(40, reps, d);
    let p = LanczosParams::default();
    for name in FAMILIES {
        let layer = &family_layer(name, d);
        let qs: Vec<Array2<f32>> = dirs
            .rows()
            .into_iter()
            .map(|u| interaction_matrix(layer, u))
            .collect();
        let exact: Vec<Vec<f64>> = qs
            .iter()
            .map(|q| {
                let s = eigh(
                    q.mapv(f64::from).view(),
                    Some((k + 8).min(d)),
                    Order::AbsDescending,
                    false,
                    Method::Full,
                    &p,
                    Par::Seq,
                )
                .expect("full");
                s.values.to_vec()
            })
            .collect();
        for method in [
            Method::Full,
            Method::Lanczos,
            Method::Tridiagonal,
            Method::Auto,
        ] {
            let mut solvers: Vec<Solver> = Vec::new();
            let mut worst = 0.0f64;
            let c = cpu_ns();
            for (q, want) in qs.iter().zip(&exact) {
                let s = top_k(q, k, method);
                solvers.push(s.solver);
                // Against the nearest exact value: a ± pair of nearly equal |λ| may come out in
                // either order from an f32 solver, which is not an error in the values.
                for a in &s.values {
                    let a = f64::from(*a);
                    let nearest = want.iter().fold(f64::INFINITY, |m, b| m.min((a - b).abs()));
                    worst = worst.max(nearest / want[0].abs());
                }
            }
            let ms = (cpu_ns() - c) / 1e6 / reps as f64;
            let mut kinds: Vec<String> = Vec::new();
            for kind in [
                Solver::Full,
                Solver::Lanczos,
                Solver::LanczosFallback,
                Solver::Tridiagonal,
                Solver::TridiagonalFallback,
            ] {
                let n = solvers.iter().filter(|s| **s == kind).count();
                if n > 0 {
                    kinds.push(format!("{kind:?} {n}"));
                }
            }
            println!(
                "{name:<10} d {d} k {k} {:<12} {ms:8.1} ms cpu/output  [{}]  worst err {worst:.1e}",
                method.name(),
                kinds.join(", ")
            );
        }
    }
}

/// The top `k` by |λ| with eigenvectors, on one thread (as inside a per-output task): what
/// `methods` and `one` time.
fn top_k(q: &Array2<f32>, k: usize, method: Method) -> Spectrum<f32> {
    eigh(
        q.view(),
        Some(k),
        Order::AbsDescending,
        true,
        method,
        &LanczosParams::default(),
        Par::Seq,
    )
    .expect("solves")
}

/// The layer families `methods` and `one` measure.
const FAMILIES: [&str; 3] = ["gaussian", "power-law", "synthetic"];

/// The `d_in = d` (`d_hidden = 4d`, `d_out = d`) layer of one of [`FAMILIES`].
fn family_layer(name: &str, d: usize) -> BilinearLayer<f32> {
    match name {
        "gaussian" => random_layer(1, d, 4 * d, d),
        "power-law" => power_law_layer(2, d, 4 * d, d),
        "synthetic" => synthetic_layer(0, d, 4 * d, d, 1).0,
        f => panic!("unknown family {f} (one of {FAMILIES:?})"),
    }
}

fn one(method: Method, d: usize, k: usize, family: &str, reps: usize) {
    let q = interaction_matrix(&family_layer(family, d), unit_directions(40, 1, d).row(0));
    let c = cpu_ns();
    let mut solver = None;
    for _ in 0..reps {
        let s = top_k(&q, k, method);
        solver = Some(s.solver);
    }
    println!(
        "{family} {} d {d} k {k}: {:?}, {:.1} ms cpu each",
        method.name(),
        solver.expect("one solve at least"),
        (cpu_ns() - c) / 1e6 / reps as f64
    );
}
