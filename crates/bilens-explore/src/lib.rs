//! # bilens-explore: a static, offline web explorer for a results directory
//!
//! [`explore`] turns a results directory (`decomposition.safetensors` + `summary.json`, see
//! [`bilens_io::ResultsFile`]) into a site that opens from `file://` in any browser, with no
//! server and no network: `SITE/index.html` lists every output (sortable, searchable,
//! filterable by ranges, paged), and `SITE/output.html#o=INDEX` shows one output: the ends of
//! its spectrum, its components (pictures for image models, largest entries and tokens
//! otherwise), its feature interactions, its HOSVD place, its evaluations, and the outputs
//! whose directions are nearest to its own. Every script and style is written by this crate
//! (`assets/`); the pages load their data with script tags, because browsers refuse `fetch()`
//! of local files from a `file://` page.
//!
//! ```no_run
//! use bilens_explore::{ExploreOptions, explore};
//! let report = explore("bilens-demo/results".as_ref(), "bilens-demo/site".as_ref(), &ExploreOptions::default())?;
//! println!("{} outputs, open {}", report.outputs, report.entry.display());
//! # Ok::<(), bilens_explore::ExploreError>(())
//! ```
//!
//! A directory that is not a complete results directory is refused as
//! [`bilens_io::ResultsFile::open`] refuses it (and also while an interrupted decomposition's
//! `resume.jsonl` or `decomposition.safetensors.partial` is there). The site is written into a
//! temporary sibling directory and renamed into place: an existing site is replaced whole or
//! not at all, and a directory that is not an explorer site is never replaced.
//!
//! ## Evaluations
//!
//! The site shows the evaluations named in [`ExploreOptions::evaluations`] and, with
//! [`ExploreOptions::discover_evaluations`], those found in the results directory, its
//! subdirectories and its siblings: an approximation evaluation (`approx.json` of
//! `bilens eval approx`: the index gets each output's correlation at K = 2, the page its
//! curve) and a truncation evaluation (`truncation.json` and `truncation.csv` of
//! `bilens eval truncation`: the overview gets the model's curves, the index each class's
//! smallest k from which it stays within one point of its full accuracy, the page the class's curves). One that
//! does not fit the results (other labels, another model, outputs that are not classes) is
//! left out and listed in [`SiteReport::skipped`]; a named one that does not fit is an error.
//!
//! ## The data format (version 1)
//!
//! Other tools may read a site's data. Every record is written twice under `SITE/data/`:
//! `KEY.json`, plain JSON, and `KEY.js`, the same JSON text as the second argument of
//! `bilensData("KEY", …);` (what the pages load). Numbers read from the results' tensors are
//! in the results' precision (an f32 is written as the shortest decimal that reads back as
//! that f32); numbers from `summary.json` are copied as it holds them; `null` stands for a
//! value that is unknown or undefined (NaN).
//!
//! **`site`** (`data/site.json`), the description:
//!
//! | field | |
//! |---|---|
//! | `format`, `format_version` | `"bilens-explore"`, `1` |
//! | `generator`, `title` | the writer and version; the page title |
//! | `results`, `metadata`, `shape` | the results directory as given, its metadata and shape (as in `summary.json`) |
//! | `noun`, `n_outputs` | `class`, `token`, `component` (HOSVD) or `output`; the number of outputs |
//! | `columns` | the index's columns: `key` (a row field), `title`, `kind` (`integer`, `number`, `text`, `values`, `tokens`), `description` |
//! | `index`, `outputs` | the chunked data files: `{prefix, digits, size, count}`; chunk `i` is `data/{prefix}{i}` with `i` zero-padded to `digits`, holding outputs `i·size ..` |
//! | `components` | `{view: "image" \| "entries" \| "none", image: {channels, height, width}, space: "input" \| "layer" \| "features", per_sign}` |
//! | `neighbours` | nearest outputs listed per output |
//! | `hosvd` | HOSVD results: `{singular_values, total_sq, fraction_kept}` from `summary.json` |
//! | `approx` | an approximation evaluation: `{source, activations, n_inputs, threshold, k, mean, median, fraction_above}` (per K) |
//! | `truncation` | a truncation evaluation: `{source, model_accuracy, test_images, components_per_class, k, rules: [{rule, accuracy (per k), accuracy_all, recovery_k}]}` |
//!
//! **`index/chunk-NNNN`**: `{first, rows}`, one row per output: `index`, `label`, `top` (the
//! first 4 eigenvalues of `summary.json`), `lambda_max`, `lambda_min` (of the kept
//! eigenvalues), `effective_rank`, `fraction_kept`, `frobenius_sq` (from `summary.json`), and
//! where they apply `singular_value` (HOSVD), `approx_r2` (correlation at K = 2),
//! `truncation_k` (the class's smallest k from which it stays within one point of its
//! full accuracy) and `tokens`
//! (`{top, bottom}`: the strings at both ends of the first component).
//!
//! **`outputs/chunk-NNNN`**: `{first, outputs}`, one page per output:
//!
//! | field | |
//! |---|---|
//! | `index`, `label`, `effective_rank`, `fraction_kept`, `frobenius_sq`, `linear_term_norm`, `constant` | from `summary.json` |
//! | `spectrum` | `{k, n_positive, n_negative, positive, negative}`: `[component, λ]` pairs of the most positive (descending) and most negative (ascending) kept eigenvalues, `component` the position in the stored order |
//! | `components` | the drawn components (the spectrum's ends, positive first, and any labelled by tokens): `{component, eigenvalue}` and `image: {scale, int8}` (the vector quantised: base64 of signed bytes `q`, value `q / 127 · scale`, −128 for NaN, row-major channel, row, column) or `entries` (`[position, value]` of the largest magnitudes: feature indices when `components.space` is `features`), and `tokens: {top, bottom}` of `{id, token, score}` where `summary.json` has them |
//! | `self_interactions`, `cross_interactions` | results in a feature basis: `{feature, value}` and `{features: [a, b], value}` as in `summary.json` |
//! | `neighbours` | `{index, label, cosine}`: the outputs whose directions `u` have the largest positive cosine with this one's (above 10⁻⁶) |
//! | `hosvd` | HOSVD results: `{singular_value, d_out, output_vector, coefficients}`: `[position, value]` of `u_s` (every entry up to 64, else the 32 largest) and of the coefficients over restricting directions |
//! | `approx` | `{n_active, correlations}` (K = 1, 2, …) |
//! | `truncation` | this class's `[{rule, accuracy, accuracy_all, recovery_k}]` |
//!
//! ```python
//! import json, base64, numpy as np
//! site = json.load(open("SITE/data/site.json"))
//! size, digits = site["outputs"]["size"], site["outputs"]["digits"]
//! o = 3
//! chunk = json.load(open(f"SITE/data/{site['outputs']['prefix']}{o // size:0{digits}d}.json"))
//! page = chunk["outputs"][o - chunk["first"]]
//! c = page["components"][0]
//! img = np.frombuffer(base64.b64decode(c["image"]["int8"]), np.int8) / 127 * c["image"]["scale"]
//! ```
#![deny(missing_docs)]

mod assets;
mod build;
mod components;
mod error;
mod evaluations;
mod format;
mod neighbours;
mod site;
mod source;

use std::path::{Path, PathBuf};

use bilens_decomp::Precision;

pub use error::{ExploreError, Result};
pub use evaluations::{EvaluationKind, FoundEvaluation, SkippedEvaluation};
pub use format::SITE_FORMAT_VERSION;
pub use source::{ComponentView, ImageShape};

/// What a site shows, and where evaluations come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExploreOptions {
    /// Components drawn of each sign on an output page (the most positive and the most
    /// negative eigenvalues).
    pub components_per_sign: usize,
    /// Eigenvalues of each sign listed in an output's spectrum.
    pub spectrum_per_sign: usize,
    /// Entries listed per component when components are not pictures.
    pub entries_per_component: usize,
    /// Nearest outputs listed per output (by the cosine of their directions).
    pub neighbours: usize,
    /// The picture shape of a component (e.g. 3 × 32 × 32); `None` draws square vectors of an
    /// image model (or of a layer at least 8 × 8 wide) as square pictures and lists the
    /// largest entries of others.
    pub image_shape: Option<ImageShape>,
    /// Evaluation reports to show: directories holding `approx.json` or `truncation.json`, or
    /// those files. Each must fit the results.
    pub evaluations: Vec<PathBuf>,
    /// Also look for evaluations in the results directory, its subdirectories and siblings.
    pub discover_evaluations: bool,
    /// The page title; `None` names the model file and the outputs.
    pub title: Option<String>,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        Self {
            components_per_sign: 6,
            spectrum_per_sign: 20,
            entries_per_component: 12,
            neighbours: 8,
            image_shape: None,
            evaluations: Vec::new(),
            discover_evaluations: true,
            title: None,
        }
    }
}

/// How far a site is, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// Comparing every output direction with every other.
    Neighbours {
        /// Outputs compared.
        outputs: usize,
    },
    /// Writing the output pages' data.
    Outputs {
        /// Outputs written.
        done: usize,
        /// Outputs in all.
        total: usize,
    },
    /// Writing the description and the pages, and putting the site in place.
    Finishing,
}

/// What [`explore`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteReport {
    /// The site directory.
    pub site: PathBuf,
    /// Its entry page, `SITE/index.html`.
    pub entry: PathBuf,
    /// Outputs listed.
    pub outputs: usize,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// How components are shown.
    pub components: ComponentView,
    /// The evaluations shown.
    pub evaluations: Vec<FoundEvaluation>,
    /// Evaluations found beside the results but left out, with the reason.
    pub skipped: Vec<SkippedEvaluation>,
}

/// Writes the explorer of the results in `results` to `site` (replacing an explorer site
/// already there); see the crate documentation.
pub fn explore(results: &Path, site: &Path, options: &ExploreOptions) -> Result<SiteReport> {
    explore_with_progress(results, site, options, &mut |_| {})
}

/// [`explore`], calling `progress` as the work advances.
pub fn explore_with_progress(
    results: &Path,
    site: &Path,
    options: &ExploreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<SiteReport> {
    let opened = source::open_complete(results)?;
    let view = source::component_view(&opened, options.image_shape)?;
    let evaluations =
        evaluations::gather(&opened, &options.evaluations, options.discover_evaluations)?;
    let mut dir = site::SiteDir::create(site, results)?;
    match opened.meta().precision {
        Precision::F64 => {
            build::write_site::<f64>(&opened, &mut dir, options, view, &evaluations, progress)?
        }
        Precision::F32 => {
            build::write_site::<f32>(&opened, &mut dir, options, view, &evaluations, progress)?
        }
    }
    assets::write(&mut dir)?;
    let (files, bytes) = dir.size();
    dir.commit()?;
    Ok(SiteReport {
        site: site.to_path_buf(),
        entry: site.join(assets::ENTRY),
        outputs: opened.shape().n_out,
        files,
        bytes,
        components: view.0,
        evaluations: evaluations.found,
        skipped: evaluations.skipped,
    })
}
