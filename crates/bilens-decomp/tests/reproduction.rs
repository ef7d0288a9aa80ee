//! The mathematics behind the paper's evaluations, in f64 on seeded random models: truncation
//! (docs/MATH.md section 7 and identity 7), adversarial masks (section 8), outputs along a line,
//! and component similarity.

#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use bilens_decomp::{
    BilinearLayer, BilinearModel, DecomposeParams, LineProbe, Method, Par, Selection,
    SelectionOrder, abs_cosine_matrix, activation_importance, activations, argmax_rows, decompose,
    linear_part, matched_similarity, pseudo_inverse_rows, ranked_similarity, second_moment,
    truncated_sums,
};
use ndarray::{Array1, Array2, Axis, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

/// A model with an embedding, a bilinear layer with or without biases, and with or without a
/// linear (residual) path: every term a truncated model must carry.
fn random_model(
    seed: u64,
    (d_input, d_in, h, d_out): (usize, usize, usize, usize),
    biases: bool,
    linear: bool,
) -> BilinearModel<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut layer = BilinearLayer::new(
        randn(&mut rng, (h, d_in)),
        randn(&mut rng, (h, d_in)),
        randn(&mut rng, (d_out, h)),
    );
    if biases {
        let b = randn(&mut rng, (1, h)).row(0).to_owned();
        let c = randn(&mut rng, (1, h)).row(0).to_owned();
        layer = layer.with_biases(Some(b), Some(c));
    }
    let lin = linear.then(|| randn(&mut rng, (d_out, d_in)));
    BilinearModel::new(Some(randn(&mut rng, (d_in, d_input))), layer, lin)
}

const SHAPES: &[(usize, usize, usize, usize)] =
    &[(1, 1, 1, 1), (9, 4, 6, 3), (12, 8, 3, 5), (20, 16, 24, 10)];

/// Truncated logits for every rule and budget, assembled the way `bilens eval truncation`
/// does: `[rule][k] -> [n, d_out]`.
fn truncated_logits(
    model: &BilinearModel<f64>,
    x: &Array2<f64>,
    reference: &Array2<f64>,
    ks: &[usize],
) -> Vec<Vec<Array2<f64>>> {
    let layer = model.layer();
    let d_out = layer.d_out();
    let dec = decompose(
        layer,
        Array2::eye(d_out).view(),
        None,
        &DecomposeParams {
            method: Method::Full,
            ..Default::default()
        },
    )
    .unwrap();
    let e = model.layer_input(x.view(), Par::Seq);
    let moment = second_moment(
        model.layer_input(reference.view(), Par::Seq).view(),
        Par::Seq,
    );
    let base = linear_part(model, e.view(), Par::Seq);
    let vecs = dec.eigenvectors.as_ref().unwrap();
    let mut out = vec![vec![base.clone(); ks.len()]; Selection::ALL.len()];
    for o in 0..d_out {
        let values = dec.eigenvalues.row(o);
        let v = vecs.index_axis(Axis(0), o);
        let imp = activation_importance(values, v, moment.view(), Par::Seq);
        let orders: Vec<SelectionOrder> = Selection::ALL
            .iter()
            .map(|&r| SelectionOrder::new(values, r, Some(imp.view())))
            .collect();
        let sums = truncated_sums(values, v, e.view(), &orders, ks, Par::Seq);
        for (r, sum) in sums.iter().enumerate() {
            for (j, logits) in out[r].iter_mut().enumerate() {
                let mut col = logits.column_mut(o);
                col += &sum.column(j);
            }
        }
    }
    out
}

#[test]
fn truncation_with_every_component_is_the_model() {
    for (i, &shape) in SHAPES.iter().enumerate() {
        for (biases, linear) in [(false, false), (true, false), (false, true), (true, true)] {
            let model = random_model(100 + i as u64, shape, biases, linear);
            let mut rng = ChaCha8Rng::seed_from_u64(200 + i as u64);
            let x = randn(&mut rng, (17, shape.0));
            let reference = randn(&mut rng, (31, shape.0));
            let d = shape.1;
            let logits = truncated_logits(&model, &x, &reference, &[d, d + 5, 3 * d]);
            let want = model.forward(x.view(), Par::Seq);
            let scale = want.iter().fold(1.0f64, |m, y| m.max(y.abs()));
            for (r, per_k) in logits.iter().enumerate() {
                for got in per_k {
                    for (a, b) in got.iter().zip(want.iter()) {
                        assert!(
                            (a - b).abs() <= 1e-10 * scale * (d * shape.2) as f64,
                            "shape {i} biases {biases} linear {linear} rule {r}: {a} vs {b}"
                        );
                    }
                    assert_eq!(argmax_rows(got.view()), argmax_rows(want.view()));
                }
            }
        }
    }
}

#[test]
fn truncated_sums_equal_the_sum_over_the_chosen_components() {
    let model = random_model(7, (10, 8, 12, 4), true, true);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x = randn(&mut rng, (9, 10));
    let e = model.layer_input(x.view(), Par::Seq);
    let layer = model.layer();
    let dec = decompose(
        layer,
        Array2::eye(4).view(),
        None,
        &DecomposeParams::default(),
    )
    .unwrap();
    let vecs = dec.eigenvectors.unwrap();
    let ks = [0usize, 1, 3, 2, 8];
    for o in 0..4 {
        let values = dec.eigenvalues.row(o);
        let v = vecs.index_axis(Axis(0), o);
        let imp = Array1::from_iter((0..8).map(|i| ((i * 5) % 8) as f64));
        for rule in Selection::ALL {
            let order = SelectionOrder::new(values, rule, Some(imp.view()));
            let sums = truncated_sums(
                values,
                v,
                e.view(),
                std::slice::from_ref(&order),
                &ks,
                Par::Seq,
            );
            let act = activations(values, v, e.view(), Par::Seq);
            for (j, &k) in ks.iter().enumerate() {
                let chosen = &order.order()[..order.kept(k)];
                // Independently: the chosen components by the rule's definition.
                let mut want: Vec<usize> = match rule {
                    Selection::Abs => {
                        let mut idx: Vec<usize> = (0..8).collect();
                        idx.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()));
                        idx[..k.min(8)].to_vec()
                    }
                    Selection::Paired => {
                        let mut pos: Vec<usize> = (0..8).filter(|&i| values[i] > 0.0).collect();
                        let mut neg: Vec<usize> = (0..8).filter(|&i| values[i] <= 0.0).collect();
                        pos.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
                        neg.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
                        pos.truncate(k);
                        neg.truncate(k);
                        pos.into_iter().chain(neg).collect()
                    }
                    Selection::Activation => {
                        let mut idx: Vec<usize> = (0..8).collect();
                        idx.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]));
                        idx[..k.min(8)].to_vec()
                    }
                };
                let mut got = chosen.to_vec();
                got.sort_unstable();
                want.sort_unstable();
                assert_eq!(got, want, "class {o} rule {rule:?} k {k}");
                for n in 0..9 {
                    let direct: f64 = want.iter().map(|&c| act[(n, c)]).sum();
                    assert!((sums[0][(n, j)] - direct).abs() < 1e-10 * (1.0 + direct.abs()));
                }
            }
        }
    }
}

#[test]
fn activation_importance_is_the_mean_absolute_activation() {
    let model = random_model(11, (7, 6, 5, 3), false, false);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let x = randn(&mut rng, (40, 7));
    let e = model.layer_input(x.view(), Par::Seq);
    let dec = decompose(
        model.layer(),
        Array2::eye(3).view(),
        None,
        &DecomposeParams::default(),
    )
    .unwrap();
    let vecs = dec.eigenvectors.unwrap();
    let moment = second_moment(e.view(), Par::Seq);
    for o in 0..3 {
        let values = dec.eigenvalues.row(o);
        let v = vecs.index_axis(Axis(0), o);
        let imp = activation_importance(values, v, moment.view(), Par::Seq);
        let act = activations(values, v, e.view(), Par::Seq);
        for c in 0..6 {
            let mean_abs = act.column(c).iter().map(|a| a.abs()).sum::<f64>() / 40.0;
            assert!(
                (imp[c] - mean_abs).abs() < 1e-10 * (1.0 + mean_abs),
                "{o} {c}"
            );
        }
    }
}

#[test]
fn pseudo_inverse_masks_are_dual_to_the_components() {
    for (k, d, seed) in [(1usize, 1usize, 1u64), (3, 5, 2), (10, 784, 3), (10, 40, 4)] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Correlated, unequal-norm rows like pixel-space eigenvectors Eᵀv.
        let u = randn(&mut rng, (k, d)) + 0.5 * randn(&mut rng, (1, d));
        let m = pseudo_inverse_rows(u.view()).unwrap();
        let dual = u.dot(&m.t());
        for i in 0..k {
            for j in 0..k {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (dual[(j, i)] - want).abs() < 1e-9,
                    "k {k} d {d}: u_{j}·m_{i} = {}",
                    dual[(j, i)]
                );
            }
        }
        // Minimum norm: each mask is orthogonal to the null space of U (adding a null vector
        // keeps the duality and lengthens the mask). Null vectors by Gram-Schmidt, here.
        let mut basis: Vec<Array1<f64>> = Vec::new();
        for row in u.rows() {
            let mut q = row.to_owned();
            for b in &basis {
                q = &q - &(b * b.dot(&q));
            }
            let n = q.dot(&q).sqrt();
            basis.push(q / n);
        }
        for _ in 0..if d > k { 3 } else { 0 } {
            let mut z = randn(&mut rng, (1, d)).row(0).to_owned();
            for b in &basis {
                z = &z - &(b * b.dot(&z));
            }
            for mi in m.rows() {
                assert!(
                    mi.dot(&z).abs() < 1e-9 * z.dot(&z).sqrt() * mi.dot(&mi).sqrt().max(1.0),
                    "k {k} d {d}: mask not of minimum norm"
                );
            }
        }
    }
}

#[test]
fn pseudo_inverse_of_dependent_rows_is_finite() {
    let u: Array2<f64> = ndarray::array![[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]];
    let m = pseudo_inverse_rows(u.view()).unwrap();
    assert!(m.iter().all(|x| x.is_finite()));
    // The Moore-Penrose answer: U U⁺ U = U.
    let uu = u.dot(&m.t()).dot(&u);
    for (a, b) in uu.iter().zip(u.iter()) {
        assert!((a - b).abs() < 1e-12);
    }
}

#[test]
fn outputs_along_a_line_are_the_forward_pass_at_every_strength() {
    for (i, &shape) in SHAPES.iter().enumerate() {
        for (biases, linear) in [(false, false), (true, true)] {
            let model = random_model(300 + i as u64, shape, biases, linear);
            let mut rng = ChaCha8Rng::seed_from_u64(400 + i as u64);
            let x = randn(&mut rng, (6, shape.0));
            let m = randn(&mut rng, (1, shape.0)).row(0).to_owned();
            let probe = LineProbe::new(&model, x.view(), Par::Seq);
            assert_eq!(probe.outputs(), model.forward(x.view(), Par::Seq));
            let line = probe.along(m.view(), Par::Seq);
            for s in [0.0, 0.5, -1.3, 4.0] {
                let moved = &x + &(&m * s).insert_axis(Axis(0));
                let want = model.forward(moved.view(), Par::Seq);
                let got = line.at(s);
                let scale = want.iter().fold(1.0f64, |a, y| a.max(y.abs()));
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((a - b).abs() < 1e-10 * scale, "shape {i} s {s}: {a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn a_model_compared_with_itself_is_similar_at_every_rank() {
    let model = random_model(21, (30, 12, 16, 3), false, false);
    let dec = decompose(
        model.layer(),
        Array2::eye(3).view(),
        None,
        &DecomposeParams::default(),
    )
    .unwrap();
    let vecs = dec.eigenvectors.unwrap();
    for o in 0..3 {
        let v = vecs.slice(s![o, ..6, ..]);
        let pix = model.to_input_space(v, Par::Seq).unwrap();
        let same = matched_similarity(pix.view(), pix.view());
        assert!(same.iter().all(|c| (c - 1.0).abs() < 1e-12), "{same:?}");
        // Flipped signs and a shuffled order change nothing for the matching...
        let mut shuffled = pix.clone();
        for (r, src) in [3usize, 0, 5, 1, 4, 2].iter().enumerate() {
            shuffled.row_mut(r).assign(&(&pix.row(*src) * -2.0));
        }
        let matched = matched_similarity(pix.view(), shuffled.view());
        assert!(
            matched.iter().all(|c| (c - 1.0).abs() < 1e-12),
            "{matched:?}"
        );
        // ...but the same-rank comparison sees the shuffle.
        let ranked = ranked_similarity(pix.view(), shuffled.view());
        assert!((ranked[4] - 1.0).abs() < 1e-12);
        assert!(ranked[0] < 0.999);
        // Orthonormal layer-space eigenvectors: |cos| is the identity matrix.
        let cos = abs_cosine_matrix(v, v);
        for ((i, j), c) in cos.indexed_iter() {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((c - want).abs() < 1e-10);
        }
    }
}
