//! The extension module `bilens._bilens` behind the Python package `bilens`.
//!
//! The module is deliberately thin: each function maps Python keywords to one call of the
//! `bilens` library and returns paths, tuples or JSON; the Python package (`python/bilens`)
//! gives it its shape (classes, numpy views of results files, tables, progress bars). Long
//! calls run through `watch::run`: GIL released, interruptible, with progress.

mod errors;
mod eval;
mod model;
mod results;
mod watch;

use pyo3::prelude::*;

/// The compiled half of the `bilens` package; use `import bilens`, not this module.
#[pymodule]
fn _bilens(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BilensError", py.get_type::<errors::BilensError>())?;
    m.add("InputError", py.get_type::<errors::InputError>())?;
    m.add("InternalError", py.get_type::<errors::InternalError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::open, m)?)?;
    m.add_function(wrap_pyfunction!(model::inspect, m)?)?;
    m.add_function(wrap_pyfunction!(model::write_tensors, m)?)?;
    m.add_function(wrap_pyfunction!(results::locate, m)?)?;
    m.add_function(wrap_pyfunction!(results::draw, m)?)?;
    m.add_function(wrap_pyfunction!(results::explore, m)?)?;
    m.add_function(wrap_pyfunction!(results::merge, m)?)?;
    m.add_function(wrap_pyfunction!(eval::truncation, m)?)?;
    m.add_function(wrap_pyfunction!(eval::bottleneck, m)?)?;
    m.add_function(wrap_pyfunction!(eval::adversarial, m)?)?;
    m.add_function(wrap_pyfunction!(eval::explain, m)?)?;
    m.add_function(wrap_pyfunction!(eval::consistency, m)?)?;
    m.add_function(wrap_pyfunction!(eval::approximation, m)?)?;
    m.add_function(wrap_pyfunction!(eval::accuracy, m)?)?;
    Ok(())
}
