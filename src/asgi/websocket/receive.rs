//! ASGI `receive()` for `websocket` scopes: `websocket.connect` first, then the client's
//! messages as `websocket.receive`, and `websocket.disconnect` (with the close code) last;
//! after that, every call returns the same `websocket.disconnect` again — also when the
//! first one reached the app through an awaited `receive()`, which resolves on the tokio side:
//! the close code is kept where both sides can see it.

use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::asgi::awaitable::Ready;
use crate::asgi::bridge::{LoopBridge, Resolution};
use crate::asgi::messages::Incoming;
use crate::http::connection::RequestState;

#[pyclass(module = "amphicorn._amphicorn")]
pub struct WebSocketReceive {
    connect_sent: bool,
    incoming: async_channel::Receiver<Incoming>,
    /// The close code and reason, once the disconnect was delivered (set on the loop thread
    /// for a message taken at once, on a tokio thread for one that was awaited).
    closed: Arc<OnceLock<(u16, String)>>,
    /// Marked disconnected when the disconnect reaches the app: after a protocol error the
    /// connection's close frame waits for that (`mod.rs`), and `send()` raises from then on.
    state: Arc<RequestState>,
    bridge: Py<LoopBridge>,
}

impl WebSocketReceive {
    pub fn new(incoming: async_channel::Receiver<Incoming>, state: Arc<RequestState>, bridge: Py<LoopBridge>) -> Self {
        Self { connect_sent: false, incoming, closed: Arc::default(), state, bridge }
    }
}

#[pymethods]
impl WebSocketReceive {
    fn __call__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let message = if !self.connect_sent {
            self.connect_sent = true;
            Incoming::WebSocketConnect
        } else if let Some((code, reason)) = self.closed.get() {
            Incoming::WebSocketDisconnect { code: *code, reason: reason.clone() }
        } else {
            match self.incoming.try_recv() {
                Ok(message) => message,
                // The connection never opened (or its reader is gone) without saying why.
                Err(async_channel::TryRecvError::Closed) => {
                    Incoming::WebSocketDisconnect { code: 1006, reason: String::new() }
                }
                Err(async_channel::TryRecvError::Empty) => {
                    let bridge = self.bridge.get();
                    let (id, future) = bridge.waiter(py)?;
                    let incoming = self.incoming.clone();
                    let closed = self.closed.clone();
                    let state = self.state.clone();
                    bridge.handle().resolve_with(id, async move {
                        let message = incoming
                            .recv()
                            .await
                            .unwrap_or(Incoming::WebSocketDisconnect { code: 1006, reason: String::new() });
                        remember_close(&closed, &state, &message);
                        Resolution::Received(message)
                    });
                    return Ok(future);
                }
            }
        };
        remember_close(&self.closed, &self.state, &message);
        Ready::new(message.into_dict(py)?.into_any().unbind()).into_bound_py_any(py)
    }
}

/// Keeps the first disconnect's code and reason for every later `receive()`.
fn remember_close(closed: &OnceLock<(u16, String)>, state: &RequestState, message: &Incoming) {
    if let Incoming::WebSocketDisconnect { code, reason } = message {
        state.mark_disconnected();
        // Only the first disconnect counts; a later one (never sent today) is ignored.
        let _ = closed.set((*code, reason.clone()));
    }
}
