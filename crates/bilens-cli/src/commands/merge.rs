//! `bilens merge SHARD_DIR... --out DIR`: one library call, then where the results went.

use crate::args::MergeArgs;
use crate::printer::Printer;

pub fn run(args: &MergeArgs, printer: &Printer) -> anyhow::Result<()> {
    let report = bilens::merge_shards(&args.shards, &args.out, printer)?;
    if report.already_complete {
        printer.note(format!(
            "{} already holds the merged results of these shards: nothing to do",
            args.out.display()
        ));
    }
    printer.data(format!(
        "merged {} shards ({} outputs) into {}",
        report.shards,
        report.outputs,
        args.out.display()
    ));
    Ok(())
}
