//! ASGI `receive()` for `http` scopes: request body messages, then `http.disconnect`.
//!
//! A body the pre-read holds in full is one `http.request` message, delivered at once. A
//! streamed body yields one message per chunk (`more_body: True`) and a final empty one
//! (`more_body: False`); a chunk that is already queued is delivered at once, otherwise
//! `receive()` returns a future that a tokio task resolves through the bridge. After the
//! body, `receive()` waits until the client goes away or the response is complete, then
//! returns `http.disconnect`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use tokio::sync::oneshot;

use super::awaitable::Ready;
use super::bridge::{LoopBridge, Resolution};
use super::messages::Incoming;
use crate::http::connection::RequestState;
use crate::http::request_body::{Chunk, Frames, RequestBody};

enum Source {
    /// The whole body, not yet delivered.
    Complete(Frames),
    Streaming {
        prefix: Frames,
        chunks: async_channel::Receiver<Chunk>,
        /// Set once the last body message was produced (possibly by a tokio waiter).
        ended: Arc<AtomicBool>,
    },
    /// The body was delivered: only `http.disconnect` is left.
    Delivered,
}

#[pyclass(module = "amphicorn._amphicorn")]
pub struct HttpReceive {
    source: Source,
    /// For `Expect: 100-continue`: the first `receive()` lets the body start flowing.
    start: Option<oneshot::Sender<()>>,
    state: Arc<RequestState>,
    bridge: Py<LoopBridge>,
}

impl HttpReceive {
    pub fn new(body: RequestBody, state: Arc<RequestState>, bridge: Py<LoopBridge>) -> Self {
        let (source, start) = match body {
            RequestBody::Complete(data) => (Source::Complete(data), None),
            RequestBody::Streaming(stream) => (
                Source::Streaming { prefix: stream.prefix, chunks: stream.chunks, ended: Arc::default() },
                stream.start,
            ),
        };
        Self { source, start, state, bridge }
    }

    fn ready<'py>(py: Python<'py>, message: Incoming) -> PyResult<Bound<'py, PyAny>> {
        Ready::new(message.into_dict(py)?.into_any().unbind()).into_bound_py_any(py)
    }

    /// A future resolved by `waiting` on tokio.
    fn wait<'py, F>(&self, py: Python<'py>, waiting: F) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future<Output = Incoming> + Send + 'static,
    {
        let bridge = self.bridge.get();
        let (id, future) = bridge.waiter(py)?;
        bridge.handle().resolve_with(id, async move { Resolution::Received(waiting.await) });
        Ok(future)
    }
}

#[pymethods]
impl HttpReceive {
    fn __call__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &mut self.source {
            Source::Complete(data) => {
                let data = std::mem::take(data);
                self.source = Source::Delivered;
                Self::ready(py, Incoming::Body { data, more_body: false })
            }
            Source::Streaming { prefix, chunks, ended } => {
                if ended.load(Ordering::Acquire) {
                    self.source = Source::Delivered;
                    return self.__call__(py);
                }
                if !prefix.is_empty() {
                    let data = std::mem::take(prefix);
                    return Self::ready(py, Incoming::Body { data, more_body: true });
                }
                if let Some(start) = self.start.take() {
                    // If the feeder is gone, the receive below says so.
                    let _ = start.send(());
                }
                match chunks.try_recv() {
                    Ok(chunk) => {
                        let message = from_chunk(Some(chunk));
                        if matches!(message, Incoming::Disconnect) {
                            self.source = Source::Delivered;
                        }
                        Self::ready(py, message)
                    }
                    Err(async_channel::TryRecvError::Closed) => {
                        self.source = Source::Delivered;
                        Self::ready(py, from_chunk(None))
                    }
                    Err(async_channel::TryRecvError::Empty) => {
                        let chunks = chunks.clone();
                        let ended = ended.clone();
                        self.wait(py, async move {
                            let message = from_chunk(chunks.recv().await.ok());
                            if !matches!(message, Incoming::Body { more_body: true, .. }) {
                                ended.store(true, Ordering::Release);
                            }
                            message
                        })
                    }
                }
            }
            Source::Delivered => {
                if self.state.is_closed() {
                    return Self::ready(py, Incoming::Disconnect);
                }
                let state = self.state.clone();
                self.wait(py, async move {
                    state.closed().await;
                    Incoming::Disconnect
                })
            }
        }
    }
}

fn from_chunk(chunk: Option<Chunk>) -> Incoming {
    match chunk {
        Some(Ok(data)) => Incoming::Body { data: Frames::from(data), more_body: true },
        Some(Err(_)) => Incoming::Disconnect,
        None => Incoming::Body { data: Frames::default(), more_body: false },
    }
}
