//! The records of the site's data files, as they are serialised (the crate documentation
//! describes them for readers in other languages). Numbers read from the results' tensors
//! are written in the results' precision (f32 results give the shortest decimal that reads
//! back as the same f32); numbers from `summary.json` as it holds them.

use std::collections::BTreeMap;

use bilens_io::{HosvdSummary, ResultsShape};
use serde::Serialize;

use crate::components::{Pixels, Spectrum};
use crate::evaluations::{ApproxSummary, RuleCurve, TruncationSummary};
use crate::source::{ImageShape, Space};

/// Version of the data format written here; readers check it.
pub const SITE_FORMAT_VERSION: u32 = 1;

/// `data/site.json`: the whole site's description.
#[derive(Debug, Serialize)]
pub(crate) struct SiteDescription<'a> {
    /// Always `bilens-explore`.
    pub format: &'static str,
    /// [`SITE_FORMAT_VERSION`].
    pub format_version: u32,
    /// The crate and version that wrote the site.
    pub generator: String,
    /// The page title.
    pub title: String,
    /// The results directory, as given.
    pub results: String,
    /// The results' metadata (model, layout, method, k, order, precision, outputs, ...).
    pub metadata: &'a BTreeMap<String, String>,
    /// The results' tensor sizes.
    pub shape: ResultsShape,
    /// What an output is called: `class`, `token`, `component` (HOSVD) or `output`.
    pub noun: &'static str,
    /// Its plural.
    pub plural: &'static str,
    /// Number of outputs.
    pub n_outputs: usize,
    /// The index's columns, in display order.
    pub columns: Vec<Column>,
    /// The index's data files.
    pub index: Chunks,
    /// The output pages' data files.
    pub outputs: Chunks,
    /// How components are shown.
    pub components: ComponentsInfo,
    /// Nearest outputs listed per output.
    pub neighbours: usize,
    /// The HOSVD spectrum, for `bilens hosvd` results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosvd: Option<&'a HosvdSummary>,
    /// The approximation evaluation shown, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx: Option<&'a ApproxSummary>,
    /// The truncation evaluation shown, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncation: Option<&'a TruncationSummary>,
}

/// One column of the index.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Column {
    /// The row field it shows.
    pub key: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// `integer`, `number` (sortable, filterable by range), `text` (sortable, searched),
    /// `values` (a list of numbers, shown only) or `tokens` (token strings, searched).
    pub kind: &'static str,
    /// What it means, shown as the heading's tooltip.
    pub description: String,
}

/// A set of data files holding consecutive outputs: file `i` is `data/{prefix}{i}.json`
/// (and `.js`), `i` written with `digits` digits, zero-padded; it holds outputs
/// `i * size .. min((i + 1) * size, n_outputs)`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Chunks {
    pub prefix: &'static str,
    pub digits: usize,
    pub size: usize,
    pub count: usize,
}

impl Chunks {
    /// `count` chunks of `size` outputs for `n` outputs.
    pub fn new(prefix: &'static str, size: usize, n: usize) -> Self {
        let count = n.div_ceil(size);
        let digits = count.saturating_sub(1).to_string().len().max(4);
        Self {
            prefix,
            digits,
            size,
            count,
        }
    }

    /// The data key of chunk `i` (its path under `data/` without extension).
    pub fn key(&self, i: usize) -> String {
        format!("{}{i:0width$}", self.prefix, width = self.digits)
    }
}

/// How output pages show components.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ComponentsInfo {
    /// `image`, `entries` or `none` (eigenvalues only).
    pub view: &'static str,
    /// The picture shape, for `image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageShape>,
    /// The space of the shown vectors.
    pub space: Space,
    /// Components shown of each sign.
    pub per_sign: usize,
}

/// `data/index/chunk-NNNN.json`: index rows of consecutive outputs.
#[derive(Debug, Serialize)]
pub(crate) struct IndexChunk {
    /// The first output.
    pub first: usize,
    pub rows: Vec<IndexRow>,
}

/// One output in the index.
#[derive(Debug, Serialize)]
pub(crate) struct IndexRow {
    pub index: usize,
    pub label: String,
    /// The first eigenvalues in stored order (as `summary.json` lists them).
    pub top: Vec<f64>,
    /// The largest and smallest kept eigenvalue (`null` with none kept).
    pub lambda_max: Option<f64>,
    pub lambda_min: Option<f64>,
    /// As in `summary.json` (`null` effective rank when not every eigenvalue was computed).
    pub effective_rank: Option<f64>,
    pub fraction_kept: f64,
    pub frobenius_sq: f64,
    /// HOSVD results: this component's singular value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub singular_value: Option<f64>,
    /// With an approximation evaluation: the correlation at K = 2 (`null` where undefined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_r2: Option<Option<f64>>,
    /// With a truncation evaluation: the smallest k from which this class's accuracy stays
    /// within one point of its accuracy with every component (`null` if not on the curve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncation_k: Option<Option<usize>>,
    /// Results labelled by tokens: the tokens at both ends of the first component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<EndTokens>,
}

/// Token strings at both ends of a component.
#[derive(Debug, Serialize)]
pub(crate) struct EndTokens {
    pub top: Vec<String>,
    pub bottom: Vec<String>,
}

/// `data/outputs/chunk-NNNN.json`: the pages of consecutive outputs.
#[derive(Debug, Serialize)]
pub(crate) struct OutputChunk<T> {
    pub first: usize,
    pub outputs: Vec<OutputPage<T>>,
}

/// Everything one output's page shows.
#[derive(Debug, Serialize)]
pub(crate) struct OutputPage<T> {
    pub index: usize,
    pub label: String,
    /// As in `summary.json`.
    pub effective_rank: Option<f64>,
    pub fraction_kept: f64,
    pub frobenius_sq: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear_term_norm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constant: Option<f64>,
    /// The ends of the kept spectrum.
    pub spectrum: Spectrum<T>,
    /// The drawn components: the spectrum's ends, positive then negative.
    pub components: Vec<ComponentRecord<T>>,
    /// Results in a feature basis: the largest self and cross interactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_interactions: Option<Vec<SelfRecord<T>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_interactions: Option<Vec<CrossRecord<T>>>,
    /// The outputs whose directions have the largest cosine with this one's.
    pub neighbours: Vec<Neighbour<T>>,
    /// HOSVD results: this component's singular value and output vector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosvd: Option<HosvdOutput<T>>,
    /// With an approximation evaluation: this output's curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx: Option<ApproxOutput>,
    /// With a truncation evaluation (and its `truncation.csv`): this class's curve per rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncation: Option<Vec<RuleCurve>>,
}

/// One drawn component.
#[derive(Debug, Serialize)]
pub(crate) struct ComponentRecord<T> {
    /// Its position in the stored order.
    pub component: usize,
    pub eigenvalue: T,
    /// The picture, in the `image` view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Pixels<T>>,
    /// `[position, value]` of its largest entries, in the `entries` view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<(usize, T)>>,
    /// The tokens at both ends, where the results label it by tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<ComponentTokenLists<T>>,
}

/// `component_tokens` of `summary.json` for one component.
#[derive(Debug, Serialize)]
pub(crate) struct ComponentTokenLists<T> {
    pub top: Vec<TokenRecord<T>>,
    pub bottom: Vec<TokenRecord<T>>,
}

/// A token and its projection `e_tᵀv` on a component.
#[derive(Debug, Serialize)]
pub(crate) struct TokenRecord<T> {
    pub id: usize,
    pub token: String,
    pub score: T,
}

/// A self interaction `Q_D[f, f]`.
#[derive(Debug, Serialize)]
pub(crate) struct SelfRecord<T> {
    pub feature: usize,
    pub value: T,
}

/// A cross interaction `Q_D[a, b]`, `a < b`.
#[derive(Debug, Serialize)]
pub(crate) struct CrossRecord<T> {
    pub features: [usize; 2],
    pub value: T,
}

/// A related output.
#[derive(Debug, Serialize)]
pub(crate) struct Neighbour<T> {
    pub index: usize,
    pub label: String,
    pub cosine: T,
}

/// One HOSVD component's place in the decomposition.
#[derive(Debug, Serialize)]
pub(crate) struct HosvdOutput<T> {
    /// `σ_s`.
    pub singular_value: T,
    /// Length of the output vector.
    pub d_out: usize,
    /// `[position, value]` of the output vector `u_s`: every entry in order when
    /// `d_out <= 64`, else the largest by magnitude.
    pub output_vector: Vec<(usize, T)>,
    /// For a restricted HOSVD, `[direction, coefficient]` of its largest coefficients over the
    /// restricting directions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coefficients: Option<Vec<(usize, T)>>,
}

/// One output's approximation curve.
#[derive(Debug, Serialize)]
pub(crate) struct ApproxOutput {
    /// Inputs on which it is active.
    pub n_active: usize,
    /// The correlation at K = 1, 2, ... (`null` where undefined).
    pub correlations: Vec<Option<f64>>,
}
