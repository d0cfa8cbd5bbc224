//! Builds the ASGI `http` and `websocket` scopes for one request (ASGI spec 2.4).
//!
//! - `path` is the percent-decoded path read as UTF-8, with the mount prefix in it;
//!   `root_path` is the prefix; `raw_path` is the path bytes as sent, without the query.
//! - `headers` is a list of `(name, value)` byte pairs in arrival order, names lower-cased
//!   (hyper stores them so); on HTTP/2, `host` (from `:authority`) first.
//! - `extensions` offers `http.response.pathsend` and `http.response.zerocopysend` always,
//!   `http.response.trailers` where trailers reach the client: on HTTP/2, and on HTTP/1.1
//!   when the request said `TE: trailers` (hyper then sends them after the last chunk, for
//!   the fields the response names in its `Trailer` header); `http.response.early_hint` on
//!   HTTP/1.1 and HTTP/2 (`http/early_hints.rs`; HTTP/1.0 has no 1xx answers); and `tls`
//!   on TLS connections only (`connection_tls`).
//! - `state` is a shallow copy of the lifespan state, so a request cannot change what the
//!   next one sees at the top level (ASGI lifespan "state" extension).

use http::header::{HeaderName, HeaderValue, HOST, TE};
use http::{request, Version};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

use crate::connection_info::ConnectionInfo;
use crate::interned;

static ASGI_VERSIONS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static HTTP_BLANK: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static WEBSOCKET_BLANK: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The keys every scope of a kind has, in the order `build` sets them: the kind's own, then
/// the shared ones (`state` is added when there is one).
const HTTP_KEYS: [&str; 3] = ["type", "method", "scheme"];
const WEBSOCKET_KEYS: [&str; 3] = ["type", "scheme", "subprotocols"];
const SHARED_KEYS: [&str; 10] = [
    "extensions",
    "asgi",
    "http_version",
    "path",
    "raw_path",
    "query_string",
    "root_path",
    "headers",
    "client",
    "server",
];

/// Which scope to build; a WebSocket scope carries the offered subprotocols.
pub enum ScopeKind<'a> {
    Http,
    WebSocket { subprotocols: &'a [String] },
}

pub fn build<'py>(
    py: Python<'py>,
    kind: ScopeKind<'_>,
    head: &request::Parts,
    connection: &ConnectionInfo,
    root_path: &str,
    state: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = blank(py, &kind)?;
    let extensions = PyDict::new(py);
    match kind {
        ScopeKind::Http => {
            scope.set_item(intern!(py, "type"), intern!(py, "http"))?;
            scope.set_item(intern!(py, "method"), interned::method(py, &head.method))?;
            scope.set_item(intern!(py, "scheme"), connection.scheme)?;
            extensions.set_item(intern!(py, "http.response.pathsend"), PyDict::new(py))?;
            extensions.set_item(intern!(py, "http.response.zerocopysend"), PyDict::new(py))?;
            if trailers_reach_the_client(head) {
                extensions.set_item(intern!(py, "http.response.trailers"), PyDict::new(py))?;
            }
            if connection.hints_reach(head) {
                extensions.set_item(intern!(py, "http.response.early_hint"), PyDict::new(py))?;
            }
        }
        ScopeKind::WebSocket { subprotocols } => {
            scope.set_item(intern!(py, "type"), intern!(py, "websocket"))?;
            let scheme = if connection.scheme == "https" { "wss" } else { "ws" };
            scope.set_item(intern!(py, "scheme"), scheme)?;
            scope.set_item(intern!(py, "subprotocols"), PyList::new(py, subprotocols)?)?;
            extensions.set_item(intern!(py, "websocket.http.response"), PyDict::new(py))?;
        }
    }
    // Only on TLS connections, as the extension's spec demands.
    if let Some(tls) = &connection.tls {
        extensions.set_item(intern!(py, "tls"), tls.asgi_extension(py)?)?;
    }
    scope.set_item(intern!(py, "extensions"), extensions)?;
    scope.set_item(intern!(py, "asgi"), versions(py)?)?;
    scope.set_item(intern!(py, "http_version"), interned::asgi_http_version(py, head.version))?;
    let raw_path = head.uri.path();
    let decoded: Vec<u8> = percent_encoding::percent_decode(raw_path.as_bytes()).collect();
    scope.set_item(intern!(py, "path"), String::from_utf8_lossy(&decoded))?;
    scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, raw_path.as_bytes()))?;
    scope.set_item(intern!(py, "query_string"), PyBytes::new(py, head.uri.query().unwrap_or("").as_bytes()))?;
    scope.set_item(intern!(py, "root_path"), root_path)?;
    scope.set_item(intern!(py, "headers"), header_list(py, head)?)?;
    let (client, server) = connection.python.asgi.get_or_try_init(py, || addresses(py, connection))?;
    scope.set_item(intern!(py, "client"), client)?;
    scope.set_item(intern!(py, "server"), server)?;
    if let Some(state) = state {
        scope.set_item(intern!(py, "state"), state.copy()?)?;
    }
    Ok(scope)
}

/// A new scope of the kind with all its keys, each valued `None` until `build` sets it:
/// a copy of one built once. CPython copies a dict's table whole, and setting a key that is
/// there replaces its value; inserting 13 keys into a new dict grows its table twice on the
/// way (1,400 instructions more per request under callgrind). Keys absent from the blank
/// would still be added by `build`, only slower: `tests/test_asgi_scope.py` checks the
/// scope's keys.
fn blank<'py>(py: Python<'py>, kind: &ScopeKind<'_>) -> PyResult<Bound<'py, PyDict>> {
    let (cell, keys) = match kind {
        ScopeKind::Http => (&HTTP_BLANK, &HTTP_KEYS),
        ScopeKind::WebSocket { .. } => (&WEBSOCKET_BLANK, &WEBSOCKET_KEYS),
    };
    let blank = cell.get_or_try_init(py, || {
        let blank = PyDict::new(py);
        for key in keys.iter().chain(&SHARED_KEYS) {
            blank.set_item(PyString::intern(py, key), py.None())?;
        }
        Ok::<_, PyErr>(blank.unbind())
    })?;
    blank.bind(py).copy()
}

/// The request's headers as `(name, value)` byte pairs. On HTTP/2 and later, `host` (which
/// the service made from `:authority`) comes first, as ASGI asks of pseudo-headers.
fn header_list<'py>(py: Python<'py>, head: &request::Parts) -> PyResult<Bound<'py, PyList>> {
    let headers = PyList::empty(py);
    let append = |name: &HeaderName, value: &HeaderValue| {
        headers
            .append(PyTuple::new(py, [PyBytes::new(py, name.as_str().as_bytes()), PyBytes::new(py, value.as_bytes())])?)
    };
    let host_first = head.version >= Version::HTTP_2;
    if host_first {
        for value in head.headers.get_all(HOST) {
            append(&HOST, value)?;
        }
    }
    for (name, value) in &head.headers {
        if !(host_first && name == HOST) {
            append(name, value)?;
        }
    }
    Ok(headers)
}

/// HTTP/2 carries trailers on any response; HTTP/1.1 only in chunked responses to a client
/// that said it accepts them (`TE: trailers`, RFC 9112 §7.4).
fn trailers_reach_the_client(head: &request::Parts) -> bool {
    match head.version {
        Version::HTTP_2 | Version::HTTP_3 => true,
        Version::HTTP_11 => head.headers.get_all(TE).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|text| text.split(',').any(|coding| coding.trim().eq_ignore_ascii_case("trailers")))
        }),
        _ => false,
    }
}

/// `client` and `server`. A Unix socket's client is unnamed: `None`, as uvicorn gives; its
/// server is `(path, None)`.
fn addresses(py: Python<'_>, connection: &ConnectionInfo) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let client = connection.remote.port().map(|port| (connection.remote.host(), port));
    let server = (connection.local.host(), connection.local.port());
    Ok((client.into_py_any(py)?, server.into_py_any(py)?))
}

/// `{"version": "3.0", "spec_version": "2.4"}`, built once.
fn versions(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let shared = ASGI_VERSIONS.get_or_try_init(py, || {
        let versions = PyDict::new(py);
        versions.set_item("version", "3.0")?;
        versions.set_item("spec_version", "2.4")?;
        Ok::<_, PyErr>(versions.unbind())
    })?;
    // A copy per scope: an app that edits its scope must not edit every other one.
    shared.bind(py).copy()
}
