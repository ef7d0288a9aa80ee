//! Draws every figure from synthetic, stroke-like data, for looking at the layout.
//!
//! `cargo run -p bilens-plot --example gallery -- <output dir>` (default `target/gallery`).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example program: it lists the figures it wrote"
)]

use std::path::PathBuf;

use bilens_decomp::Sign;
use bilens_plot::{
    Colormap, GridParams, HeatmapParams, HeatmapScale, LineChart, OverviewParams, Reference,
    Series, SingularValueParams, SpectrumParams, YScale, eigenvector_grid, heatmap, line_chart,
    overview, singular_values, spectrum,
};
use ndarray::{Array1, Array2, Array3};

/// A soft pen stroke from `a` to `b` (row, col) on a 28 × 28 canvas.
fn stroke(a: (f64, f64), b: (f64, f64), width: f64) -> Array1<f64> {
    Array1::from_shape_fn(784, |i| {
        let p = ((i / 28) as f64, (i % 28) as f64);
        let d = (b.0 - a.0, b.1 - a.1);
        let t = (((p.0 - a.0) * d.0 + (p.1 - a.1) * d.1) / (d.0 * d.0 + d.1 * d.1)).clamp(0.0, 1.0);
        let q = (a.0 + t * d.0 - p.0, a.1 + t * d.1 - p.1);
        (-(q.0 * q.0 + q.1 * q.1) / (2.0 * width * width)).exp()
    })
}

fn unit(v: Array1<f64>) -> Array1<f64> {
    let n = v.dot(&v).sqrt();
    v / n
}

/// Eight components for "class" `c`: strokes rotated with the class, alternating signs.
fn components(c: usize) -> (Array1<f64>, Array2<f64>) {
    let k = 8;
    let mut vectors = Array2::zeros((k, 784));
    let mut values = Array1::zeros(k);
    for j in 0..k {
        let angle = (c as f64 * 0.6) + j as f64 * 0.7;
        let (s, co) = angle.sin_cos();
        let centre = (14.0 + 3.0 * (j as f64).sin(), 14.0 + 3.0 * (j as f64).cos());
        let a = (centre.0 - 8.0 * s, centre.1 - 8.0 * co);
        let b = (centre.0 + 8.0 * s, centre.1 + 8.0 * co);
        let off = (4.0 * co, -4.0 * s);
        let pos = stroke(a, b, 1.6);
        let neg = stroke((a.0 + off.0, a.1 + off.1), (b.0 + off.0, b.1 + off.1), 2.2);
        let v = unit(&pos - &(neg * (0.6 + 0.05 * j as f64)));
        vectors.row_mut(j).assign(&v);
        let magnitude = 3.21 / (1.0 + 0.45 * j as f64);
        values[j] = if j % 2 == 0 {
            magnitude
        } else {
            -0.9 * magnitude
        };
    }
    (values, vectors)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/gallery"));

    let (values, vectors) = components(3);
    let saved = eigenvector_grid(
        &dir.join("class3_eigenvectors"),
        "class 3: top eigenvectors",
        values.view(),
        vectors.view(),
        &GridParams {
            n_positive: 4,
            n_negative: 4,
            ..GridParams::default()
        },
    )?;
    println!("{}", saved.png.display());

    let n_out = 10;
    let mut all_values = Array2::zeros((n_out, 8));
    let mut all_vectors = Array3::zeros((n_out, 8, 784));
    for c in 0..n_out {
        let (v, w) = components(c);
        all_values.row_mut(c).assign(&v);
        all_vectors.index_axis_mut(ndarray::Axis(0), c).assign(&w);
    }
    let labels: Vec<String> = (0..n_out).map(|c| c.to_string()).collect();
    let saved = overview(
        &dir.join("overview"),
        "top positive eigenvector per class",
        &labels,
        all_values.view(),
        all_vectors.view(),
        &OverviewParams::default(),
    )?;
    println!("{}", saved.png.display());

    // The negative side, where one class has no negative component, wrapped in two rows.
    let mut only_positive = all_values.clone();
    only_positive.row_mut(5).mapv_inplace(f64::abs);
    let saved = overview(
        &dir.join("overview_negative"),
        "top negative eigenvector per class (class 5 has none)",
        &labels,
        only_positive.view(),
        all_vectors.view(),
        &OverviewParams {
            sign: Sign::Negative,
            max_columns: 5,
            ..Default::default()
        },
    )?;
    println!("{}", saved.png.display());

    // A spectrum with a long tail of both signs.
    let lambdas = Array1::from_shape_fn(200, |i| {
        let m = 4.0 * (-(i as f64) / 12.0).exp() + 0.02;
        if i % 3 == 1 { -0.8 * m } else { m }
    });
    let saved = spectrum(
        &dir.join("class3_spectrum"),
        "class 3: eigenvalue spectrum",
        lambdas.view(),
        &SpectrumParams::default(),
    )?;
    println!("{}", saved.png.display());

    let sigma = Array1::from_shape_fn(10, |i| 12.0 * 0.55f64.powi(i as i32));
    let saved = singular_values(
        &dir.join("hosvd_singular_values"),
        "HOSVD singular values",
        sigma.view(),
        &SingularValueParams {
            y_scale: YScale::Log,
            ..Default::default()
        },
    )?;
    println!("{}", saved.png.display());

    // Truncation curves: accuracy against the number of components kept.
    let k = Array1::from_iter((0..=20).map(f64::from));
    let top = k.mapv(|k| 0.98 - 0.88 * (-k / 2.5).exp());
    let pos = k.mapv(|k| 0.93 - 0.83 * (-k / 4.0).exp());
    let rand = k.mapv(|k| 0.6 - 0.5 * (-k / 9.0).exp());
    let series = [
        Series {
            name: "top |λ|",
            x: k.view(),
            y: top.view(),
        },
        Series {
            name: "top positive",
            x: k.view(),
            y: pos.view(),
        },
        Series {
            name: "random",
            x: k.view(),
            y: rand.view(),
        },
    ];
    let mut chart = LineChart::new(
        "truncation: accuracy vs components kept",
        "components kept per class (k)",
        "test accuracy",
        &series,
    );
    chart.reference = Some(Reference {
        name: "full model",
        y: 0.981,
    });
    chart.y_range = Some((0.0, 1.0));
    let saved = line_chart(&dir.join("truncation"), &chart)?;
    println!("{}", saved.png.display());

    // Cosine similarity between the classes' top eigenvectors.
    let tops: Array2<f64> = Array2::from_shape_fn((n_out, 784), |(c, i)| all_vectors[[c, 0, i]]);
    let sim = tops.dot(&tops.t());
    let saved = heatmap(
        &dir.join("similarity"),
        "similarity of top eigenvectors",
        sim.view(),
        &HeatmapParams {
            x_label: "class".into(),
            y_label: "class".into(),
            row_labels: labels.clone(),
            col_labels: labels.clone(),
            colorbar_label: "cosine similarity".into(),
            ..Default::default()
        },
    )?;
    println!("{}", saved.png.display());

    // A large sequential heatmap: |Q| of a synthetic interaction matrix, 784 x 784.
    let v0 = all_vectors.slice(ndarray::s![3, 0, ..]).to_owned();
    let v1 = all_vectors.slice(ndarray::s![3, 1, ..]).to_owned();
    let q = Array2::from_shape_fn((784, 784), |(i, j)| {
        (3.2 * v0[i] * v0[j] - 2.0 * v1[i] * v1[j]).abs()
    });
    let saved = heatmap(
        &dir.join("interaction_abs"),
        "|Q| for class 3",
        q.view(),
        &HeatmapParams {
            scale: HeatmapScale::Fit(Colormap::Sequential),
            x_label: "input pixel j".into(),
            y_label: "input pixel i".into(),
            colorbar_label: "|Q_ij|".into(),
            max_plot_px: 560,
            ..Default::default()
        },
    )?;
    println!("{}", saved.png.display());
    Ok(())
}
