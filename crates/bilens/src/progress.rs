//! How a long call reports what it is doing, and learns that it should stop: the
//! [`Progress`] trait. The command line draws progress bars and prints notes on stderr; the
//! Python package updates a notebook bar and checks for a keyboard interrupt; tests and
//! embedders pass [`Silent`].

/// What a long call tells its caller, and asks it.
pub trait Progress: Sync {
    /// Starts a task of `len` steps (outputs, figures) called `label`; the call advances it
    /// through the returned handle and drops it when done.
    fn task(&self, label: &str, len: u64) -> Box<dyn Task + '_>;

    /// A message for the user that is not a result: an assumption made, a fallback taken.
    fn note(&self, message: &str);

    /// Whether the caller wants the call to stop. Checked between units of work (before each
    /// output's eigendecomposition, from the worker threads, so it must be cheap: an atomic
    /// load, not a call into an interpreter); a call that stops returns
    /// [`crate::Error::Interrupted`], and a results directory being written keeps its
    /// finished chunks, so the same call resumes.
    fn should_stop(&self) -> bool {
        false
    }
}

/// One task of a [`Progress`].
pub trait Task: Send + Sync {
    /// `n` more steps are done.
    fn advance(&self, n: u64);

    /// `n` steps were already done before this call began (a resumed run's finished
    /// outputs).
    fn skip(&self, n: u64) {
        self.advance(n);
    }

    /// What the task is working on now (the model being trained), shown beside its count.
    fn message(&self, _text: &str) {}
}

/// Reports nothing and never stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn task(&self, _label: &str, _len: u64) -> Box<dyn Task + '_> {
        Box::new(Silent)
    }

    fn note(&self, _message: &str) {}
}

impl Task for Silent {
    fn advance(&self, _n: u64) {}
}
