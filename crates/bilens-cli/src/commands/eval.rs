//! `bilens eval MODEL --data DIR`: test accuracy of an image classifier.

use anyhow::Context;
use bilens_decomp::{BilinearModel, Par};
use bilens_io::{ImageSet, load_image_dataset, load_model};

use crate::args::{EvalAccuracyArgs, EvalArgs, EvalCommand};
use crate::error::BadInput;
use crate::printer::Printer;

pub fn run(args: &EvalArgs, printer: &Printer) -> anyhow::Result<()> {
    match &args.command {
        None => accuracy(&args.accuracy, printer),
        Some(EvalCommand::Truncation(a)) => super::truncation::run(a, printer),
        Some(EvalCommand::Adversarial(a)) => super::adversarial::run(a, printer),
        Some(EvalCommand::Explain(a)) => super::explain::run(a, printer),
        Some(EvalCommand::Consistency(a)) => super::consistency::run(a, printer),
        Some(EvalCommand::Approx(a)) => super::approx::run(a, printer),
    }
}

/// `bilens eval MODEL`: the test accuracy.
fn accuracy(args: &EvalAccuracyArgs, printer: &Printer) -> anyhow::Result<()> {
    let Some(model) = &args.model else {
        return Err(BadInput::new(
            "bilens eval needs a MODEL or an evaluation",
            "e.g. `bilens eval MODEL --data data/mnist` or `bilens eval truncation MODEL --out DIR`",
        )
        .into());
    };
    let spec = super::layout::resolve(&args.layout)?;
    let loaded = load_model::<f32>(model, &spec)
        .with_context(|| format!("cannot load {}", model.display()))?;
    let data = load_image_dataset(&args.data)
        .with_context(|| format!("cannot load the dataset in {}", args.data.display()))?;
    let correct = correct_predictions(&loaded.model, &data.test)?;
    let n = data.test.len();
    printer.data(format!(
        "test accuracy: {:.2}% ({correct}/{n}) for {}",
        100.0 * correct as f64 / n as f64,
        model.display()
    ));
    Ok(())
}

/// How many images of `set` the model classifies correctly (argmax of its outputs).
pub fn correct_predictions(model: &BilinearModel<f32>, set: &ImageSet) -> anyhow::Result<usize> {
    let pixels = set.rows * set.cols;
    if model.d_input() != pixels {
        return Err(BadInput::new(
            format!(
                "the model reads {} inputs but the images have {pixels} pixels",
                model.d_input()
            ),
            "evaluate an image model (with an embedding of the image's width) on its own dataset",
        )
        .into());
    }
    let n_classes = model.layer().d_out();
    if set.n_classes() > n_classes {
        return Err(BadInput::new(
            format!(
                "the dataset has {} classes but the model only {n_classes} outputs",
                set.n_classes()
            ),
            "evaluate the model on the dataset it was trained for",
        )
        .into());
    }
    let logits = model.forward(set.pixels::<f32>().view(), Par::rayon(0));
    let correct = logits
        .rows()
        .into_iter()
        .zip(set.labels.iter())
        .filter(|(row, label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &x)| if x > b.1 { (i, x) } else { b },
                );
            best.0 == usize::from(**label)
        })
        .count();
    Ok(correct)
}
