//! Runs one request on a pool thread: builds the environ, calls the app, walks its result
//! and calls `close()` on every path (normal end, app error, client gone).
//!
//! How a result goes out: a `wsgi.file_wrapper` around a regular file is read and sent from
//! Rust with the GIL released; a list or tuple is known in full and sent with
//! `Content-Length`; any other iterable is streamed chunk by chunk as it yields.

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use http::Method;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict, PyList, PyTuple};

use super::environ::{self, RequestView};
use super::file_wrapper::{FileWrapper, RegularFile};
use super::job::Job;
use super::start_response::StartResponse;
use crate::buffers::shared_bytes;
use crate::errors::{type_name, ClientDisconnected, Error};
use crate::http::response_body::ResponseChunk;
use crate::log;

/// Size of each read when sending a file.
const FILE_BLOCK: usize = 256 * 1024;

pub fn run(py: Python<'_>, app: &Bound<'_, PyAny>, job: Job) {
    let Job { head, body, origin, state, respond, script_name, context } = job;
    if state.is_disconnected() {
        return; // The client left while the request was queued: nobody to answer.
    }
    let responder = match Bound::new(py, StartResponse::new(respond, state.clone(), head.method == Method::HEAD)) {
        Ok(responder) => responder,
        Err(error) => return log::exception(py, "could not create start_response", &error),
    };
    let view = RequestView { head: &head, origin: &origin, script_name: &script_name };
    let outcome = environ::build(py, &view, body, &state).and_then(|environ| match &context {
        None => call_app(py, app, environ, &responder),
        Some(context) => call_in_context(context.bind(py), app, environ, &responder),
    });
    if let Err(error) = outcome {
        let target = head.uri.path_and_query().map_or("/", |target| target.as_str());
        let client_side = state.is_disconnected() || state.body_failure_status().is_some();
        if client_side && error.is_instance_of::<ClientDisconnected>(py) {
            // The client left, or its body failed (the answer says which): not the app's fault.
            log::debug(py, &format!("{error} during {} {target}", head.method));
        } else {
            log::exception(py, &format!("Exception in WSGI application for {} {target}", head.method), &error);
        }
        responder.borrow_mut().fail();
    }
}

fn call_app<'py>(
    py: Python<'py>,
    app: &Bound<'py, PyAny>,
    environ: Bound<'py, PyDict>,
    responder: &Bound<'py, StartResponse>,
) -> PyResult<()> {
    let result = app.call1((environ, responder))?;
    let sent = send_result(py, &result, responder);
    // A plain list or tuple (what most apps return) has no close(); asking would build and
    // drop an AttributeError on every request (pyo3's hasattr on Python < 3.13).
    let plain = result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>();
    let closed = if !plain && result.hasattr(intern!(py, "close"))? {
        result.call_method0(intern!(py, "close")).map(drop)
    } else {
        Ok(())
    };
    sent.and(closed)
}

/// Calls the app, walks its result and closes it, all inside `context.run()`, so the
/// context variables of the ASGI task that called `WSGIMiddleware` are visible to the app
/// (and to its generator, which runs here too).
fn call_in_context<'py>(
    context: &Bound<'py, PyAny>,
    app: &Bound<'py, PyAny>,
    environ: Bound<'py, PyDict>,
    responder: &Bound<'py, StartResponse>,
) -> PyResult<()> {
    let py = context.py();
    let (app, environ, responder) = (app.clone().unbind(), environ.unbind(), responder.clone().unbind());
    let call = PyCFunction::new_closure(py, None, None, move |args, _| {
        let py = args.py();
        call_app(py, app.bind(py), environ.bind(py).clone(), responder.bind(py))
    })?;
    context.call_method1(intern!(py, "run"), (call,)).map(drop)
}

fn send_result<'py>(
    py: Python<'py>,
    result: &Bound<'py, PyAny>,
    responder: &Bound<'py, StartResponse>,
) -> PyResult<()> {
    if let Ok(wrapper) = result.cast::<FileWrapper>() {
        let file = wrapper.borrow().regular_file(py);
        if let Some(file) = file {
            return send_file(py, file, &mut responder.borrow_mut());
        }
    }
    if result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>() {
        let items = result.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        let body = match items.as_slice() {
            [single] => shared_bytes(chunk_bytes(single)?),
            many => {
                let mut body = Vec::new();
                for item in many {
                    body.extend_from_slice(chunk_bytes(item)?.as_bytes());
                }
                Bytes::from(body)
            }
        };
        let mut responder = responder.borrow_mut();
        responder.send_complete(py, body)?;
        return responder.finish(py);
    }
    for item in result.try_iter()? {
        // No borrow across the `next()` above: the generator may call start_response.
        let item = item?;
        let chunk = chunk_bytes(&item)?;
        if !chunk.as_bytes().is_empty() {
            responder.borrow_mut().send_chunk(py, shared_bytes(chunk))?;
        }
    }
    responder.borrow_mut().finish(py)
}

fn chunk_bytes<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyBytes>> {
    item.cast::<PyBytes>()
        .map_err(|_| PyTypeError::new_err(format!("the application must yield bytes, not {}", type_name(item))))
}

/// Streams a regular file from its current position, honouring an app-set `Content-Length`.
fn send_file(py: Python<'_>, file: RegularFile, responder: &mut StartResponse) -> PyResult<()> {
    let RegularFile { file, offset, remaining } = file;
    let length = responder.declared_length().map_or(remaining, |declared| declared.min(remaining));
    responder.open_stream(Some(length))?;
    let Some(chunks) = responder.chunk_sender() else {
        return responder.finish(py); // HEAD: nothing to read.
    };
    let sent = py.detach(|| stream_file(&file, offset, length, &chunks));
    sent.map_err(|error| match error {
        FileSendError::Read(error) => PyErr::from(error),
        FileSendError::Disconnected => PyErr::from(Error::client_gone()),
    })?;
    responder.finish(py)
}

enum FileSendError {
    Read(std::io::Error),
    Disconnected,
}

fn stream_file(
    file: &std::fs::File,
    mut offset: u64,
    mut left: u64,
    chunks: &async_channel::Sender<ResponseChunk>,
) -> Result<(), FileSendError> {
    while left > 0 {
        let size = usize::try_from(left).unwrap_or(FILE_BLOCK).min(FILE_BLOCK);
        let mut block = vec![0; size];
        let read = file.read_at(&mut block, offset).map_err(FileSendError::Read)?;
        if read == 0 {
            // The file shrank under us; the declared length can no longer be met.
            return Err(FileSendError::Read(std::io::ErrorKind::UnexpectedEof.into()));
        }
        block.truncate(read);
        offset += read as u64;
        left -= read as u64;
        chunks.send_blocking(Ok(Bytes::from(block))).map_err(|_| FileSendError::Disconnected)?;
    }
    Ok(())
}
