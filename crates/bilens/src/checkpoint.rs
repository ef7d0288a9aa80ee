//! A model file opened once: [`ModelFile`] keeps the memory map and the file's fingerprint;
//! a [`Checkpoint`] adds the layout resolved in it (which tensors form the bilinear layer,
//! the token matrices). Every later step reads through them, so a run over every layer of a
//! transformer maps its file once and reads each layer's tensors only.

use std::path::Path;
use std::sync::Arc;

use bilens_decomp::{BilinearModel, Real};
use bilens_io::{
    Inspection, LayoutSpec, ModelInfo, TensorFile, describe_model, file_fingerprint, model_layers,
    read_model,
};

use crate::error::Result;

/// An open model file: mapped, its header parsed, nothing else read.
#[derive(Clone, Debug)]
pub struct ModelFile {
    file: Arc<TensorFile>,
    fingerprint: Arc<serde_json::Value>,
}

impl ModelFile {
    /// Opens and maps `path`: a safetensors file or a PyTorch checkpoint.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_key(path, None)
    }

    /// Opens and maps `path`; `key` names the top-level entry of a PyTorch checkpoint that
    /// holds the state dict, when the automatic choice (the checkpoint itself, else
    /// `model_state_dict`, `state_dict` or `model`) is not the one wanted.
    pub fn open_key(path: impl AsRef<Path>, key: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        let mut fingerprint = file_fingerprint(path)?;
        // Another state dict of the same file is another model, so another job.
        if let (Some(key), Some(map)) = (key, fingerprint.as_object_mut()) {
            map.insert("state_dict_key".into(), key.into());
        }
        Ok(Self {
            file: Arc::new(TensorFile::open_key(path, key)?),
            fingerprint: Arc::new(fingerprint),
        })
    }

    /// The file, as named when opened.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// What identifies the file's content without reading it all (size, modification time,
    /// digest of its head): part of a run's identity, so that a changed model is a new job.
    pub fn fingerprint(&self) -> &serde_json::Value {
        &self.fingerprint
    }

    /// Every tensor, the header metadata, and the model `spec` resolves to (or why it does
    /// not): all from the header.
    pub fn inspect(&self, spec: &LayoutSpec) -> Inspection {
        Inspection {
            path: self.path().to_path_buf(),
            tensors: self.file.tensors().to_vec(),
            metadata: self.file.metadata().clone(),
            model: describe_model(&self.file, spec),
        }
    }

    /// The layers of a layered model (a transformer), ascending.
    pub fn layers(&self, spec: &LayoutSpec) -> Result<Vec<usize>> {
        Ok(model_layers(&self.file, spec)?)
    }

    /// The bilinear layer `spec` finds in the file.
    pub fn checkpoint(&self, spec: &LayoutSpec) -> Result<Checkpoint> {
        Ok(Checkpoint {
            info: describe_model(&self.file, spec)?,
            spec: spec.clone(),
            file: self.clone(),
        })
    }

    pub(crate) fn tensors(&self) -> &TensorFile {
        &self.file
    }
}

/// A model file with its bilinear layer found: where `W`, `V`, `P`, the embedding, biases,
/// norm gain and token matrices are, and the dimensions, before any weight is read.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    file: ModelFile,
    spec: LayoutSpec,
    info: ModelInfo,
}

impl Checkpoint {
    /// Opens `path` and finds its bilinear layer by `spec`.
    ///
    /// ```
    /// # fn main() -> Result<(), bilens::Error> {
    /// let model = bilens::Checkpoint::open(bilens::shipped::model()?, &Default::default())?;
    /// assert_eq!((model.info().d_input, model.info().d_out), (784, 10));
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(path: impl AsRef<Path>, spec: &LayoutSpec) -> Result<Self> {
        ModelFile::open(path)?.checkpoint(spec)
    }

    /// The open file.
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// The layout as asked for.
    pub fn spec(&self) -> &LayoutSpec {
        &self.spec
    }

    /// The layer as found: layout, tensor sources, dimensions, notes.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The same file's layer `layer` (a transformer's), found by the same layout.
    pub fn with_layer(&self, layer: usize) -> Result<Self> {
        self.file.checkpoint(&with_layer(&self.spec, layer))
    }

    /// Reads the model in precision `T`: only the tensors of the layer (and its embedding and
    /// linear path), converted and checked finite, biases and norm gain folded in.
    pub fn model<T: Real>(&self) -> Result<BilinearModel<T>> {
        Ok(read_model(self.file.tensors(), &self.info)?)
    }
}

/// `spec` choosing layer `layer` (for the layouts that have layers; others are unchanged).
pub(crate) fn with_layer(spec: &LayoutSpec, layer: usize) -> LayoutSpec {
    match spec {
        LayoutSpec::Lm { .. } => LayoutSpec::Lm { layer: Some(layer) },
        LayoutSpec::Gated { .. } => LayoutSpec::Gated { layer: Some(layer) },
        LayoutSpec::Tl { .. } => LayoutSpec::Tl { layer: Some(layer) },
        LayoutSpec::Image { residual, .. } => LayoutSpec::Image {
            residual: *residual,
            layer: Some(layer),
        },
        LayoutSpec::Auto { residual, .. } => LayoutSpec::Auto {
            residual: *residual,
            layer: Some(layer),
        },
        other => other.clone(),
    }
}
