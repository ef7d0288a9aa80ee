//! Full versus Lanczos top-k on matrices with realistic spectra, in f32 and f64.
//!
//! `cargo bench -p bilens-benches --bench eigen`
//!
//! Two matrices per size: `U diag(λ) Uᵀ` with a power-law spectrum (`realistic_matrix`), and
//! `Q(u)` of a synthetic layer with decaying factor spectra (`synthetic_layer`).

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
    for &(d, k) in &[(512usize, 32usize), (1024, 64)] {
        let power_law = realistic_matrix::<f64>(d as u64, d);
        let (layer, dirs) = synthetic_layer(0, d, 4 * d, d, 1);
        let layer_q = interaction_matrix(&layer, dirs.row(0)).mapv(f64::from);
        for (name, q) in [("power-law", &power_law), ("layer", &layer_q)] {
            run(c, name, &q.mapv(|x| x as f32), k);
            run(c, name, q, k);
        }
    }
}

criterion_group!(benches, eigen);
criterion_main!(benches);
