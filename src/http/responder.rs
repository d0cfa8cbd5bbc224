//! The sending half of one exchange, shared by the WSGI and ASGI bridges: hands hyper the
//! response head with the right kind of body, then feeds a streamed body.
//!
//! A body known in full goes out as one buffer with `Content-Length`. A streamed body goes
//! through a bounded channel; hyper frames it (chunked on HTTP/1.1, close-delimited on
//! HTTP/1.0) unless the head carries a `Content-Length`. For `HEAD` the body is dropped here
//! and the head keeps the length the body would have had, when known.
//!
//! A streamed body may end with trailers (`open_stream_with_trailers`, then `send_trailers`):
//! they travel to `ResponseBody` on a oneshot channel of their own.
//!
//! Failing after the head went out marks the exchange aborted and closes the channel:
//! `ResponseBody` then ends with an error, and hyper closes the connection instead of
//! finishing the message, so the client cannot take a partial body for a whole one.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{HeaderMap, Response, StatusCode};
use hyper::ext::ReasonPhrase;
use tokio::sync::oneshot;

use super::connection::RequestState;
use super::response_body::{ResponseBody, ResponseChunk};
use super::status;
use crate::errors::Error;

/// How many chunks may wait between the app and the socket. With 4, a WSGI thread streaming
/// 64 KiB chunks slept and woke for nearly every chunk (10% of its time switching); 16 (1 MiB
/// of such chunks) measured 2,955 req/s on wsgi-stream against 2,146 in the same conditions.
const CHANNEL_CHUNKS: usize = 16;

/// A response head as an app describes it.
pub struct Head {
    pub status: StatusCode,
    /// Set when the app's phrase differs from the standard one for the status.
    pub reason: Option<ReasonPhrase>,
    pub headers: HeaderMap,
}

impl Head {
    /// The `Content-Length` the app set, if it is a number.
    pub fn declared_length(&self) -> Option<u64> {
        self.headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
    }
}

/// What became of a chunk offered without waiting. A full channel is backpressure, not an
/// error: the chunk comes back, for the caller to send once there is room.
pub enum Queued {
    /// Queued (or dropped, for `HEAD`).
    Sent,
    /// The channel is full: wait on the sender, then send this chunk.
    Full(ResponseChunk),
}

pub struct Responder {
    /// Present until the head is sent.
    respond: Option<oneshot::Sender<Response<ResponseBody>>>,
    /// Present while a streamed body is open.
    chunks: Option<async_channel::Sender<ResponseChunk>>,
    /// Present while a streamed body that ends with trailers is open.
    trailers: Option<oneshot::Sender<HeaderMap>>,
    state: Arc<RequestState>,
    head_only: bool,
}

impl Responder {
    pub fn new(respond: oneshot::Sender<Response<ResponseBody>>, state: Arc<RequestState>, head_only: bool) -> Self {
        Self { respond: Some(respond), chunks: None, trailers: None, state, head_only }
    }

    pub fn state(&self) -> &Arc<RequestState> {
        &self.state
    }

    pub fn head_sent(&self) -> bool {
        self.respond.is_none()
    }

    fn send_head(&mut self, head: Head, body: ResponseBody, content_length: Option<u64>) -> Result<(), Error> {
        let respond = self.respond.take().ok_or_else(Error::client_gone)?;
        let mut response = Response::new(body);
        *response.status_mut() = head.status;
        *response.headers_mut() = head.headers;
        if let Some(reason) = head.reason {
            response.extensions_mut().insert(reason);
        }
        if let Some(length) = content_length {
            response.headers_mut().entry(CONTENT_LENGTH).or_insert(HeaderValue::from(length));
        }
        respond.send(response).map_err(|_| {
            self.state.mark_disconnected();
            Error::client_gone()
        })
    }

    /// Sends the head with a body known in full; the exchange is then complete.
    pub fn send_complete(&mut self, head: Head, data: Bytes) -> Result<(), Error> {
        let length = data.len() as u64;
        let body = if self.head_only { ResponseBody::Empty } else { ResponseBody::full(data) };
        self.send_head(head, body, self.head_only.then_some(length))?;
        self.state.mark_response_complete();
        Ok(())
    }

    /// Sends the head and opens a streamed body of `length` bytes (None: unknown).
    pub fn open_stream(&mut self, head: Head, length: Option<u64>) -> Result<(), Error> {
        if self.head_only {
            self.send_head(head, ResponseBody::Empty, length)?;
            self.state.mark_response_complete();
            return Ok(());
        }
        let (sender, receiver) = async_channel::bounded(CHANNEL_CHUNKS);
        self.send_head(head, ResponseBody::channel(receiver, self.state.clone(), None), length)?;
        self.chunks = Some(sender);
        Ok(())
    }

    /// Sends the head and opens a streamed body of unknown length that `send_trailers` ends
    /// (for `HEAD`, the trailers are dropped with the body).
    pub fn open_stream_with_trailers(&mut self, head: Head) -> Result<(), Error> {
        if self.head_only {
            return self.open_stream(head, None);
        }
        let (sender, receiver) = async_channel::bounded(CHANNEL_CHUNKS);
        let (trailers, announced) = oneshot::channel();
        self.send_head(head, ResponseBody::channel(receiver, self.state.clone(), Some(announced)), None)?;
        self.chunks = Some(sender);
        self.trailers = Some(trailers);
        Ok(())
    }

    /// Ends a body opened by `open_stream_with_trailers` with `fields` after its last chunk.
    pub fn send_trailers(&mut self, fields: HeaderMap) {
        if let Some(trailers) = self.trailers.take() {
            // A dropped receiver: the client is gone, which the body's state already says.
            let _ = trailers.send(fields);
        }
        self.finish();
    }

    /// The open stream's sender, for senders that wait (with the GIL released, or on
    /// tokio); None after the body ended, and for `HEAD`, where chunks are dropped.
    pub fn chunk_sender(&self) -> Option<&async_channel::Sender<ResponseChunk>> {
        self.chunks.as_ref()
    }

    /// Queues a chunk if there is room; an error (`is_disconnected`) once the client is gone.
    pub fn try_send(&self, data: Bytes) -> Result<Queued, Error> {
        let Some(chunks) = self.chunks.as_ref() else {
            return if self.state.is_disconnected() { Err(Error::client_gone()) } else { Ok(Queued::Sent) };
        };
        match chunks.try_send(Ok(data)) {
            Ok(()) => Ok(Queued::Sent),
            Err(async_channel::TrySendError::Full(chunk)) => Ok(Queued::Full(chunk)),
            Err(async_channel::TrySendError::Closed(_)) => {
                self.state.mark_disconnected();
                Err(Error::client_gone())
            }
        }
    }

    /// Ends a streamed body normally (a no-op once it has ended).
    pub fn finish(&mut self) {
        self.chunks = None;
    }

    /// Ends the exchange after an app error: `500` if the head is unsent (`413`, `408` or
    /// `400` when the error came from the body: over the mount's limits, stalled, or
    /// malformed), else an abort.
    pub fn fail(&mut self) {
        if let Some(respond) = self.respond.take() {
            let code = self.state.body_failure_status().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // A dropped receiver means the client is gone: nobody to tell.
            let _ = respond.send(status::plain(code));
        } else if let Some(chunks) = self.chunks.take() {
            // Flag first, then close: the body checks the flag when it sees the close.
            self.state.mark_aborted();
            self.trailers = None;
            drop(chunks);
        }
    }
}
