//! The connection a WebSocket takes over once its handshake is answered: the HTTP/1.1
//! connection itself (hyper's upgrade), or, over HTTP/2 (RFC 8441), the extended CONNECT's
//! stream, whose DATA frames then carry the WebSocket's bytes both ways.
//!
//! `server/h2_serve.rs` puts an `H2Upgrade` into an extended CONNECT's extensions (which
//! `Upgrade::take` turns into an `Upgrade::Http2`) and hands over the stream (`StreamIo`)
//! once the `200` head is out; hyper does the same for HTTP/1.1 after its `101`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// Where the WebSocket's connection will come from.
pub enum Upgrade {
    Http1(hyper::upgrade::OnUpgrade),
    /// Sent once the stream's `200` is out; dropped if the answer was not an accept, or the
    /// client reset the stream first.
    Http2(oneshot::Receiver<StreamIo>),
}

impl Upgrade {
    /// Takes the request's upgrade: hyper's (HTTP/1.1) or the HTTP/2 server's.
    pub fn take(extensions: &mut http::Extensions) -> Option<Self> {
        if let Some(upgrade) = extensions.remove::<hyper::upgrade::OnUpgrade>() {
            return Some(Self::Http1(upgrade));
        }
        let upgrade = extensions.remove::<H2Upgrade>()?;
        let receiver = crate::sync::lock(&upgrade.0).take()?;
        Some(Self::Http2(receiver))
    }
}

/// The extension `server/h2_serve.rs` puts on an extended CONNECT. Extensions must be
/// `Clone`: the clones share the one receiver, which the first `Upgrade::take` gets.
#[derive(Clone)]
pub struct H2Upgrade(Arc<Mutex<Option<oneshot::Receiver<StreamIo>>>>);

impl H2Upgrade {
    /// The extension, and where the stream goes once the `200` is out.
    pub fn pair() -> (Self, oneshot::Sender<StreamIo>) {
        let (sender, receiver) = oneshot::channel();
        (Self(Arc::new(Mutex::new(Some(receiver)))), sender)
    }
}

/// An HTTP/2 stream as a byte stream: reads are the client's DATA frames (their flow-control
/// credit given back as they are read), writes become DATA frames as the client's window
/// allows, and a shutdown ends the stream.
pub struct StreamIo {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// What the last frame held beyond the reader's buffer.
    unread: Bytes,
}

impl StreamIo {
    pub fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        Self { send, recv, unread: Bytes::new() }
    }
}

impl AsyncRead for StreamIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.unread.is_empty() {
            match std::task::ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.unread = data;
                }
                // The client ended its side (or reset it, or left): the end of the bytes.
                Some(Err(error)) if !error.is_io() => return Poll::Ready(Ok(())),
                Some(Err(error)) => return Poll::Ready(Err(io::Error::other(error))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let count = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread[..count]);
        this.unread.advance(count);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StreamIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let send = &mut self.send;
        send.reserve_capacity(data.len());
        let granted = loop {
            match std::task::ready!(send.poll_capacity(cx)) {
                Some(Ok(0)) => {}
                Some(Ok(granted)) => break granted,
                Some(Err(error)) => return Poll::Ready(Err(io::Error::other(error))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        };
        let count = granted.min(data.len());
        match send.send_data(Bytes::copy_from_slice(&data[..count]), false) {
            Ok(()) => Poll::Ready(Ok(count)),
            Err(error) => Poll::Ready(Err(io::Error::other(error))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // h2 writes what was sent as the connection's task runs.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Ends our side of the stream; an error means it is over already.
        let _ = self.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}

impl Drop for StreamIo {
    /// Ends our side of the stream before letting go of it. A stream dropped while open is
    /// reset with CANCEL, and h2 then discards what it had not written yet: the WebSocket's
    /// last frames (its close) would be lost. Ended first, the stream is reset with NO_ERROR
    /// (if the client's side is still open) only once those frames are out.
    fn drop(&mut self) {
        let _ = self.send.send_data(Bytes::new(), true);
    }
}
