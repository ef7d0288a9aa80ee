//! The data bilens ships: the trained MNIST model and the MNIST dataset, in the repository's
//! `data/` directory.
//!
//! Found in this order: the directory named by the `BILENS_DATA` environment variable;
//! `data/` under the working directory (paths then stay relative, as results record them);
//! the `data/` of the repository this library was built from (so a binary built from a
//! checkout runs anywhere on the same machine).

use std::path::{Path, PathBuf};

use crate::error::{Arg, Error, Result};

/// The environment variable naming the data directory.
pub const DATA_ENV: &str = "BILENS_DATA";

/// The shipped model, relative to the data directory.
const MODEL: &str = "models/mnist-bilinear/model.safetensors";
/// The shipped model's directory, relative to the data directory.
const MODEL_DIR: &str = "models/mnist-bilinear";
/// The shipped MNIST dataset, relative to the data directory.
const MNIST: &str = "mnist";
/// The Fashion-MNIST directory, relative to the data directory.
const FASHION_MNIST: &str = "fashion-mnist";

/// The shipped MNIST model (`data/models/mnist-bilinear/model.safetensors`).
pub fn model() -> Result<PathBuf> {
    find(MODEL)
}

/// The shipped model's directory (`data/models/mnist-bilinear`): the model and the
/// `config.json` of the recipe it was trained with.
pub fn model_dir() -> Result<PathBuf> {
    find(MODEL_DIR)
}

/// The Fashion-MNIST directory (`data/fashion-mnist`). Its fetch script is shipped, its data
/// is not: the directory may hold no dataset until the script has run.
pub fn fashion_mnist() -> Result<PathBuf> {
    find(FASHION_MNIST)
}

/// The shipped MNIST dataset directory (`data/mnist`).
pub fn mnist() -> Result<PathBuf> {
    find(MNIST)
}

fn find(item: &str) -> Result<PathBuf> {
    let candidates = [
        std::env::var_os(DATA_ENV).map(PathBuf::from),
        Some(PathBuf::from("data")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")),
    ];
    candidates
        .iter()
        .flatten()
        .map(|dir| dir.join(item))
        .find(|p| p.exists())
        .ok_or_else(|| {
            Error::argument(
                Arg::Data,
                "",
                format!(
                    "the shipped {item} is in none of ${DATA_ENV}, ./data and the repository \
                     bilens was built from"
                ),
                format!(
                    "run from the repository root, or set {DATA_ENV} to the repository's data \
                     directory"
                ),
            )
        })
}
