//! From an opened results directory to the site's records: the index rows, each output's page
//! and the site's description, written chunk by chunk so that memory holds one chunk of
//! eigenvectors at a time.

use std::ops::Range;

use bilens_decomp::Real;
use bilens_io::{OutputSummary, ResultsFile, names};
use ndarray::{Array1, Array2, Array3, ArrayView1, Axis, Ix1, Ix2};
use rayon::prelude::*;
use serde::Serialize;

use crate::components::{Pixels, Spectrum, top_entries};
use crate::error::{ExploreError, Result};
use crate::evaluations::Evaluations;
use crate::format::{
    ApproxOutput, Chunks, Column, ComponentRecord, ComponentTokenLists, ComponentsInfo,
    CrossRecord, EndTokens, HosvdOutput, IndexChunk, IndexRow, Neighbour, OutputChunk, OutputPage,
    SITE_FORMAT_VERSION, SelfRecord, SiteDescription, TokenRecord,
};
use crate::neighbours::nearest;
use crate::site::{FORMAT, SITE_KEY, SiteDir};
use crate::source::{ComponentView, Space};
use crate::{ExploreOptions, Progress};

/// Index rows per index data file.
pub(crate) const INDEX_CHUNK: usize = 1024;
/// Eigenvalues the index lists per output.
const INDEX_TOP: usize = 4;
/// The size an output data file aims at.
const OUTPUT_CHUNK_BYTES: usize = 256 << 10;
/// Outputs per output data file at most.
const OUTPUT_CHUNK_MAX: usize = 256;
/// Outputs whose pages are measured to choose the size of the output data files.
const SAMPLE_OUTPUTS: usize = 16;
/// Eigenvectors read at once at most (one chunk's slab).
const SLAB_BYTES: usize = 64 << 20;
/// Output vectors of HOSVD components up to this length are listed whole.
const WHOLE_OUTPUT_VECTOR: usize = 64;
/// Entries listed of a longer output vector, or of a component's coefficients.
const LISTED_ENTRIES: usize = 32;

/// What the build reads once, for every output.
struct Whole<T> {
    eigenvalues: Array2<T>,
    neighbours: Vec<Vec<(usize, T)>>,
    singular_values: Option<Array1<T>>,
    output_vectors: Option<Array2<T>>,
    coefficients: Option<Array2<T>>,
}

/// Writes every data file of the site for `results` into `site`; returns the number of
/// outputs.
pub(crate) fn write_site<T: Real + Serialize>(
    results: &ResultsFile,
    site: &mut SiteDir,
    options: &ExploreOptions,
    (view, space): (ComponentView, Space),
    evaluations: &Evaluations,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let shape = results.shape();
    let n = shape.n_out;
    let summaries = &results.summary().outputs;
    let read = |e| ExploreError::Results(e);
    progress(Progress::Neighbours { outputs: n });
    let outputs = results.outputs::<T>().map_err(read)?;
    let whole = Whole {
        eigenvalues: results.eigenvalues::<T>().map_err(read)?,
        neighbours: nearest(outputs.view(), options.neighbours),
        singular_values: global::<T, Ix1>(results, names::SINGULAR_VALUES)?,
        output_vectors: global::<T, Ix2>(results, names::OUTPUT_VECTORS)?,
        coefficients: global::<T, Ix2>(results, names::OUTPUT_COEFFICIENTS)?,
    };
    drop(outputs);

    let index = Chunks::new("index/chunk-", INDEX_CHUNK, n);
    for i in 0..index.count {
        let range = i * index.size..((i + 1) * index.size).min(n);
        let rows = range
            .clone()
            .map(|o| index_row(&summaries[o], whole.eigenvalues.row(o), &whole, evaluations))
            .collect();
        site.write_data(
            &index.key(i),
            &IndexChunk {
                first: range.start,
                rows,
            },
        )?;
    }

    let page_builder = PageBuilder {
        results,
        options,
        view,
        evaluations,
        whole: &whole,
    };
    let pages = Chunks::new("outputs/chunk-", output_chunk_size(&page_builder)?, n);
    progress(Progress::Outputs { done: 0, total: n });
    for i in 0..pages.count {
        let range = i * pages.size..((i + 1) * pages.size).min(n);
        let chunk = page_builder.chunk(range.clone())?;
        site.write_data(&pages.key(i), &chunk)?;
        progress(Progress::Outputs {
            done: range.end,
            total: n,
        });
    }

    let title = options
        .title
        .clone()
        .unwrap_or_else(|| default_title(results));
    let description = SiteDescription {
        format: FORMAT,
        format_version: SITE_FORMAT_VERSION,
        generator: concat!("bilens-explore ", env!("CARGO_PKG_VERSION")).to_string(),
        title,
        results: results.dir().display().to_string(),
        metadata: &results.summary().metadata,
        shape,
        noun: noun(results).0,
        plural: noun(results).1,
        n_outputs: n,
        columns: columns(results, evaluations),
        index,
        outputs: pages,
        components: ComponentsInfo {
            view: match view {
                ComponentView::Image(_) => "image",
                ComponentView::Entries => "entries",
                ComponentView::SpectraOnly => "none",
            },
            image: match view {
                ComponentView::Image(s) => Some(s),
                _ => None,
            },
            space,
            per_sign: options.components_per_sign,
        },
        neighbours: options.neighbours,
        hosvd: results.summary().hosvd.as_ref(),
        approx: evaluations.approx.as_ref().map(|a| &a.summary),
        truncation: evaluations.truncation.as_ref().map(|t| &t.summary),
    };
    progress(Progress::Finishing);
    site.write_data(SITE_KEY, &description)
}

/// A global tensor of the results, if present, with the dimensionality its name implies.
fn global<T: Real, D: ndarray::Dimension>(
    results: &ResultsFile,
    name: &str,
) -> Result<Option<ndarray::Array<T, D>>> {
    let Some(a) = results.tensor::<T>(name).map_err(ExploreError::Results)? else {
        return Ok(None);
    };
    a.into_dimensionality::<D>().map(Some).map_err(|_| {
        ExploreError::Results(bilens_io::IoError::Results {
            path: results.dir().join(bilens_io::DECOMPOSITION_FILE),
            reason: format!("tensor '{name}' has an unexpected number of dimensions"),
        })
    })
}

/// What an output is called, as `bilens plot` names it, and its plural.
fn noun(results: &ResultsFile) -> (&'static str, &'static str) {
    match results.meta().meta.outputs.as_ref().map(|o| o.noun()) {
        Some("class") => ("class", "classes"),
        Some("component") => ("component", "components"),
        Some("token") => ("token", "tokens"),
        _ => ("output", "outputs"),
    }
}

/// The model file's name and what was decomposed.
fn default_title(results: &ResultsFile) -> String {
    let meta = &results.meta().meta;
    let model = std::path::Path::new(&meta.model)
        .file_name()
        .map_or(meta.model.clone(), |f| f.to_string_lossy().into_owned());
    let layer = meta.layer.map_or(String::new(), |l| format!(", layer {l}"));
    format!(
        "{model}{layer}: {} {}",
        results.shape().n_out,
        noun(results).1
    )
}

/// The index's columns for these results.
fn columns(results: &ResultsFile, evaluations: &Evaluations) -> Vec<Column> {
    let column = |key, title, kind, description: &str| Column {
        key,
        title,
        kind,
        description: description.to_string(),
    };
    let order = results.meta().meta.order.name();
    let mut c = vec![
        column("index", "#", "integer", "the output's row in every tensor"),
        column("label", "label", "text", "the output's label"),
        column(
            "top",
            "top eigenvalues",
            "values",
            &format!("the first {INDEX_TOP} kept eigenvalues (order: {order})"),
        ),
        column(
            "lambda_max",
            "λ max",
            "number",
            "the largest kept eigenvalue",
        ),
        column(
            "lambda_min",
            "λ min",
            "number",
            "the smallest kept eigenvalue",
        ),
        column(
            "effective_rank",
            "effective rank",
            "number",
            "(‖λ‖₁/‖λ‖₂)² of the whole spectrum (blank when only the top k were computed)",
        ),
        column(
            "fraction_kept",
            "‖Q‖² kept",
            "number",
            "fraction of ‖Q‖_F² held by the kept components",
        ),
        column(
            "frobenius_sq",
            "‖Q‖²",
            "number",
            "‖Q‖_F², the squared Frobenius norm",
        ),
    ];
    if results.summary().hosvd.is_some() {
        c.push(column(
            "singular_value",
            "σ",
            "number",
            "the component's HOSVD singular value",
        ));
    }
    if evaluations.approx.is_some() {
        c.push(column(
            "approx_r2",
            "r (K = 2)",
            "number",
            "correlation of the first 2 components' activation with the true activation, \
             over the inputs where the output is active",
        ));
    }
    if let Some(t) = &evaluations.truncation
        && t.classes.is_some()
    {
        let rule = t
            .index_rule()
            .map_or("abs", |r| t.summary.rules[r].rule.as_str());
        c.push(column(
            "truncation_k",
            "k to recover",
            "integer",
            &format!(
                "smallest k ({rule} rule) from which the accuracy on this class's test \
                 images stays within one point of its accuracy with every component"
            ),
        ));
    }
    if results
        .summary()
        .outputs
        .iter()
        .any(|o| o.component_tokens.is_some())
    {
        c.push(column(
            "tokens",
            "tokens of component 1",
            "tokens",
            "the tokens whose embeddings project most and least on the first component",
        ));
    }
    c
}

/// One output's index row.
fn index_row<T: Real>(
    s: &OutputSummary,
    eigenvalues: ArrayView1<'_, T>,
    whole: &Whole<T>,
    evaluations: &Evaluations,
) -> IndexRow {
    let o = s.index;
    let finite = || {
        eigenvalues
            .iter()
            .map(|x| x.as_f64())
            .filter(|x| x.is_finite())
    };
    IndexRow {
        index: o,
        label: s.label.clone(),
        top: s.top_eigenvalues.iter().take(INDEX_TOP).copied().collect(),
        lambda_max: finite().reduce(f64::max),
        lambda_min: finite().reduce(f64::min),
        effective_rank: s.effective_rank,
        fraction_kept: s.fraction_kept,
        frobenius_sq: s.frobenius_sq,
        singular_value: whole
            .singular_values
            .as_ref()
            .and_then(|sv| sv.get(o))
            .map(|x| x.as_f64()),
        approx_r2: evaluations
            .approx
            .as_ref()
            .map(|a| a.features[o].at_index_k()),
        truncation_k: evaluations.truncation.as_ref().and_then(|t| {
            let rule = t.index_rule()?;
            Some(t.classes.as_ref()?[o].get(rule)?.recovery_k)
        }),
        tokens: s
            .component_tokens
            .as_ref()
            .and_then(|c| c.first())
            .map(|c| EndTokens {
                top: c.top.iter().map(|t| t.token.clone()).collect(),
                bottom: c.bottom.iter().map(|t| t.token.clone()).collect(),
            }),
    }
}

/// Outputs per output data file: about [`OUTPUT_CHUNK_BYTES`] of JSON, judged from the pages
/// of the first few outputs, and no more eigenvectors than [`SLAB_BYTES`] in memory.
fn output_chunk_size<T: Real + Serialize>(pages: &PageBuilder<'_, T>) -> Result<usize> {
    let shape = pages.results.shape();
    let vector_len = shape.d_input.unwrap_or(shape.d_in);
    let slab = (shape.k * vector_len * std::mem::size_of::<T>()).max(1);
    let sample = shape
        .n_out
        .min(SAMPLE_OUTPUTS)
        .min((SLAB_BYTES / slab).max(1));
    let bytes =
        serde_json::to_vec(&pages.chunk(0..sample)?).map_or(OUTPUT_CHUNK_BYTES, |json| json.len());
    let per_page = (bytes / sample.max(1)).max(1);
    Ok((OUTPUT_CHUNK_BYTES / per_page)
        .min(SLAB_BYTES / slab)
        .clamp(1, OUTPUT_CHUNK_MAX))
}

/// Builds the pages of a chunk of outputs.
struct PageBuilder<'a, T> {
    results: &'a ResultsFile,
    options: &'a ExploreOptions,
    view: ComponentView,
    evaluations: &'a Evaluations,
    whole: &'a Whole<T>,
}

impl<T: Real + Serialize> PageBuilder<'_, T> {
    fn chunk(&self, range: Range<usize>) -> Result<OutputChunk<T>> {
        let vectors: Option<Array3<T>> = match self.view {
            ComponentView::SpectraOnly => None,
            _ => if self.results.shape().d_input.is_some() {
                self.results.input_eigenvectors::<T>(range.clone())
            } else {
                self.results.eigenvectors::<T>(range.clone())
            }
            .map_err(ExploreError::Results)?,
        };
        let outputs = range
            .clone()
            .into_par_iter()
            .map(|o| {
                let slab = vectors
                    .as_ref()
                    .map(|v| v.index_axis(Axis(0), o - range.start));
                self.page(o, slab)
            })
            .collect();
        Ok(OutputChunk {
            first: range.start,
            outputs,
        })
    }

    fn page(&self, o: usize, vectors: Option<ndarray::ArrayView2<'_, T>>) -> OutputPage<T> {
        let s = &self.results.summary().outputs[o];
        let options = self.options;
        let spectrum = Spectrum::of(self.whole.eigenvalues.row(o), options.spectrum_per_sign);
        let token_records = |list: &[bilens_io::TokenScore]| {
            list.iter()
                .map(|t| TokenRecord {
                    id: t.id,
                    token: t.token.clone(),
                    score: T::of_f64(t.score),
                })
                .collect()
        };
        let tokens = |c: usize| {
            s.component_tokens
                .as_ref()?
                .iter()
                .find(|t| t.component == c)
                .map(|t| ComponentTokenLists {
                    top: token_records(&t.top),
                    bottom: token_records(&t.bottom),
                })
        };
        let mut drawn = spectrum.drawn(options.components_per_sign);
        // Components labelled by tokens are shown even beyond the spectrum's ends.
        for t in s.component_tokens.iter().flatten() {
            if !drawn.contains(&t.component) && t.component < spectrum.k {
                drawn.push(t.component);
            }
        }
        let components = match vectors {
            None => Vec::new(),
            Some(v) => drawn
                .into_iter()
                .map(|c| {
                    let row = v.row(c);
                    let (image, entries) = match self.view {
                        ComponentView::Image(_) => (Some(Pixels::of(row)), None),
                        _ => (None, Some(top_entries(row, options.entries_per_component))),
                    };
                    ComponentRecord {
                        component: c,
                        eigenvalue: self.whole.eigenvalues[(o, c)],
                        image,
                        entries,
                        tokens: tokens(c),
                    }
                })
                .collect(),
        };
        let labels = &self.results.summary().outputs;
        OutputPage {
            index: o,
            label: s.label.clone(),
            effective_rank: s.effective_rank,
            fraction_kept: s.fraction_kept,
            frobenius_sq: s.frobenius_sq,
            linear_term_norm: s.linear_term_norm,
            constant: s.constant,
            spectrum,
            components,
            self_interactions: s.top_self_interactions.as_ref().map(|list| {
                list.iter()
                    .map(|i| SelfRecord {
                        feature: i.feature,
                        value: T::of_f64(i.value),
                    })
                    .collect()
            }),
            cross_interactions: s.top_cross_interactions.as_ref().map(|list| {
                list.iter()
                    .map(|i| CrossRecord {
                        features: i.features,
                        value: T::of_f64(i.value),
                    })
                    .collect()
            }),
            neighbours: self.whole.neighbours[o]
                .iter()
                .map(|&(j, cosine)| Neighbour {
                    index: j,
                    label: labels[j].label.clone(),
                    cosine,
                })
                .collect(),
            hosvd: self.hosvd(o),
            approx: self.evaluations.approx.as_ref().map(|a| ApproxOutput {
                n_active: a.features[o].n_active,
                correlations: a.features[o].correlations.clone(),
            }),
            truncation: self
                .evaluations
                .truncation
                .as_ref()
                .and_then(|t| Some(t.classes.as_ref()?[o].clone())),
        }
    }

    fn hosvd(&self, o: usize) -> Option<HosvdOutput<T>> {
        let w = self.whole;
        let sigma = *w.singular_values.as_ref()?.get(o)?;
        let u = w.output_vectors.as_ref()?.row(o);
        let output_vector = if u.len() <= WHOLE_OUTPUT_VECTOR {
            u.iter().copied().enumerate().collect()
        } else {
            top_entries(u, LISTED_ENTRIES)
        };
        Some(HosvdOutput {
            singular_value: sigma,
            d_out: u.len(),
            output_vector,
            coefficients: w
                .coefficients
                .as_ref()
                .map(|c| top_entries(c.row(o), LISTED_ENTRIES)),
        })
    }
}
