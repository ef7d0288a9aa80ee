//! `bilens reproduce mnist [--full] [--out DIR]`: the paper's image-classification results
//! regenerated into `DIR/REPORT.md` ([`bilens_repro::reproduce_mnist`]). Progress goes to
//! stderr; the claims table and the report's path go to stdout.

use bilens_repro::{Budget, ReproduceOptions};

use crate::args::{ReproduceCommand, ReproduceMnistArgs};
use crate::printer::Printer;

pub fn run(command: ReproduceCommand, printer: &Printer) -> anyhow::Result<()> {
    match command {
        ReproduceCommand::Mnist(args) => mnist(&args, printer),
    }
}

fn mnist(args: &ReproduceMnistArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = ReproduceOptions {
        out: args.out.clone(),
        budget: match (args.full, args.smoke) {
            (_, true) => Budget::smoke(),
            (true, false) => Budget::full(),
            (false, false) => Budget::quick(),
        },
        data: args.data.clone(),
        fashion_data: args.fashion_data.clone(),
        resume: args.resume,
    };
    let done = bilens_repro::reproduce_mnist(&options, printer).map_err(|e| match e {
        bilens_repro::Error::Bilens(e) => anyhow::Error::from(e),
        bilens_repro::Error::Train { context, source } => {
            anyhow::Error::from(*source).context(context)
        }
        other => anyhow::Error::from(other),
    })?;
    let claims = &done.claims;
    printer.data("claim | paper | bilens | agrees");
    for c in claims {
        printer.data(format!(
            "{} | {} | {} | {}",
            c.claim,
            c.paper,
            c.ours,
            c.verdict().replace("**", "")
        ));
    }
    let failed = claims.iter().filter(|c| c.agrees == Some(false)).count();
    printer.data(format!(
        "report: {} ({} of {} claims agree{}; {:.1} min)",
        done.report.display(),
        claims.iter().filter(|c| c.agrees == Some(true)).count(),
        claims.len(),
        if failed > 0 {
            format!(", {failed} do not")
        } else {
            String::new()
        },
        done.minutes
    ));
    Ok(())
}
