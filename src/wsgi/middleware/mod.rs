//! The core of `amphicorn.WSGIMiddleware`: the WSGI bridge driven by an ASGI server in front
//! of it instead of by hyper, so the same pool, environ, `wsgi.input` and `start_response`
//! run a WSGI app under uvicorn, inside Starlette, or under amphicorn's own ASGI mounts.
//!
//! One `Exchange` per request. The Python side (`python/amphicorn/middleware.py`) owns the
//! ASGI conversation and asks the exchange, without blocking, for what the pool thread has
//! produced: `poll_submit` (room in the queue), `poll_head`, `poll_body`, and `feed`/
//! `poll_feed` to push request body chunks into `wsgi.input`. A poll that cannot answer yet
//! files the asyncio future it was given with the loop's `WakeChannel`, which resolves it
//! when it can (`waker.rs`).
//!
//! What it leaves to others: the environ, input and response rules are `environ.rs`,
//! `input.rs` and `start_response.rs`, unchanged; the ASGI scope's reading is `scope.rs`.

mod scope;
mod waker;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::future::{poll_fn, BoxFuture};
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Method, Response, StatusCode};
use hyper::body::Body;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use tokio::sync::oneshot;

use super::environ::Origin;
use super::job::Job;
use super::pool::Pool;
use crate::buffers::shared_bytes;
use crate::errors::Error;
use crate::http::connection::RequestState;
use crate::http::request_body::{BodyStream, Chunk, Frames, RequestBody};
use crate::http::response_body::ResponseBody;
use crate::http::status;
use crate::http::Head;
use crate::sync::lock;
pub use waker::WakeChannel;

/// How many request body chunks may wait between the ASGI server and `wsgi.input`.
const FEED_CHUNKS: usize = 4;

/// A part of the response body for Python: `(chunk, more_body)`.
type BodyPart<'py> = (Bound<'py, PyBytes>, bool);

/// The response head for Python: `(status, headers, first part of the body if there)`.
type HeadPart<'py> = (u16, Bound<'py, PyList>, Option<BodyPart<'py>>);

/// A WSGI app on its own pool of threads, for `WSGIMiddleware`.
#[pyclass(module = "amphicorn._amphicorn", frozen)]
pub struct WsgiBridge {
    pool: Pool,
}

#[pymethods]
impl WsgiBridge {
    #[new]
    fn new(py: Python<'_>, app: Py<PyAny>, threads: usize, queue_size: usize, name: &str) -> PyResult<Self> {
        if threads == 0 {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        Ok(Self { pool: Pool::start(py, &app, threads, queue_size, name)? })
    }

    /// Starts the exchange for one `http` scope whose body begins with `body` (`more_body`:
    /// the rest is still to come through `feed`). `context` is the `contextvars.Context` the
    /// app runs in; `channel` is the awaiting event loop's `WakeChannel`.
    fn exchange(
        &self,
        scope: &Bound<'_, PyDict>,
        body: &Bound<'_, PyBytes>,
        more_body: bool,
        context: Py<PyAny>,
        channel: Py<WakeChannel>,
    ) -> PyResult<Exchange> {
        let request = scope::read(scope)?;
        let state = RequestState::new();
        let prefix = Frames::from(shared_bytes(body));
        let (body, feed) = if more_body {
            let (feed, chunks) = async_channel::bounded(FEED_CHUNKS);
            (RequestBody::Streaming(BodyStream { prefix, chunks, start: None }), Some(feed))
        } else {
            (RequestBody::Complete(prefix), None)
        };
        let (respond, head) = oneshot::channel();
        let head_only = request.head.method == Method::HEAD;
        let job = Job {
            head: Head::new(request.head),
            body,
            origin: Origin::Scope(request.origin),
            state: state.clone(),
            respond,
            script_name: Arc::from(request.script_name),
            context: Some(context),
        };
        let progress = Progress {
            submit: Some(Box::pin(self.pool.enqueue(job))),
            head: Some(head),
            body: None,
            feed,
            pending_feed: None,
            end_after_feed: false,
            filed: Vec::new(),
        };
        Ok(Exchange { progress: Mutex::new(progress), state, head_only, channel })
    }

    /// Stops the pool: queued requests still run, then its threads exit.
    fn close(&self) {
        self.pool.close();
    }
}

/// One request's way through the bridge, as far as it has gone.
struct Progress {
    /// Until the job is in the pool's queue.
    submit: Option<BoxFuture<'static, Result<(), Error>>>,
    /// Until the response head arrived.
    head: Option<oneshot::Receiver<Response<ResponseBody>>>,
    /// From the head to the end of the body.
    body: Option<ResponseBody>,
    /// Until the request body ended.
    feed: Option<async_channel::Sender<Chunk>>,
    /// A chunk that waits for room in the feed.
    pending_feed: Option<BoxFuture<'static, bool>>,
    /// The pending chunk was the last one.
    end_after_feed: bool,
    /// The numbers of the asyncio futures filed in the channel while polling.
    filed: Vec<u64>,
}

#[pyclass(module = "amphicorn._amphicorn", frozen)]
pub struct Exchange {
    progress: Mutex<Progress>,
    state: Arc<RequestState>,
    head_only: bool,
    channel: Py<WakeChannel>,
}

#[pymethods]
impl Exchange {
    /// True once the request is queued; False when the pool is closed; None while it waits
    /// for room (then `future` is resolved when it may have some).
    fn poll_submit(&self, future: &Bound<'_, PyAny>) -> Option<bool> {
        let mut progress = lock(&self.progress);
        let Progress { submit, filed, .. } = &mut *progress;
        let Some(submit) = submit.as_mut() else {
            return Some(true);
        };
        match self.channel.get().poll(submit, future, filed) {
            Poll::Pending => None,
            Poll::Ready(queued) => {
                progress.submit = None;
                Some(queued.is_ok())
            }
        }
    }

    /// `(status, headers, first)` once the app has started its response, else None (and
    /// `future` is resolved when it has). `first` is what `poll_body` would answer when the
    /// body's first part is there already, else None: a body known in full comes with its
    /// head, and a streamed one's first chunk is sent right after it, so a small response
    /// takes one call and one wake instead of two.
    fn poll_head<'py>(&self, future: &Bound<'py, PyAny>) -> PyResult<Option<HeadPart<'py>>> {
        let py = future.py();
        let mut progress = lock(&self.progress);
        let Progress { head, filed, .. } = &mut *progress;
        let Some(head) = head.as_mut() else {
            return Err(PyRuntimeError::new_err("the response head was already taken"));
        };
        let response = match self.channel.get().poll(head, future, filed) {
            Poll::Pending => return Ok(None),
            // The thread dropped the request without an answer: it found the client gone.
            Poll::Ready(response) => response.unwrap_or_else(|_| status::plain(StatusCode::INTERNAL_SERVER_ERROR)),
        };
        progress.head = None;
        let (mut parts, body) = response.into_parts();
        if let Some(length) = self.known_length(parts.status, &body) {
            parts.headers.entry(CONTENT_LENGTH).or_insert(HeaderValue::from(length));
        }
        progress.body = Some(body);
        let headers = PyList::empty(py);
        for (name, value) in &parts.headers {
            headers.append((PyBytes::new(py, name.as_str().as_bytes()), PyBytes::new(py, value.as_bytes())))?;
        }
        // Polled with a waker nobody wakes: a later `poll_body` polls again with its own.
        let first = match Self::next_chunk(py, &mut progress.body, Waker::noop()) {
            Poll::Pending => None,
            Poll::Ready(chunk) => Some(chunk?),
        };
        Ok(Some((parts.status.as_u16(), headers, first)))
    }

    /// `(chunk, more_body)` for the next part of the response body, else None (and `future`
    /// is resolved when there is one). Raises if the app failed after the head went out.
    fn poll_body<'py>(&self, future: &Bound<'py, PyAny>) -> PyResult<Option<BodyPart<'py>>> {
        let py = future.py();
        let mut progress = lock(&self.progress);
        let Progress { body, filed, .. } = &mut *progress;
        let mut next = poll_fn(|context| Self::next_chunk(py, body, context.waker()));
        match self.channel.get().poll(&mut next, future, filed) {
            Poll::Pending => Ok(None),
            Poll::Ready(chunk) => chunk.map(Some),
        }
    }

    /// Passes a request body chunk on to `wsgi.input`; False when it has to wait for room
    /// (then call `poll_feed` until it says True). `more_body=False` ends the body.
    fn feed(&self, chunk: &Bound<'_, PyBytes>, more_body: bool) -> bool {
        let mut progress = lock(&self.progress);
        let Some(feed) = progress.feed.as_ref() else {
            return true; // The app is done with the body: nothing more to give it.
        };
        if !chunk.as_bytes().is_empty() {
            match feed.try_send(Ok(shared_bytes(chunk))) {
                Ok(()) => {}
                Err(async_channel::TrySendError::Closed(_)) => progress.feed = None,
                Err(async_channel::TrySendError::Full(chunk)) => {
                    let feed = feed.clone();
                    progress.pending_feed = Some(Box::pin(async move { feed.send(chunk).await.is_ok() }));
                    progress.end_after_feed = !more_body;
                    return false;
                }
            }
        }
        if !more_body {
            progress.feed = None;
        }
        true
    }

    /// True once the chunk `feed` could not pass on has been taken, else None.
    fn poll_feed(&self, future: &Bound<'_, PyAny>) -> Option<bool> {
        let mut progress = lock(&self.progress);
        let Progress { pending_feed, filed, .. } = &mut *progress;
        if let Some(pending) = pending_feed.as_mut() {
            if self.channel.get().poll(pending, future, filed).is_pending() {
                return None;
            }
            progress.pending_feed = None;
            if progress.end_after_feed {
                progress.feed = None;
            }
        }
        Some(true)
    }

    /// The client went away (`http.disconnect`): `wsgi.input` raises, and
    /// `environ["amphicorn.disconnected"]()` says so.
    fn disconnect(&self) {
        self.state.mark_disconnected();
        let mut progress = lock(&self.progress);
        progress.pending_feed = None;
        if let Some(feed) = progress.feed.take() {
            // If the feed is full the reader still sees the end, and the flag, as an error.
            let _ = feed.try_send(Err(Error::body_cut()));
        }
    }

    /// Ends the exchange early (the ASGI side failed or was cancelled): whatever the app
    /// sends next fails, as if its client had gone.
    fn close(&self) {
        let mut progress = lock(&self.progress);
        if progress.body.is_some() || progress.head.is_some() {
            self.state.mark_disconnected();
        }
        progress.submit = None;
        progress.head = None;
        progress.body = None;
        progress.pending_feed = None;
        progress.feed = None;
        self.channel.get().forget(&std::mem::take(&mut progress.filed));
    }
}

impl Exchange {
    /// The next part of the response body, polled with `waker`: `(chunk, more_body)`, or the
    /// failure of an app that failed after its head went out. `body` is emptied at its end.
    fn next_chunk<'py>(
        py: Python<'py>,
        body: &mut Option<ResponseBody>,
        waker: &Waker,
    ) -> Poll<PyResult<BodyPart<'py>>> {
        let Some(stream) = body.as_mut() else {
            return Poll::Ready(Ok((PyBytes::new(py, b""), false)));
        };
        let polled = Pin::new(&mut *stream).poll_frame(&mut Context::from_waker(waker));
        let Poll::Ready(frame) = polled else {
            return Poll::Pending;
        };
        Poll::Ready(match frame {
            None => {
                *body = None;
                Ok((PyBytes::new(py, b""), false))
            }
            Some(Err(aborted)) => {
                *body = None;
                Err(aborted.into())
            }
            Some(Ok(frame)) => {
                let data = frame.into_data().unwrap_or_default();
                let more = !stream.is_end_stream();
                if !more {
                    *body = None;
                }
                Ok((PyBytes::new(py, &data), more))
            }
        })
    }

    /// The length of a body known in full, for a `Content-Length` the ASGI server would not
    /// work out itself; none for statuses that carry no body.
    fn known_length(&self, status: StatusCode, body: &ResponseBody) -> Option<u64> {
        if self.head_only || status.is_informational() || matches!(status.as_u16(), 204 | 304) {
            return None;
        }
        body.size_hint().exact()
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        // Dropped unfinished (the ASGI task was cancelled): the app must stop sending.
        let progress = self.progress.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if progress.head.is_some() || progress.body.is_some() {
            self.state.mark_disconnected();
        }
        self.channel.get().forget(&progress.filed);
    }
}
