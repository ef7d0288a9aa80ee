//! The evaluations as library calls, on the shipped model and data: what they return agrees
//! with an independent computation, what they write is there, and bad arguments are named.

use bilens::eval::{
    AdversarialOptions, ExplainOptions, ImageEvaluation, correct_predictions, explain,
};
use bilens::{Arg, Error};

fn shipped() -> ImageEvaluation {
    let model = bilens::shipped::model().expect("the shipped model");
    let data = bilens::shipped::mnist().expect("the shipped MNIST");
    let model =
        bilens::Checkpoint::open(&model, &Default::default()).expect("the shipped model opens");
    ImageEvaluation::open(&model, &data).expect("the shipped model opens")
}

#[test]
fn an_explanation_adds_up_to_the_logit_and_is_written() {
    let eval = shipped();
    let out = tempfile::tempdir().expect("a temporary directory");
    let options = ExplainOptions {
        index: 3,
        class: Some(7),
        top: 4,
    };
    let done = explain(&eval, &options, out.path()).expect("explain runs");
    let e = &done.report;
    assert_eq!((e.index, e.class), (3, 7));
    assert_eq!(e.label, usize::from(eval.data.test.labels[3]));
    // logit = linear part + Σ λ (vᵀe)², over every component.
    let sum: f64 = e.contributions.iter().map(|c| c.value).sum();
    assert!(
        (e.logits[7] - e.linear - sum).abs() < 1e-9 * (1.0 + e.logits[7].abs()),
        "{} != {} + {sum}",
        e.logits[7],
        e.linear
    );
    // The logits are the model's own forward pass on that image.
    let x = eval.data.test.pixels::<f64>();
    let y = eval
        .model
        .model
        .forward(x.slice(ndarray::s![3..4, ..]), bilens_decomp::Par::Seq);
    for c in 0..10 {
        assert!((y[(0, c)] - e.logits[c]).abs() < 1e-12);
    }
    // Each contribution is λ (vᵀe)², largest first.
    for c in &e.contributions {
        assert!((c.value - c.lambda * c.projection * c.projection).abs() < 1e-12);
    }
    assert!(
        e.contributions
            .windows(2)
            .all(|w| w[0].value.abs() >= w[1].value.abs())
    );
    assert_eq!(done.files.len(), 3);
    assert!(done.files.iter().all(|f| f.is_file()), "{:?}", done.files);
    assert!(out.path().join("explain_3.svg").is_file());
}

#[test]
fn test_accuracy_counts_the_argmax_like_a_loop() {
    let eval = shipped();
    let set = &eval.data.test;
    let x = set.pixels::<f64>();
    let y = eval
        .model
        .model
        .forward(x.view(), bilens_decomp::Par::rayon(0));
    let mut want = 0;
    for (i, row) in y.rows().into_iter().enumerate() {
        let mut best = 0;
        for c in 1..row.len() {
            if row[c] > row[best] {
                best = c;
            }
        }
        want += usize::from(best == usize::from(set.labels[i]));
    }
    assert_eq!(correct_predictions(&eval.model.model, set), want);
    let model = bilens::shipped::model().expect("the shipped model");
    let data = bilens::shipped::mnist().expect("the shipped MNIST");
    let model =
        bilens::Checkpoint::open(&model, &Default::default()).expect("the shipped model opens");
    let acc = bilens::eval::test_accuracy(&model, &data).expect("accuracy");
    assert_eq!(acc.total, set.len());
    // The f32 pass (as the model was trained) may differ from f64 on a near tie, not more.
    assert!(acc.correct.abs_diff(want) <= 5, "{} vs {want}", acc.correct);
}

#[test]
fn bad_arguments_are_named_in_the_api_s_terms() {
    let eval = shipped();
    let out = tempfile::tempdir().expect("a temporary directory");
    let arg_of = |e: Error| match e.root() {
        Error::Argument { arg, .. } => *arg,
        other => panic!("not an argument error: {other}"),
    };
    let past = ExplainOptions {
        index: 10_000,
        ..Default::default()
    };
    let e = explain(&eval, &past, out.path()).expect_err("index past the set");
    assert_eq!(arg_of(e), Arg::Index);
    let class = ExplainOptions {
        class: Some(10),
        ..Default::default()
    };
    let e = explain(&eval, &class, out.path()).expect_err("no class 10");
    assert_eq!(arg_of(e), Arg::Class);
    let mask = AdversarialOptions {
        mask: 10,
        ..Default::default()
    };
    assert_eq!(
        arg_of(mask.resolve(10).expect_err("mask 10 of 10")),
        Arg::Mask
    );
    let targets = AdversarialOptions {
        targets: Some("12".parse().expect("a row set")),
        ..Default::default()
    };
    let e = targets.resolve(10).expect_err("no class 12");
    assert_eq!(arg_of(e), Arg::Targets);
    // The refused calls wrote nothing.
    assert_eq!(
        std::fs::read_dir(out.path())
            .expect("the directory")
            .count(),
        0
    );
}
