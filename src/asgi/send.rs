//! ASGI `send()` for `http` scopes: `http.response.start`, then `http.response.body`
//! messages, then (when the start said `trailers: True`) `http.response.trailers` messages,
//! checked against the spec's order.
//!
//! The head is held until the first body message, so a one-message body goes out with
//! `Content-Length`; later messages stream through a bounded channel. When the channel has
//! room, `send()` completes at once; when it is full, `send()` returns a future that a
//! tokio task resolves once the chunk is queued, which is the download backpressure.
//! After the client has gone, `send()` raises `ClientDisconnected` (an `OSError`).
//!
//! Early hints (the `http.response.early_hint` extension): before the start message, each
//! queues a `103 Early Hints` with a `link` field per link (`http/early_hints.rs`); where
//! the extension is not offered they are dropped, and after the start they are an error.
//!
//! Trailers (the `http.response.trailers` extension): the body streams without a
//! `Content-Length`, and its end waits for the last trailers message. Where the extension is
//! not offered (see `scope.rs`), an app that announces trailers anyway has them dropped.

use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, HeaderName, Response, StatusCode};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use tokio::sync::oneshot;

use super::awaitable::done;
use super::bridge::{LoopBridge, Resolution};
use super::file_body::{self, FileRange};
use crate::buffers::shared_bytes;
use crate::errors::Error;
use crate::http::connection::RequestState;
use crate::http::early_hints::HintSink;
use crate::http::responder::{Head, Queued, Responder};
use crate::http::response_body::ResponseBody;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `http.response.start`.
    Start,
    /// Head received; body messages may follow.
    Body,
    /// The last body message was sent; trailers messages follow.
    Trailers,
    /// The last body message was sent.
    Done,
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Self::Start => "before 'http.response.start'",
            Self::Body => "after 'http.response.start'",
            Self::Trailers => "after the last body message",
            Self::Done => "after the response completed",
        }
    }
}

#[pyclass(module = "amphicorn._amphicorn")]
pub struct HttpSend {
    phase: Phase,
    writer: ResponseWriter,
    bridge: Py<LoopBridge>,
    /// Where the request's `103 Early Hints` go (HTTP/1.1 and HTTP/2: see `scope.rs`).
    hints: Option<HintSink>,
}

impl HttpSend {
    pub fn new(
        respond: oneshot::Sender<Response<ResponseBody>>,
        state: Arc<RequestState>,
        head_only: bool,
        bridge: Py<LoopBridge>,
        hints: Option<HintSink>,
    ) -> Self {
        let writer = ResponseWriter::new(Responder::new(respond, state, head_only));
        Self { phase: Phase::Start, writer, bridge, hints }
    }

    pub fn response_started(&self) -> bool {
        self.phase != Phase::Start
    }

    pub fn response_complete(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Ends the exchange after the app failed or returned early: `500` if nothing was sent,
    /// otherwise the connection is aborted.
    pub fn fail(&mut self) {
        self.phase = Phase::Done;
        self.writer.responder.fail();
    }
}

/// An HTTP response as ASGI messages build it: `*.response.start`, then body messages.
/// Serves `http` scopes and the WebSocket denial response alike.
pub struct ResponseWriter {
    /// Set by the start message, taken by the first body message.
    head: Option<Head>,
    /// The start message announced trailers.
    trailers: bool,
    /// Trailer fields gathered until the last trailers message.
    trailer_fields: HeaderMap,
    pub responder: Responder,
}

impl ResponseWriter {
    pub fn new(responder: Responder) -> Self {
        Self { head: None, trailers: false, trailer_fields: HeaderMap::new(), responder }
    }

    /// The status a start message set, until the first body message sends the head.
    pub fn status(&self) -> Option<StatusCode> {
        self.head.as_ref().map(|head| head.status)
    }

    /// The start message announced trailers: the body's end waits for them.
    pub fn expects_trailers(&self) -> bool {
        self.trailers
    }

    /// Takes `status` and `headers` from a start message.
    pub fn start(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        let status = message
            .get_item(intern!(py, "status"))?
            .ok_or_else(|| PyValueError::new_err("a response start message needs a 'status'"))?;
        let code: u16 =
            status.extract().map_err(|_| PyTypeError::new_err(format!("'status' must be an int, got {status}")))?;
        let status =
            StatusCode::from_u16(code).map_err(|_| PyValueError::new_err(format!("invalid HTTP status {code}")))?;
        let headers = match message.get_item(intern!(py, "headers"))? {
            Some(headers) if !headers.is_none() => parse_headers(&headers)?,
            _ => HeaderMap::new(),
        };
        self.head = Some(Head { status, reason: None, headers });
        self.trailers = flag(message, intern!(py, "trailers"))?;
        Ok(())
    }

    /// Takes an `http.response.trailers` message; returns whether it was the last one, which
    /// ends the response.
    pub fn trailers(&mut self, message: &Bound<'_, PyDict>) -> PyResult<bool> {
        let py = message.py();
        if let Some(headers) = message.get_item(intern!(py, "headers"))? {
            if !headers.is_none() {
                self.trailer_fields.extend(parse_headers(&headers)?);
            }
        }
        let more = flag(message, intern!(py, "more_trailers"))?;
        if !more {
            self.responder.send_trailers(std::mem::take(&mut self.trailer_fields));
        }
        Ok(!more)
    }

    /// Sends a body message; returns the awaitable for `send()` and whether it was the last.
    pub fn body<'py>(
        &mut self,
        message: &Bound<'py, PyDict>,
        bridge: &Py<LoopBridge>,
    ) -> PyResult<(Bound<'py, PyAny>, bool)> {
        let py = message.py();
        let data = match message.get_item(intern!(py, "body"))? {
            Some(body) if !body.is_none() => {
                let body = body
                    .cast::<PyBytes>()
                    .map_err(|_| PyTypeError::new_err(format!("'body' must be bytes, got {}", body.get_type())))?;
                shared_bytes(body)
            }
            _ => Bytes::new(),
        };
        let more_body = flag(message, intern!(py, "more_body"))?;
        if let Some(head) = self.head.take() {
            if self.trailers {
                self.responder.open_stream_with_trailers(head)?;
            } else if !more_body {
                self.responder.send_complete(head, data)?;
                return Ok((done(py)?, true));
            } else {
                self.responder.open_stream(head, None)?;
            }
        }
        let waiting = if data.is_empty() { Ok(Queued::Sent) } else { self.responder.try_send(data) };
        let awaitable = match waiting {
            Ok(Queued::Sent) => done(py),
            Err(error) => Err(error.into()),
            Ok(Queued::Full(chunk)) => {
                let chunks = self.responder.chunk_sender().cloned();
                let bridge = bridge.get();
                let (id, future) = bridge.waiter(py)?;
                bridge.handle().resolve_with(id, async move {
                    match chunks {
                        Some(chunks) if chunks.send(chunk).await.is_ok() => Resolution::Sent,
                        _ => Resolution::SendFailed,
                    }
                });
                Ok(future)
            }
        };
        if !more_body && !self.trailers {
            self.responder.finish();
        }
        Ok((awaitable?, !more_body))
    }

    /// `http.response.pathsend`: the file at `path` is the whole body, read and sent by
    /// Rust; the head gets the file's length unless the app set one (a shorter one wins).
    pub fn pathsend(&mut self, message: &Bound<'_, PyDict>, bridge: &Py<LoopBridge>) -> PyResult<()> {
        let py = message.py();
        let path = message
            .get_item(intern!(py, "path"))?
            .ok_or_else(|| PyValueError::new_err("'http.response.pathsend' needs a 'path'"))?;
        let path: std::path::PathBuf = path.extract()?;
        let mut range = FileRange::whole(&path)?;
        let head = self.head.take().ok_or_else(|| PyRuntimeError::new_err("pathsend before response start"))?;
        if let Some(declared) = head.declared_length() {
            range.limit(declared);
        }
        self.responder.open_stream(head, range.length())?;
        if let Some(chunks) = self.responder.chunk_sender().cloned() {
            let state = self.responder.state().clone();
            bridge.get().handle().runtime().spawn_blocking(move || file_body::stream(range, &chunks, &state));
        }
        self.responder.finish();
        Ok(())
    }

    /// `http.response.zerocopysend`: part of an open file is the next piece of the body,
    /// read by Rust; `send()` resolves once it is all queued. A first and last message gives
    /// the head the range's length (unless the app set one).
    pub fn zerocopysend<'py>(
        &mut self,
        message: &Bound<'py, PyDict>,
        bridge: &Py<LoopBridge>,
    ) -> PyResult<(Bound<'py, PyAny>, bool)> {
        let py = message.py();
        let range = FileRange::from_zerocopysend(message)?;
        let more_body = flag(message, intern!(py, "more_body"))?;
        if let Some(head) = self.head.take() {
            if self.trailers {
                self.responder.open_stream_with_trailers(head)?;
            } else {
                let length = if more_body || head.declared_length().is_some() { None } else { range.length() };
                self.responder.open_stream(head, length)?;
            }
        }
        let awaitable = match self.responder.chunk_sender().cloned() {
            None => done(py)?, // HEAD: the body is dropped.
            Some(chunks) => {
                let state = self.responder.state().clone();
                let bridge = bridge.get();
                let (id, future) = bridge.waiter(py)?;
                let runtime = bridge.handle().runtime().clone();
                bridge.handle().resolve_with(id, async move {
                    match runtime.spawn_blocking(move || file_body::stream(range, &chunks, &state)).await {
                        Ok(true) => Resolution::Sent,
                        _ => Resolution::SendFailed,
                    }
                });
                future
            }
        };
        if !more_body && !self.trailers {
            self.responder.finish();
        }
        Ok((awaitable, !more_body))
    }
}

/// The `links` of an `http.response.early_hint` message, each a `Link` field's value.
fn early_hint_links(message: &Bound<'_, PyDict>) -> PyResult<Vec<HeaderValue>> {
    let links = message
        .get_item(intern!(message.py(), "links"))?
        .ok_or_else(|| PyValueError::new_err("an 'http.response.early_hint' message needs 'links'"))?;
    links
        .try_iter()?
        .map(|link| {
            let link = link?;
            let bytes = link
                .cast::<PyBytes>()
                .map_err(|_| PyTypeError::new_err(format!("early hint links are bytes, got {}", link.get_type())))?;
            // The check of every header an app sends: each link is a `link` field of the 103.
            header(b"link", bytes.as_bytes()).map(|(_, value)| value).map_err(PyValueError::new_err)
        })
        .collect()
}

/// A message's boolean key (`more_body`, `trailers`, `more_trailers`); absent is false.
fn flag(message: &Bound<'_, PyDict>, key: &Bound<'_, PyString>) -> PyResult<bool> {
    match message.get_item(key)? {
        Some(value) => value.is_truthy(),
        None => Ok(false),
    }
}

#[pymethods]
impl HttpSend {
    fn __call__<'py>(&mut self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = message.py();
        let (message, kind_value) = message_and_type(message)?;
        let kind = kind_value.to_str()?;
        let state = self.writer.responder.state();
        if state.is_disconnected() || state.body_failure_status().is_some() {
            // A body over the limits, stalled or malformed: the app's error ends the exchange,
            // and `fail()` answers 413, 408 or 400.
            return Err(Error::client_gone().into());
        }
        match (self.phase, kind) {
            (Phase::Start, "http.response.early_hint") => {
                let links = early_hint_links(message)?;
                // Where the extension is not offered (HTTP/1.0), dropped.
                if let (Some(hints), false) = (&self.hints, links.is_empty()) {
                    hints.send(&links);
                }
                done(py)
            }
            (Phase::Start, "http.response.start") => {
                self.writer.start(message)?;
                self.phase = Phase::Body;
                done(py)
            }
            (Phase::Body, "http.response.body") => {
                let (awaitable, last) = self.writer.body(message, &self.bridge)?;
                if last {
                    self.phase = if self.writer.expects_trailers() { Phase::Trailers } else { Phase::Done };
                }
                Ok(awaitable)
            }
            (Phase::Trailers, "http.response.trailers") => {
                if self.writer.trailers(message)? {
                    self.phase = Phase::Done;
                }
                done(py)
            }
            (Phase::Body, "http.response.zerocopysend") => {
                let (awaitable, last) = self.writer.zerocopysend(message, &self.bridge)?;
                if last {
                    self.phase = if self.writer.expects_trailers() { Phase::Trailers } else { Phase::Done };
                }
                Ok(awaitable)
            }
            (Phase::Body, "http.response.pathsend") => {
                self.phase = Phase::Done;
                self.writer.pathsend(message, &self.bridge)?;
                done(py)
            }
            (
                phase,
                "http.response.start"
                | "http.response.body"
                | "http.response.pathsend"
                | "http.response.trailers"
                | "http.response.early_hint",
            ) => Err(PyRuntimeError::new_err(format!("unexpected ASGI message '{kind}' sent {}", phase.describe()))),
            (_, other) => {
                Err(PyRuntimeError::new_err(format!("unknown ASGI message type '{other}' for an http scope")))
            }
        }
    }
}

/// An ASGI message: the dict, and its `type`.
pub fn message_and_type<'a, 'py>(
    message: &'a Bound<'py, PyAny>,
) -> PyResult<(&'a Bound<'py, PyDict>, Bound<'py, PyString>)> {
    let message = message
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err(format!("ASGI messages are dicts, got {}", message.get_type())))?;
    let kind = message
        .get_item(intern!(message.py(), "type"))?
        .ok_or_else(|| PyValueError::new_err("ASGI message without a 'type'"))?;
    let kind =
        kind.cast_into::<PyString>().map_err(|_| PyTypeError::new_err("an ASGI message 'type' must be a str"))?;
    Ok((message, kind))
}

/// ASGI headers: an iterable of `[name, value]` byte pairs.
pub fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    for pair in headers.try_iter()? {
        let pair = pair?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("headers must be [name, value] pairs, got {pair}")))?;
        let (Ok(name), Ok(value)) = (name.cast::<PyBytes>(), value.cast::<PyBytes>()) else {
            return Err(PyTypeError::new_err(format!("header names and values must be bytes, got {pair}")));
        };
        let (header_name, header_value) = header(name.as_bytes(), value.as_bytes()).map_err(PyValueError::new_err)?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// One `[name, value]` byte pair an app gave → a header, or the message that says why not
/// (the bytes shown as Python shows them, `b'...'`). Pure, so the fuzz target
/// `asgi_headers` can call it without Python.
pub(crate) fn header(name: &[u8], value: &[u8]) -> Result<(HeaderName, HeaderValue), String> {
    let shown = |bytes: &[u8]| format!("b'{}'", bytes.escape_ascii());
    let header_name = HeaderName::from_bytes(name).map_err(|_| format!("invalid header name {}", shown(name)))?;
    let header_value = HeaderValue::from_bytes(value)
        .map_err(|_| format!("invalid value for header {}: {}", shown(name), shown(value)))?;
    Ok((header_name, header_value))
}
