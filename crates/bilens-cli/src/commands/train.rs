//! `bilens train mnist`: the paper's MNIST classifier, trained with hand-written gradients.

use std::time::Instant;

use anyhow::Context;
use bilens_io::load_image_dataset;
use bilens_train::{TrainConfig, train};

use crate::args::{TrainCommand, TrainMnistArgs};
use crate::printer::Printer;

pub fn run(command: TrainCommand, printer: &Printer) -> anyhow::Result<()> {
    match command {
        TrainCommand::Mnist(args) => mnist(&args, printer),
    }
}

fn mnist(args: &TrainMnistArgs, printer: &Printer) -> anyhow::Result<()> {
    let defaults = TrainConfig::default();
    let config = TrainConfig {
        width: args.width.unwrap_or(defaults.width),
        epochs: args.epochs.unwrap_or(defaults.epochs),
        lr: args.lr.unwrap_or(defaults.lr),
        weight_decay: args.weight_decay.unwrap_or(defaults.weight_decay),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        noise_std: args.noise.unwrap_or(defaults.noise_std),
        seed: args.seed.unwrap_or(defaults.seed),
        residual: args.residual,
        layers: args.layers,
    };
    let data = load_image_dataset(&args.data)
        .with_context(|| format!("cannot load the dataset in {}", args.data.display()))?;
    printer.note(format!(
        "training {} block{}{} of width {} for {} epochs on {} images (seed {}, noise {}, weight decay {})",
        config.layers,
        if config.layers == 1 { "" } else { "s" },
        if config.residual { ", residual," } else { "" },
        config.width,
        config.epochs,
        data.train.len(),
        config.seed,
        config.noise_std,
        config.weight_decay
    ));
    let start = Instant::now();
    let bar = printer.bar(config.epochs as u64, "train");
    let model = train(&config, &data, |r| {
        bar.set_message(format!(
            "loss {:.4}  test acc {:.2}%  ({:.1} s/epoch)",
            r.train_loss,
            100.0 * r.test_accuracy,
            r.seconds
        ));
        bar.inc(1);
        printer.note(format!(
            "epoch {:>3}/{}  lr {:.2e}  train loss {:.4}  train acc {:.2}%  test loss {:.4}  test acc {:.2}%  {:.1} s",
            r.epoch,
            r.epochs,
            r.lr,
            r.train_loss,
            100.0 * r.train_accuracy,
            r.test_loss,
            100.0 * r.test_accuracy,
            r.seconds
        ));
    })?;
    bar.finish_and_clear();
    model
        .save(&args.out)
        .with_context(|| format!("cannot save the model into {}", args.out.display()))?;
    let last = model.history().last().map_or(0.0, |r| r.test_accuracy);
    printer.data(format!(
        "trained in {:.1} s; test accuracy {:.2}%; wrote {}/model.safetensors and config.json",
        start.elapsed().as_secs_f64(),
        100.0 * last,
        args.out.display()
    ));
    Ok(())
}
