//! The response body handed to hyper: nothing, one buffer, or chunks an app thread pushes
//! through a bounded async-channel (or any of these compressed on the way: `compression/`),
//! optionally followed by trailers (ASGI's
//! `http.response.trailers`: a field section after the last chunk, on HTTP/2 and on chunked
//! HTTP/1.1 when the client sent `TE: trailers`; hyper frames them).
//!
//! The channel's bound is the download backpressure: a slow client fills it, and the app
//! thread blocks (with the GIL released) in its next send. When hyper drops an unfinished
//! body, the client has gone away, and the request's `RequestState` says so.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Future, Stream};
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

use super::connection::RequestState;
use super::tee::Tee;
use crate::compression::body::Compressing;
use crate::errors::Error;

/// A chunk of a streamed body, or the error (`Error::aborted`) that ends it early.
pub type ResponseChunk = Result<Bytes, Error>;

pub enum ResponseBody {
    Empty,
    Full(Option<Bytes>),
    Channel {
        chunks: Pin<Box<async_channel::Receiver<ResponseChunk>>>,
        state: Arc<RequestState>,
        finished: bool,
        /// An abort was seen and one `Pending` returned, so hyper flushed what came before.
        abort_deferred: bool,
        /// The trailers that follow the last chunk, when the app announced some; a dropped
        /// sender means none.
        trailers: Option<oneshot::Receiver<HeaderMap>>,
    },
    /// Another body, compressed frame by frame for a mount with `compress`.
    Compressed(Box<Compressing<ResponseBody>>),
    /// Another body, copied as it passes for a shadow comparison (`tee.rs`).
    Teed(Box<Tee<ResponseBody>>),
}

impl ResponseBody {
    pub fn full(data: Bytes) -> Self {
        if data.is_empty() {
            Self::Empty
        } else {
            Self::Full(Some(data))
        }
    }

    pub fn channel(
        chunks: async_channel::Receiver<ResponseChunk>,
        state: Arc<RequestState>,
        trailers: Option<oneshot::Receiver<HeaderMap>>,
    ) -> Self {
        Self::Channel { chunks: Box::pin(chunks), state, finished: false, abort_deferred: false, trailers }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Full(data) => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
            Self::Compressed(body) => body.poll_frame(cx),
            Self::Teed(body) => Pin::new(body.as_mut()).poll_frame(cx),
            Self::Channel { chunks, finished, state, abort_deferred, trailers } => {
                match chunks.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
                    Poll::Ready(Some(Err(aborted))) => {
                        *finished = true;
                        Poll::Ready(Some(Err(aborted)))
                    }
                    Poll::Ready(None) if state.is_aborted() && !*abort_deferred => {
                        // hyper drops unflushed bytes when a body fails: yield once so it writes
                        // what the app already sent, then fail on the next poll.
                        *abort_deferred = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Poll::Ready(None) => {
                        if state.is_aborted() {
                            *finished = true;
                            return Poll::Ready(Some(Err(Error::aborted())));
                        }
                        let fields = match trailers.as_mut().map(|receiver| Pin::new(receiver).poll(cx)) {
                            Some(Poll::Pending) => return Poll::Pending,
                            Some(Poll::Ready(Ok(fields))) => Some(fields),
                            Some(Poll::Ready(Err(_))) | None => None,
                        };
                        *trailers = None;
                        // hyper may not poll again after trailers: the body ends with them.
                        *finished = true;
                        state.mark_response_complete();
                        Poll::Ready(fields.map(|fields| Ok(Frame::trailers(fields))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(data) => data.is_none(),
            Self::Channel { finished, .. } => *finished,
            Self::Compressed(body) => body.is_end_stream(),
            Self::Teed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64)),
            Self::Channel { .. } => SizeHint::default(),
            Self::Compressed(body) => body.size_hint(),
            Self::Teed(body) => body.size_hint(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Self::Channel { state, finished: false, .. } = self {
            state.mark_disconnected();
        }
    }
}
