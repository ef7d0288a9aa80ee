//! One epoch of `bilens train mnist` (the paper's recipe: width 512, batch 2048, 29 steps of
//! forward, hand-written backward and AdamW, then the test-set evaluation) on the shipped
//! MNIST, on every thread.
//!
//! `cargo bench -p bilens-benches --bench train`

use std::path::Path;

use bilens_io::load_image_dataset;
use bilens_train::{TrainConfig, train};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn epoch(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    let data = load_image_dataset(&dir).expect("the shipped MNIST loads");
    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.throughput(Throughput::Elements(data.train.len() as u64));
    group.bench_function("mnist-epoch", |b| {
        b.iter(|| train(&config, &data, |_| {}).expect("trains"))
    });
    group.finish();
}

criterion_group!(benches, epoch);
criterion_main!(benches);
