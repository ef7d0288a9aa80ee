//! The metadata of a results directory, typed: what produced the results, written into both
//! files as string pairs (safetensors `__metadata__` and `summary.json`'s `metadata`) and read
//! back into the same values. This is the one place that knows the keys.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use bilens_decomp::{Method, Order, Precision, Route};

use crate::layout::Layout;
use crate::output_spec::{OutputSelection, SpecError, TensorRef};

/// The keys the writer sets itself from the results (not from [`ResultsMeta`]).
pub(crate) mod keys {
    pub const K: &str = "k";
    pub const PRECISION: &str = "precision";
    pub const BILENS_VERSION: &str = "bilens_version";
    pub const FORMAT_VERSION: &str = "format_version";
    pub const RUN_ID: &str = "run_id";
    /// The count of outputs on which Lanczos fell back to the full solver.
    pub const LANCZOS_FALLBACKS: &str = "lanczos_fallbacks";
}

/// Keys of [`ResultsMeta`]'s typed fields.
const MODEL: &str = "model";
const LAYOUT: &str = "layout";
const METHOD: &str = "method";
const ORDER: &str = "order";
const OUTPUTS: &str = "outputs";
const ROUTE: &str = "route";
const RESIDUAL: &str = "residual";
const SIGN_CONVENTION: &str = "sign_convention";
const LAYER: &str = "layer";
const APPROXIMATION: &str = "approximation";
const TOKENIZER: &str = "tokenizer";
const INPUT_BASIS: &str = "input_basis";
const BIASES: &str = "biases";

/// Every key with a meaning; [`ResultsMeta::extra`] may use none of them.
const RESERVED: [&str; 19] = [
    MODEL,
    LAYOUT,
    METHOD,
    ORDER,
    OUTPUTS,
    ROUTE,
    RESIDUAL,
    SIGN_CONVENTION,
    LAYER,
    APPROXIMATION,
    TOKENIZER,
    INPUT_BASIS,
    BIASES,
    keys::K,
    keys::PRECISION,
    keys::BILENS_VERSION,
    keys::FORMAT_VERSION,
    keys::RUN_ID,
    keys::LANCZOS_FALLBACKS,
];

/// The value of the `biases` key: how the folded biases enter each output.
const BIASES_FOLDED: &str = "folded: output = xᵀQx + 2 linear_termsᵀx + constants";

/// Which entry of an eigenvector is made positive (the sign of an eigenvector is arbitrary;
/// fixing it makes results reproducible and comparable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignConvention {
    /// The largest-magnitude entry of the eigenvector mapped to the model input (`Eᵀv`) is
    /// positive: the picture people look at has a fixed sign.
    InputSpace,
    /// The largest-magnitude entry of the eigenvector itself is positive.
    LayerSpace,
}

impl SignConvention {
    /// The stored text.
    pub fn text(self) -> &'static str {
        match self {
            SignConvention::InputSpace => {
                "largest-magnitude entry of the input-space eigenvector positive"
            }
            SignConvention::LayerSpace => "largest-magnitude entry positive",
        }
    }
}

/// The output directions of a results directory, and whether they are the components of a
/// HOSVD of the interaction tensor restricted to them (`bilens hosvd`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputsMeta {
    /// The directions asked for.
    pub selection: OutputSelection,
    /// Whether each stored output is a HOSVD component over `selection` rather than one of
    /// its directions.
    pub hosvd: bool,
}

impl OutputsMeta {
    /// What one output is called in titles: `component` for HOSVD components, else the
    /// selection's noun (`class`, `token`, `output`).
    pub fn noun(&self) -> &'static str {
        if self.hosvd {
            "component"
        } else {
            self.selection.spec.noun()
        }
    }
}

impl fmt::Display for OutputsMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hosvd {
            f.write_str("hosvd of ")?;
        }
        self.selection.fmt(f)
    }
}

impl FromStr for OutputsMeta {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        Ok(match s.strip_prefix("hosvd of ") {
            Some(rest) => Self {
                selection: rest.parse()?,
                hosvd: true,
            },
            None => Self {
                selection: s.parse()?,
                hosvd: false,
            },
        })
    }
}

/// What produced the results, written into both files' metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsMeta {
    /// The model file, as the user named it.
    pub model: String,
    /// The layout it was read with.
    pub layout: Layout,
    /// The eigensolver as resolved (never [`Method::Auto`] in bilens's own results).
    pub method: Method,
    /// The order of the kept components.
    pub order: Order,
    /// The output directions.
    pub outputs: Option<OutputsMeta>,
    /// How the interaction matrices were formed.
    pub route: Option<Route>,
    /// Whether the model's block is residual (its linear term is outside the decomposition).
    pub residual: Option<bool>,
    /// Which entry of each eigenvector is positive.
    pub sign_convention: Option<SignConvention>,
    /// The layer of a layered model.
    pub layer: Option<usize>,
    /// When the layer was read bilinearly but is not exactly bilinear, what the approximation
    /// is.
    pub approximation: Option<String>,
    /// The tokenizer that labelled tokens.
    pub tokenizer: Option<PathBuf>,
    /// The feature basis the matrices are expressed in.
    pub input_basis: Option<TensorRef>,
    /// Whether the layer's biases were folded in (`linear_terms` and `constants` then hold what
    /// they add to each output).
    pub biases: bool,
    /// Any further string pairs, for writers outside bilens; keys may not be any of the above.
    pub extra: BTreeMap<String, String>,
}

impl ResultsMeta {
    /// Metadata with the four fields every results directory has and nothing else.
    pub fn new(model: impl Into<String>, layout: Layout, method: Method, order: Order) -> Self {
        Self {
            model: model.into(),
            layout,
            method,
            order,
            outputs: None,
            route: None,
            residual: None,
            sign_convention: None,
            layer: None,
            approximation: None,
            tokenizer: None,
            input_basis: None,
            biases: false,
            extra: BTreeMap::new(),
        }
    }

    /// The string pairs, or the first extra key that would overwrite a typed one.
    pub(crate) fn entries(&self) -> Result<BTreeMap<String, String>, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put(MODEL, self.model.clone());
        put(LAYOUT, self.layout.name().into());
        put(METHOD, self.method.name().into());
        put(ORDER, self.order.name().into());
        if let Some(o) = &self.outputs {
            put(OUTPUTS, o.to_string());
        }
        if let Some(r) = self.route {
            put(ROUTE, r.name().into());
        }
        if let Some(r) = self.residual {
            put(RESIDUAL, r.to_string());
        }
        if let Some(s) = self.sign_convention {
            put(SIGN_CONVENTION, s.text().into());
        }
        if let Some(l) = self.layer {
            put(LAYER, l.to_string());
        }
        if let Some(a) = &self.approximation {
            put(APPROXIMATION, a.clone());
        }
        if let Some(t) = &self.tokenizer {
            put(TOKENIZER, t.display().to_string());
        }
        if let Some(b) = &self.input_basis {
            put(INPUT_BASIS, b.to_string());
        }
        if self.biases {
            put(BIASES, BIASES_FOLDED.into());
        }
        for (k, v) in &self.extra {
            if RESERVED.contains(&k.as_str()) {
                return Err(k.clone());
            }
            m.insert(k.clone(), v.clone());
        }
        Ok(m)
    }

    /// Parses the pairs [`ResultsMeta::entries`] and the writer wrote; keys it does not know
    /// go to `extra`. An `Err` names the key at fault and why.
    pub(crate) fn parse(map: &BTreeMap<String, String>) -> Result<StoredMeta, String> {
        let text = |k: &str| map.get(k).map(String::as_str);
        let need = |k: &str| text(k).ok_or_else(|| format!("no '{k}' entry"));
        fn typed<V: FromStr>(k: &str, v: Option<&str>) -> Result<Option<V>, String>
        where
            V::Err: fmt::Display,
        {
            v.map(|v| v.parse::<V>().map_err(|e| format!("'{k}': {e}")))
                .transpose()
        }
        let sign_convention = match text(SIGN_CONVENTION) {
            None => None,
            Some(t) if t == SignConvention::InputSpace.text() => Some(SignConvention::InputSpace),
            Some(t) if t == SignConvention::LayerSpace.text() => Some(SignConvention::LayerSpace),
            Some(t) => return Err(format!("'{SIGN_CONVENTION}': unknown convention '{t}'")),
        };
        let meta = ResultsMeta {
            model: need(MODEL)?.to_string(),
            layout: typed(LAYOUT, Some(need(LAYOUT)?))?.expect("given"),
            method: typed(METHOD, Some(need(METHOD)?))?.expect("given"),
            order: typed(ORDER, Some(need(ORDER)?))?.expect("given"),
            outputs: typed(OUTPUTS, text(OUTPUTS))?,
            route: typed(ROUTE, text(ROUTE))?,
            residual: typed(RESIDUAL, text(RESIDUAL))?,
            sign_convention,
            layer: typed(LAYER, text(LAYER))?,
            approximation: text(APPROXIMATION).map(str::to_string),
            tokenizer: text(TOKENIZER).map(PathBuf::from),
            input_basis: typed(INPUT_BASIS, text(INPUT_BASIS))?,
            biases: text(BIASES).is_some(),
            extra: map
                .iter()
                .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        Ok(StoredMeta {
            meta,
            k: typed(keys::K, Some(need(keys::K)?))?.expect("given"),
            precision: typed(keys::PRECISION, Some(need(keys::PRECISION)?))?.expect("given"),
            bilens_version: need(keys::BILENS_VERSION)?.to_string(),
            run_id: need(keys::RUN_ID)?.to_string(),
            lanczos_fallbacks: typed(keys::LANCZOS_FALLBACKS, text(keys::LANCZOS_FALLBACKS))?,
        })
    }
}

/// A results directory's metadata as read back: what produced it and what the writer added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMeta {
    /// What produced the results.
    pub meta: ResultsMeta,
    /// Components kept per output.
    pub k: usize,
    /// The precision of the stored floats (and of the computation).
    pub precision: Precision,
    /// The bilens version that wrote the results.
    pub bilens_version: String,
    /// The identity the two files share: a time-based id, or `job-` and the job's digest for
    /// a resumable run.
    pub run_id: String,
    /// Outputs on which Lanczos fell back to the full solver, when counted.
    pub lanczos_fallbacks: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips_through_the_string_pairs() {
        let mut meta = ResultsMeta::new(
            "m.safetensors",
            Layout::Lm,
            Method::Lanczos,
            Order::Ascending,
        );
        meta.outputs = Some("hosvd of tokens:1,2-3 rows 0..2".parse().unwrap());
        meta.route = Some(Route::SharedBasis);
        meta.residual = Some(false);
        meta.sign_convention = Some(SignConvention::InputSpace);
        meta.layer = Some(3);
        meta.approximation = Some("a gated MLP".into());
        meta.tokenizer = Some("tok/tokenizer.json".into());
        meta.input_basis = Some("sae.safetensors:W_dec".parse().unwrap());
        meta.biases = true;
        meta.extra.insert("note".into(), "hello".into());
        let mut map = meta.entries().unwrap();
        map.insert(keys::K.into(), "4".into());
        map.insert(keys::PRECISION.into(), "f64".into());
        map.insert(keys::BILENS_VERSION.into(), "0.1.0".into());
        map.insert(keys::FORMAT_VERSION.into(), "1".into());
        map.insert(keys::RUN_ID.into(), "job-1".into());
        map.insert(keys::LANCZOS_FALLBACKS.into(), "2".into());
        let back = ResultsMeta::parse(&map).unwrap();
        assert_eq!(back.meta, meta);
        assert_eq!((back.k, back.precision), (4, Precision::F64));
        assert_eq!(back.lanczos_fallbacks, Some(2));
        assert_eq!(
            back.meta.outputs.as_ref().map(OutputsMeta::noun),
            Some("component")
        );

        meta.extra.insert("route".into(), "x".into());
        assert_eq!(meta.entries().unwrap_err(), "route");
        map.insert(ROUTE.into(), "sideways".into());
        assert!(ResultsMeta::parse(&map).unwrap_err().contains("'route'"));
    }
}
