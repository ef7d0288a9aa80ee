//! The `bilens` binary: parse the command line, run one command, report.
//!
//! Exit codes: 0 success, 1 bad input (options, files, data), 2 internal failure.

mod args;
mod commands;
mod error;
mod printer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are successes; a malformed command line is bad input.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let printer = printer::Printer::new(cli.quiet);
    match commands::run(cli.command, &printer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error::report(&e),
    }
}
