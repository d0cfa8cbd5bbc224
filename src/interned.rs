//! Python strings that every request needs, made once: the common methods and protocol
//! versions become interned strings instead of a new `str` per request.

use http::{Method, Version};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The method as a Python `str`.
pub fn method<'py>(py: Python<'py>, method: &Method) -> Bound<'py, PyString> {
    let interned = match *method {
        Method::GET => intern!(py, "GET"),
        Method::POST => intern!(py, "POST"),
        Method::HEAD => intern!(py, "HEAD"),
        Method::PUT => intern!(py, "PUT"),
        Method::DELETE => intern!(py, "DELETE"),
        Method::PATCH => intern!(py, "PATCH"),
        Method::OPTIONS => intern!(py, "OPTIONS"),
        _ => return PyString::new(py, method.as_str()),
    };
    interned.clone()
}

/// ASGI's `http_version`.
pub fn asgi_http_version(py: Python<'_>, version: Version) -> Bound<'_, PyString> {
    let interned = match version {
        Version::HTTP_10 => intern!(py, "1.0"),
        Version::HTTP_2 => intern!(py, "2"),
        Version::HTTP_3 => intern!(py, "3"),
        _ => intern!(py, "1.1"),
    };
    interned.clone()
}

/// WSGI's `SERVER_PROTOCOL`.
pub fn server_protocol(py: Python<'_>, version: Version) -> Bound<'_, PyString> {
    let interned = match version {
        Version::HTTP_09 => intern!(py, "HTTP/0.9"),
        Version::HTTP_10 => intern!(py, "HTTP/1.0"),
        Version::HTTP_2 => intern!(py, "HTTP/2"),
        Version::HTTP_3 => intern!(py, "HTTP/3"),
        _ => intern!(py, "HTTP/1.1"),
    };
    interned.clone()
}
