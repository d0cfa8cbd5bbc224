//! Builds the PEP 3333 environ dict for one request.
//!
//! The gateway rules, with examples:
//! - `SCRIPT_NAME` is the mount prefix and `PATH_INFO` the rest of the path, percent-decoded
//!   and carried as latin-1 (`/caf%C3%A9` → `'/caf\xc3\xa9'`); `QUERY_STRING` stays raw.
//! - `CONTENT_TYPE` and `CONTENT_LENGTH` appear only when the request has them.
//! - Other headers become `HTTP_*`, repeats joined by `, ` (`Cookie` by `; `). Names with
//!   `_` are dropped, as gunicorn does: `X_Forwarded_For` must not pass for
//!   `X-Forwarded-For` once both become `HTTP_X_FORWARDED_FOR`.
//! - `SERVER_NAME`/`SERVER_PORT` come from `Host` (or an absolute request target), else
//!   from the socket the request arrived on.
//! - Over TLS, `HTTPS=on` and mod_ssl's `SSL_*` variables (`connection_tls`).

use std::borrow::Cow;
use std::sync::Arc;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST};
use http::{request, HeaderName};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

use super::file_wrapper::FileWrapper;
use super::input::{DisconnectProbe, InputStream};
use crate::buffers::latin1_str;
use crate::connection_info::ConnectionInfo;
use crate::http::connection::RequestState;
use crate::http::request_body::RequestBody;
use crate::http::text::{latin1, percent_decoded, split_host};
use crate::interned;

/// What each request's environ starts as a copy of, made once: the keys every environ has
/// with the same values, and the keys every environ has with its own (`None` here, each
/// set by `build`). The copy is a table with room for them all and a few more (a hello's
/// headers): its keys are not inserted one by one, growing it twice.
static BLANK: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The request as the app will see it.
pub struct RequestView<'a> {
    pub head: &'a request::Parts,
    pub origin: &'a Origin,
    pub script_name: &'a str,
}

/// Where a request came from and arrived: a connection amphicorn accepted, or the scope of
/// an ASGI server in front of `WSGIMiddleware`.
pub enum Origin {
    Socket(Arc<ConnectionInfo>),
    Scope(ScopeOrigin),
}

/// The addresses an ASGI scope gives (`client`, `server`, `scheme`); either may be absent.
pub struct ScopeOrigin {
    /// `http` or `https`.
    pub scheme: &'static str,
    pub server: Option<(String, Option<u16>)>,
    pub client: Option<(String, u16)>,
}

impl Origin {
    fn scheme(&self) -> &'static str {
        match self {
            Self::Socket(connection) => connection.scheme,
            Self::Scope(scope) => scope.scheme,
        }
    }

    /// `SERVER_NAME` and `SERVER_PORT` for a request without a host: the socket's address,
    /// or the scope's `server` (without one, a Unix socket say, the conventional defaults).
    fn server(&self) -> (String, String) {
        match self {
            Self::Socket(connection) => (
                connection.local.host(),
                connection
                    .local
                    .port()
                    .map_or_else(|| default_port(connection.scheme).to_owned(), |port| port.to_string()),
            ),
            Self::Scope(scope) => match &scope.server {
                Some((name, Some(port))) => (name.clone(), port.to_string()),
                _ => ("localhost".to_owned(), default_port(scope.scheme).to_owned()),
            },
        }
    }

    /// Sets `REMOTE_ADDR` and `REMOTE_PORT`. A Unix socket's peer has a path (usually empty)
    /// and no port, as gunicorn reports it. A connection's pair is made once and shared by
    /// its requests.
    fn set_remote(&self, environ: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = environ.py();
        match self {
            Self::Socket(connection) => {
                let (address, port) = connection.python.wsgi_remote.get_or_init(py, || {
                    let port = connection.remote.port().map(|port| PyString::new(py, &port.to_string()).unbind());
                    (PyString::new(py, &connection.remote.host()).unbind(), port)
                });
                environ.set_item(intern!(py, "REMOTE_ADDR"), address)?;
                if let Some(port) = port {
                    environ.set_item(intern!(py, "REMOTE_PORT"), port)?;
                }
            }
            Self::Scope(scope) => {
                if let Some((address, port)) = &scope.client {
                    environ.set_item(intern!(py, "REMOTE_ADDR"), address)?;
                    environ.set_item(intern!(py, "REMOTE_PORT"), port.to_string())?;
                }
            }
        }
        Ok(())
    }
}

pub fn build<'py>(
    py: Python<'py>,
    request: &RequestView<'_>,
    body: RequestBody,
    state: &Arc<RequestState>,
) -> PyResult<Bound<'py, PyDict>> {
    let head = request.head;
    let scheme = request.origin.scheme();
    let environ = blank(py)?.copy()?;
    let set = |key: &Bound<'py, PyString>, value: &[u8]| environ.set_item(key, latin1_str(py, value)?);

    environ.set_item(intern!(py, "REQUEST_METHOD"), interned::method(py, &head.method))?;
    environ.set_item(intern!(py, "SCRIPT_NAME"), request.script_name)?;
    let path = head.uri.path();
    let path_info = path.strip_prefix(request.script_name).unwrap_or(path);
    set(intern!(py, "PATH_INFO"), &percent_decoded(path_info))?;
    set(intern!(py, "QUERY_STRING"), head.uri.query().unwrap_or("").as_bytes())?;
    let raw_uri = head.uri.path_and_query().map_or(path, |target| target.as_str());
    environ.set_item(intern!(py, "RAW_URI"), raw_uri)?;
    environ.set_item(intern!(py, "SERVER_PROTOCOL"), interned::server_protocol(py, head.version))?;

    let host = head
        .uri
        .authority()
        .map(|authority| Cow::Borrowed(authority.as_str()))
        .or_else(|| head.headers.get(HOST).map(|value| latin1(value.as_bytes())));
    if let Some((name, port)) = host.as_deref().map(split_host) {
        environ.set_item(intern!(py, "SERVER_NAME"), name)?;
        environ.set_item(intern!(py, "SERVER_PORT"), port.unwrap_or(default_port(scheme)))?;
    } else {
        let (name, port) = request.origin.server();
        environ.set_item(intern!(py, "SERVER_NAME"), name)?;
        environ.set_item(intern!(py, "SERVER_PORT"), port)?;
    }
    request.origin.set_remote(&environ)?;

    for name in head.headers.keys() {
        if name == CONTENT_TYPE {
            set(intern!(py, "CONTENT_TYPE"), &joined(head, name, b", "))?;
        } else if name == CONTENT_LENGTH {
            set(intern!(py, "CONTENT_LENGTH"), &joined(head, name, b", "))?;
        } else if !name.as_str().contains('_') {
            let separator = if name == COOKIE { b"; " } else { b", " };
            environ.set_item(interned::wsgi_header_key(py, name), latin1_str(py, &joined(head, name, separator))?)?;
        }
    }

    if scheme == "https" {
        environ.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "https"))?;
        // As mod_ssl and gunicorn: what CGI-era code checks.
        environ.set_item(intern!(py, "HTTPS"), "on")?;
    } else {
        environ.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "http"))?;
    }
    // mod_ssl's SSL_* variables, on a connection amphicorn's TLS served.
    if let Origin::Socket(connection) = request.origin {
        if let Some(tls) = &connection.tls {
            tls.set_wsgi(&environ)?;
        }
    }
    let input = InputStream::new(body, state.clone());
    environ.set_item(intern!(py, "wsgi.input"), Bound::new(py, input)?)?;
    let probe = DisconnectProbe::new(state.clone()).into_bound_py_any(py)?;
    environ.set_item(intern!(py, "amphicorn.disconnected"), probe)?;
    Ok(environ)
}

fn default_port(scheme: &str) -> &'static str {
    if scheme == "https" {
        "443"
    } else {
        "80"
    }
}

/// Every value of header `name`, joined by `separator`: borrowed when there is one.
fn joined<'a>(head: &'a request::Parts, name: &HeaderName, separator: &[u8]) -> Cow<'a, [u8]> {
    let mut values = head.headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Cow::Borrowed(b"");
    };
    let mut text = Cow::Borrowed(first.as_bytes());
    for value in values {
        let text = text.to_mut();
        text.extend_from_slice(separator);
        text.extend_from_slice(value.as_bytes());
    }
    text
}

/// The environ's blank (`BLANK`): `wsgi.version`, `wsgi.errors` (`sys.stderr`, looked up
/// once), the process model and `wsgi.file_wrapper`, and the keys `build` always sets.
fn blank(py: Python<'_>) -> PyResult<&Bound<'_, PyDict>> {
    BLANK
        .get_or_try_init(py, || {
            let keys = PyDict::new(py);
            keys.set_item(intern!(py, "wsgi.version"), PyTuple::new(py, [1, 0])?)?;
            keys.set_item(intern!(py, "wsgi.errors"), py.import("sys")?.getattr("stderr")?)?;
            keys.set_item(intern!(py, "wsgi.multithread"), true)?;
            keys.set_item(intern!(py, "wsgi.multiprocess"), false)?;
            keys.set_item(intern!(py, "wsgi.run_once"), false)?;
            keys.set_item(intern!(py, "wsgi.input_terminated"), true)?;
            keys.set_item(intern!(py, "wsgi.file_wrapper"), py.get_type::<FileWrapper>())?;
            let set_by_build = [
                intern!(py, "REQUEST_METHOD"),
                intern!(py, "SCRIPT_NAME"),
                intern!(py, "PATH_INFO"),
                intern!(py, "QUERY_STRING"),
                intern!(py, "RAW_URI"),
                intern!(py, "SERVER_PROTOCOL"),
                intern!(py, "SERVER_NAME"),
                intern!(py, "SERVER_PORT"),
                intern!(py, "wsgi.url_scheme"),
                intern!(py, "wsgi.input"),
                intern!(py, "amphicorn.disconnected"),
            ];
            for key in set_by_build {
                keys.set_item(key, py.None())?;
            }
            Ok::<_, PyErr>(keys.unbind())
        })
        .map(|keys| keys.bind(py))
}
