//! Library errors as Python exceptions, in Python's terms: arguments by their keyword names,
//! hints naming `bilens.open(...)` keywords instead of command-line flags.
//!
//! Three classes, so that notebooks can catch what they can fix apart from what they cannot:
//! `BilensError` (the base), `InputError` (an argument, a file or data the caller can change)
//! and `InternalError` (a failure of bilens or of the
//! machine, e.g. writing its own output). An interrupted call raises `KeyboardInterrupt`.

use bilens::{Arg, Error, Hint, LayoutConflict};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;

create_exception!(
    _bilens,
    BilensError,
    PyException,
    "Base class of every error bilens raises."
);
create_exception!(
    _bilens,
    InputError,
    BilensError,
    "An argument, a file or data that bilens cannot use; the message names it and says what \
     to pass instead."
);
create_exception!(
    _bilens,
    InternalError,
    BilensError,
    "A failure that is not the caller's input (bilens could not write its own output, a \
     solver failed); please report it."
);

/// The keyword of a library argument in the Python API.
pub fn keyword(arg: Arg) -> &'static str {
    match arg {
        Arg::InputBasis => "basis",
        Arg::Model => "path",
        other => other.name(),
    }
}

/// `e` as the Python exception a caller should see.
pub fn to_py(e: Error) -> PyErr {
    if matches!(e.root(), Error::Interrupted) {
        return PyKeyboardInterrupt::new_err(
            "interrupted; a results directory being written keeps its finished chunks, and the \
             same call resumes from them",
        );
    }
    let mut message = describe(&e);
    if let Some(hint) = e.hint() {
        message.push_str("\nhint: ");
        message.push_str(&render_hint(&hint));
    }
    if e.is_user_error() {
        InputError::new_err(message)
    } else {
        InternalError::new_err(message)
    }
}

/// A bad argument found by the binding itself (an unknown method name, say).
pub fn argument(arg: &str, value: &str, problem: &str, hint: &str) -> PyErr {
    InputError::new_err(format!("{arg}={value:?}: {problem}\nhint: {hint}"))
}

fn describe(e: &Error) -> String {
    match e {
        Error::Argument {
            arg,
            value,
            problem,
            ..
        } if value.is_empty() => format!("{}: {problem}", keyword(*arg)),
        Error::Argument {
            arg,
            value,
            problem,
            ..
        } => format!("{}={value:?}: {problem}", keyword(*arg)),
        Error::Context { context, source } => format!("{context}: {}", describe(source)),
        Error::Layout(conflict) => layout_conflict(*conflict),
        other => other.to_string(),
    }
}

/// Layout keywords that do not agree, named as keywords.
fn layout_conflict(conflict: LayoutConflict) -> String {
    match conflict {
        LayoutConflict::MissingNames => "layout=\"single\" needs w=, v= and p=: the names of the \
                                         tensors holding W, V and P (bilens.inspect(path) lists \
                                         the tensors)"
            .into(),
        LayoutConflict::NamesWithoutSingle(kind) => format!(
            "w=, v=, p=, embed=, w_bias=, v_bias= and norm_gain= name the tensors of a single \
             layer, not of a model of layout=\"{kind}\": pass layout=\"single\" with them, or \
             leave them out"
        ),
        LayoutConflict::LayerNotLayered(kind) => format!(
            "layer= applies to layered models (layout=\"image\", \"lm\", \"gated\" or \
             \"auto\"), not to layout=\"{kind}\": leave it out"
        ),
        LayoutConflict::ResidualNotImage(kind) => {
            format!("residual= applies to image models, not to layout=\"{kind}\": leave it out")
        }
        other => other.to_string(),
    }
}

fn render_hint(hint: &Hint) -> String {
    match hint {
        Hint::NameTensors { path } => format!(
            "bilens.inspect({:?}) lists the tensors; name the layer's tensors with \
             bilens.open(path, layout=\"single\", w=NAME, v=NAME, p=NAME[, embed=NAME])",
            path.display()
        ),
        Hint::NameVectors { path } => format!(
            "bilens.inspect({:?}) lists the tensors; write \"FILE:TENSOR\" with one of them",
            path.display()
        ),
        Hint::CheckLayout { path } => format!(
            "these tensors do not form one bilinear layer as named; check names and shapes with \
             bilens.inspect({:?}) and choose layout= (or w=, v=, p=, embed=) accordingly",
            path.display()
        ),
        Hint::ChooseLayout => "name the layer: bilens.open(path, layout=\"single\", w=NAME, \
                               v=NAME, p=NAME[, embed=NAME, w_bias=, v_bias=, norm_gain=]), \
                               layout=\"image\" for the paper's image models, or \
                               layout=\"lm\" / \"gated\" for a transformer's MLP; or build \
                               the layer from arrays with bilens.Layer(w, v, p)"
            .into(),
        Hint::PickLayer => "pass layer=I with one of them".into(),
        Hint::DropLayer => "leave out layer= (it applies to layered models)".into(),
        Hint::DropResidual => "leave out residual= (it applies to image models)".into(),
        Hint::FixConfig => "fix config.json, or remove it: bilens then infers the \
                            architecture from the tensor shapes (pass residual=True if the \
                            block is residual)"
            .into(),
        Hint::Decompose => "write the results with model.decompose_to(DIR) (or \
                            model.decompose(...).save(DIR))"
            .into(),
        other => other.to_string(),
    }
}
