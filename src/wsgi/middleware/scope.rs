//! An ASGI `http` scope, read back into the request head the WSGI bridge builds its environ
//! from.
//!
//! The path: ASGI gives it percent-decoded, with `root_path` (the mount prefix) in front
//! (`root_path="/legacy"`, `path="/legacy/caf\u{e9}"`), so the request target is the path
//! re-encoded (`/legacy/caf%C3%A9`) and `SCRIPT_NAME` is `root_path`. Some older frameworks
//! leave the prefix out of `path`; then it is put back in front, so `PATH_INFO` is the same
//! either way. `query_string` stays as sent.

use http::{request, HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::PyDict;

use crate::wsgi::environ::ScopeOrigin;

/// What must be escaped to put a decoded path back into a request target: everything that
/// is not allowed in a path segment, and `%` itself, so `%2F` read as text stays text.
const PATH_ESCAPES: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}');

/// Bytes a query string may carry raw; the rest are escaped so the target parses.
const QUERY_ESCAPES: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'`').add(b'{').add(b'}');

/// The request an `http` scope describes.
pub struct ScopeRequest {
    pub head: request::Parts,
    pub origin: ScopeOrigin,
    pub script_name: String,
}

pub fn read(scope: &Bound<'_, PyDict>) -> PyResult<ScopeRequest> {
    let method: PyBackedStr = required(scope, "method")?.extract()?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| PyValueError::new_err(format!("invalid method in the ASGI scope: {:?}", &*method)))?;
    let path: PyBackedStr = required(scope, "path")?.extract()?;
    let root_path: String = optional(scope, "root_path")?.unwrap_or_default();
    let query: Option<PyBackedBytes> = optional(scope, "query_string")?;
    let version: Option<PyBackedStr> = optional(scope, "http_version")?;
    let scheme: Option<PyBackedStr> = optional(scope, "scheme")?;

    let full_path = if path.starts_with(root_path.as_str()) { path.to_string() } else { format!("{root_path}{path}") };
    let uri = target(&full_path, query.as_deref().unwrap_or_default())?;
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = method;
    head.uri = uri;
    head.version = match version.as_deref() {
        Some("1.0") => Version::HTTP_10,
        Some("2") => Version::HTTP_2,
        Some("3") => Version::HTTP_3,
        _ => Version::HTTP_11,
    };
    head.headers = headers(scope)?;
    let origin = ScopeOrigin {
        scheme: if scheme.as_deref() == Some("https") { "https" } else { "http" },
        server: optional(scope, "server")?,
        client: optional(scope, "client")?,
    };
    Ok(ScopeRequest { head, origin, script_name: root_path })
}

/// `/a b` + `x=1` → `/a%20b?x=1`.
fn target(path: &str, query: &[u8]) -> PyResult<Uri> {
    let mut target = utf8_percent_encode(path, PATH_ESCAPES).to_string();
    if !target.starts_with('/') {
        target.insert(0, '/');
    }
    if !query.is_empty() {
        target.push('?');
        target.extend(percent_encoding::percent_encode(query, QUERY_ESCAPES));
    }
    target.parse().map_err(|error| PyValueError::new_err(format!("invalid path in the ASGI scope: {path:?}: {error}")))
}

fn headers(scope: &Bound<'_, PyDict>) -> PyResult<HeaderMap> {
    let mut headers = HeaderMap::new();
    let Some(pairs) = scope.get_item("headers")? else {
        return Ok(headers);
    };
    for pair in pairs.try_iter()? {
        let (name, value): (PyBackedBytes, PyBackedBytes) = pair?.extract()?;
        // The server in front already parsed these; a pair it let through that HTTP cannot
        // carry is left out rather than failing the request.
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&name), HeaderValue::from_bytes(&value)) {
            headers.append(name, value);
        }
    }
    Ok(headers)
}

fn required<'py>(scope: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    scope.get_item(key)?.ok_or_else(|| PyValueError::new_err(format!("the ASGI scope has no {key:?}")))
}

/// A key that may be missing or `None`.
fn optional<'py, T: FromPyObjectOwned<'py>>(scope: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<T>> {
    match scope.get_item(key)? {
        Some(value) if !value.is_none() => value.extract().map(Some).map_err(Into::into),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_escape_what_a_decoded_path_may_hold() {
        let cases = [
            ("/", "", "/"),
            ("/caf\u{e9}", "", "/caf%C3%A9"),
            ("/a b/100%", "x=1&y=%C3%A9", "/a%20b/100%25?x=1&y=%C3%A9"),
            ("/what?", "q=a b", "/what%3F?q=a%20b"),
            ("relative", "", "/relative"),
        ];
        for (path, query, expected) in cases {
            assert_eq!(target(path, query.as_bytes()).map(|uri| uri.to_string()).ok().as_deref(), Some(expected));
        }
    }
}
