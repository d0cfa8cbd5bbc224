//! Python `bytes` → `Bytes` for the socket, shared by both bridges.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

/// Chunks at least this big are sent from the Python object itself instead of a copy.
const SHARE_FROM: usize = 16 * 1024;

/// The bytes of a chunk for the socket: small ones copied (cheaper than keeping the Python
/// object alive), large ones shared, with the object released once hyper has written them
/// (pyo3 defers that decref to the next thread that holds the GIL; no thread waits for it).
pub fn shared_bytes(chunk: &Bound<'_, PyBytes>) -> Bytes {
    if chunk.as_bytes().len() < SHARE_FROM {
        return Bytes::copy_from_slice(chunk.as_bytes());
    }
    Bytes::from_owner(PyBackedBytes::from(chunk.clone()))
}
