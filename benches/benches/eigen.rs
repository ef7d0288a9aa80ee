//! Full versus Lanczos top-k on matrices with a realistic spectrum.
//!
//! `cargo bench -p bilens-benches --bench eigen`

use bilens_benches::realistic_matrix;
use bilens_decomp::{LanczosParams, Method, Order, Par, eigh};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn eigen(c: &mut Criterion) {
    let mut group = c.benchmark_group("eigen");
    group.sample_size(10);
    for &(d, k) in &[(512usize, 32usize), (1024, 64)] {
        let q = realistic_matrix::<f32>(d as u64, d);
        let p = LanczosParams::default();
        for method in [Method::Full, Method::Lanczos] {
            group.bench_with_input(
                BenchmarkId::new(format!("{}-f32", method.name()), format!("d{d}-k{k}")),
                &q,
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
    }
    group.finish();
}

criterion_group!(benches, eigen);
criterion_main!(benches);
