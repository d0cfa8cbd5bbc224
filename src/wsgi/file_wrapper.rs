//! `wsgi.file_wrapper`: wraps a file-like object for the server to send.
//!
//! When the wrapped object is a regular file with a `fileno()`, `call.rs` sends it from
//! Rust with positional reads and the GIL released, from the file's current position; the
//! Python object is only asked for its descriptor and position. Anything else (a pipe, a
//! `BytesIO`) is iterated in blocks like any other WSGI iterable.

use std::fs::File;
use std::os::fd::BorrowedFd;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[pyclass(module = "amphicorn._amphicorn")]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    block_size: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, block_size = 8192))]
    fn new(filelike: Py<PyAny>, block_size: usize) -> Self {
        Self { filelike, block_size: block_size.max(1) }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let block = self.filelike.bind(py).call_method1(intern!(py, "read"), (self.block_size,))?;
        let empty = block.cast::<PyBytes>().map(|bytes| bytes.as_bytes().is_empty()).unwrap_or(false);
        Ok((!empty).then_some(block))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr(intern!(py, "close"))? {
            filelike.call_method0(intern!(py, "close"))?;
        }
        Ok(())
    }
}

/// A regular file to send from Rust: an independent descriptor and where to start.
pub struct RegularFile {
    pub file: File,
    pub offset: u64,
    pub remaining: u64,
}

impl FileWrapper {
    /// The wrapped object as a regular file, or None when it must be iterated instead.
    pub fn regular_file(&self, py: Python<'_>) -> Option<RegularFile> {
        let filelike = self.filelike.bind(py);
        let descriptor: i32 = filelike.call_method0(intern!(py, "fileno")).ok()?.extract().ok()?;
        let offset: u64 = filelike.call_method0(intern!(py, "tell")).ok()?.extract().ok()?;
        if descriptor < 0 {
            return None;
        }
        #[allow(unsafe_code)]
        // SAFETY: `fileno()` just returned this descriptor and the file object stays open while
        // we hold it (we keep a reference and the GIL); we only borrow it long enough to dup it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(descriptor) };
        let file = File::from(borrowed.try_clone_to_owned().ok()?);
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() {
            return None;
        }
        let remaining = metadata.len().saturating_sub(offset);
        Some(RegularFile { file, offset, remaining })
    }
}
