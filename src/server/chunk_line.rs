//! `400` for a chunk-size line with whitespace after its size and no extension (`5 \r\n`),
//! which hyper accepts and RFC 9112 §7.1 does not.
//!
//! `ChunkLineWatch` wraps the connection's socket and hands every read to
//! `RequestFraming` (`request_framing.rs`, which says how and why) before hyper sees it;
//! writes pass through untouched. On an HTTP/2 connection (`Activity::is_http2`), or once
//! the connection is upgraded (`Activity::is_upgraded`, set before the `101` goes out), it
//! stops: what is read there is frames.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::forward::forward_async_write;
use super::request_framing::RequestFraming;
use super::timeouts::Activity;

/// A socket wrapper that follows the request framing of what is read, to refuse the
/// chunk-size lines hyper should.
pub struct ChunkLineWatch<T> {
    inner: T,
    activity: Arc<Activity>,
    framing: RequestFraming,
}

impl<T> ChunkLineWatch<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity, framing: RequestFraming::new() }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ChunkLineWatch<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            if this.framing.is_passive() {
                return result; // Almost every read of a connection that stopped: the cheap test first.
            }
            if this.activity.is_http2() || this.activity.is_upgraded() {
                this.framing.stop();
            } else {
                this.framing.on_read(&mut buf.filled_mut()[before..]);
            }
        }
        result
    }
}

forward_async_write!(ChunkLineWatch, inner);
