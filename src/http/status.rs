//! The plain-text responses Rust writes itself, without asking an app: `404` for a path no
//! mount covers, `500`/`503` when an app fails or is gone, `503` with `Retry-After` for a full
//! mount or queue, `400` for bad framing, and the answer to a request body that broke the
//! mount's limits (`413`, `408`) or its framing (`400`), with `Connection: close` when the
//! rest of the connection cannot be trusted or is still arriving; the server's own answer to
//! `OPTIONS *` when no app is mounted at `/`, `400` for `*` with another method, and `501`
//! for `CONNECT` (we are not a proxy); `200 ok` at `--health-path`.
//!
//! When each is sent is the caller's decision (`server::service`, the gateways).

use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Response, StatusCode};

use super::response_body::ResponseBody;
use crate::errors::Error;

/// A short `text/plain` response naming the status, e.g. `500 Internal Server Error`.
pub fn plain(status: StatusCode) -> Response<ResponseBody> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut response = Response::new(ResponseBody::full(bytes::Bytes::from(format!("{reason}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The liveness answer at `--health-path`: `200 ok` to `GET` and `HEAD` (hyper sends no body
/// to `HEAD`), `405` with `Allow` to any other method.
pub fn alive(method: &Method) -> Response<ResponseBody> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED);
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = Response::new(ResponseBody::full(bytes::Bytes::from_static(b"ok\n")));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// `503 Service Unavailable` with a `Retry-After`, for a full queue.
pub fn overloaded(retry_after_seconds: u32) -> Response<ResponseBody> {
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds));
    response
}

/// `400` and a closed connection, for a request whose framing cannot be trusted.
pub fn bad_framing() -> Response<ResponseBody> {
    let mut response = plain(StatusCode::BAD_REQUEST);
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The methods that reach an app: every one but `CONNECT` (`501`, see [`not_a_proxy`]); these
/// are the ones RFC 9110 defines, and `PATCH`.
const ROUTED_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH";

/// `200` with an `Allow` header and no body: `OPTIONS *` (the server as a whole) when no app
/// is mounted at `/` to answer it.
pub fn server_options() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(bytes::Bytes::new()));
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(ROUTED_METHODS));
    response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// `400` and a closed connection, for the asterisk request-target (`*`) with a method other
/// than `OPTIONS` (RFC 9112 §3.2.4 allows it only there).
pub fn bad_target() -> Response<ResponseBody> {
    let mut response = plain(StatusCode::BAD_REQUEST);
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `414 URI Too Long` (`uri`) or `431 Request Header Fields Too Large`, and a closed
/// connection, for a head over `--max-header-size` that hyper let through.
pub fn head_too_large(uri: bool) -> Response<ResponseBody> {
    let status = if uri { StatusCode::URI_TOO_LONG } else { StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE };
    let mut response = plain(status);
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `501 Not Implemented` and a closed connection, for `CONNECT`: we are not a proxy, and a
/// `2xx` from an app would turn the connection into a tunnel to nowhere.
pub fn not_a_proxy() -> Response<ResponseBody> {
    let mut response = plain(StatusCode::NOT_IMPLEMENTED);
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The answer to a request whose body could not be read: `413` when it is too large, `408`
/// when the client stopped sending it, else `400`; the connection closes unless the client
/// simply left (nothing after invalid framing can be trusted, and the rest of a too-large or
/// stalled body is still on the wire: close rather than drain it).
pub fn body_error(error: &Error) -> Response<ResponseBody> {
    let mut response = plain(body_error_status(error));
    if !error.is_disconnected() {
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The status of a request whose body could not be read (see `body_error`).
pub fn body_error_status(error: &Error) -> StatusCode {
    if error.is_body_too_large() {
        StatusCode::PAYLOAD_TOO_LARGE
    } else if error.is_body_timed_out() {
        StatusCode::REQUEST_TIMEOUT
    } else {
        StatusCode::BAD_REQUEST
    }
}
