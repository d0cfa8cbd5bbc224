//! ASGI `receive()` for `http` scopes: the request body as `http.request` messages, then
//! `http.disconnect` once the response is complete.
//!
//! Every call returns the awaitable pyo3-async-runtimes makes of a Rust future
//! (`future_into_py_with_locals`), also when the answer is already known: that is the
//! library's one way from Rust to an awaitable.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3_async_runtimes::TaskLocals;
use tokio::sync::{watch, Mutex};

/// The request body as the server prepared it.
pub enum RequestBody {
    /// Read in full before the app was called (up to the pre-read limit).
    Complete(Bytes),
    /// Read frame by frame as the app asks.
    Streaming(Incoming),
    /// Delivered: only `http.disconnect` is left.
    Delivered,
}

/// One `receive()` answer; converted to a dict on the thread that resolves the future.
pub enum Message {
    Body { data: Bytes, more_body: bool },
    Disconnect,
}

impl<'py> IntoPyObject<'py> for Message {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let message = PyDict::new(py);
        match self {
            Self::Body { data, more_body } => {
                message.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
                message.set_item(intern!(py, "body"), PyBytes::new(py, &data))?;
                message.set_item(intern!(py, "more_body"), more_body)?;
            }
            Self::Disconnect => message.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?,
        }
        Ok(message)
    }
}

#[pyclass(frozen)]
pub struct HttpReceive {
    body: Arc<Mutex<RequestBody>>,
    finished: watch::Receiver<bool>,
    locals: TaskLocals,
}

impl HttpReceive {
    pub fn new(body: RequestBody, finished: watch::Receiver<bool>, locals: TaskLocals) -> Self {
        Self { body: Arc::new(Mutex::new(body)), finished, locals }
    }
}

#[pymethods]
impl HttpReceive {
    fn __call__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let body = self.body.clone();
        let mut finished = self.finished.clone();
        pyo3_async_runtimes::tokio::future_into_py_with_locals(py, self.locals.clone(), async move {
            let mut body = body.lock().await;
            let message = match std::mem::replace(&mut *body, RequestBody::Delivered) {
                RequestBody::Complete(data) => Message::Body { data, more_body: false },
                RequestBody::Streaming(mut incoming) => loop {
                    match incoming.frame().await {
                        Some(Ok(frame)) => {
                            let Ok(data) = frame.into_data() else { continue }; // trailers
                            *body = RequestBody::Streaming(incoming);
                            break Message::Body { data, more_body: true };
                        }
                        Some(Err(_)) => break Message::Disconnect,
                        None => break Message::Body { data: Bytes::new(), more_body: false },
                    }
                },
                RequestBody::Delivered => {
                    drop(body);
                    // Until the response is complete (or the request is dropped).
                    let _ = finished.wait_for(|finished| *finished).await;
                    Message::Disconnect
                }
            };
            Ok(message)
        })
    }
}
