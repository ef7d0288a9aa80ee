//! # bilens-repro: the paper's results, regenerated
//!
//! The image-classification results of Pearce, Dooms, Rigg, Oramas, Sharkey, "Bilinear MLPs
//! enable weight-based mechanistic interpretability" (ICLR 2025; arXiv 2410.08417), Section 4
//! and Appendices, regenerated from the shipped data into `OUT/REPORT.md` with figures and
//! CSV/JSON data: [`reproduce_mnist`].
//!
//! It trains every model it needs ([`Budget`]: a quick budget by default, a larger one, and
//! a seconds-long smoke budget for tests), runs each evaluation of [`bilens::eval`]
//! (truncation, consistency across seeds and sizes, the regularisation sweep, adversarial
//! masks, an explanation, the HOSVD panel, Fashion-MNIST), and writes a table that puts each
//! claim of the paper beside bilens's number with a verdict computed from the numbers
//! ([`Claim`]).
//!
//! | module | what it holds |
//! |---|---|
//! | `budget` | how much is trained and evaluated |
//! | `training` | training the models, or reusing identical ones |
//! | `studies` | what is measured on the models |
//! | `claims` | the claims table |
//! | `report` | `REPORT.md` |
//! | `provenance` | the date and machine a report records |

mod budget;
mod claims;
mod provenance;
mod report;
mod studies;
mod training;

use std::path::PathBuf;
use std::time::Instant;

use bilens::Progress;
use bilens::eval::{ClassComponents, ImageModel, ensure_dir, load_dataset as load_data};
use bilens_decomp::{effective_count, effective_rank_of};
use bilens_train::{TrainConfig, TrainError};

pub use budget::Budget;
pub use claims::Claim;
use claims::claims;
use studies::{
    SweepCell, adversarial_regimes, consistency_study, evaluate_main, hosvd_panel, write_sweep,
};
use training::{MAIN_SEED, Trainer, accuracy, same_recipe};

/// What goes wrong in a reproduction: a library call, or training a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call of the bilens library failed.
    #[error(transparent)]
    Bilens(#[from] bilens::Error),
    /// Training (or saving) one of the models failed.
    #[error("{context}: {source}")]
    Train {
        /// Which model.
        context: String,
        /// What went wrong (boxed: it carries paths and shapes, and every result of this
        /// crate would otherwise be as large).
        source: Box<TrainError>,
    },
}

macro_rules! via_bilens {
    ($($source:ty),*) => {$(
        impl From<$source> for Error {
            fn from(e: $source) -> Self {
                Error::Bilens(e.into())
            }
        }
    )*};
}

via_bilens!(
    bilens_io::IoError,
    bilens_decomp::DecompError,
    bilens_plot::PlotError
);

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a reproduction writes, what it reads and how much it does.
#[derive(Clone, Debug)]
pub struct ReproduceOptions {
    /// Directory for the report, figures, models and data files.
    pub out: PathBuf,
    /// How much to train and evaluate.
    pub budget: Budget,
    /// The MNIST data (default: the shipped copy).
    pub data: Option<PathBuf>,
    /// The Fashion-MNIST data (default: `data/fashion-mnist`, skipped with a note when
    /// absent).
    pub fashion_data: Option<PathBuf>,
    /// Reuse models already trained in the output directory (same recipe) instead of
    /// retraining them.
    pub resume: bool,
}

/// What a reproduction found, and where its report is.
#[derive(Clone, Debug)]
pub struct Reproduction {
    /// Every claim, with bilens's number and the verdict.
    pub claims: Vec<Claim>,
    /// `REPORT.md`.
    pub report: PathBuf,
    /// Minutes the whole run took.
    pub minutes: f64,
}

/// Trains what the budget needs, runs every study and writes `REPORT.md` with its figures
/// and data into `options.out`.
pub fn reproduce_mnist(
    options: &ReproduceOptions,
    progress: &dyn Progress,
) -> Result<Reproduction> {
    let start = Instant::now();
    let budget = options.budget.clone();
    let out = &options.out;
    let data_dir = match &options.data {
        Some(d) => d.clone(),
        None => bilens::shipped::mnist()?,
    };
    // Where the report says it looked when there is no Fashion-MNIST.
    let fashion_dir = match &options.fashion_data {
        Some(d) => d.clone(),
        None => bilens::shipped::fashion_mnist().unwrap_or_else(|_| "data/fashion-mnist".into()),
    };
    let data = load_data(&data_dir)?;
    let fashion = match load_data(&fashion_dir) {
        Ok(d) => Some(d),
        Err(e) if options.fashion_data.is_some() => return Err(e.into()),
        Err(e) => {
            progress.note(&format!(
                "note: no Fashion-MNIST ({e:#}); that part is skipped. \
                 hint: fetch it with `data/fashion-mnist/fetch.sh` (Debian's dataset-fashion-mnist)"
            ));
            None
        }
    };
    ensure_dir(out)?;
    let figures = out.join("figures");
    let results = out.join("data");
    ensure_dir(&figures)?;
    ensure_dir(&results)?;
    progress.note(&format!(
        "reproducing with the {} budget into {} ({} epochs of training in all)",
        budget.name,
        out.display(),
        budget.total_epochs(fashion.is_some())
    ));
    let mut trainer = Trainer {
        progress,
        resume: options.resume,
        task: progress.task("train", budget.total_epochs(fashion.is_some())),
        seconds: 0.0,
        reused: 0,
        reused_seconds: 0.0,
        unrecorded: 0,
    };
    let recipe = TrainConfig::default();

    // 1. The main model, and everything measured on it.
    let main_config = TrainConfig {
        epochs: budget.main_epochs,
        seed: MAIN_SEED,
        width: if budget.name == "smoke" {
            16
        } else {
            recipe.width
        },
        ..recipe.clone()
    };
    // The shipped model was trained by `bilens train mnist` on the shipped data with the
    // default recipe: when this budget asks for exactly that recipe and data, it is the main
    // model, and training it again would only reproduce the same weights.
    let shipped_main = bilens::shipped::model_dir()
        .ok()
        .filter(|dir| options.data.is_none() && same_recipe(dir, &main_config));
    let main = if let Some(dir) = &shipped_main {
        trainer.reuse(dir, &main_config, "the main model")?
    } else {
        trainer.get(
            &out.join("models/main"),
            &main_config,
            &data,
            "the main model",
        )?
    };
    let main_is_shipped = shipped_main.is_some();
    let main_results = evaluate_main(
        &main,
        &data,
        "MNIST",
        false,
        &figures,
        &results.join("mnist"),
        &budget,
        progress,
    )?;
    let hosvd = hosvd_panel(&main, &out.join("data/hosvd"), &figures.join("hosvd"))?;

    // 2. Consistency across seeds and sizes.
    let mut by_width: Vec<(usize, Vec<ImageModel>)> = Vec::new();
    for &w in &budget.widths {
        let mut models = Vec::new();
        for &seed in &budget.seeds {
            let config = TrainConfig {
                width: w,
                epochs: budget.width_epochs,
                seed,
                ..recipe.clone()
            };
            models.push(trainer.get(
                &out.join(format!("models/width-{w}-seed-{seed}")),
                &config,
                &data,
                &format!("width {w} seed {seed}"),
            )?);
        }
        by_width.push((w, models));
    }
    let (consistency_by_width, cross_size) =
        consistency_study(&by_width, &budget, &figures, &results, progress)?;

    // 3. Regularisation sweep (and the models of the adversarial comparison).
    let mut sweep = Vec::new();
    let mut sweep_models = Vec::new();
    for &noise in &budget.sweep_noise {
        for &wd in &budget.sweep_wd {
            let config = TrainConfig {
                width: budget.sweep_width,
                epochs: budget.sweep_epochs,
                noise_std: noise,
                weight_decay: wd,
                seed: MAIN_SEED,
                ..recipe.clone()
            };
            let m = trainer.get(
                &out.join(format!("models/sweep-noise-{noise}-wd-{wd}")),
                &config,
                &data,
                &format!("noise {noise} weight decay {wd}"),
            )?;
            let comps = ClassComponents::of(&m.model)?;
            let classes = comps.values.nrows();
            let effective_rank = (0..classes)
                .map(|c| effective_rank_of(comps.values.row(c)))
                .sum::<f64>()
                / classes as f64;
            let pixel_count = (0..classes)
                .filter_map(|c| comps.by_sign(c, true).first().copied().map(|i| (c, i)))
                .map(|(c, i)| effective_count(comps.pixels.slice(ndarray::s![c, i, ..])))
                .sum::<f64>()
                / classes as f64;
            sweep.push(SweepCell {
                noise,
                wd,
                accuracy: accuracy(&m, &data.test),
                effective_rank,
                pixel_count,
            });
            sweep_models.push(((noise, wd), m, comps));
        }
    }
    write_sweep(&sweep, &budget, &figures, &results)?;
    progress.note("adversarial masks on the sweep's models");
    let masks_by_regime = adversarial_regimes(&sweep_models, &budget, &data, &figures, &results)?;

    // 4. Fashion-MNIST.
    let fashion_results = match &fashion {
        Some(fd) => {
            let fm = trainer.get(
                &out.join("models/fashion"),
                &main_config,
                fd,
                "the Fashion-MNIST model",
            )?;
            Some(evaluate_main(
                &fm,
                fd,
                "Fashion-MNIST",
                true,
                &figures,
                &results.join("fashion"),
                &budget,
                progress,
            )?)
        }
        None => None,
    };

    // 5. The report.
    let claims = claims(
        &main_results,
        &consistency_by_width,
        &cross_size,
        &sweep,
        &masks_by_regime,
        fashion_results.as_ref(),
        &budget,
    );
    let elapsed = start.elapsed().as_secs_f64();
    let report = report::report(
        options,
        &budget,
        &claims,
        &main_results,
        &hosvd,
        &consistency_by_width,
        &sweep,
        &masks_by_regime,
        fashion_results.as_ref(),
        &fashion_dir,
        main_is_shipped,
        &trainer.time_summary(elapsed),
    );
    let report_path = out.join("REPORT.md");
    bilens_io::write_atomic(&report_path, report.as_bytes())?;

    Ok(Reproduction {
        claims,
        report: report_path,
        minutes: elapsed / 60.0,
    })
}

#[cfg(test)]
mod tests {
    use bilens_train::TrainConfig;

    use crate::budget::Budget;
    use crate::provenance::now_utc;
    use crate::training::{MAIN_SEED, same_recipe};

    #[test]
    fn dates_are_civil() {
        // The format only; the algorithm is checked on a known day below.
        let s = now_utc();
        assert_eq!(s.len(), "2025-01-01 00:00 UTC".len(), "{s}");
    }

    #[test]
    fn the_quick_budget_reuses_the_shipped_model() {
        // The default run trains no main MNIST model: the shipped one has its recipe. A change
        // to the recipe, the quick budget or the shipped model's config breaks this.
        let config = TrainConfig {
            epochs: Budget::quick().main_epochs,
            seed: MAIN_SEED,
            ..TrainConfig::default()
        };
        let shipped = bilens::shipped::model_dir().expect("the shipped model is in data/");
        assert!(same_recipe(&shipped, &config));
        let other = TrainConfig {
            epochs: Budget::full().main_epochs,
            ..config
        };
        assert!(!same_recipe(&shipped, &other));
    }

    #[test]
    fn budgets_count_their_epochs() {
        let q = Budget::quick();
        let with = q.total_epochs(true);
        assert_eq!(with - q.total_epochs(false), q.main_epochs as u64);
    }
}
