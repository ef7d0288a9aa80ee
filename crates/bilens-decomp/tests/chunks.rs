//! Chunked delivery: with outputs decomposed across threads, chunk i is handed to the sink
//! while chunk i + 1 is computed. The sink must still see every chunk once, in order, with the
//! numbers a sequential run gives, and a sink's error must end the run with that error and no
//! later chunk delivered.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use bilens_decomp::{
    BilinearLayer, DecompError, DecomposeParams, Decomposition, Parallelism, Route,
    decompose_chunked,
};
use ndarray::Array2;

fn layer(d: usize, h: usize, o: usize) -> BilinearLayer<f64> {
    common::random_layer(9, d, h, o)
}

fn run(
    layer: &BilinearLayer<f64>,
    outputs: &Array2<f64>,
    params: &DecomposeParams,
) -> Vec<(usize, Decomposition<f64>)> {
    let mut sunk = Vec::new();
    decompose_chunked(layer, outputs.view(), None, params, |first, part| {
        sunk.push((first, part));
        Ok::<(), DecompError>(())
    })
    .unwrap();
    sunk
}

#[test]
fn chunks_arrive_in_order_with_the_sequential_numbers() {
    let layer = layer(10, 16, 23);
    let outputs = Array2::<f64>::eye(23);
    for route in [Route::Direct, Route::SharedBasis] {
        let params = |parallelism| DecomposeParams {
            route,
            chunk_size: 4,
            k: Some(5),
            parallelism,
            ..Default::default()
        };
        let across = run(&layer, &outputs, &params(Parallelism::AcrossOutputs));
        let sequential = run(&layer, &outputs, &params(Parallelism::Sequential));
        let firsts: Vec<usize> = across.iter().map(|(f, _)| *f).collect();
        assert_eq!(firsts, vec![0, 4, 8, 12, 16, 20], "{route:?}");
        let sizes: Vec<usize> = across.iter().map(|(_, p)| p.n_outputs()).collect();
        assert_eq!(sizes, vec![4, 4, 4, 4, 4, 3], "{route:?}");
        for ((fa, a), (fs, s)) in across.iter().zip(&sequential) {
            assert_eq!(fa, fs);
            // Each output's solve runs on one thread with the same kernels either way.
            assert_eq!(a.eigenvalues, s.eigenvalues, "{route:?}, chunk at {fa}");
            assert_eq!(a.eigenvectors, s.eigenvectors, "{route:?}, chunk at {fa}");
        }
    }
}

/// A sink's own failure (a full disk, say), or the decomposition's.
enum Failure {
    Sink,
    Decomp(DecompError),
}

impl From<DecompError> for Failure {
    fn from(e: DecompError) -> Self {
        Failure::Decomp(e)
    }
}

#[test]
fn a_sink_error_ends_the_run_and_no_later_chunk_is_delivered() {
    let layer = layer(10, 16, 23);
    let outputs = Array2::<f64>::eye(23);
    for parallelism in [Parallelism::AcrossOutputs, Parallelism::Sequential] {
        let params = DecomposeParams {
            chunk_size: 4,
            k: Some(5),
            parallelism,
            ..Default::default()
        };
        let mut firsts = Vec::new();
        let result = decompose_chunked(&layer, outputs.view(), None, &params, |first, _| {
            firsts.push(first);
            if first == 8 {
                Err(Failure::Sink)
            } else {
                Ok(())
            }
        });
        match result {
            Err(Failure::Sink) => {}
            Err(Failure::Decomp(e)) => panic!("{parallelism:?}: the decomposition failed: {e}"),
            Ok(route) => panic!("{parallelism:?}: finished ({route:?}) despite the sink's error"),
        }
        assert_eq!(firsts, vec![0, 4, 8], "{parallelism:?}");
    }
}
