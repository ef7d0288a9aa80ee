//! The Toeplitz lift of a bilinear convolution (docs/MATH.md section 11) against a direct
//! convolution computed by loops over a zero-padded copy of the input, and the decomposition of
//! the lifted layer against the convolutional model's logits (f64, seeded).

use bilens_decomp::{
    BilinearLayer, ConvGeometry, DecomposeParams, channel_bias, decompose, kernel_rows, lift_conv,
};
use ndarray::{Array1, Array2, Array3, Array4, Axis, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn randn4(rng: &mut ChaCha8Rng, shape: (usize, usize, usize, usize)) -> Array4<f64> {
    Array4::from_shape_simple_fn(shape, || StandardNormal.sample(rng))
}

fn randn1(rng: &mut ChaCha8Rng, n: usize) -> Array1<f64> {
    Array1::from_shape_simple_fn(n, || StandardNormal.sample(rng))
}

/// `conv2d(x, kernels) + bias` the textbook way: pad `x` with zeros, then slide the kernel with
/// the stride. Output `[c_out, H', W']`.
fn direct_conv(
    x: &Array3<f64>,
    kernels: &Array4<f64>,
    bias: Option<&Array1<f64>>,
    stride: usize,
    padding: usize,
) -> Array3<f64> {
    let (c_in, h, w) = x.dim();
    let (c_out, _, k, _) = kernels.dim();
    let mut padded = Array3::zeros((c_in, h + 2 * padding, w + 2 * padding));
    padded
        .slice_mut(s![.., padding..padding + h, padding..padding + w])
        .assign(x);
    let oh = (h + 2 * padding - k) / stride + 1;
    let ow = (w + 2 * padding - k) / stride + 1;
    let mut out = Array3::zeros((c_out, oh, ow));
    for c in 0..c_out {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = bias.map_or(0.0, |b| b[c]);
                for ci in 0..c_in {
                    for di in 0..k {
                        for dj in 0..k {
                            acc += kernels[[c, ci, di, dj]]
                                * padded[[ci, i * stride + di, j * stride + dj]];
                        }
                    }
                }
                out[[c, i, j]] = acc;
            }
        }
    }
    out
}

fn flat(a: &Array3<f64>) -> Array1<f64> {
    a.iter().copied().collect()
}

/// Every geometry the tests sweep: stride 1 and 2, padding 0 and k // 2, 1 and 3 input
/// channels, odd and even kernels.
fn geometries() -> Vec<ConvGeometry> {
    let mut all = Vec::new();
    for in_channels in [1, 3] {
        for kernel_size in [3, 4] {
            for stride in [1, 2] {
                for padding in [0, kernel_size / 2] {
                    all.push(ConvGeometry {
                        in_channels,
                        image_size: 7,
                        kernel_size,
                        stride,
                        padding,
                    });
                }
            }
        }
    }
    all
}

#[test]
fn the_lift_reproduces_a_direct_convolution() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for g in geometries() {
        let c_out = 2;
        let kernels = randn4(
            &mut rng,
            (c_out, g.in_channels, g.kernel_size, g.kernel_size),
        );
        let lifted = lift_conv(kernels.view(), &g);
        let out = g.output_size().unwrap();
        assert_eq!(lifted.dim(), (c_out * out * out, g.input_len()), "{g:?}");
        for _ in 0..3 {
            let x = Array3::from_shape_vec(
                (g.in_channels, g.image_size, g.image_size),
                randn1(&mut rng, g.input_len()).to_vec(),
            )
            .unwrap();
            let want = flat(&direct_conv(&x, &kernels, None, g.stride, g.padding));
            let got = lifted.dot(&flat(&x));
            let err = (&got - &want).iter().fold(0.0f64, |m, e| m.max(e.abs()));
            assert!(err < 1e-12, "{g:?}: max error {err}");
        }
    }
}

#[test]
fn the_decomposition_of_the_lifted_layer_rebuilds_the_logits() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for g in geometries() {
        let (h, classes) = (3, 4);
        let k = g.kernel_size;
        let ka = randn4(&mut rng, (h, g.in_channels, k, k));
        let kb = randn4(&mut rng, (h, g.in_channels, k, k));
        let (ba, bb) = (randn1(&mut rng, h), randn1(&mut rng, h));
        let positions = g.positions();
        let head = Array2::from_shape_simple_fn((classes, h * positions), || {
            StandardNormal.sample(&mut rng)
        });
        let layer = BilinearLayer::new(
            lift_conv(ka.view(), &g),
            lift_conv(kb.view(), &g),
            head.clone(),
        )
        .with_biases(
            Some(channel_bias(ba.view(), positions)),
            Some(channel_bias(bb.view(), positions)),
        );
        let d = decompose(
            &layer,
            Array2::eye(classes).view(),
            None,
            &DecomposeParams::default(),
        )
        .unwrap();
        let vectors = d.eigenvectors.as_ref().unwrap();
        let (linear, constants) = (d.linear_terms.unwrap(), d.constants.unwrap());
        for _ in 0..3 {
            let x = Array3::from_shape_vec(
                (g.in_channels, g.image_size, g.image_size),
                randn1(&mut rng, g.input_len()).to_vec(),
            )
            .unwrap();
            let a = direct_conv(&x, &ka, Some(&ba), g.stride, g.padding);
            let b = direct_conv(&x, &kb, Some(&bb), g.stride, g.padding);
            let logits = head.dot(&flat(&(&a * &b)));
            let xf = flat(&x);
            for o in 0..classes {
                let proj = vectors.index_axis(Axis(0), o).dot(&xf);
                let quadratic: f64 = d
                    .eigenvalues
                    .row(o)
                    .iter()
                    .zip(proj.iter())
                    .map(|(l, p)| l * p * p)
                    .sum();
                let rebuilt = quadratic + 2.0 * linear.row(o).dot(&xf) + constants[o];
                let scale = 1.0 + logits[o].abs();
                assert!(
                    (rebuilt - logits[o]).abs() < 1e-10 * scale,
                    "{g:?} class {o}: {rebuilt} vs {}",
                    logits[o]
                );
            }
        }
    }
}

#[test]
fn each_channels_eigenfilters_are_a_rank_two_pair() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let (h, c_in, k) = (4, 3, 3);
    let ka = randn4(&mut rng, (h, c_in, k, k));
    let kb = randn4(&mut rng, (h, c_in, k, k));
    let patch = BilinearLayer::new(
        kernel_rows(ka.view()),
        kernel_rows(kb.view()),
        Array2::eye(h),
    );
    let d = decompose(
        &patch,
        Array2::eye(h).view(),
        None,
        &DecomposeParams::default(),
    )
    .unwrap();
    let vectors = d.eigenvectors.unwrap();
    for c in 0..h {
        // sym(a bᵀ) has eigenvalues (aᵀb ± |a||b|) / 2 along a/|a| ± b/|b|, and nothing else.
        let a: Array1<f64> = ka.index_axis(Axis(0), c).iter().copied().collect();
        let b: Array1<f64> = kb.index_axis(Axis(0), c).iter().copied().collect();
        let (na, nb, ab) = (a.dot(&a).sqrt(), b.dot(&b).sqrt(), a.dot(&b));
        let plus = (ab + na * nb) / 2.0;
        let minus = (ab - na * nb) / 2.0;
        let values = d.eigenvalues.row(c);
        let mut top = [values[0], values[1]];
        top.sort_by(f64::total_cmp);
        assert!((top[0] - minus).abs() < 1e-10 && (top[1] - plus).abs() < 1e-10);
        assert!(values.iter().skip(2).all(|v| v.abs() < 1e-10), "{values}");
        let want_plus = &a / na + &b / nb;
        let plus_at = if values[0] > values[1] { 0 } else { 1 };
        let got: Array1<f64> = vectors.slice(s![c, plus_at, ..]).to_owned();
        let cos = got.dot(&want_plus) / want_plus.dot(&want_plus).sqrt();
        assert!((cos.abs() - 1.0).abs() < 1e-10, "channel {c}: cos {cos}");
    }
    // The same pair is what the lifted layer gives one hidden unit at an interior position,
    // restricted to its receptive field.
    let g = ConvGeometry {
        in_channels: c_in,
        image_size: 6,
        kernel_size: k,
        stride: 1,
        padding: 1,
    };
    let (wa, wb) = (lift_conv(ka.view(), &g), lift_conv(kb.view(), &g));
    let (c, i, j) = (2, 3, 2);
    let unit = (c * 6 + i) * 6 + j;
    let field: Vec<usize> = (0..c_in)
        .flat_map(|ci| {
            (0..k).flat_map(move |di| (0..k).map(move |dj| (ci * 6 + i + di - 1) * 6 + j + dj - 1))
        })
        .collect();
    let rows = kernel_rows(ka.view());
    for (t, &pixel) in field.iter().enumerate() {
        assert_eq!(wa[[unit, pixel]], rows[[c, t]]);
        assert_eq!(wb[[unit, pixel]], kernel_rows(kb.view())[[c, t]]);
    }
    assert_eq!(
        wa.row(unit).iter().filter(|v| **v != 0.0).count(),
        field.len()
    );
}
