//! A request body as it comes off the connection: hyper's for HTTP/1.1, an h2 stream's for
//! HTTP/2 (served on the `h2` crate directly, `server/h2_serve.rs`).
//!
//! Either way its frames come out as `Frame<Bytes>`, and its errors as ours: the client
//! went away (`Error::body_cut`) or sent an invalid body (`Error::malformed_body`).
//!
//! An h2 stream's data frames give their flow-control credit back as they are handed on:
//! the client may send more once the app side has taken them, so a reader that stops
//! stops the client (as hyper does). h2 itself checks a body against its `content-length`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::HeaderMap;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::errors::Error;

pub enum WireBody {
    Http1(Incoming),
    Http2(StreamBody),
    /// An HTTP/2 extended CONNECT's: its stream's bytes are the WebSocket's
    /// (`http/upgrade.rs`).
    Empty,
}

/// An HTTP/2 request's body: the stream's data frames, then its trailers.
pub struct StreamBody {
    stream: h2::RecvStream,
    /// What the `content-length` says is still to come.
    remaining: Option<u64>,
    data_ended: bool,
}

impl StreamBody {
    pub fn new(stream: h2::RecvStream, headers: &HeaderMap) -> Self {
        let remaining = headers.get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse().ok());
        Self { stream, remaining, data_ended: false }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if !self.data_ended {
            match std::task::ready!(self.stream.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Only fails once the stream is gone, which the next poll reports.
                    let _ = self.stream.flow_control().release_capacity(data.len());
                    if let Some(remaining) = &mut self.remaining {
                        *remaining = remaining.saturating_sub(data.len() as u64);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(stream_error(&error)))),
                None => self.data_ended = true,
            }
        }
        match std::task::ready!(self.stream.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(stream_error(&error)))),
        }
    }
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.get_mut() {
            Self::Http1(body) => Pin::new(body).poll_frame(cx).map_err(body_error),
            Self::Http2(body) => body.poll_frame(cx),
            Self::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Http1(body) => body.is_end_stream(),
            Self::Http2(body) => body.stream.is_end_stream(),
            Self::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Http1(body) => body.size_hint(),
            Self::Http2(body) => body.remaining.map(SizeHint::with_exact).unwrap_or_default(),
            Self::Empty => SizeHint::with_exact(0),
        }
    }
}

/// What an h2 stream's error means for its body: the client reset the stream or the
/// connection ended (gone), or it broke the protocol (a body longer or shorter than its
/// `content-length`, say).
fn stream_error(error: &h2::Error) -> Error {
    if error.is_io() || error.is_go_away() || error.reason() == Some(h2::Reason::CANCEL) {
        Error::body_cut()
    } else {
        Error::malformed_body(error)
    }
}

/// What a hyper body error means to us: the client went away, or sent an invalid body.
fn body_error(error: hyper::Error) -> Error {
    if error.is_incomplete_message() || error.is_closed() || error.is_canceled() || lost_connection(&error) {
        Error::body_cut()
    } else {
        Error::malformed_body(error)
    }
}

/// True when an I/O error under `error` says the peer went away (as opposed to sending
/// something invalid, which hyper also reports as an I/O error).
fn lost_connection(error: &hyper::Error) -> bool {
    use std::io::ErrorKind;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::UnexpectedEof
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
            );
        }
        source = cause.source();
    }
    false
}
