//! Planning a run: the model read, the directions and basis resolved, and every setting the
//! caller left open decided (k, method, route, chunk size), together with the job's identity.

use std::time::{Duration, Instant};

use bilens_decomp::Par;
use bilens_decomp::{
    BilinearModel, DecomposeParams, Hosvd, InputBasis, Method, Real, Route, hosvd, result_dims,
};
use bilens_io::{
    Contents, Element, Layout, OutputSelection, OutputSpec, OutputsMeta, ResultsFile, ResultsMeta,
    ResultsShape, SignConvention, Vocab, array_digest, file_fingerprint, read_rows, sae_biases,
};

use super::options::DecomposeOptions;
use crate::checkpoint::Checkpoint;
use crate::directions::Directions;
use crate::error::{Arg, Error, Result};
use crate::progress::Progress;
use crate::shard::ShardMeta;
use crate::tokens::ComponentLabeller;

/// The decoder bias `b_dec` of the input SAE folder `dir`, when it has a nonzero one: the
/// layer then reads `x = D f + b_dec`, which the decomposition takes as extra biases of the
/// layer ([`bilens_decomp::BilinearLayer::with_input_offset`]), so the stored linear terms and
/// constants are exact in the features; the interaction matrices `Dᵀ Q D` do not change.
fn decoder_offset<T: Real>(
    dir: &std::path::Path,
    d_in: usize,
    progress: &dyn Progress,
) -> Result<Option<ndarray::Array1<T>>> {
    let Some(b_dec) = sae_biases::<T>(dir, d_in)?.and_then(|s| s.b_dec) else {
        return Ok(None);
    };
    if b_dec.iter().all(|x| *x == T::zero()) {
        return Ok(None);
    }
    progress.note(
        "note: the input SAE's decoder bias b_dec shifts the layer input (x = D f + b_dec): \
         each output's linear term gains Dᵀ Q(u) b_dec and its constant b_decᵀ Q(u) b_dec + \
         2 q·b_dec (stored with the components); the feature interaction matrices Dᵀ Q(u) D \
         are unchanged",
    );
    Ok(Some(b_dec))
}

/// Memory a chunk of outputs may use for its results before it is streamed to disk.
const CHUNK_BYTES: usize = 256 << 20;

/// Feature bases up to this size get their top interactions by default (the scan is
/// quadratic in the number of features).
const INTERACTIONS_DEFAULT_MAX_FEATURES: usize = 8192;

/// Interactions reported per output by default, for bases small enough.
const INTERACTIONS_DEFAULT: usize = 10;

/// Checks the options that need no model: they fail before anything is read.
pub(super) fn validate(options: &DecomposeOptions) -> Result<()> {
    if options.k == Some(0) {
        return Err(Error::argument(
            Arg::K,
            "0",
            "keeps no component",
            "keep at least one component per output, or give none to keep them all",
        ));
    }
    if options.chunk == Some(0) {
        return Err(Error::argument(
            Arg::Chunk,
            "0",
            "must be at least 1",
            "a chunk holds at least one output, e.g. 256",
        ));
    }
    if options.hosvd == Some(0) {
        return Err(Error::argument(
            Arg::Components,
            "0",
            "must be at least 1",
            "keep at least one HOSVD component, e.g. 10",
        ));
    }
    if options.interactions.is_some() && options.basis.is_none() {
        return Err(Error::argument(
            Arg::Interactions,
            "",
            "needs an input basis",
            "feature interactions are reported in a feature basis",
        ));
    }
    Ok(())
}

/// A run ready to go: everything read and decided.
pub(super) struct Plan<'a, T> {
    pub checkpoint: &'a Checkpoint,
    pub options: &'a DecomposeOptions,
    pub model: BilinearModel<T>,
    pub directions: Directions<T>,
    pub basis: Option<InputBasis<T>>,
    pub hosvd: Option<Hosvd<T>>,
    pub labeller: Option<ComponentLabeller<'a, T>>,
    /// Decomposition parameters with k, route, chunk size and interactions decided.
    pub params: DecomposeParams,
    /// The solver the rule chose.
    pub method: Method,
    /// Length of a stored eigenvector (`d_in`, or the number of features with a basis).
    pub width: usize,
    /// The model's input width when eigenvectors are also stored mapped through its
    /// embedding.
    pub d_input: Option<usize>,
    /// Everything that determines the results, digested into the run's identity.
    pub description: serde_json::Value,
    /// The outputs this run computes: all of them, or a shard's slice.
    pub slice: std::ops::Range<usize>,
    /// Time spent reading and resolving.
    pub load_time: Duration,
}

impl<'a, T: Real + Element> Plan<'a, T> {
    /// Reads the model, resolves directions and basis, runs the HOSVD if asked, and decides
    /// the settings; notes go to `progress`.
    pub fn new(
        checkpoint: &'a Checkpoint,
        options: &'a DecomposeOptions,
        vocab: Option<&'a Vocab>,
        progress: &dyn Progress,
    ) -> Result<Self> {
        let start = Instant::now();
        let mut model = checkpoint.model::<T>()?;
        if let Some(a) = &checkpoint.info().approximation {
            progress.note(&format!("note: approximation: {a}"));
        }
        let mut directions = Directions::<T>::resolve(&options.outputs, checkpoint, vocab)?;
        chain_notes(checkpoint, &options.outputs.spec, progress);
        let basis = match &options.basis {
            None => None,
            Some(b) => {
                let d_in = model.layer().d_in();
                let read = read_rows::<T>(&b.path, &b.tensor, d_in, "input basis")?;
                if read.transposed {
                    progress.note(&format!(
                        "note: {} is [{d_in}, n_features]: its columns are the features",
                        b.tensor,
                    ));
                }
                if let Some(offset) = decoder_offset::<T>(&b.path, d_in, progress)? {
                    model = BilinearModel::new(
                        model.embed().map(|e| e.to_owned()),
                        model.layer().clone().with_input_offset(offset.view()),
                        model.linear().map(|l| l.to_owned()),
                    );
                }
                // Rows are features; the basis wants them as columns.
                Some(InputBasis::new(read.rows.t().to_owned()))
            }
        };
        if let OutputSpec::File(t) = &options.outputs.spec
            && t.tensor.starts_with("encoder")
        {
            if let Some(sae) = sae_biases::<T>(&t.path, model.layer().d_out())? {
                progress.note(&format!(
                    "note: each output feature's pre-activation is {}; the components are those \
                     of e_i·y, which that constant does not change",
                    sae.feature_offset()
                ));
            }
        }
        let layer = model.layer();
        let components = match options.hosvd {
            None => None,
            Some(s) => {
                let restrict = !matches!(
                    options.outputs,
                    OutputSelection {
                        spec: OutputSpec::Classes,
                        rows: None
                    }
                );
                let h = hosvd(
                    layer,
                    restrict.then(|| directions.matrix.view()),
                    s,
                    Par::rayon(0),
                )?;
                directions = Directions {
                    matrix: h.component_directions(),
                    labels: (0..h.singular_values.len())
                        .map(|i| format!("s{i}"))
                        .collect(),
                };
                Some(h)
            }
        };
        let labeller = match (&options.tokenizer, options.eigenvalues_only) {
            (Some(_), false) => {
                let l = ComponentLabeller::new(checkpoint, vocab)?;
                if l.is_none() {
                    progress.note(
                        "note: the model file has no token embedding of the layer's width: \
                         components are not labelled by tokens",
                    );
                }
                l
            }
            (Some(_), true) => {
                progress.note(
                    "note: with eigenvalues only there are no components to label by tokens \
                     (token outputs keep their strings)",
                );
                None
            }
            (None, _) => None,
        };
        let load_time = start.elapsed();

        let interactions = match (&basis, options.interactions) {
            (Some(_), Some(m)) => m,
            (Some(b), None) if b.n_features() <= INTERACTIONS_DEFAULT_MAX_FEATURES => {
                INTERACTIONS_DEFAULT
            }
            _ => 0,
        };
        let asked = DecomposeParams {
            k: options.k,
            order: options.order,
            eigenvectors: !options.eigenvalues_only,
            method: options.method,
            route: options.route,
            ..DecomposeParams::default()
        };
        let (width, k) = result_dims(layer, basis.as_ref(), &asked);
        let matrix_dim = basis
            .as_ref()
            .map_or(layer.d_in(), |b| b.max_components().min(b.n_features()));
        let method = asked
            .method
            .resolve::<T>(matrix_dim, Some(k), &asked.lanczos);
        let n = directions.matrix.nrows();
        let route = asked.route.resolve(layer, n, asked.memory_budget);
        // Pictures in the model's input space only for the layer's own basis.
        let d_input = model.embed().filter(|_| basis.is_none()).map(|e| e.ncols());
        let per_output = k
            * (width + d_input.unwrap_or(0))
            * std::mem::size_of::<T>()
            * usize::from(asked.eigenvectors)
            + 64;
        let params = DecomposeParams {
            k: Some(k),
            route,
            interactions,
            chunk_size: options.chunk.unwrap_or_else(|| {
                (CHUNK_BYTES / per_output).clamp(2 * rayon::current_num_threads(), 4096)
            }),
            ..asked
        };
        let description = describe(
            checkpoint,
            options,
            &directions,
            basis.as_ref(),
            &params,
            method,
        )?;
        let slice = match options.shard {
            Some(shard) => shard.outputs(n, params.chunk_size)?,
            None => 0..n,
        };
        Ok(Self {
            checkpoint,
            options,
            model,
            directions,
            basis,
            hosvd: components,
            labeller,
            params,
            method,
            width,
            d_input,
            description,
            slice,
            load_time,
        })
    }

    /// The route the interaction matrices are formed by.
    pub fn route(&self) -> Route {
        self.params.route
    }

    /// The sizes of the results.
    pub fn shape(&self) -> ResultsShape {
        ResultsShape {
            n_out: self.slice.len(),
            k: self.params.k.expect("decided by the plan"),
            d_in: self.width,
            d_input: self.d_input,
            d_out: self.model.layer().d_out(),
            eigenvectors: self.params.eigenvectors,
        }
    }

    /// What the results store besides eigenvalues and eigenvectors.
    pub fn contents(&self) -> Contents {
        Contents {
            bias_terms: self.model.layer().has_biases(),
            interactions: self.params.interactions,
            token_labels: self
                .labeller
                .as_ref()
                .map(|l| l.shape(self.params.k.expect("decided by the plan"))),
        }
    }

    /// The results' metadata.
    pub fn meta(&self) -> ResultsMeta {
        let info = self.checkpoint.info();
        let mut meta = ResultsMeta::new(
            self.checkpoint.file().path().display().to_string(),
            info.layout,
            self.method,
            self.params.order,
        );
        meta.outputs = Some(OutputsMeta {
            selection: self.options.outputs.clone(),
            hosvd: self.hosvd.is_some(),
        });
        meta.route = Some(self.params.route);
        meta.residual = Some(info.residual);
        meta.sign_convention = Some(if self.d_input.is_some() {
            SignConvention::InputSpace
        } else {
            SignConvention::LayerSpace
        });
        meta.layer = info.layer.as_ref().map(|l| l.index);
        meta.approximation.clone_from(&info.approximation);
        meta.tokenizer.clone_from(&self.options.tokenizer);
        meta.input_basis.clone_from(&self.options.basis);
        meta.biases = self.model.layer().has_biases();
        if let Some(shard) = self.options.shard {
            meta.extra = ShardMeta {
                shard,
                outputs: self.slice.clone(),
                n_out: self.directions.matrix.nrows(),
                chunk: self.params.chunk_size,
                job: self.description.clone(),
            }
            .entries();
        }
        meta
    }

    /// What identifies this run's directory for resuming: the job, and the shard if any (a
    /// shard's directory is not the whole job's).
    pub fn run_description(&self) -> serde_json::Value {
        let mut d = self.description.clone();
        if let (Some(shard), Some(map)) = (self.options.shard, d.as_object_mut()) {
            map.insert("shard".into(), shard.to_string().into());
            map.insert("chunk".into(), self.params.chunk_size.into());
        }
        d
    }
}

/// What a deep image model's block is decomposed along, said where it is easy to get wrong:
/// an earlier block's default outputs are the coordinates of the stream it writes (not
/// classes), and a chain from a results directory is only the model's own chain when those
/// results are of the next block.
fn chain_notes(checkpoint: &Checkpoint, spec: &OutputSpec, progress: &dyn Progress) {
    let info = checkpoint.info();
    let Some(choice) = info.layer.as_ref().filter(|_| info.layout == Layout::Image) else {
        return;
    };
    let (i, n) = (choice.index, choice.available.len());
    match spec {
        OutputSpec::Classes if i + 1 < n => progress.note(&format!(
            "note: block {i} is not the last: its outputs are the {} coordinates of the stream \
             block {} reads; --outputs results:DIR chains in block {}'s components",
            info.d_out,
            i + 1,
            i + 1
        )),
        OutputSpec::Results(dir) => {
            if let Ok(r) = ResultsFile::open(dir) {
                let m = &r.meta().meta;
                if m.layer != Some(i + 1) {
                    let of = m.layer.map_or("a model without blocks".to_string(), |l| {
                        format!("block {l}")
                    });
                    progress.note(&format!(
                        "note: {} holds components of {of} of {}; the chain of block {i} is \
                         block {}'s components (the directions are still exact, just not the \
                         chain)",
                        dir.display(),
                        m.model,
                        i + 1
                    ));
                }
            }
        }
        _ => {}
    }
    if i > 0 {
        progress.note(&format!(
            "note: block {i} reads the hidden stream, not pixels: its components have no \
             picture in the input (only block 0's do)"
        ));
    }
}

/// The JSON description of a job: the model file's fingerprint (not its weights: hashing a
/// checkpoint larger than memory would defeat memory mapping), layout and layer, digests of
/// the directions and of the basis as loaded (so a changed SAE file is a new job), the
/// solver settings as decided, the precision, the tokenizer file and the bilens version.
/// Chunk sizes and thread counts are left out: no output's result depends on them.
fn describe<T: Real + Element>(
    checkpoint: &Checkpoint,
    options: &DecomposeOptions,
    directions: &Directions<T>,
    basis: Option<&InputBasis<T>>,
    params: &DecomposeParams,
    method: Method,
) -> Result<serde_json::Value> {
    let tokenizer = options
        .tokenizer
        .as_deref()
        .map(file_fingerprint)
        .transpose()?;
    let info = checkpoint.info();
    Ok(serde_json::json!({
        "command": match options.hosvd {
            Some(s) => format!("hosvd {s}"),
            None => "decompose".to_string(),
        },
        "model": checkpoint.file().fingerprint(),
        // The layout as asked, in the form the first resumable runs recorded.
        "layout": format!("{:?}", checkpoint.spec()),
        "resolved_layout": info.layout.name(),
        "layer": info.layer.as_ref().map(|l| l.index),
        "outputs": options.outputs.spec.to_string(),
        "rows": options.outputs.rows.as_ref().map(ToString::to_string),
        "directions": array_digest(directions.matrix.view().into_dyn()),
        "basis": options.basis.as_ref().map(ToString::to_string),
        "basis_digest": basis.map(|b| array_digest(b.decoder().into_dyn())),
        "k": params.k,
        "order": params.order.name(),
        "method": method.name(),
        "route": params.route.name(),
        "eigenvectors": params.eigenvectors,
        "interactions": params.interactions,
        "precision": <T as Real>::DTYPE,
        "tokenizer": tokenizer,
        "bilens_version": env!("CARGO_PKG_VERSION"),
    }))
}
