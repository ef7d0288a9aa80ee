//! Deep image models, decomposed block by block and chained: for random models (residual and
//! not, with and without block biases) written to a real safetensors file, every block's
//! decomposition rebuilds that block's output along every one of its directions exactly (f64),
//! against a forward pass written here with plain loops. The last block's directions are the
//! classes; each earlier block's are the components stored by the next block's run
//! (`--outputs results:DIR`), so the whole model is checked as a chain of quadratic forms.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use std::collections::BTreeMap;
use std::path::Path;

use bilens::eval::{ImageStack, TopInputsOptions, top_inputs};
use bilens::{Checkpoint, DecomposeOptions, LayoutSpec, Method, Precision, Silent};
use bilens_io::{OutputSelection, ResultsFile, write_arrays};
use ndarray::{Array1, Array2, ArrayView1, Axis, concatenate};

/// Pseudo-random numbers in [-1, 1) (a fixed LCG: the test needs no statistics, only values
/// that share no structure).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn matrix(&mut self, rows: usize, cols: usize, scale: f64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |_| scale * self.next())
    }

    fn vector(&mut self, n: usize, scale: f64) -> Array1<f64> {
        Array1::from_shape_fn(n, |_| scale * self.next())
    }
}

/// One block: `g(x) = (W x + b) ⊙ (V x + c)`.
struct Block {
    w: Array2<f64>,
    v: Array2<f64>,
    bias: Option<(Array1<f64>, Array1<f64>)>,
}

/// `x_0 = E p`, `x_{i+1} = g_i(x_i)` (`+ x_i` when residual), `logits = H x_L`.
struct Deep {
    embed: Array2<f64>,
    blocks: Vec<Block>,
    head: Array2<f64>,
    residual: bool,
}

impl Deep {
    /// `widths[i]` is the stream width before block `i`, the last entry the head's input.
    fn random(
        seed: u64,
        d_input: usize,
        widths: &[usize],
        d_out: usize,
        residual: bool,
        bias: bool,
    ) -> Self {
        let mut r = Lcg(seed);
        let blocks = widths
            .windows(2)
            .map(|w| Block {
                w: r.matrix(w[1], w[0], 0.6),
                v: r.matrix(w[1], w[0], 0.6),
                bias: bias.then(|| (r.vector(w[1], 0.3), r.vector(w[1], 0.3))),
            })
            .collect();
        Self {
            embed: r.matrix(widths[0], d_input, 0.5),
            blocks,
            head: r.matrix(d_out, *widths.last().unwrap(), 0.7),
            residual,
        }
    }

    /// The stream `x_0 .. x_L` for pixels `p`, by loops.
    fn streams(&self, p: ArrayView1<'_, f64>) -> Vec<Array1<f64>> {
        let affine = |m: &Array2<f64>, x: &Array1<f64>, b: Option<&Array1<f64>>| {
            Array1::from_shape_fn(m.nrows(), |r| {
                let mut s = b.map_or(0.0, |b| b[r]);
                for c in 0..m.ncols() {
                    s += m[[r, c]] * x[c];
                }
                s
            })
        };
        let mut xs = vec![affine(&self.embed, &p.to_owned(), None)];
        for block in &self.blocks {
            let x = xs.last().unwrap();
            let a = affine(&block.w, x, block.bias.as_ref().map(|b| &b.0));
            let c = affine(&block.v, x, block.bias.as_ref().map(|b| &b.1));
            let mut next = Array1::zeros(a.len());
            for h in 0..a.len() {
                next[h] = a[h] * c[h] + if self.residual { x[h] } else { 0.0 };
            }
            xs.push(next);
        }
        xs
    }

    fn logits(&self, p: ArrayView1<'_, f64>) -> Array1<f64> {
        let x = self.streams(p).pop().unwrap();
        Array1::from_shape_fn(self.head.nrows(), |o| {
            (0..x.len()).map(|h| self.head[[o, h]] * x[h]).sum()
        })
    }

    /// The model as the public code saves it: `model.safetensors` (f64 tensors) and
    /// `config.json`, in `dir`.
    fn save(&self, dir: &Path) -> std::path::PathBuf {
        let mut arrays: Vec<(String, ndarray::ArrayD<f64>)> = vec![
            ("embed.weight".into(), self.embed.clone().into_dyn()),
            ("head.weight".into(), self.head.clone().into_dyn()),
        ];
        for (i, b) in self.blocks.iter().enumerate() {
            let fused = concatenate(Axis(0), &[b.w.view(), b.v.view()]).unwrap();
            arrays.push((format!("blocks.{i}.weight"), fused.into_dyn()));
            if let Some((wb, vb)) = &b.bias {
                let fused = concatenate(Axis(0), &[wb.view(), vb.view()]).unwrap();
                arrays.push((format!("blocks.{i}.bias"), fused.into_dyn()));
            }
        }
        let path = dir.join("model.safetensors");
        let views: Vec<(&str, ndarray::ArrayViewD<'_, f64>)> =
            arrays.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
        write_arrays(&path, &views, &BTreeMap::new()).unwrap();
        std::fs::write(
            dir.join("config.json"),
            format!(
                r#"{{"n_layer": {}, "residual": {}, "bias": {}, "d_output": {}}}"#,
                self.blocks.len(),
                self.residual,
                self.blocks[0].bias.is_some(),
                self.head.nrows()
            ),
        )
        .unwrap();
        path
    }
}

/// Decomposes block `layer` of `model` along `outputs` into `out`: every component, f64.
fn decompose(model: &Path, layer: usize, outputs: &str, out: &Path) {
    let checkpoint = Checkpoint::open(
        model,
        &LayoutSpec::Image {
            residual: None,
            layer: Some(layer),
        },
    )
    .unwrap();
    let options = DecomposeOptions::new()
        .outputs(outputs.parse::<OutputSelection>().unwrap())
        .method(Method::Full)
        .precision(Precision::F64);
    bilens::decompose(&checkpoint, &options, out, &Silent).unwrap();
}

/// What the results in `dir` say each of its directions `u` reads off the block's output for
/// block input `x`: `Σ_k λ_k (v_kᵀx)² + 2 qᵀx + q0`, without the residual's linear term.
fn rebuilt(dir: &Path, x: &Array1<f64>) -> Array1<f64> {
    let r = ResultsFile::open(dir).unwrap();
    let n = r.shape().n_out;
    let values = r.eigenvalues::<f64>().unwrap();
    let vectors = r.eigenvectors::<f64>(0..n).unwrap().unwrap();
    let linear = r.tensor::<f64>("linear_terms").unwrap();
    let constants = r.tensor::<f64>("constants").unwrap();
    Array1::from_shape_fn(n, |o| {
        let mut y = 0.0;
        for k in 0..values.ncols() {
            let proj = vectors.slice(ndarray::s![o, k, ..]).dot(x);
            y += values[[o, k]] * proj * proj;
        }
        if let (Some(q), Some(q0)) = (&linear, &constants) {
            let q = q.index_axis(Axis(0), o);
            y += 2.0 * q.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + q0[[o]];
        }
        y
    })
}

fn assert_close(found: f64, expected: f64, what: &str) {
    assert!(
        (found - expected).abs() <= 1e-10 * (1.0 + expected.abs()),
        "{what}: rebuilt {found}, forward pass {expected}"
    );
}

/// Decomposes every block of `deep` from the last down, each along the components of the one
/// after it, and checks every direction of every block against the forward pass.
fn check_chain(deep: &Deep) {
    let dir = tempfile::tempdir().unwrap();
    let model = deep.save(dir.path());
    let n = deep.blocks.len();
    let results = |i: usize| dir.path().join(format!("block-{i}"));
    decompose(&model, n - 1, "classes", &results(n - 1));
    for i in (0..n - 1).rev() {
        let next = results(i + 1);
        decompose(
            &model,
            i,
            &format!("results:{}", next.display()),
            &results(i),
        );
        // The directions are the next block's components, every output's in turn.
        let next = ResultsFile::open(&next).unwrap();
        let stored = next
            .eigenvectors::<f64>(0..next.shape().n_out)
            .unwrap()
            .unwrap();
        let (a, b, d) = stored.dim();
        let directions = ResultsFile::open(&results(i))
            .unwrap()
            .outputs::<f64>()
            .unwrap();
        assert_eq!(
            directions,
            stored.into_shape_with_order((a * b, d)).unwrap()
        );
    }

    let stack = ImageStack::<f64>::open(&Checkpoint::open(&model, &LayoutSpec::default()).unwrap())
        .unwrap();
    assert_eq!(stack.len(), n);
    let mut r = Lcg(99);
    for sample in 0..4 {
        let p = r.vector(deep.embed.ncols(), 1.0);
        let xs = deep.streams(p.view());
        let logits = deep.logits(p.view());
        // The network run block after block is the forward pass, stream and logits.
        let batch = p.view().insert_axis(Axis(0));
        for (i, x) in xs.iter().enumerate().take(n) {
            for (a, b) in stack.stream(batch, i).iter().zip(x) {
                assert_close(*a, *b, &format!("image {sample}, stream {i}"));
            }
        }
        for (a, b) in stack.logits(batch).iter().zip(&logits) {
            assert_close(*a, *b, &format!("image {sample}, logits"));
        }
        // The last block: each class logit.
        let last = rebuilt(&results(n - 1), &xs[n - 1]);
        for (o, &logit) in logits.iter().enumerate() {
            let linear = if deep.residual {
                deep.head.row(o).dot(&xs[n - 1])
            } else {
                0.0
            };
            assert_close(
                last[o] + linear,
                logit,
                &format!("image {sample}, class {o}"),
            );
        }
        // Every earlier block: each chained direction v of the stream it writes.
        for i in 0..n - 1 {
            let directions = ResultsFile::open(&results(i))
                .unwrap()
                .outputs::<f64>()
                .unwrap();
            let y = rebuilt(&results(i), &xs[i]);
            for (o, v) in directions.rows().into_iter().enumerate() {
                let linear = if deep.residual { v.dot(&xs[i]) } else { 0.0 };
                assert_close(
                    y[o] + linear,
                    v.dot(&xs[i + 1]),
                    &format!("image {sample}, block {i}, direction {o}"),
                );
            }
        }
    }
}

#[test]
fn residual_chains_rebuild_every_block_exactly() {
    check_chain(&Deep::random(1, 9, &[5, 5, 5, 5], 3, true, false));
    check_chain(&Deep::random(2, 7, &[4, 4, 4], 3, true, true));
}

#[test]
fn plain_chains_of_changing_width_rebuild_every_block_exactly() {
    check_chain(&Deep::random(3, 8, &[5, 4, 6, 3], 2, false, false));
    check_chain(&Deep::random(4, 6, &[3, 5, 4], 4, false, true));
}

/// The top inputs of a block's components are the test images with the largest `(vᵀx_i)²`,
/// with `x_i` computed here by loops: every reported activation is `λ (vᵀx_i)²` of that
/// image, and no image of the split projects further.
#[test]
fn top_inputs_are_the_images_a_component_projects_most() {
    let deep = Deep::random(5, 784, &[6, 6, 6], 10, true, true);
    let dir = tempfile::tempdir().unwrap();
    let model = deep.save(dir.path());
    let results = dir.path().join("block-1");
    decompose(&model, 1, "classes rows 0..2", &results);
    let data = bilens::shipped::mnist().unwrap();
    let out = dir.path().join("top");
    let options = TopInputsOptions {
        components: 2,
        images: 3,
        model: None,
        key: None,
    };
    let done = top_inputs(&results, &data, &options, &out, &Silent).unwrap();
    let report = &done.report;
    assert_eq!((report.block, report.searched), (1, 10_000));
    // Two outputs, up to two components of each sign each.
    assert!(
        report.components.len() >= 4,
        "{:?}",
        report.components.len()
    );
    let set = bilens_io::load_image_dataset(&data).unwrap().test;
    let pixels = set.pixels::<f64>();
    let streams: Vec<Array1<f64>> = pixels
        .rows()
        .into_iter()
        .map(|p| deep.streams(p).swap_remove(1))
        .collect();
    let r = ResultsFile::open(&results).unwrap();
    let vectors = r.eigenvectors::<f64>(0..2).unwrap().unwrap();
    for c in &report.components {
        let o: usize = c.output.parse().unwrap();
        let v = vectors.slice(ndarray::s![o, c.component, ..]);
        let best = streams
            .iter()
            .map(|x| v.dot(x).abs())
            .fold(0.0f64, f64::max);
        assert_close(c.images[0].projection.abs(), best, "the top image");
        for t in &c.images {
            let p = v.dot(&streams[t.image]);
            assert_close(t.projection, p, "a projection");
            assert_close(t.activation, c.eigenvalue * p * p, "an activation");
            assert_eq!(t.label, set.labels[t.image]);
        }
        assert!(
            c.images
                .windows(2)
                .all(|w| w[0].projection.abs() >= w[1].projection.abs())
        );
    }
    let csv = std::fs::read_to_string(out.join("top_inputs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * report.components.len());
    // Block 1 reads the hidden stream: the grid shows images only, one figure per output.
    assert!(out.join("top_inputs_0.png").is_file() && out.join("top_inputs_1.png").is_file());
}

/// Eigenvalues and eigenvectors (columns) of a small symmetric matrix by cyclic Jacobi
/// rotations: an eigensolver that shares nothing with the library's.
fn jacobi(a: &Array2<f64>) -> (Vec<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut a = a.clone();
    let mut v = Array2::<f64>::eye(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[[i, j]].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[[p, q]].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * a[[p, q]]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (akp, akq) = (a[[k, p]], a[[k, q]]);
                    a[[k, p]] = c * akp - s * akq;
                    a[[k, q]] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[[p, k]], a[[q, k]]);
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[[i, i]]).collect(), v)
}

impl Deep {
    /// The logits when the stream `x` enters block `from` (the last stream for `from = L`).
    fn logits_from(&self, mut x: Array1<f64>, from: usize) -> Array1<f64> {
        for block in &self.blocks[from..] {
            let mut next = Array1::zeros(block.w.nrows());
            for h in 0..block.w.nrows() {
                let (mut l, mut r) = (0.0, 0.0);
                for c in 0..x.len() {
                    l += block.w[[h, c]] * x[c];
                    r += block.v[[h, c]] * x[c];
                }
                if let Some((b, c)) = &block.bias {
                    l += b[h];
                    r += c[h];
                }
                next[h] = l * r + if self.residual { x[h] } else { 0.0 };
            }
            x = next;
        }
        Array1::from_shape_fn(self.head.nrows(), |o| {
            (0..x.len()).map(|h| self.head[[o, h]] * x[h]).sum()
        })
    }

    /// `sym(Σ_h u_h W_h V_hᵀ)` of block `i`, by loops.
    fn interaction(&self, i: usize, u: ArrayView1<'_, f64>) -> Array2<f64> {
        let b = &self.blocks[i];
        let d = b.w.ncols();
        Array2::from_shape_fn((d, d), |(a, c)| {
            (0..b.w.nrows())
                .map(|h| u[h] * (b.w[[h, a]] * b.v[[h, c]] + b.w[[h, c]] * b.v[[h, a]]) / 2.0)
                .sum()
        })
    }

    /// The output vectors of block `i`'s HOSVD (rows, by decreasing singular value): the
    /// eigenvectors of `G = B_flat B_flatᵀ`, with the symmetrised tensor materialised.
    fn hosvd_vectors(&self, i: usize) -> Array2<f64> {
        let b = &self.blocks[i];
        let (h, d) = b.w.dim();
        let tensor: Vec<Array2<f64>> = (0..h)
            .map(|o| {
                let mut e = Array1::zeros(h);
                e[o] = 1.0;
                self.interaction(i, e.view())
            })
            .collect();
        let g = Array2::from_shape_fn((h, h), |(p, q)| {
            (0..d * d)
                .map(|f| tensor[p][[f / d, f % d]] * tensor[q][[f / d, f % d]])
                .sum()
        });
        let (values, vectors) = jacobi(&g);
        let mut order: Vec<usize> = (0..h).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        Array2::from_shape_fn((h, h), |(s, c)| vectors[[c, order[s]]])
    }

    /// The logits of pixels `p` with block `i`'s quadratic part kept only along its top `r`
    /// HOSVD components `u` (rows), each whole or by its top `k` eigenvectors by `|λ|`; the
    /// bias terms and the residual kept whole. All by loops.
    fn truncated_logits(
        &self,
        p: ArrayView1<'_, f64>,
        i: usize,
        u: &Array2<f64>,
        r: usize,
        k: Option<usize>,
    ) -> Array1<f64> {
        let x = self.streams(p).swap_remove(i);
        let b = &self.blocks[i];
        let h = b.w.nrows();
        let (mut quad, mut full) = (Array1::zeros(h), Array1::zeros(h));
        for o in 0..h {
            let l: f64 = (0..x.len()).map(|c| b.w[[o, c]] * x[c]).sum();
            let m: f64 = (0..x.len()).map(|c| b.v[[o, c]] * x[c]).sum();
            quad[o] = l * m;
            full[o] = match &b.bias {
                Some((bw, bv)) => (l + bw[o]) * (m + bv[o]),
                None => l * m,
            };
        }
        let mut g = &full - &quad;
        for s in 0..r {
            let us = u.row(s);
            let coefficient = match k {
                None => us.dot(&quad),
                Some(k) => {
                    let (values, vectors) = jacobi(&self.interaction(i, us));
                    let mut order: Vec<usize> = (0..values.len()).collect();
                    order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()));
                    order[..k]
                        .iter()
                        .map(|&j| values[j] * vectors.column(j).dot(&x).powi(2))
                        .sum()
                }
            };
            g.scaled_add(coefficient, &us);
        }
        if self.residual {
            g += &x;
        }
        self.logits_from(g, i + 1)
    }
}

/// Random pixels and labels: an image set of `rows x cols` images.
fn random_images(
    seed: u64,
    n: usize,
    rows: usize,
    cols: usize,
    classes: u8,
) -> bilens_io::ImageSet {
    let mut r = Lcg(seed);
    bilens_io::ImageSet {
        images: Array2::from_shape_fn((n, rows * cols), |_| (128.0 + 127.0 * r.next()) as u8),
        labels: Array1::from_shape_fn(n, |_| {
            ((r.next() + 1.0) / 2.0 * f64::from(classes)) as u8 % classes
        }),
        rows,
        cols,
    }
}

/// The bottleneck of `deep` against the loops: every block, several numbers of components,
/// whole components and top-2 eigenvectors; at every component the model itself.
fn check_bottleneck(deep: &Deep) {
    let dir = tempfile::tempdir().unwrap();
    let model = deep.save(dir.path());
    let stack = ImageStack::<f64>::open(
        &Checkpoint::open(
            &model,
            &LayoutSpec::Image {
                residual: None,
                layer: None,
            },
        )
        .unwrap(),
    )
    .unwrap();
    let set = random_images(7, 40, 3, 4, deep.head.nrows() as u8);
    let pixels = set.pixels::<f64>();
    let model_logits = stack.logits(pixels.view());
    for i in 0..deep.blocks.len() {
        let width = deep.blocks[i].w.nrows();
        let u = deep.hosvd_vectors(i);
        for k in [None, Some(2)] {
            let truncated = bilens::eval::TruncatedBlock::new(&stack, i, pixels.view(), k).unwrap();
            assert_eq!(truncated.width(), width);
            for r in [0, 1, 3, width] {
                let logits = truncated.logits(r);
                for (n, p) in pixels.rows().into_iter().enumerate() {
                    let expected = deep.truncated_logits(p, i, &u, r, k);
                    for (c, &e) in expected.iter().enumerate() {
                        assert_close(
                            logits[[n, c]],
                            e,
                            &format!("block {i}, S = {r}, k = {k:?}, image {n}, class {c}"),
                        );
                    }
                }
            }
        }
        // Every component, whole: the model, image by image.
        let all = bilens::eval::TruncatedBlock::new(&stack, i, pixels.view(), None)
            .unwrap()
            .logits(width);
        for (a, m) in all.iter().zip(model_logits.iter()) {
            assert_close(*a, *m, &format!("block {i} at every component"));
        }
    }
    let report = bilens::eval::bottleneck::compute(
        &stack,
        &set,
        &bilens::eval::BottleneckOptions::default(),
        &Silent,
    )
    .unwrap();
    assert_eq!(report.blocks.len(), deep.blocks.len());
    for block in &report.blocks {
        assert_eq!(*block.ranks.last().unwrap(), block.width);
        assert_eq!(
            *block.same_as_model.last().unwrap(),
            set.len(),
            "block {}",
            block.block
        );
        assert_eq!(*block.correct.last().unwrap(), report.model_correct);
        assert!((block.norm_kept.last().unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(block.norm_kept[0], 0.0);
    }
}

#[test]
fn bottleneck_of_residual_models_matches_loops_and_is_the_model_at_every_component() {
    check_bottleneck(&Deep::random(31, 12, &[6, 6, 6, 6], 4, true, false));
    check_bottleneck(&Deep::random(32, 12, &[5, 5, 5], 3, true, true));
}

#[test]
fn bottleneck_of_plain_models_of_changing_width_matches_loops() {
    check_bottleneck(&Deep::random(33, 12, &[5, 7, 4], 3, false, true));
    check_bottleneck(&Deep::random(34, 12, &[6, 6], 4, false, false));
}
