//! Running a long library call from Python the way notebooks need it: the call runs on its
//! own thread with the GIL released (other Python threads go on), while the calling thread
//! wakes every few milliseconds to check for Ctrl-C / a kernel interrupt (Python runs signal
//! handlers only on the main thread, and only when asked) and to pass progress to a Python
//! callback. An interrupt sets the flag the library polls before each output
//! ([`bilens::Progress::should_stop`]), so the call returns within about one output's
//! solve, and the interrupt is raised in Python as `KeyboardInterrupt`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bilens::{Progress, Task};
use pyo3::prelude::*;

use crate::errors::{InternalError, to_py};

/// How often the calling thread wakes to check for signals and report progress.
const TICK: Duration = Duration::from_millis(20);
/// Progress is passed to the Python callback at most this often (and once at the end).
const REPORT_EVERY: u32 = 5;

/// One task's counters, shared between the worker threads and the reporting thread.
#[derive(Debug)]
struct Counter {
    label: String,
    len: u64,
    done: AtomicU64,
}

/// The [`Progress`] a Python call gives the library: counters and notes for the reporting
/// thread, and the stop flag it sets.
#[derive(Debug, Default)]
struct Watch {
    stop: AtomicBool,
    tasks: Mutex<Vec<Arc<Counter>>>,
    notes: Mutex<Vec<String>>,
}

struct Handle(Arc<Counter>);

impl Task for Handle {
    fn advance(&self, n: u64) {
        self.0.done.fetch_add(n, Ordering::Relaxed);
    }
}

impl Progress for Watch {
    fn task(&self, label: &str, len: u64) -> Box<dyn Task + '_> {
        let counter = Arc::new(Counter {
            label: label.to_string(),
            len,
            done: AtomicU64::new(0),
        });
        lock(&self.tasks).push(counter.clone());
        Box::new(Handle(counter))
    }

    fn note(&self, message: &str) {
        lock(&self.notes).push(message.to_string());
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic on a worker thread is reported by the join below; the counters stay usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watch {
    /// Passes notes and task counts to `callback(kind, text, done, total)`: `("note",
    /// message, 0, 0)` for each new note, `("task", label, done, total)` for each task.
    fn report(&self, callback: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let Some(callback) = callback else {
            lock(&self.notes).clear();
            return Ok(());
        };
        let notes = std::mem::take(&mut *lock(&self.notes));
        for note in notes {
            callback.call1(("note", note, 0u64, 0u64))?;
        }
        let tasks = lock(&self.tasks).clone();
        for t in tasks {
            let done = t.done.load(Ordering::Relaxed).min(t.len);
            callback.call1(("task", t.label.as_str(), done, t.len))?;
        }
        Ok(())
    }
}

/// Runs `work` off the calling thread with the GIL released, checking for interrupts and
/// reporting to `callback` (see the module documentation); its error becomes the Python
/// exception for it.
pub fn run<R: Send>(
    py: Python<'_>,
    callback: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&dyn Progress) -> bilens::Result<R> + Send,
) -> PyResult<R> {
    let watch = Watch::default();
    let finished = AtomicBool::new(false);
    let (outcome, raised) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let result = work(&watch);
            finished.store(true, Ordering::Release);
            result
        });
        let mut raised: Option<PyErr> = None;
        loop {
            py.detach(|| {
                for _ in 0..REPORT_EVERY {
                    if finished.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::sleep(TICK);
                }
            });
            let done = finished.load(Ordering::Acquire);
            if raised.is_none() {
                if let Err(e) = py.check_signals() {
                    watch.stop.store(true, Ordering::Relaxed);
                    raised = Some(e);
                } else if let Err(e) = watch.report(callback) {
                    // A callback that raises stops the call and its exception is raised.
                    watch.stop.store(true, Ordering::Relaxed);
                    raised = Some(e);
                }
            }
            if done {
                break;
            }
        }
        (py.detach(|| worker.join()), raised)
    });
    let result = outcome.map_err(|_| {
        InternalError::new_err(
            "bilens failed inside the call (a panic); this is a bug in bilens, please report it \
             with the call you made",
        )
    })?;
    if let Some(e) = raised {
        return Err(e);
    }
    result.map_err(to_py)
}
