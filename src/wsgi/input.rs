//! `wsgi.input`: a file-like reader over the request body, and the disconnect probe.
//!
//! Reads never go past the body's end: hyper stops a `Content-Length` body at its length and
//! a chunked body at its last chunk, so `read()` with no size is always safe
//! (`wsgi.input_terminated`). Waiting for more data releases the GIL. If the client goes
//! away mid-body the read raises `ClientDisconnected` (an `OSError`).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tokio::sync::oneshot;

use crate::buffers::frames_to_py;
use crate::errors::Error;
use crate::http::connection::RequestState;
use crate::http::request_body::{Chunk, Frames, RequestBody};

#[pyclass(module = "amphicorn._amphicorn")]
pub struct InputStream {
    /// Received, not yet read: the frames as hyper delivered them, copied only into the
    /// `bytes` a read returns.
    buffer: Frames,
    /// `None` once the body has ended.
    chunks: Option<async_channel::Receiver<Chunk>>,
    /// For `Expect: 100-continue`: the first read lets the body start flowing.
    start: Option<oneshot::Sender<()>>,
    state: Arc<RequestState>,
}

impl InputStream {
    pub fn new(body: RequestBody, state: Arc<RequestState>) -> Self {
        match body {
            RequestBody::Complete(data) => Self { buffer: data, chunks: None, start: None, state },
            RequestBody::Streaming(stream) => {
                Self { buffer: stream.prefix, chunks: Some(stream.chunks), start: stream.start, state }
            }
        }
    }

    /// Waits for the next chunk into the buffer; false at the end of the body.
    fn fill(&mut self, py: Python<'_>) -> PyResult<bool> {
        let Some(chunks) = self.chunks.as_ref() else {
            return Ok(false);
        };
        if let Some(start) = self.start.take() {
            // The feeder is waiting for exactly this; if it is gone, the recv below says so.
            let _ = start.send(());
        }
        let next = match chunks.try_recv() {
            Ok(chunk) => Ok(chunk),
            Err(async_channel::TryRecvError::Empty) => py.detach(|| chunks.recv_blocking()),
            Err(async_channel::TryRecvError::Closed) => Err(async_channel::RecvError),
        };
        match next {
            Ok(Ok(data)) => {
                self.buffer.push(data);
                Ok(true)
            }
            Ok(Err(error)) => {
                self.chunks = None;
                if error.is_disconnected() {
                    self.state.mark_disconnected();
                }
                Err(error.into())
            }
            Err(_) => {
                self.chunks = None;
                // A body that stops because its client left is not a complete body.
                if self.state.is_disconnected() {
                    return Err(Error::body_cut().into());
                }
                Ok(false)
            }
        }
    }

    /// Takes `size` bytes (all when negative), reading more as needed.
    fn take(&mut self, py: Python<'_>, size: isize) -> PyResult<Frames> {
        let wanted = usize::try_from(size).unwrap_or(usize::MAX);
        while self.buffer.len() < wanted && self.fill(py)? {}
        Ok(self.buffer.take(wanted))
    }

    /// Takes one line, ending after `\n`, of at most `limit` bytes (no limit when negative).
    fn take_line(&mut self, py: Python<'_>, limit: isize) -> PyResult<Frames> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut searched = 0;
        loop {
            if let Some(position) = self.buffer.position(b'\n', searched) {
                return Ok(self.buffer.take((position + 1).min(limit)));
            }
            searched = self.buffer.len();
            if self.buffer.len() >= limit || !self.fill(py)? {
                return Ok(self.buffer.take(limit));
            }
        }
    }
}

#[pymethods]
impl InputStream {
    /// Reads up to `size` bytes; all of the rest when `size` is omitted, None or negative.
    #[pyo3(signature = (size = None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.take(py, size.unwrap_or(-1))?;
        frames_to_py(py, &data)
    }

    /// Reads one line, or at most `size` bytes of it.
    #[pyo3(signature = (size = None))]
    fn readline<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.take_line(py, size.unwrap_or(-1))?;
        frames_to_py(py, &data)
    }

    /// Reads lines until the end, or until they add up to at least `hint` bytes.
    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(&mut self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let hint = hint.and_then(|hint| usize::try_from(hint).ok()).filter(|&hint| hint > 0);
        let lines = PyList::empty(py);
        let mut total = 0;
        loop {
            let line = self.take_line(py, -1)?;
            if line.is_empty() {
                return Ok(lines);
            }
            total += line.len();
            lines.append(frames_to_py(py, &line)?)?;
            if hint.is_some_and(|hint| total >= hint) {
                return Ok(lines);
            }
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.take_line(py, -1)?;
        if line.is_empty() {
            return Ok(None);
        }
        frames_to_py(py, &line).map(Some)
    }

    fn readable(&self) -> bool {
        true
    }
}

/// `environ["amphicorn.disconnected"]`: call it to learn whether the client has gone.
#[pyclass(module = "amphicorn._amphicorn", frozen)]
pub struct DisconnectProbe {
    state: Arc<RequestState>,
}

impl DisconnectProbe {
    pub fn new(state: Arc<RequestState>) -> Self {
        Self { state }
    }
}

#[pymethods]
impl DisconnectProbe {
    fn __call__(&self) -> bool {
        self.state.is_disconnected()
    }
}
