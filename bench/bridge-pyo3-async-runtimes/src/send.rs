//! ASGI `send()` for `http` scopes, and the response body it feeds.
//!
//! `send()` checks and applies the message at once (with the GIL), and returns the awaitable
//! pyo3-async-runtimes makes of the Rust future that completes it: a ready one for the start
//! message and a one-message body, a bounded channel send for a streamed chunk (the
//! download backpressure). The head is held until the first body message, so a
//! one-message body goes out with its length, as amphicorn does.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};
use pyo3_async_runtimes::TaskLocals;
use tokio::sync::{mpsc, oneshot, watch};

/// Chunks in flight between `send()` and the socket, per streamed response.
const CHANNEL_CAPACITY: usize = 4;

/// A response body: all of it at once, or chunks from `send()`.
pub enum ResponseBody {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Bytes>),
}

impl ResponseBody {
    pub fn full(data: Bytes) -> Self {
        Self::Full(Some(data))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
            Self::Channel(chunks) => chunks.poll_recv(cx).map(|chunk| chunk.map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(data)) => SizeHint::with_exact(data.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Channel(_) => SizeHint::default(),
        }
    }
}

enum Phase {
    /// Waiting for `http.response.start`.
    Start(oneshot::Sender<Response<ResponseBody>>),
    /// Head received, no body yet.
    Head(oneshot::Sender<Response<ResponseBody>>, StatusCode, HeaderMap),
    /// Streaming body chunks.
    Streaming(mpsc::Sender<Bytes>),
    Done,
}

/// The response as `send()` builds it, shared with the task that awaits the app.
#[derive(Clone)]
pub struct SendState {
    phase: Arc<Mutex<Phase>>,
    /// Set once the response is complete: `receive()` then says `http.disconnect`.
    finished: Arc<watch::Sender<bool>>,
}

impl SendState {
    pub fn new(respond: oneshot::Sender<Response<ResponseBody>>, finished: watch::Sender<bool>) -> Self {
        Self { phase: Arc::new(Mutex::new(Phase::Start(respond))), finished: Arc::new(finished) }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After the app ended: `500` if it never responded, an ended (short) body if it stopped
    /// halfway; nothing if the response is complete.
    pub fn fail(&self) {
        let phase = std::mem::replace(&mut *self.phase(), Phase::Done);
        if let Phase::Start(respond) | Phase::Head(respond, ..) = phase {
            let _ = respond.send(crate::server::internal_error());
        }
        self.finished.send_replace(true);
    }
}

#[pyclass(frozen)]
pub struct HttpSend {
    state: SendState,
    locals: TaskLocals,
}

impl HttpSend {
    pub fn new(state: SendState, locals: TaskLocals) -> Self {
        Self { state, locals }
    }

    fn done<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyo3_async_runtimes::tokio::future_into_py_with_locals(py, self.locals.clone(), async { Ok(()) })
    }
}

#[pymethods]
impl HttpSend {
    fn __call__<'py>(&self, message: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
        let py = message.py();
        let kind = message.get_item(intern!(py, "type"))?.ok_or_else(|| PyValueError::new_err("no 'type'"))?;
        let kind: &str = &kind.extract::<String>()?;
        let mut phase = self.state.phase();
        match (std::mem::replace(&mut *phase, Phase::Done), kind) {
            (Phase::Start(respond), "http.response.start") => {
                let status: u16 = message.get_item(intern!(py, "status"))?.map_or(Ok(200), |s| s.extract())?;
                let status = StatusCode::from_u16(status).map_err(|error| PyValueError::new_err(error.to_string()))?;
                let headers = match message.get_item(intern!(py, "headers"))? {
                    Some(headers) => parse_headers(&headers)?,
                    None => HeaderMap::new(),
                };
                *phase = Phase::Head(respond, status, headers);
                drop(phase);
                self.done(py)
            }
            (Phase::Head(respond, status, headers), "http.response.body") => {
                let (data, more_body) = body_message(message)?;
                let (body, sender) = if more_body {
                    let (sender, chunks) = mpsc::channel(CHANNEL_CAPACITY);
                    (ResponseBody::Channel(chunks), Some(sender))
                } else {
                    (ResponseBody::full(data.clone()), None)
                };
                let mut response = Response::new(body);
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                respond.send(response).map_err(|_| disconnected())?;
                match sender {
                    Some(sender) => {
                        *phase = Phase::Streaming(sender.clone());
                        drop(phase);
                        self.send_chunk(py, sender, data)
                    }
                    None => {
                        drop(phase);
                        self.state.finished.send_replace(true);
                        self.done(py)
                    }
                }
            }
            (Phase::Streaming(sender), "http.response.body") => {
                let (data, more_body) = body_message(message)?;
                if more_body {
                    *phase = Phase::Streaming(sender.clone());
                }
                drop(phase);
                if !more_body {
                    self.state.finished.send_replace(true);
                }
                self.send_chunk(py, sender, data)
            }
            (previous, kind) => {
                *phase = previous;
                Err(PyRuntimeError::new_err(format!("unexpected ASGI message '{kind}'")))
            }
        }
    }
}

impl HttpSend {
    /// The awaitable of a streamed chunk: done once the chunk is in the channel.
    fn send_chunk<'py>(
        &self,
        py: Python<'py>,
        sender: mpsc::Sender<Bytes>,
        data: Bytes,
    ) -> PyResult<Bound<'py, PyAny>> {
        if data.is_empty() {
            return self.done(py);
        }
        pyo3_async_runtimes::tokio::future_into_py_with_locals(py, self.locals.clone(), async move {
            sender.send(data).await.map_err(|_| disconnected())
        })
    }
}

fn body_message(message: &Bound<'_, PyDict>) -> PyResult<(Bytes, bool)> {
    let py = message.py();
    let data = match message.get_item(intern!(py, "body"))? {
        Some(body) => {
            let body = body.cast::<PyBytes>().map_err(|_| PyTypeError::new_err("'body' must be bytes"))?;
            shared_bytes(body)
        }
        None => Bytes::new(),
    };
    let more_body = match message.get_item(intern!(py, "more_body"))? {
        Some(more) => more.is_truthy()?,
        None => false,
    };
    Ok((data, more_body))
}

fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    for pair in headers.try_iter()? {
        let (name, value): (Bound<'_, PyBytes>, Bound<'_, PyBytes>) = pair?.extract()?;
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|error| PyValueError::new_err(error.to_string()))?;
        let value =
            HeaderValue::from_bytes(value.as_bytes()).map_err(|error| PyValueError::new_err(error.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}

/// As amphicorn's `shared_bytes`: small chunks copied, large ones shared with the Python
/// object (released once hyper has written them).
fn shared_bytes(chunk: &Bound<'_, PyBytes>) -> Bytes {
    if chunk.as_bytes().len() < 16 * 1024 {
        return Bytes::copy_from_slice(chunk.as_bytes());
    }
    Bytes::from_owner(PyBackedBytes::from(chunk.clone()))
}

fn disconnected() -> PyErr {
    PyOSError::new_err("the client closed the connection")
}
