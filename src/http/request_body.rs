//! The request body as an app receives it.
//!
//! Small bodies (up to the pre-read limit, 64 KiB by default) are read here, on tokio,
//! before any app thread is taken, so a slow uploader never pins a WSGI thread. Anything
//! larger is handed over as a `BodyStream`: a feeder task moves hyper's frames into a
//! bounded async-channel, which the app side drains with the GIL released. The channel's
//! bound is the backpressure: when the app stops reading, the feeder stops polling, hyper
//! stops reading the socket, and TCP flow control slows the client.
//!
//! `Expect: 100-continue` requests skip the pre-read: hyper sends `100 Continue` the first
//! time the body is polled, and the feeder polls only once the app asks for data.
//!
//! Once hyper has the whole body, `RequestState::mark_body_complete` says so; a response
//! sent before that closes the connection (see `server::service`). The feeder stops when
//! the exchange is over even if the app still holds the body, so the connection can end.
//!
//! What the body means to an app (`wsgi.input`, ASGI `http.request`) is the bridges' job.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::EXPECT;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::oneshot;

use super::connection::RequestState;
pub use super::frames::Frames;
use super::status;
use super::wire_body::WireBody;
use crate::errors::Error;

/// How many frames may wait between hyper and the app.
const CHANNEL_FRAMES: usize = 4;

/// What a mount accepts of a request body.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyLimits {
    /// Larger bodies fail (`is_body_too_large`; None: no limit).
    pub max_size: Option<u64>,
    /// A body that stalls this long between two reads fails (`is_body_timed_out`; None: never).
    pub idle_timeout: Option<Duration>,
}

impl BodyLimits {
    /// An error (`is_body_too_large`) if a body of `length` bytes is larger than the limit.
    pub fn admit(&self, length: u64) -> Result<(), Error> {
        match self.max_size {
            Some(max_size) if length > max_size => Err(Error::body_too_large(max_size)),
            _ => Ok(()),
        }
    }

    /// The next frame of `body`, or an error if none comes within the idle timeout.
    async fn next_frame(&self, body: &mut WireBody) -> Option<Result<Frame<Bytes>, Error>> {
        let frame = match self.idle_timeout {
            None => body.frame().await,
            Some(timeout) => match tokio::time::timeout(timeout, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => return Some(Err(Error::body_timed_out())),
            },
        };
        frame
    }
}

pub type Chunk = Result<Bytes, Error>;

/// A request body, either already in memory or still arriving.
pub enum RequestBody {
    Complete(Frames),
    Streaming(BodyStream),
}

/// The part of a body that has not arrived yet.
pub struct BodyStream {
    /// What the pre-read already collected.
    pub prefix: Frames,
    pub chunks: async_channel::Receiver<Chunk>,
    /// Present for `Expect: 100-continue`: sending on it (or dropping it) lets the feeder
    /// start (or stop) polling hyper.
    pub start: Option<oneshot::Sender<()>>,
}

/// Reads up to `limit` bytes of `body`, and wraps the rest in a stream. Requests that
/// carry `Expect: 100-continue` are not pre-read (see the module notes).
///
/// `max_size` bounds the whole body: a `Content-Length` above it fails at once (before any
/// app runs, and before `100 Continue`), a chunked body as soon as it grows past it.
///
/// With `counted` (`--admin-bind`), the bytes read are added to it once: here for a body
/// read whole, by the task that streams the rest when the body ends or is abandoned.
///
/// Most requests have no body (no `Content-Length`, or 0): theirs is complete at once, and
/// the reading's future (nearly 400 bytes, which would size every request's future above
/// it and be moved whole into it) is built, boxed, only for a body there is.
pub async fn read_body(
    body: WireBody,
    headers: &HeaderMap,
    limits: (usize, BodyLimits),
    state: &Arc<RequestState>,
    counted: Option<&Counter>,
) -> Result<RequestBody, Error> {
    if body.is_end_stream() {
        state.mark_body_complete();
        return Ok(RequestBody::Complete(Frames::default()));
    }
    Box::pin(read_some(body, headers, limits, state, counted)).await
}

/// `read_body` for a body that has not ended yet.
async fn read_some(
    mut body: WireBody,
    headers: &HeaderMap,
    (limit, limits): (usize, BodyLimits),
    state: &Arc<RequestState>,
    counted: Option<&Counter>,
) -> Result<RequestBody, Error> {
    let expect_continue =
        headers.get(EXPECT).is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if let Some(length) = body.size_hint().exact() {
        limits.admit(length)?;
    }
    if expect_continue {
        let (start, started) = oneshot::channel();
        let chunks = spawn_feeder(body, 0, limits, Some(started), (state.clone(), counted.cloned()));
        return Ok(RequestBody::Streaming(BodyStream { prefix: Frames::default(), chunks, start: Some(start) }));
    }
    let mut collected = Frames::default();
    while collected.len() <= limit {
        match limits.next_frame(&mut body).await {
            None => {
                state.mark_body_complete();
                count(counted, collected.len());
                return Ok(RequestBody::Complete(collected));
            }
            Some(Err(error)) => {
                if error.is_disconnected() {
                    state.mark_disconnected();
                }
                return Err(error);
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    collected.push(data);
                }
                limits.admit(collected.len() as u64).inspect_err(|_| count(counted, collected.len()))?;
            }
        }
        if body.is_end_stream() {
            state.mark_body_complete();
            count(counted, collected.len());
            return Ok(RequestBody::Complete(collected));
        }
    }
    let chunks = spawn_feeder(body, collected.len() as u64, limits, None, (state.clone(), counted.cloned()));
    Ok(RequestBody::Streaming(BodyStream { prefix: collected, chunks, start: None }))
}

/// Adds a body's bytes to its mount's count.
fn count(counted: Option<&Counter>, bytes: usize) {
    if let Some(counted) = counted {
        counted.inc_by(bytes as u64);
    }
}

/// Moves the rest of `body` into a bounded channel from a task of its own (which counts
/// the body's bytes, `received` so far, into `counted` when it ends).
fn spawn_feeder(
    body: WireBody,
    received: u64,
    limits: BodyLimits,
    started: Option<oneshot::Receiver<()>>,
    (state, counted): (Arc<RequestState>, Option<Counter>),
) -> async_channel::Receiver<Chunk> {
    let (sender, receiver) = async_channel::bounded(CHANNEL_FRAMES);
    tokio::spawn(async move {
        if let Some(started) = started {
            // Dropped unsent: the app finished without reading, so never ask for the body.
            if started.await.is_err() {
                return;
            }
        }
        let received = feed(body, received, limits, &state, &sender).await;
        count(counted.as_ref(), usize::try_from(received).unwrap_or(usize::MAX));
    });
    receiver
}

/// Feeds `sender` until the body ends or nobody reads it; returns the bytes received.
async fn feed(
    mut body: WireBody,
    mut received: u64,
    limits: BodyLimits,
    state: &RequestState,
    sender: &async_channel::Sender<Chunk>,
) -> u64 {
    loop {
        // Once the response is complete nobody will read the rest: stop, so hyper gets
        // its body back and can drain it or close the connection. An app may keep its
        // request (and the channel's receiver) alive long after that; waiting for it
        // would leave the connection hanging. (A client that leaves is not a reason to
        // stop: the app must still be told, by the error hyper reports here.)
        let frame = tokio::select! {
            frame = limits.next_frame(&mut body) => frame,
            () = state.response_completed() => return received,
        };
        let Some(frame) = frame else { break };
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) if !data.is_empty() => {
                    received += data.len() as u64;
                    limits.admit(received).map(|()| data)
                }
                _ => continue,
            },
            Err(error) => Err(error),
        };
        let failed = chunk.is_err();
        // Flagged before the last chunk is queued, so an app that has read it (and
        // answers) finds the flag set.
        if !failed && body.is_end_stream() {
            state.mark_body_complete();
        }
        if let Err(error) = &chunk {
            if error.is_disconnected() {
                state.mark_disconnected();
            } else {
                state.mark_body_failed(status::body_error_status(error));
            }
        }
        // A closed channel means the app is done with the body.
        let sent = tokio::select! {
            sent = sender.send(chunk) => sent.is_ok(),
            () = state.response_completed() => false,
        };
        if !sent || failed {
            return received;
        }
    }
    // The body ended (a chunked body's last chunk, or trailers): flagged before the
    // sender drops, which is what tells the app.
    state.mark_body_complete();
    received
}
