//! The adversarial evaluation's files: `adversarial.{csv,json}`, the curves and the masks.

use std::path::{Path, PathBuf};

use bilens_io::ImageSet;
use bilens_plot::{ImageParams, LineChart, Picture, PictureRow, Series, gallery, line_chart};
use ndarray::{Array1, Axis};
use serde_json::json;

use super::Adversarial;
use crate::error::Result;
use crate::eval::files::{ensure_dir, num, write_csv, write_json};
use crate::eval::image::{image_shape, pixels};

/// Writes `adversarial.csv`, `adversarial.json`, the curves `adversarial.{png,svg}` and the
/// masks `adversarial_masks.{png,svg}` into `out`; returns the paths (CSV, JSON, PNGs).
pub fn write(a: &Adversarial, set: &ImageSet, out: &Path, title: &str) -> Result<Vec<PathBuf>> {
    ensure_dir(out)?;
    let header: Vec<String> = [
        "target",
        "strength",
        "mask_accuracy",
        "mask_target_rate",
        "random_accuracy",
        "random_target_rate",
        "images",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rows = Vec::new();
    for c in &a.curves {
        for (i, &s) in a.params.strengths.iter().enumerate() {
            rows.push(vec![
                c.target.to_string(),
                num(s),
                num(c.mask_accuracy[i]),
                num(c.mask_target[i]),
                num(c.random_accuracy[i]),
                num(c.random_target[i]),
                c.n.to_string(),
            ]);
        }
    }
    let (mt, rt, ma, ra) = (
        a.mean(|c| &c.mask_target),
        a.mean(|c| &c.random_target),
        a.mean(|c| &c.mask_accuracy),
        a.mean(|c| &c.random_accuracy),
    );
    for (i, &s) in a.params.strengths.iter().enumerate() {
        rows.push(vec![
            "mean".into(),
            num(s),
            num(ma[i]),
            num(mt[i]),
            num(ra[i]),
            num(rt[i]),
            String::new(),
        ]);
    }
    let csv = out.join("adversarial.csv");
    write_csv(&csv, &header, &rows)?;
    let json_path = out.join("adversarial.json");
    write_json(
        &json_path,
        &json!({
            "clean_accuracy": a.clean_accuracy,
            "components": a.params.components,
            "mask": a.params.mask,
            "baselines": a.params.baselines,
            "seed": a.params.seed,
            "strength": "L2 norm of the added mask, pixels in [0, 1], no clipping",
            "strengths": a.params.strengths,
            "mean": {
                "mask_accuracy": ma,
                "mask_target_rate": mt,
                "random_accuracy": ra,
                "random_target_rate": rt,
            },
            "strength_half_to_target": {
                "mask": a.strength_reaching(&mt, 0.5),
                "random": a.strength_reaching(&rt, 0.5),
            },
            "targets": a.curves.iter().map(|c| json!({
                "target": c.target,
                "components": c.components,
                "projection_per_unit_norm": c.projection_per_unit,
                "images": c.n,
                "strength_half_to_target": a.strength_reaching(&c.mask_target, 0.5),
            })).collect::<Vec<_>>(),
            "bilens_version": env!("CARGO_PKG_VERSION"),
        }),
    )?;

    let x: Array1<f64> = a.params.strengths.iter().copied().collect();
    let pct = |v: &[f64]| v.iter().map(|r| 100.0 * r).collect::<Array1<f64>>();
    let ys = [pct(&ma), pct(&ra), pct(&mt), pct(&rt)];
    let names = [
        "accuracy, mask",
        "accuracy, permuted mask",
        "predicted target, mask",
        "predicted target, permuted mask",
    ];
    let series: Vec<Series<'_, f64>> = ys
        .iter()
        .zip(names)
        .map(|(y, name)| Series {
            name,
            x: x.view(),
            y: y.view(),
        })
        .collect();
    let mut chart = LineChart::new(
        title,
        "mask strength (L2 norm added, pixels in [0, 1])",
        "% of test images of other classes",
        &series,
    );
    chart.y_range = Some((0.0, 100.0));
    chart.legend = bilens_plot::LegendPosition::UpperRight;
    let curve_png = line_chart(&out.join("adversarial"), &chart)?.png;

    // The masks, and one image of another class pushed toward each target.
    let s_show = a.example_strength;
    let x_test = pixels(set);
    let examples: Vec<Array1<f64>> = a
        .curves
        .iter()
        .map(|c| &x_test.index_axis(Axis(0), c.example.0) + &(&c.mask * s_show))
        .collect();
    let mask_row = PictureRow {
        label: "mask".into(),
        pictures: a
            .curves
            .iter()
            .map(|c| Picture {
                vector: c.mask.view(),
                title: format!("target {}", c.target),
                subtitle: Some(format!("top-{} pinv row {}", c.components, a.params.mask)),
            })
            .collect(),
    };
    let example_row = PictureRow {
        label: format!("image + {s_show:.1} mask"),
        pictures: a
            .curves
            .iter()
            .zip(&examples)
            .map(|(c, img)| Picture {
                vector: img.view(),
                title: format!("a {} + mask {}", c.example.1, c.target),
                subtitle: Some(format!("predicted {}", c.example.2)),
            })
            .collect(),
    };
    let params = ImageParams {
        shape: image_shape(set),
        ..ImageParams::default()
    };
    let masks_png = gallery(
        &out.join("adversarial_masks"),
        &format!("{title}: the masks and an image of another class with one added"),
        &[mask_row, example_row],
        &params,
    )?
    .png;
    Ok(vec![csv, json_path, curve_png, masks_png])
}
