//! Reporting app failures through Python's `logging`, on threads that hold the GIL.
//!
//! Tracebacks go to the `amphicorn.error` logger, which the Python side configures (level,
//! format, handlers); if logging itself fails, the traceback is printed to stderr instead.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

static ERROR_LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn error_logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    ERROR_LOGGER
        .get_or_try_init(py, || {
            let logging = py.import("logging")?;
            Ok::<_, PyErr>(logging.call_method1("getLogger", ("amphicorn.error",))?.unbind())
        })
        .map(|logger| logger.bind(py))
}

/// Logs `message` at ERROR with `error`'s traceback.
pub fn exception(py: Python<'_>, message: &str, error: &PyErr) {
    let logged = error_logger(py).and_then(|logger| {
        let kwargs = PyDict::new(py);
        // A (type, value, traceback) triple: on Python < 3.12 the value alone may not carry
        // its traceback.
        let exc_info = (error.get_type(py), error.value(py), error.traceback(py));
        kwargs.set_item("exc_info", exc_info)?;
        logger.call_method("error", (message,), Some(&kwargs)).map(drop)
    });
    if logged.is_err() {
        eprintln!("{message}");
        error.print(py);
    }
}

/// Logs `message` at DEBUG.
pub fn debug(py: Python<'_>, message: &str) {
    if let Ok(logger) = error_logger(py) {
        // Failing to log a debug line is not worth reporting.
        let _ = logger.call_method1("debug", (message,));
    }
}

/// Logs `message` at ERROR, without a traceback.
pub fn error(py: Python<'_>, message: &str) {
    let logged = error_logger(py).and_then(|logger| logger.call_method1("error", (message,)).map(drop));
    if logged.is_err() {
        eprintln!("{message}");
    }
}

/// Logs `message` at WARNING.
pub fn warning(py: Python<'_>, message: &str) {
    let logged = error_logger(py).and_then(|logger| logger.call_method1("warning", (message,)).map(drop));
    if logged.is_err() {
        eprintln!("{message}");
    }
}
