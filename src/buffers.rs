//! Python `bytes` ↔ Rust buffers, shared by both bridges: request body frames become one
//! `bytes` (one copy), response chunks go to the socket (large ones without a copy).

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

use crate::http::frames::Frames;

/// Chunks at least this big are sent from the Python object itself instead of a copy.
const SHARE_FROM: usize = 16 * 1024;

/// One Python `bytes` with the contents of `frames`: the only copy they get.
pub fn frames_to_py<'py>(py: Python<'py>, frames: &Frames) -> PyResult<Bound<'py, PyBytes>> {
    let mut pieces = frames.iter();
    match (pieces.next(), pieces.next()) {
        (None, _) => Ok(PyBytes::new(py, b"")),
        (Some(single), None) => Ok(PyBytes::new(py, single)),
        _ => PyBytes::new_with(py, frames.len(), |buffer| {
            let mut offset = 0;
            for frame in frames.iter() {
                buffer[offset..offset + frame.len()].copy_from_slice(frame);
                offset += frame.len();
            }
            Ok(())
        }),
    }
}

/// The bytes of a chunk for the socket: small ones copied (cheaper than keeping the Python
/// object alive), large ones shared, with the object released once hyper has written them
/// (pyo3 defers that decref to the next thread that holds the GIL; no thread waits for it).
pub fn shared_bytes(chunk: &Bound<'_, PyBytes>) -> Bytes {
    if chunk.as_bytes().len() < SHARE_FROM {
        return Bytes::copy_from_slice(chunk.as_bytes());
    }
    Bytes::from_owner(PyBackedBytes::from(chunk.clone()))
}
