//! The accepted socket, with small vectored writes made one plain write.
//!
//! hyper writes a response's head from its buffer and the body's chunks from the app's
//! bytes, side by side, in one vectored write (`writev`); TLS writes its records the same
//! way. For a small answer, Linux's `writev` costs more than a `write` of the same bytes
//! copied together: it imports the vector and walks it segment by segment, where a `write`
//! of one buffer takes its single-segment path.
//!
//! Measured by `bench/write_calls.py` (loopback, the writer on one core, medians of 5
//! rounds): a hello's 115 bytes, 3.53 µs per `writev` against 3.31 per `write`; 4,002 bytes,
//! 5.09 against 4.93. Copying 4 KiB costs far less than that difference; larger writes go out
//! as they are. On a whole WSGI or ASGI hello (about 9.5 µs) the 0.2 µs is within the noise
//! of this machine's A/B runs.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Vectored writes of at most this many bytes in all are copied together and written once.
const JOIN_AT_MOST: usize = 4096;

pub struct JoinedWrites<T> {
    inner: T,
}

impl<T> JoinedWrites<T> {
    pub fn new(inner: T) -> Self {
        Self { inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JoinedWrites<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JoinedWrites<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !joinable(data) {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, data);
        }
        Pin::new(&mut self.inner).poll_write(cx, &join(data))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Several slices, small enough in all to be joined.
fn joinable(slices: &[IoSlice<'_>]) -> bool {
    slices.len() > 1 && slices.iter().map(|slice| slice.len()).sum::<usize>() <= JOIN_AT_MOST
}

/// `slices` copied one after the other. Into a buffer of their size: a zeroed array of
/// `JOIN_AT_MOST` bytes on the stack cost a 4 KiB `memset` per write (4,500 instructions, 7 %
/// of an ASGI hello's, under callgrind) and an eighth of the L1 data cache; the allocator
/// hands back the block the last write freed, still cached.
fn join(slices: &[IoSlice<'_>]) -> Vec<u8> {
    let mut joined = Vec::with_capacity(slices.iter().map(|slice| slice.len()).sum());
    for slice in slices {
        joined.extend_from_slice(slice);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A socket that records each call and takes at most `room` bytes per call.
    struct Recorder {
        calls: Vec<(&'static str, Vec<u8>)>,
        room: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
            let taken = data.len().min(self.room);
            self.calls.push(("write", data[..taken].to_vec()));
            Poll::Ready(Ok(taken))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let all: Vec<u8> = data.iter().flat_map(|slice| slice.iter().copied()).collect();
            let taken = all.len().min(self.room);
            self.calls.push(("writev", all[..taken].to_vec()));
            Poll::Ready(Ok(taken))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    async fn writes(room: usize, slices: &[&[u8]]) -> (usize, Vec<(&'static str, Vec<u8>)>) {
        let mut io = JoinedWrites::new(Recorder { calls: Vec::new(), room });
        let slices: Vec<IoSlice<'_>> = slices.iter().map(|slice| IoSlice::new(slice)).collect();
        let written = io.write_vectored(&slices).await.map_err(|error| error.to_string());
        (written.as_ref().map_or(0, |written| *written), io.inner.calls)
    }

    #[tokio::test]
    async fn a_small_head_and_body_go_out_in_one_plain_write() {
        let (written, calls) = writes(usize::MAX, &[b"HTTP/1.1 200 OK\r\n\r\n", b"Hello"]).await;
        assert_eq!(written, 24);
        assert_eq!(calls, vec![("write", b"HTTP/1.1 200 OK\r\n\r\nHello".to_vec())]);
    }

    #[tokio::test]
    async fn a_short_write_counts_the_bytes_the_socket_took_across_the_slices() {
        let (written, calls) = writes(6, &[b"abcd", b"efgh"]).await;
        assert_eq!(written, 6);
        assert_eq!(calls, vec![("write", b"abcdef".to_vec())]);
    }

    #[tokio::test]
    async fn one_slice_or_more_than_fits_is_written_as_it_is() {
        let (_, calls) = writes(usize::MAX, &[b"only"]).await;
        assert_eq!(calls, vec![("writev", b"only".to_vec())]);
        let big = vec![b'x'; JOIN_AT_MOST];
        let (written, calls) = writes(usize::MAX, &[b"head", &big]).await;
        assert_eq!(written, JOIN_AT_MOST + 4);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, "writev");
    }

    #[tokio::test]
    async fn exactly_as_many_bytes_as_fit_are_joined() {
        let rest = vec![b'y'; JOIN_AT_MOST - 4];
        let (written, calls) = writes(usize::MAX, &[b"head", &rest]).await;
        assert_eq!(written, JOIN_AT_MOST);
        assert_eq!(calls[0].0, "write");
    }
}
