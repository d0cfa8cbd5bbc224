//! Python strings that every request needs, made once: the common methods, the protocol
//! versions and the environ keys of the common request headers become interned strings
//! instead of a new `str` per request.

use http::{HeaderName, Method, Version};
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

/// The environ key of a request header: `user-agent` → `HTTP_USER_AGENT`. The headers
/// browsers, clients and proxies send most often have theirs made once.
pub fn wsgi_header_key<'py>(py: Python<'py>, name: &HeaderName) -> Bound<'py, PyString> {
    let interned = match name.as_str() {
        "host" => intern!(py, "HTTP_HOST"),
        "user-agent" => intern!(py, "HTTP_USER_AGENT"),
        "accept" => intern!(py, "HTTP_ACCEPT"),
        "accept-encoding" => intern!(py, "HTTP_ACCEPT_ENCODING"),
        "accept-language" => intern!(py, "HTTP_ACCEPT_LANGUAGE"),
        "connection" => intern!(py, "HTTP_CONNECTION"),
        "cookie" => intern!(py, "HTTP_COOKIE"),
        "referer" => intern!(py, "HTTP_REFERER"),
        "origin" => intern!(py, "HTTP_ORIGIN"),
        "authorization" => intern!(py, "HTTP_AUTHORIZATION"),
        "cache-control" => intern!(py, "HTTP_CACHE_CONTROL"),
        "pragma" => intern!(py, "HTTP_PRAGMA"),
        "if-none-match" => intern!(py, "HTTP_IF_NONE_MATCH"),
        "if-modified-since" => intern!(py, "HTTP_IF_MODIFIED_SINCE"),
        "upgrade-insecure-requests" => intern!(py, "HTTP_UPGRADE_INSECURE_REQUESTS"),
        "sec-fetch-dest" => intern!(py, "HTTP_SEC_FETCH_DEST"),
        "sec-fetch-mode" => intern!(py, "HTTP_SEC_FETCH_MODE"),
        "sec-fetch-site" => intern!(py, "HTTP_SEC_FETCH_SITE"),
        "sec-fetch-user" => intern!(py, "HTTP_SEC_FETCH_USER"),
        "x-forwarded-for" => intern!(py, "HTTP_X_FORWARDED_FOR"),
        "x-forwarded-proto" => intern!(py, "HTTP_X_FORWARDED_PROTO"),
        "x-forwarded-host" => intern!(py, "HTTP_X_FORWARDED_HOST"),
        "x-real-ip" => intern!(py, "HTTP_X_REAL_IP"),
        "x-request-id" => intern!(py, "HTTP_X_REQUEST_ID"),
        "x-requested-with" => intern!(py, "HTTP_X_REQUESTED_WITH"),
        "x-csrftoken" => intern!(py, "HTTP_X_CSRFTOKEN"),
        "traceparent" => intern!(py, "HTTP_TRACEPARENT"),
        _ => return PyString::new(py, &cgi_name(name)),
    };
    interned.clone()
}

/// `user-agent` → `HTTP_USER_AGENT` (hyper stores names lower-cased).
fn cgi_name(name: &HeaderName) -> String {
    let mut key = String::with_capacity(5 + name.as_str().len());
    key.push_str("HTTP_");
    key.extend(name.as_str().chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() }));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_names() {
        let cases =
            [("user-agent", "HTTP_USER_AGENT"), ("x-forwarded-for", "HTTP_X_FORWARDED_FOR"), ("accept", "HTTP_ACCEPT")];
        for (header, expected) in cases {
            let name = HeaderName::from_static(header);
            assert_eq!(cgi_name(&name), expected);
        }
    }
}
