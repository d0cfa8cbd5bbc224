//! The socket an HTTP/1.1 hyper connection writes through, which also writes the apps'
//! `103 Early Hints` (`http/early_hints.rs`) between hyper's writes.
//!
//! hyper writes a response by buffering it and then writing the buffer out
//! (`poll_write`, as many times as the socket needs), ending with `poll_flush` once its
//! buffer is empty. So a 103 may go out only after such a flush and before hyper's next
//! write: `flushed` says so. A 103 for a request can only be queued once hyper has read
//! that request's head, which it does only after it has finished writing out the answer
//! before, and before the request's own answer (the app's final head) is given to hyper:
//! so whatever hyper writes next belongs after the 103.
//!
//! When it goes out:
//! - at once, if hyper is waiting to read (it keeps reading while a request is in flight, to
//!   see a client that leaves): the queued hint wakes the connection's task, and the next
//!   read writes it first;
//! - else before hyper's next write, the final head (a pipelined request waits in hyper's
//!   buffer, so hyper does not read), or after its flush if a previous answer was still
//!   being written out.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::early_hints::EarlyHints;

pub struct HintWriter<T> {
    io: T,
    hints: EarlyHints,
    /// hyper's buffer was last seen empty (flushed) and nothing was written since.
    flushed: bool,
}

impl<T: AsyncWrite + Unpin> HintWriter<T> {
    pub fn new(io: T, hints: EarlyHints) -> Self {
        Self { io, hints, flushed: true }
    }

    /// Writes the queued 103s: Ready once all are out (or if none waits, or hyper's bytes
    /// are mid-way), Pending while the socket takes no more.
    fn poll_hints(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.flushed || !self.hints.is_pending() {
            return Poll::Ready(Ok(()));
        }
        let io = &mut self.io;
        let written = self.hints.write_with(|bytes| match Pin::new(&mut *io).poll_write(cx, bytes) {
            Poll::Ready(Ok(0)) => Err(io::Error::from(io::ErrorKind::WriteZero)),
            Poll::Ready(Ok(count)) => Ok(count),
            Poll::Ready(Err(error)) => Err(error),
            Poll::Pending => Ok(0),
        })?;
        if !written {
            return Poll::Pending;
        }
        // Flushed as hyper flushes its own (a TLS stream may hold what the socket did not take).
        Pin::new(&mut self.io).poll_flush(cx)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for HintWriter<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.hints.register(cx.waker());
        if let Poll::Ready(Err(error)) = self.poll_hints(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HintWriter<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_hints(cx))?;
        self.flushed = false;
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_hints(cx))?;
        self.flushed = false;
        Pin::new(&mut self.io).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.flushed = true;
        self.poll_hints(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
