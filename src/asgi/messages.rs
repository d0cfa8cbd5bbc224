//! Messages for `receive()`, built in Rust (on tokio or the loop thread) and turned into
//! dicts only on the loop thread, when the app gets them.

use bytes::Bytes;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::buffers::frames_to_py;
use crate::http::frames::Frames;

pub enum Incoming {
    /// `http.request`
    Body { data: Frames, more_body: bool },
    /// `http.disconnect`
    Disconnect,
    /// `websocket.connect`
    WebSocketConnect,
    /// `websocket.receive` with `text`
    WebSocketText(String),
    /// `websocket.receive` with `bytes`
    WebSocketBinary(Bytes),
    /// `websocket.disconnect`
    WebSocketDisconnect { code: u16, reason: String },
}

impl Incoming {
    pub fn into_dict(self, py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let message = PyDict::new(py);
        let kind = intern!(py, "type");
        match self {
            Self::Body { data, more_body } => {
                message.set_item(kind, intern!(py, "http.request"))?;
                message.set_item(intern!(py, "body"), frames_to_py(py, &data)?)?;
                message.set_item(intern!(py, "more_body"), more_body)?;
            }
            Self::Disconnect => message.set_item(kind, intern!(py, "http.disconnect"))?,
            Self::WebSocketConnect => message.set_item(kind, intern!(py, "websocket.connect"))?,
            Self::WebSocketText(text) => {
                message.set_item(kind, intern!(py, "websocket.receive"))?;
                message.set_item(intern!(py, "text"), text)?;
            }
            Self::WebSocketBinary(data) => {
                message.set_item(kind, intern!(py, "websocket.receive"))?;
                message.set_item(intern!(py, "bytes"), PyBytes::new(py, &data))?;
            }
            Self::WebSocketDisconnect { code, reason } => {
                message.set_item(kind, intern!(py, "websocket.disconnect"))?;
                message.set_item(intern!(py, "code"), code)?;
                message.set_item(intern!(py, "reason"), reason)?;
            }
        }
        Ok(message)
    }
}
