//! Python `bytes` ↔ Rust buffers, shared by both bridges: request body frames become one
//! `bytes` (one copy), response chunks go to the socket (large ones without a copy), and
//! header bytes become latin-1 `str`s for WSGI.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyString};

use crate::http::frames::Frames;

/// Chunks at least this big are sent from the Python object itself instead of a copy.
const SHARE_FROM: usize = 16 * 1024;

/// One Python `bytes` with the contents of `frames`: the only copy they get.
pub fn frames_to_py<'py>(py: Python<'py>, frames: &Frames) -> PyResult<Bound<'py, PyBytes>> {
    let mut pieces = frames.iter();
    match (pieces.next(), pieces.next()) {
        (None, _) => Ok(PyBytes::new(py, b"")),
        (Some(single), None) => Ok(PyBytes::new(py, single)),
        _ => joined(py, frames),
    }
}

/// A `bytes` of several frames, written once. (`PyBytes::new_with` would zero the buffer
/// first: for a 64 KiB body that memset was a fifth of the pool thread's time on wsgi-echo.)
fn joined<'py>(py: Python<'py>, frames: &Frames) -> PyResult<Bound<'py, PyBytes>> {
    let length = frames.len();
    let size = pyo3::ffi::Py_ssize_t::try_from(length)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("request body too large for one bytes object"))?;
    #[allow(unsafe_code)]
    // SAFETY: a null source makes CPython allocate `size` uninitialised bytes, owned by the
    // new object (or return null with an exception set); every byte is written below before
    // the object is returned to Python code.
    unsafe {
        let object = pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
        let bytes = Bound::from_owned_ptr_or_err(py, object)?.cast_into_unchecked::<PyBytes>();
        let mut target = pyo3::ffi::PyBytes_AsString(bytes.as_ptr()).cast::<u8>();
        for frame in frames.iter() {
            std::ptr::copy_nonoverlapping(frame.as_ptr(), target, frame.len());
            target = target.add(frame.len());
        }
        Ok(bytes)
    }
}

/// Bytes as a `str`, decoded as latin-1 (one byte, one character: how PEP 3333 carries
/// HTTP's bytes) by Python itself, without a Rust `String` between.
pub fn latin1_str<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    let size = pyo3::ffi::Py_ssize_t::try_from(bytes.len())
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("too long for one str"))?;
    #[allow(unsafe_code)]
    // SAFETY: the pointer and size describe `bytes`, alive for the call, which copies them
    // into a new str (or returns null with an exception set, which `from_owned_ptr_or_err`
    // takes); the object is a str.
    unsafe {
        let text = pyo3::ffi::PyUnicode_DecodeLatin1(bytes.as_ptr().cast(), size, std::ptr::null());
        Ok(Bound::from_owned_ptr_or_err(py, text)?.cast_into_unchecked())
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
