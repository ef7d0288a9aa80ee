//! `bilens train mnist`: the paper's MNIST classifier or a bilinear CNN, trained with
//! hand-written gradients.

use std::time::Instant;

use anyhow::Context;
use bilens_io::load_image_dataset;
use bilens_train::{ConvShape, EpochReport, TrainConfig, train, train_conv};

use crate::args::{TrainCommand, TrainMnistArgs};
use crate::printer::Printer;

pub fn run(command: TrainCommand, printer: &Printer) -> anyhow::Result<()> {
    match command {
        TrainCommand::Mnist(args) => mnist(&args, printer),
    }
}

fn mnist(args: &TrainMnistArgs, printer: &Printer) -> anyhow::Result<()> {
    let defaults = if args.conv {
        TrainConfig::conv()
    } else {
        TrainConfig::default()
    };
    let config = TrainConfig {
        width: args.width.or(args.channels).unwrap_or(defaults.width),
        epochs: args.epochs.unwrap_or(defaults.epochs),
        lr: args.lr.unwrap_or(defaults.lr),
        weight_decay: args.weight_decay.unwrap_or(defaults.weight_decay),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        noise_std: args.noise.unwrap_or(defaults.noise_std),
        seed: args.seed.unwrap_or(defaults.seed),
        residual: args.residual,
        layers: args.layers,
    };
    let shape = args.conv.then(|| {
        let kernel = args.kernel.unwrap_or(ConvShape::default().kernel);
        ConvShape {
            kernel,
            stride: args.stride.unwrap_or(ConvShape::default().stride),
            padding: args.padding.unwrap_or(kernel / 2),
        }
    });
    let data = load_image_dataset(&args.data)
        .with_context(|| format!("cannot load the dataset in {}", args.data.display()))?;
    let model = match shape {
        Some(s) => format!(
            "a bilinear CNN of {} channels ({k}×{k} kernels, stride {}, padding {})",
            config.width,
            s.stride,
            s.padding,
            k = s.kernel
        ),
        None => format!(
            "{} block{}{} of width {}",
            config.layers,
            if config.layers == 1 { "" } else { "s" },
            if config.residual { ", residual," } else { "" },
            config.width
        ),
    };
    printer.note(format!(
        "training {model} for {} epochs on {} images (seed {}, noise {}, weight decay {})",
        config.epochs,
        data.train.len(),
        config.seed,
        config.noise_std,
        config.weight_decay
    ));
    let start = Instant::now();
    let bar = printer.bar(config.epochs as u64, "train");
    let on_epoch = |r: &EpochReport| {
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
    };
    let saved = |result: bilens_train::Result<()>| {
        result.with_context(|| format!("cannot save the model into {}", args.out.display()))
    };
    let last = match shape {
        Some(shape) => {
            let model = train_conv(&config, shape, &data, on_epoch)?;
            saved(model.save(&args.out))?;
            model.history().last().map(|r| r.test_accuracy)
        }
        None => {
            let model = train(&config, &data, on_epoch)?;
            saved(model.save(&args.out))?;
            model.history().last().map(|r| r.test_accuracy)
        }
    };
    bar.finish_and_clear();
    printer.data(format!(
        "trained in {:.1} s; test accuracy {:.2}%; wrote {}/model.safetensors and config.json",
        start.elapsed().as_secs_f64(),
        100.0 * last.unwrap_or(0.0),
        args.out.display()
    ));
    Ok(())
}
