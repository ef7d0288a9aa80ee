//! The declaration of a results directory, checked before any file is made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bilens_decomp::Real;

use super::extras::ExtraSpec;
use super::lock::WriterLock;
use super::meta::{ResultsMeta, keys};
use super::names::{self, EIGENVALUES, EIGENVECTORS, INPUT_EIGENVECTORS, OUTPUTS};
use super::resume::ResumeLog;
use super::summary::ResultsShape;
use super::writer::ResultsWriter;
use super::{DECOMPOSITION_FILE, FORMAT_VERSION};
use crate::error::{IoError, Result};
use crate::write::{Dtype, Element, SafetensorsWriter, TensorSpec};

/// Everything a [`ResultsWriter`] declares, checked, before a file is made.
#[derive(Clone)]
pub(super) struct Plan {
    pub(super) dir: PathBuf,
    pub(super) file_path: PathBuf,
    pub(super) shape: ResultsShape,
    pub(super) specs: Vec<TensorSpec>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) extras: Vec<TensorSpec>,
    pub(super) globals: Vec<TensorSpec>,
}

impl Plan {
    pub(super) fn new<T: Real + Element>(
        dir: &Path,
        shape: ResultsShape,
        meta: &ResultsMeta,
        extras: &[ExtraSpec],
        globals: &[TensorSpec],
        run_id: String,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| IoError::os(dir, e))?;
        let file_path = dir.join(DECOMPOSITION_FILE);
        let declare_err = |tensor: &str, reason: String| IoError::Write {
            path: file_path.clone(),
            tensor: tensor.to_string(),
            reason,
        };
        let mut metadata = meta.entries().map_err(|key| {
            declare_err(
                "__metadata__",
                format!("extra key '{key}' would overwrite one of the results' own"),
            )
        })?;
        for (key, value) in [
            (keys::K, shape.k.to_string()),
            (keys::PRECISION, <T as Real>::DTYPE.to_string()),
            (keys::BILENS_VERSION, env!("CARGO_PKG_VERSION").to_string()),
            (keys::FORMAT_VERSION, FORMAT_VERSION.to_string()),
            (keys::RUN_ID, run_id),
        ] {
            metadata.insert(key.to_string(), value);
        }
        let ResultsShape {
            n_out,
            k,
            d_in,
            d_out,
            ..
        } = shape;
        let float = <T as Element>::DTYPE;
        let mut specs = vec![TensorSpec::new(EIGENVALUES, float, &[n_out, k])];
        if shape.eigenvectors {
            specs.push(TensorSpec::new(EIGENVECTORS, float, &[n_out, k, d_in]));
            if let Some(d_input) = shape.d_input {
                specs.push(TensorSpec::new(
                    INPUT_EIGENVECTORS,
                    float,
                    &[n_out, k, d_input],
                ));
            }
        }
        specs.push(TensorSpec::new(OUTPUTS, float, &[n_out, d_out]));
        let mut extra_specs = Vec::with_capacity(extras.len());
        for e in extras {
            if e.dtype != float && e.dtype != Dtype::I64 {
                return Err(declare_err(
                    &e.name,
                    format!(
                        "declared {} but the results are stored in {}: a per-output extra holds \
                         {} values or I64 indices",
                        e.dtype.name(),
                        float.name(),
                        float.name()
                    ),
                ));
            }
            let mut stored = vec![n_out];
            stored.extend_from_slice(&e.trailing);
            extra_specs.push(TensorSpec::new(e.name.clone(), e.dtype, &stored));
        }
        for t in extra_specs.iter().chain(globals) {
            if names::FIXED.contains(&t.name.as_str()) {
                return Err(declare_err(
                    &t.name,
                    "the name belongs to a tensor every results directory has".into(),
                ));
            }
        }
        specs.extend(extra_specs.iter().cloned());
        specs.extend(globals.iter().cloned());
        Ok(Self {
            dir: dir.to_path_buf(),
            file_path,
            shape,
            specs,
            metadata,
            extras: extra_specs,
            globals: globals.to_vec(),
        })
    }

    /// Takes the directory's [`WriterLock`]: one writer per directory.
    pub(super) fn lock(&self) -> Result<WriterLock> {
        WriterLock::acquire(&self.dir)
    }

    pub(super) fn into_writer<T>(
        self,
        lock: WriterLock,
        file: SafetensorsWriter,
        log: Option<ResumeLog>,
    ) -> ResultsWriter<T> {
        ResultsWriter {
            _lock: lock,
            dir: self.dir,
            file_path: self.file_path,
            shape: self.shape,
            file,
            metadata: self.metadata,
            summaries: vec![None; self.shape.n_out],
            extras: self.extras,
            globals: self.globals.into_iter().map(|g| (g, false)).collect(),
            hosvd: None,
            log,
            counts: BTreeMap::new(),
            pending_counts: BTreeMap::new(),
            _precision: std::marker::PhantomData,
        }
    }
}
