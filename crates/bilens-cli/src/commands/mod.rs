//! One module per command. Each resolves its arguments (paths exist, options agree) before
//! doing any work, then wires the library crates together.

mod decompose;
mod demo;
mod eval;
mod explore;
mod inspect;
mod merge;
mod plot;
mod reproduce;
mod train;

use crate::args::Command;
use crate::printer::Printer;

/// Runs one command.
pub fn run(command: Command, printer: &Printer) -> anyhow::Result<()> {
    match command {
        Command::Demo(a) => demo::run(&a, printer),
        Command::Inspect(a) => inspect::run(&a, printer),
        Command::Decompose(a) => decompose::run(&a, printer),
        Command::Hosvd(a) => decompose::run_hosvd(&a, printer),
        Command::Merge(a) => merge::run(&a, printer),
        Command::Plot(a) => plot::run(&a, printer),
        Command::Explore(a) => explore::run(&a, printer),
        Command::Train(t) => train::run(t, printer),
        Command::Eval(a) => eval::run(&a, printer),
        Command::Reproduce(r) => reproduce::run(r, printer),
    }
}
