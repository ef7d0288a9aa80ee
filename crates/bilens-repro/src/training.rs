//! Training the reproduction's models, or reusing identical ones: the shipped model, and
//! with `resume` the models of an earlier run in the output directory.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use bilens::eval::{ImageModel, write_json};
use bilens::{Progress, Task};
use bilens_io::{ImageDataset, ImageSet, LayoutSpec, load_model};
use bilens_train::{TrainConfig, saved_recipe, train};
use serde_json::json;

use crate::{Error, Result};

/// The seed of the main model (the shipped model's).
pub(crate) const MAIN_SEED: u64 = 42;

/// Trains models, or reuses identical ones already in the output directory with `--resume`.
pub(crate) struct Trainer<'a> {
    pub(crate) progress: &'a dyn Progress,
    pub(crate) resume: bool,
    /// Epochs trained (or reused) so far.
    pub(crate) task: Box<dyn Task + 'a>,
    /// Seconds spent training in this run.
    pub(crate) seconds: f64,
    /// Models reused (from `--resume` or the shipped model).
    pub(crate) reused: usize,
    /// The training seconds recorded beside the reused models (`training.json`).
    pub(crate) reused_seconds: f64,
    /// Reused models without such a record.
    pub(crate) unrecorded: usize,
}

/// The record written beside every trained model, read back when it is reused.
const TRAINING_RECORD: &str = "training.json";

impl Trainer<'_> {
    /// The report's account of the time: this run's, and what the reused models had cost.
    pub(crate) fn time_summary(&self, elapsed: f64) -> String {
        let mut t = format!(
            "{:.1} min in all ({:.1} min training)",
            elapsed / 60.0,
            self.seconds / 60.0
        );
        if self.reused > 0 {
            let _ = write!(
                t,
                "; {} reused, whose training took {:.1} min when they were trained",
                match self.reused {
                    1 => "1 model".to_string(),
                    n => format!("{n} models"),
                },
                self.reused_seconds / 60.0
            );
            if self.unrecorded > 0 {
                let _ = write!(t, " ({} of them without a record)", self.unrecorded);
            }
        }
        t
    }

    /// The model in `dir`, already trained with `config` (checked by the caller).
    pub(crate) fn reuse(
        &mut self,
        dir: &Path,
        config: &TrainConfig,
        what: &str,
    ) -> Result<ImageModel> {
        let path = dir.join("model.safetensors");
        let loaded = load_model::<f64>(&path, &LayoutSpec::default()).map_err(|e| {
            bilens::Error::from(e).context(format!("cannot reuse {}", path.display()))
        })?;
        self.task.advance(config.epochs as u64);
        self.reused += 1;
        let recorded = std::fs::read_to_string(dir.join(TRAINING_RECORD))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("seconds").and_then(serde_json::Value::as_f64));
        match recorded {
            Some(s) => self.reused_seconds += s,
            None => self.unrecorded += 1,
        }
        self.progress.note(&format!(
            "reused {what}: {} has the same recipe",
            dir.display()
        ));
        Ok(ImageModel {
            path,
            model: loaded.model,
        })
    }

    /// The model trained with `config` on `data`, saved in `dir`.
    pub(crate) fn get(
        &mut self,
        dir: &Path,
        config: &TrainConfig,
        data: &ImageDataset,
        what: &str,
    ) -> Result<ImageModel> {
        let path = dir.join("model.safetensors");
        if self.resume && same_recipe(dir, config) && path.is_file() {
            return self.reuse(dir, config, what);
        }
        let start = Instant::now();
        let task = &self.task;
        task.message(what);
        let trained = train(config, data, |_| task.advance(1)).map_err(|source| Error::Train {
            context: format!("training {what} failed"),
            source: Box::new(source),
        })?;
        trained.save(dir).map_err(|source| Error::Train {
            context: format!("cannot save the model into {}", dir.display()),
            source: Box::new(source),
        })?;
        let secs = start.elapsed().as_secs_f64();
        self.seconds += secs;
        let acc = trained.history().last().map_or(0.0, |r| r.test_accuracy);
        write_json(
            &dir.join(TRAINING_RECORD),
            &json!({ "seconds": secs, "epochs": config.epochs, "test_accuracy": acc }),
        )?;
        self.progress.note(&format!(
            "trained {what}: {:.2}% in {secs:.0} s ({})",
            100.0 * acc,
            dir.display()
        ));
        // The model as saved, read back like a reused one (f32 widened to f64: exactly the
        // trained weights).
        let loaded = load_model::<f64>(&path, &LayoutSpec::default()).map_err(|e| {
            bilens::Error::from(e).context(format!("cannot read back {}", path.display()))
        })?;
        Ok(ImageModel {
            path,
            model: loaded.model,
        })
    }
}

/// Whether `dir` holds a model trained with exactly this recipe (its `config.json`).
pub(crate) fn same_recipe(dir: &Path, c: &TrainConfig) -> bool {
    saved_recipe(dir).as_ref() == Some(c)
}

/// Test accuracy of a model (forward pass in f64).
pub(crate) fn accuracy(model: &ImageModel, set: &ImageSet) -> f64 {
    bilens::eval::correct_predictions(&model.model, set) as f64 / set.len().max(1) as f64
}
