//! Consistency across seeds and sizes: do models trained differently find the same
//! eigenvectors?

use std::path::Path;

use bilens::Progress;
use bilens::eval::{ClassComponents, Consistency, ImageModel, consistency, num, write_csv};

use crate::Result;
use crate::budget::Budget;

/// A width and its mean matched `|cos|` per rank.
pub(crate) type WidthCurve = (usize, Vec<f64>);

/// A width and the comparison of its seeds.
pub(crate) type WidthConsistency = (usize, Consistency);

/// Mean matched `|cos|` per rank for each width across seeds, and each width against the
/// widest model (same seed).
pub(crate) fn consistency_study(
    by_width: &[(usize, Vec<ImageModel>)],
    budget: &Budget,
    figures: &Path,
    results: &Path,
    progress: &dyn Progress,
) -> Result<(Vec<WidthConsistency>, Vec<WidthCurve>)> {
    progress.note("comparing eigenvectors across seeds and sizes");
    let comps: Vec<Vec<ClassComponents>> = by_width
        .iter()
        .map(|(_, ms)| ms.iter().map(|m| ClassComponents::of(&m.model)).collect())
        .collect::<bilens::Result<_>>()?;
    let mut per_width = Vec::new();
    for ((w, models), cs) in by_width.iter().zip(&comps) {
        let refs: Vec<(&ImageModel, &ClassComponents)> = models.iter().zip(cs).collect();
        let labels: Vec<String> = models
            .iter()
            .map(|m| m.path.display().to_string())
            .collect();
        let pairs: Vec<(usize, usize)> = (0..models.len())
            .flat_map(|a| (a + 1..models.len()).map(move |b| (a, b)))
            .collect();
        let c = consistency::compute(&refs, &labels, &pairs, budget.top, true)?;
        consistency::write(
            &c,
            &results.join(format!("consistency/width-{w}")),
            &format!("Consistency across seeds, width {w}"),
        )?;
        per_width.push((*w, c));
    }
    // Across sizes: every width against the widest, seed by seed.
    let (widest, widest_comps) = (by_width.len() - 1, comps.len() - 1);
    let mut cross = Vec::new();
    for (i, ((w, models), cs)) in by_width.iter().zip(&comps).enumerate() {
        if i == widest {
            continue;
        }
        let mut refs: Vec<(&ImageModel, &ClassComponents)> = models.iter().zip(cs).collect();
        let n = refs.len();
        refs.extend(by_width[widest].1.iter().zip(&comps[widest_comps]));
        let labels: Vec<String> = refs
            .iter()
            .map(|(m, _)| m.path.display().to_string())
            .collect();
        let pairs: Vec<(usize, usize)> = (0..n).map(|s| (s, n + s)).collect();
        let c = consistency::compute(&refs, &labels, &pairs, budget.top, true)?;
        cross.push((*w, Consistency::mean_by_rank(&c.matched)));
    }
    let curves: Vec<(String, Vec<f64>)> = per_width
        .iter()
        .map(|(w, c)| (format!("width {w}"), Consistency::mean_by_rank(&c.matched)))
        .collect();
    consistency::draw(
        &curves,
        &figures.join("consistency_seeds"),
        "Same eigenvectors across seeds (matched |cos|, pixel space)",
    )?;
    let widest_w = by_width[widest].0;
    let cross_curves: Vec<(String, Vec<f64>)> = cross
        .iter()
        .map(|(w, v)| (format!("width {w} vs {widest_w}"), v.clone()))
        .collect();
    if !cross_curves.is_empty() {
        consistency::draw(
            &cross_curves,
            &figures.join("consistency_sizes"),
            &format!("Same eigenvectors across sizes (each width vs width {widest_w})"),
        )?;
    }
    let header: Vec<String> = ["width", "comparison", "rank", "mean_matched_abs_cos"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = Vec::new();
    for (w, v) in &curves {
        for (r, x) in v.iter().enumerate() {
            rows.push(vec![
                w.replace("width ", ""),
                "seeds".into(),
                (r + 1).to_string(),
                num(*x),
            ]);
        }
    }
    for (w, v) in &cross {
        for (r, x) in v.iter().enumerate() {
            rows.push(vec![
                w.to_string(),
                format!("vs width {widest_w}"),
                (r + 1).to_string(),
                num(*x),
            ]);
        }
    }
    write_csv(&results.join("consistency.csv"), &header, &rows)?;
    Ok((per_width, cross))
}
