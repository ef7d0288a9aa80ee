//! The kernels of `bilens decompose` and `bilens hosvd` over the table of real layer shapes
//! (`bilens_benches::SHAPES`): forming interaction matrices (direct and shared-basis routes),
//! precomputing the shared basis, and the HOSVD Gram matrix.
//!
//! `cargo bench -p bilens-benches --bench kernels` (a filter such as `-- form-q` runs one
//! group). Threads as in the pipeline: the direct route forms one matrix per task on one
//! thread (`Par::Seq`); the shared basis, its batched formation and the Gram matrix are single
//! large problems on every thread (`Par::rayon(0)`). Throughputs are in outputs (matrices) per
//! second; flop counts are in `benches/README.md`.

use bilens_benches::{SHAPES, synthetic_layer};
use bilens_decomp::{
    InteractionBasis, Par, hidden_coefficients, interaction_from_coefficients, output_gram,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, Array3, s};

/// Shapes whose shared basis fits the default 4 GiB budget of the shared route (the large
/// shape's would take 8.6 GB, so `bilens` never builds it).
fn basis_fits(d_in: usize, d_out: usize) -> bool {
    d_out * d_in * (d_in + 1) / 2 * 4 <= 4 << 30
}

fn form(c: &mut Criterion) {
    let mut group = c.benchmark_group("form-q");
    group.sample_size(10);
    for &(name, d_in, d_hidden, d_out) in SHAPES {
        let (layer, dirs) = synthetic_layer(0, d_in, d_hidden, d_out, 64);
        let coeffs = hidden_coefficients(&layer, dirs.row(0));
        let mut scratch = Array2::<f32>::zeros((d_hidden, d_in));
        let mut q = Array2::<f32>::zeros((d_in, d_in));
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("direct", name), |b| {
            b.iter(|| {
                interaction_from_coefficients(
                    &layer,
                    coeffs.view(),
                    &mut scratch,
                    q.view_mut(),
                    Par::Seq,
                )
            })
        });
        if basis_fits(d_in, d_out) {
            let basis = InteractionBasis::new(&layer, Par::rayon(0));
            let n = 64.min(dirs.nrows());
            let mut out = Array3::<f32>::zeros((n, d_in, d_in));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(BenchmarkId::new("shared", name), |b| {
                b.iter(|| basis.form_into(dirs.slice(s![..n, ..]), out.view_mut(), Par::rayon(0)))
            });
        }
    }
    group.finish();
}

fn basis(c: &mut Criterion) {
    let mut group = c.benchmark_group("shared-basis");
    group.sample_size(10);
    for &(name, d_in, d_hidden, d_out) in SHAPES {
        if !basis_fits(d_in, d_out) {
            continue;
        }
        let (layer, _) = synthetic_layer(0, d_in, d_hidden, d_out, 1);
        group.bench_function(name, |b| {
            b.iter(|| InteractionBasis::new(&layer, Par::rayon(0)))
        });
    }
    group.finish();
}

fn gram(c: &mut Criterion) {
    let mut group = c.benchmark_group("hosvd-gram");
    group.sample_size(10);
    for &(name, d_in, d_hidden, d_out) in SHAPES {
        let (layer, _) = synthetic_layer(0, d_in, d_hidden, d_out, 1);
        group.bench_function(name, |b| {
            b.iter(|| output_gram(&layer, None, Par::rayon(0)))
        });
    }
    group.finish();
}

criterion_group!(benches, form, basis, gram);
criterion_main!(benches);
