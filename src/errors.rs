//! The exceptions amphicorn raises into Python code.
//!
//! `ClientDisconnected` subclasses `OSError`, as PEP 3333 servers conventionally signal a
//! vanished client (gunicorn raises `OSError`s, uvicorn's ASGI `ClientDisconnected` is an
//! `OSError` too), so existing `except OSError` handlers keep working.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

pyo3::create_exception!(
    amphicorn,
    ClientDisconnected,
    PyOSError,
    "The client closed the connection: the request body cannot be read, or the response cannot be sent."
);

/// The name of `value`'s type, for error messages ("not int").
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "?".into())
}
