//! Full versus Lanczos top-k on matrices with realistic spectra, in f32 and f64, single
//! thread (`Par::Seq`, as inside a per-output task).
//!
//! `cargo bench -p bilens-benches --bench eigen`
//!
//! Two kinds of matrix: `layer` is `Q(u)` of a synthetic layer of each real shape's `d_in`
//! (`synthetic_layer`: factors with decaying spectra, so `Q(u)` has the power-law spectrum of
//! trained layers), with `k = d_in / 16` (64 at d_in = 1024, the headline workload);
//! `power-law` is `U diag(λ) Uᵀ` with `|λ_i| ∝ (1+i)^-1.2` (`realistic_matrix`) at d = 512 and
//! 1024. f64 only up to d = 1024.

use bilens_benches::{realistic_matrix, synthetic_layer};
use bilens_decomp::{LanczosParams, Method, Order, Par, Real, eigh, interaction_matrix};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array2;

fn run<T: Real>(c: &mut Criterion, name: &str, q: &Array2<T>, k: usize) {
    let mut group = c.benchmark_group(format!("eigen-{}", T::DTYPE));
    group.sample_size(10);
    let p = LanczosParams::default();
    for method in [Method::Full, Method::Lanczos] {
        group.bench_with_input(
            BenchmarkId::new(method.name(), format!("{name}-d{}-k{k}", q.nrows())),
            q,
            |b, q| {
                b.iter(|| {
                    eigh(
                        q.view(),
                        Some(k),
                        Order::AbsDescending,
                        true,
                        method,
                        &p,
                        Par::Seq,
                    )
                    .expect("converges")
                })
            },
        );
    }
    group.finish();
}

fn eigen(c: &mut Criterion) {
    for &d in &[512usize, 768, 1024, 2048] {
        let k = d / 16;
        let (layer, dirs) = synthetic_layer(0, d, 4 * d, d, 1);
        let layer_q = interaction_matrix(&layer, dirs.row(0));
        run(c, "layer", &layer_q, k);
        if d <= 1024 {
            run(c, "layer", &layer_q.mapv(f64::from), k);
        }
        if d == 512 || d == 1024 {
            let power_law = realistic_matrix::<f64>(d as u64, d);
            run(c, "power-law", &power_law.mapv(|x| x as f32), k);
            run(c, "power-law", &power_law, k);
        }
    }
}

criterion_group!(benches, eigen);
criterion_main!(benches);
