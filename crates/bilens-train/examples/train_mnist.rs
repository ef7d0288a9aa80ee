//! Trains the paper's MNIST classifier on the shipped data and prints one line per epoch:
//! the run used to choose `DEFAULT_EPOCHS`.
//!
//!     cargo run --release -p bilens-train --example train_mnist -- [--epochs N] [--width H]
//!         [--seed S] [--noise STD] [--wd WD] [--lr LR] [--residual] [--data DIR] [--out DIR]
//!
//! Without flags it runs `TrainConfig::default()` on `data/mnist`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example program: its output is the training log"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bilens_train::{TrainConfig, train};

fn main() -> ExitCode {
    let mut config = TrainConfig::default();
    let mut data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        let ok = match flag.as_str() {
            "--epochs" => value().parse().map(|v| config.epochs = v).is_ok(),
            "--width" => value().parse().map(|v| config.width = v).is_ok(),
            "--seed" => value().parse().map(|v| config.seed = v).is_ok(),
            "--noise" => value().parse().map(|v| config.noise_std = v).is_ok(),
            "--wd" => value().parse().map(|v| config.weight_decay = v).is_ok(),
            "--lr" => value().parse().map(|v| config.lr = v).is_ok(),
            "--batch" => value().parse().map(|v| config.batch_size = v).is_ok(),
            "--residual" => {
                config.residual = true;
                true
            }
            "--data" => {
                data = PathBuf::from(value());
                true
            }
            "--out" => {
                out = Some(PathBuf::from(value()));
                true
            }
            _ => false,
        };
        if !ok {
            eprintln!("error: bad flag or value: {flag}");
            return ExitCode::from(1);
        }
    }
    let dataset = match bilens_io::load_image_dataset(&data) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{config:?}");
    println!("epoch  lr         train_loss  train_acc  test_loss  test_acc  seconds");
    let start = Instant::now();
    let model = train(&config, &dataset, |r| {
        println!(
            "{:>5}  {:.3e}  {:>10.4}  {:>9.4}  {:>9.4}  {:>8.4}  {:>7.2}",
            r.epoch, r.lr, r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds
        );
    });
    let model = match model {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("total {:.1} s", start.elapsed().as_secs_f64());
    let bits = model
        .embed()
        .iter()
        .chain(model.block().iter())
        .chain(model.head().iter())
        .fold(0u64, |h, x| {
            (h ^ u64::from(x.to_bits())).wrapping_mul(0x100000001b3)
        });
    println!("weights fingerprint {bits:016x}");
    if let Some(dir) = out {
        if let Err(e) = model.save(&dir) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        println!("saved to {}", dir.display());
    }
    ExitCode::SUCCESS
}
