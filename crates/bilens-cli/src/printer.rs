//! The one owner of the terminal: data goes to stdout, progress and messages to stderr.
//! Progress bars appear only when stderr is a terminal and `--quiet` is off; `NO_COLOR` turns
//! colour off.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bilens::{Progress, Task};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Environment variable that aborts the process (as a kill would) once this many chunks of a
/// decomposition are written: how the kill-and-resume tests interrupt a run at a known point.
/// The library reports each written chunk to its task, so the front end can stop there.
pub const ABORT_AFTER_CHUNKS: &str = "BILENS_TEST_ABORT_AFTER_CHUNKS";

/// Every live progress bar of the process, so that notes print above them.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// Writes results and messages for one run of the binary.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    bars: bool,
}

impl Printer {
    /// A printer for this process's terminal.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            bars: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// One line of data on stdout. A closed pipe (`bilens ... | head`) ends output quietly.
    pub fn data(&self, line: impl std::fmt::Display) {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").is_err() {
            // Broken pipe: the reader has gone; that is not an error of ours.
        }
    }

    /// A status message on stderr (suppressed by `--quiet`), printed above any live progress
    /// bar: a library call's notes arrive while its bars are drawn.
    #[allow(clippy::print_stderr, reason = "the printer owns the terminal")]
    pub fn note(&self, line: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        if self.bars {
            let _ = bars().println(line.to_string());
        } else {
            eprintln!("{line}");
        }
    }

    /// A progress bar of `len` steps labelled `prefix` (its message can carry live figures such
    /// as a loss), or a hidden one when bars are off.
    pub fn bar(&self, len: u64, prefix: &str) -> ProgressBar {
        if !self.bars {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let colour = std::env::var_os("NO_COLOR").is_none();
        let template = if colour {
            "{prefix:>12.cyan.bold} [{bar:30.cyan/blue}] {pos}/{len} {elapsed_precise} {msg}"
        } else {
            "{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}"
        };
        let bar = bars().add(ProgressBar::new(len).with_prefix(prefix.to_string()));
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Progress for Printer {
    fn task(&self, label: &str, len: u64) -> Box<dyn Task + '_> {
        let abort_after = matches!(label, "decompose" | "hosvd")
            .then(|| std::env::var(ABORT_AFTER_CHUNKS).ok()?.parse().ok())
            .flatten();
        Box::new(BarTask {
            bar: self.bar(len, label),
            chunks: AtomicUsize::new(0),
            abort_after,
        })
    }

    fn note(&self, message: &str) {
        Printer::note(self, message);
    }
}

/// A progress bar as a library task (cleared when the task ends).
struct BarTask {
    bar: ProgressBar,
    /// Advances so far: one per written chunk for a decomposition.
    chunks: AtomicUsize,
    /// [`ABORT_AFTER_CHUNKS`], for a decomposition.
    abort_after: Option<usize>,
}

impl Task for BarTask {
    fn advance(&self, n: u64) {
        self.bar.inc(n);
        let chunks = self.chunks.fetch_add(1, Ordering::SeqCst) + 1;
        if self.abort_after == Some(chunks) {
            // The test hook: die as a killed process would, without unwinding.
            std::process::abort();
        }
    }

    fn skip(&self, n: u64) {
        self.bar.inc(n);
    }

    fn message(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }
}

impl Drop for BarTask {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
