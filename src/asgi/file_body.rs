//! Response bodies that Rust reads from files for an ASGI app: `http.response.pathsend` (a
//! path: the whole file is the body) and `http.response.zerocopysend` (an open file, from
//! `offset` or its current position, `count` bytes or to its end).
//!
//! A file is read on tokio's blocking pool in `BLOCK`-sized pieces pushed into the response
//! channel, so a slow client holds at most the channel's worth in memory, and the app's
//! event loop never waits on the disk. zerocopysend reads from our own duplicate of the
//! app's descriptor: with an `offset` it reads there and leaves the file's position alone
//! (`pread`), without one it reads from the position and moves it on, as `sendfile(2)` does.
//! The name promises no copy; hyper writes from buffers, so here it means no copy through
//! Python. A file shorter than promised aborts the response (the client cannot mistake the
//! partial body for a whole one).
//!
//! Left to others: the message order and the head (`send.rs`), the channel (`http/responder.rs`).

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::BytesMut;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::http::connection::RequestState;
use crate::http::response_body::ResponseChunk;

/// The most read from a file per chunk.
const BLOCK: usize = 256 * 1024;

/// Part of an open file: from `offset` (None: its position), `count` bytes (None: to its end).
pub struct FileRange {
    file: File,
    offset: Option<u64>,
    count: Option<u64>,
}

impl FileRange {
    /// The whole file at `path` (`http.response.pathsend`).
    pub fn whole(path: &std::path::Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let count = file.metadata()?.len();
        Ok(Self { file, offset: Some(0), count: Some(count) })
    }

    /// The `file`, `offset` and `count` of an `http.response.zerocopysend` message. `file` is
    /// anything with a `fileno()`, or a descriptor number.
    pub fn from_zerocopysend(message: &Bound<'_, PyDict>) -> PyResult<Self> {
        let py = message.py();
        let file = message
            .get_item(intern!(py, "file"))?
            .ok_or_else(|| PyValueError::new_err("'http.response.zerocopysend' needs a 'file'"))?;
        let fd: i32 = if file.hasattr(intern!(py, "fileno"))? {
            file.call_method0(intern!(py, "fileno"))?.extract()?
        } else {
            file.extract().map_err(|_| PyTypeError::new_err("'file' must be a file object or a descriptor"))?
        };
        let number = |key: &Bound<'_, pyo3::types::PyString>| -> PyResult<Option<u64>> {
            match message.get_item(key)? {
                Some(value) if !value.is_none() => value
                    .extract()
                    .map(Some)
                    .map_err(|_| PyValueError::new_err(format!("'{key}' must be a whole number, got {value}"))),
                _ => Ok(None),
            }
        };
        let offset = number(intern!(py, "offset"))?;
        let count = number(intern!(py, "count"))?;
        let file = File::from(crate::fds::duplicate(fd)?);
        Ok(Self { file, offset, count })
    }

    /// How many bytes the range will give: `count` when given (a file that proves shorter
    /// aborts the response), else what a regular file holds past the start; None when that
    /// cannot be known without reading (a pipe).
    pub fn length(&self) -> Option<u64> {
        if self.count.is_some() {
            return self.count;
        }
        let metadata = self.file.metadata().ok().filter(std::fs::Metadata::is_file)?;
        let start = match self.offset {
            Some(offset) => offset,
            None => (&self.file).stream_position().ok()?,
        };
        Some(metadata.len().saturating_sub(start))
    }

    /// Gives at most `most` bytes.
    pub fn limit(&mut self, most: u64) {
        self.count = Some(self.count.map_or(most, |count| count.min(most)));
    }
}

/// Reads the range into the body channel, on tokio's blocking pool (call it there); returns
/// false if the client went away or the file ran short (the response is then aborted).
pub fn stream(mut range: FileRange, chunks: &async_channel::Sender<ResponseChunk>, state: &Arc<RequestState>) -> bool {
    let mut left = range.count;
    let mut position = range.offset;
    loop {
        let want = left.map_or(BLOCK, |left| BLOCK.min(usize::try_from(left).unwrap_or(BLOCK)));
        if want == 0 {
            return true;
        }
        let mut block = BytesMut::zeroed(want);
        let read = match position {
            Some(at) => range.file.read_at(&mut block, at),
            None => range.file.read(&mut block),
        };
        match read {
            Ok(0) if left.is_none() => return true, // The end of the file was the end asked for.
            Ok(read) if read > 0 => {
                block.truncate(read);
                let read = read as u64;
                left = left.map(|left| left - read.min(left));
                position = position.map(|at| at + read);
                if chunks.send_blocking(Ok(block.freeze())).is_err() {
                    return false; // The client is gone.
                }
            }
            _ => {
                // Short file or read error: the promised length cannot be met.
                state.mark_aborted();
                return false;
            }
        }
    }
}
