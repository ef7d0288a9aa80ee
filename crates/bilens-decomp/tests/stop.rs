//! A caller's request to stop: the decomposition returns `Stopped` soon after it is made,
//! with every chunk finished before it handed to the sink, on both routes; the shared basis
//! gives up between its tiles.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use bilens_decomp::{
    BilinearLayer, DecompError, DecomposeParams, InteractionBasis, Par, Route,
    decompose_chunked_until,
};
use ndarray::Array2;

fn layer(d: usize, h: usize, o: usize) -> BilinearLayer<f64> {
    common::random_layer(5, d, h, o)
}

#[test]
fn stopping_returns_stopped_after_the_finished_chunks() {
    let layer = layer(12, 20, 40);
    let outputs = Array2::<f64>::eye(40);
    for route in [Route::Direct, Route::SharedBasis] {
        let params = DecomposeParams {
            route,
            chunk_size: 10,
            ..Default::default()
        };
        // Say stop at the 25th question: the solver asks once per output (and the shared
        // basis once per tile), so chunks 0..20 are done and the third is abandoned.
        let asked = AtomicUsize::new(0);
        let stop = || asked.fetch_add(1, Ordering::Relaxed) >= 25;
        let mut sunk = Vec::new();
        let result = decompose_chunked_until(
            &layer,
            outputs.view(),
            None,
            &params,
            &stop,
            |first, part| {
                sunk.push((first, part.n_outputs()));
                Ok::<(), DecompError>(())
            },
        );
        assert!(matches!(result, Err(DecompError::Stopped)), "{route:?}");
        assert!(!sunk.is_empty() && sunk.len() < 4, "{route:?}: {sunk:?}");
        for (i, &(first, n)) in sunk.iter().enumerate() {
            assert_eq!((first, n), (10 * i, 10));
        }
        // Never asked to stop: every output.
        let mut all = 0;
        decompose_chunked_until(
            &layer,
            outputs.view(),
            None,
            &params,
            &|| false,
            |_, part| {
                all += part.n_outputs();
                Ok::<(), DecompError>(())
            },
        )
        .unwrap();
        assert_eq!(all, 40);
    }
}

#[test]
fn the_shared_basis_gives_up_between_tiles() {
    // d = 100 packs 5050 numbers: two tiles.
    let layer = layer(100, 8, 3);
    assert!(InteractionBasis::new_until(&layer, Par::Seq, &|| true).is_none());
    let asked = AtomicUsize::new(0);
    let second = || asked.fetch_add(1, Ordering::Relaxed) >= 1;
    assert!(InteractionBasis::new_until(&layer, Par::Seq, &second).is_none());
    assert!(asked.load(Ordering::Relaxed) >= 2);
    assert!(InteractionBasis::new_until(&layer, Par::Seq, &|| false).is_some());
}
