//! Open the shipped MNIST model, decompose its class logits into a results directory, read the
//! results back and draw them: `cargo run --release -p bilens --example mnist [OUT]`.
#![allow(clippy::print_stdout, reason = "an example: it prints what it found")]

use bilens::{Checkpoint, DecomposeOptions, FigureOptions, ResultsFile, Silent};

fn main() -> Result<(), bilens::Error> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("bilens-example".into()));
    let (dir, figures) = (out.join("results"), out.join("figures"));

    let model = Checkpoint::open(bilens::shipped::model()?, &Default::default())?;
    bilens::decompose(&model, &DecomposeOptions::new().k(32), &dir, &Silent)?;

    let results = ResultsFile::open(&dir)?;
    let eigenvalues = results.eigenvalues::<f32>()?; // [10 classes, 32 components], by |λ|
    for (class, λ) in eigenvalues.rows().into_iter().enumerate() {
        println!("class {class}: λ₁ = {:+.4}, λ₂ = {:+.4}", λ[0], λ[1]);
    }
    let drawn = bilens::draw_results(&results, &figures, &FigureOptions::default(), &Silent)?;
    println!("{} figures in {}", drawn.len(), figures.display());
    Ok(())
}
