//! ASGI `send()` for `websocket` scopes, checked against the spec's order:
//!
//! - before the handshake is answered: `websocket.accept` (`101` over HTTP/1.1, `200` over
//!   HTTP/2, with the chosen subprotocol and extra headers), `websocket.close` (`403`), or
//!   the denial response extension's `websocket.http.response.start`/`.body` (any HTTP
//!   response but, over HTTP/2, a `2xx`: that would accept the extended CONNECT);
//! - once open: `websocket.send` (`text` or `bytes`) and `websocket.close` (code, reason).
//!
//! After the client has gone, `send()` raises `ClientDisconnected` (an `OSError`).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use http::{HeaderMap, Response, StatusCode};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::close_message;
use crate::asgi::awaitable::done;
use crate::asgi::bridge::{LoopBridge, Resolution};
use crate::asgi::job::Session;
use crate::asgi::send::{message_and_type, parse_headers, ResponseWriter};
use crate::errors::Error;
use crate::http::connection::RequestState;
use crate::http::responder::{Head, Responder};
use crate::http::response_body::ResponseBody;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The handshake is not answered yet.
    Handshake,
    /// A denial response is being sent.
    Denial,
    Open,
    Closed,
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Self::Handshake => "before the handshake was answered",
            Self::Denial => "during a denial response",
            Self::Open => "on an open connection",
            Self::Closed => "after the connection was closed",
        }
    }
}

#[pyclass(module = "amphicorn._amphicorn")]
pub struct WebSocketSend {
    phase: Phase,
    writer: ResponseWriter,
    /// None over HTTP/2 (see `Session`).
    accept_key: Option<String>,
    outgoing: async_channel::Sender<Message>,
    bridge: Py<LoopBridge>,
}

impl WebSocketSend {
    pub fn new(
        session: &Session,
        respond: oneshot::Sender<Response<ResponseBody>>,
        state: Arc<RequestState>,
        bridge: Py<LoopBridge>,
    ) -> Self {
        Self {
            phase: Phase::Handshake,
            writer: ResponseWriter::new(Responder::new(respond, state, false)),
            accept_key: session.accept_key.clone(),
            outgoing: session.outgoing.clone(),
            bridge,
        }
    }

    pub fn response_started(&self) -> bool {
        self.phase != Phase::Handshake
    }

    pub fn response_complete(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Ends the exchange after the app failed or returned early: `500` before the
    /// handshake was answered, an aborted denial response, or close code 1011.
    pub fn fail(&mut self) {
        if self.phase == Phase::Open {
            // Fails only if the connection is already gone.
            let _ = self.outgoing.try_send(close_message(CloseCode::Error, ""));
        } else {
            self.writer.responder.fail();
        }
        self.phase = Phase::Closed;
    }

    fn accept(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        let mut headers = HeaderMap::new();
        let status = match &self.accept_key {
            Some(key) => {
                headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
                let accept = HeaderValue::from_str(key).map_err(|error| PyRuntimeError::new_err(error.to_string()))?;
                headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
                StatusCode::SWITCHING_PROTOCOLS
            }
            // HTTP/2: the stream is the connection; a 200 opens it (RFC 8441 §5).
            None => StatusCode::OK,
        };
        if let Some(protocol) = message.get_item(intern!(py, "subprotocol"))?.filter(|value| !value.is_none()) {
            let protocol = protocol.cast::<PyString>()?.to_str()?;
            let value = HeaderValue::from_str(protocol)
                .map_err(|_| PyValueError::new_err(format!("invalid subprotocol {protocol:?}")))?;
            headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
        if let Some(extra) = message.get_item(intern!(py, "headers"))?.filter(|value| !value.is_none()) {
            for (name, value) in parse_headers(&extra)? {
                if let Some(name) = name {
                    headers.append(name, value);
                }
            }
        }
        let head = Head { status, reason: None, headers };
        self.writer.responder.send_complete(head, Bytes::new())?;
        self.phase = Phase::Open;
        Ok(())
    }

    /// Queues a frame for the client, waiting on tokio when the channel is full.
    fn queue<'py>(&self, py: Python<'py>, frame: Message) -> PyResult<Bound<'py, PyAny>> {
        match self.outgoing.try_send(frame) {
            Ok(()) => done(py),
            Err(async_channel::TrySendError::Closed(_)) => Err(Error::client_gone().into()),
            Err(async_channel::TrySendError::Full(frame)) => {
                let bridge = self.bridge.get();
                let (id, future) = bridge.waiter(py)?;
                let outgoing = self.outgoing.clone();
                bridge.handle().resolve_with(id, async move {
                    if outgoing.send(frame).await.is_ok() {
                        Resolution::Sent
                    } else {
                        Resolution::SendFailed
                    }
                });
                Ok(future)
            }
        }
    }
}

#[pymethods]
impl WebSocketSend {
    fn __call__<'py>(&mut self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = message.py();
        let (message, kind_value) = message_and_type(message)?;
        let kind = kind_value.to_str()?;
        if self.writer.responder.state().is_disconnected() {
            return Err(Error::client_gone().into());
        }
        match (self.phase, kind) {
            (Phase::Handshake, "websocket.accept") => {
                self.accept(message)?;
                done(py)
            }
            (Phase::Handshake, "websocket.close") => {
                let head = Head { status: StatusCode::FORBIDDEN, reason: None, headers: HeaderMap::new() };
                self.phase = Phase::Closed;
                self.writer.responder.send_complete(head, Bytes::new())?;
                done(py)
            }
            (Phase::Handshake, "websocket.http.response.start") => {
                self.writer.start(message)?;
                if self.accept_key.is_none() && self.writer.status().is_some_and(|status| status.is_success()) {
                    return Err(PyValueError::new_err(
                        "a WebSocket denial response over HTTP/2 cannot be 2xx: that accepts the connection",
                    ));
                }
                self.phase = Phase::Denial;
                done(py)
            }
            (Phase::Denial, "websocket.http.response.body") => {
                let (awaitable, last) = self.writer.body(message, &self.bridge)?;
                if last {
                    self.phase = Phase::Closed;
                }
                Ok(awaitable)
            }
            (Phase::Open, "websocket.send") => {
                let frame = frame_from(message)?;
                self.queue(py, frame)
            }
            (Phase::Open, "websocket.close") => {
                let code = match message.get_item(intern!(py, "code"))? {
                    Some(code) if !code.is_none() => code.extract::<u16>()?,
                    _ => 1000,
                };
                let reason = match message.get_item(intern!(py, "reason"))? {
                    Some(reason) if !reason.is_none() => reason.cast::<PyString>()?.to_str()?.to_owned(),
                    _ => String::new(),
                };
                self.phase = Phase::Closed;
                self.queue(py, close_message(CloseCode::from(code), &reason))
            }
            (phase, other) => {
                Err(PyRuntimeError::new_err(format!("unexpected ASGI message '{other}' sent {}", phase.describe())))
            }
        }
    }
}

/// `websocket.send` → a text frame (`text` set) or a binary one (`bytes` set).
fn frame_from(message: &Bound<'_, PyDict>) -> PyResult<Message> {
    let py = message.py();
    if let Some(text) = message.get_item(intern!(py, "text"))?.filter(|value| !value.is_none()) {
        let text = text.cast::<PyString>().map_err(|_| PyTypeError::new_err("'text' must be a str"))?;
        return Ok(Message::text(text.to_str()?));
    }
    if let Some(data) = message.get_item(intern!(py, "bytes"))?.filter(|value| !value.is_none()) {
        let data = data.cast::<PyBytes>().map_err(|_| PyTypeError::new_err("'bytes' must be bytes"))?;
        return Ok(Message::binary(Bytes::copy_from_slice(data.as_bytes())));
    }
    Err(PyValueError::new_err("'websocket.send' needs 'text' or 'bytes'"))
}
