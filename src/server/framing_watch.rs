//! The socket wrapper that follows each HTTP/1.1 request's framing as it is read
//! (`request_framing.rs`), for two things hyper does not do itself:
//!
//! - **`400` for a chunk-size line with whitespace after its size and no extension**
//!   (`5 \r\n`), which hyper accepts and RFC 9112 §7.1 does not: the line's CR is rewritten
//!   before hyper sees it (`request_framing.rs` says how and why).
//! - **A request head that arrives in pieces reaches hyper whole.** hyper makes room for a
//!   whole read buffer (8 KiB) before each read: a head cut short in its first read makes it
//!   double its buffer, and copy it, before the next one, and a connection keeps that buffer
//!   for its life. A slowloris client (a head dripping a byte at a time) made every such
//!   connection cost 16 KiB of buffer instead of 8. So the beginning of a head that goes on
//!   in a later read is held back here, in a buffer of its own size, until the head ends
//!   (then hyper gets it with the rest of the head in one read), up to `HOLD_LIMIT` bytes
//!   (then hyper gets what was held, and the rest as it comes, as before). Bytes before the
//!   head in the same read (the end of a body) go to hyper at once; what is held goes
//!   over too when the connection ends or the follower stops.
//!
//! It sits outside `TimedIo` (`timeouts.rs`), which therefore sees each byte as it
//! arrives: the head and keep-alive timers do not wait for a held head. Writes pass through
//! untouched. On an HTTP/2 connection (`Activity::is_http2`), or once the connection is
//! upgraded (`Activity::is_upgraded`, set before the `101` goes out), it stops: what is read
//! there is frames.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf};

use super::forward::forward_async_write;
use super::request_framing::RequestFraming;
use super::timeouts::Activity;

/// The most of an unfinished head held back: hyper's first read buffer.
const HOLD_LIMIT: usize = 8 * 1024;

/// A socket wrapper that follows the request framing of what is read (see the module's
/// header).
pub struct FramingWatch<T> {
    inner: T,
    activity: Arc<Activity>,
    framing: RequestFraming,
    /// The beginning of a head that goes on, held back from hyper.
    held: Vec<u8>,
    /// Bytes let go (what was held, and the read that ended it) that did not fit in
    /// hyper's buffer: the next read takes them.
    released: Bytes,
}

impl<T> FramingWatch<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity, framing: RequestFraming::new(), held: Vec::new(), released: Bytes::new() }
    }

    /// After `read` bytes read into `buf` from `before` were followed: keeps the beginning
    /// of an unfinished head back, or lets what was held go ahead of them. True when
    /// nothing is left in `buf` for hyper (all of it was held).
    fn hold_or_release(&mut self, buf: &mut ReadBuf<'_>, before: usize, read: usize) -> bool {
        let unfinished = self.framing.unfinished_head();
        // The head in progress began in this read, or is the held one going on.
        let began_here = self.held.is_empty() && unfinished <= read;
        let goes_on = !self.held.is_empty() && unfinished == self.held.len() + read;
        if unfinished > 0 && unfinished <= HOLD_LIMIT && (began_here || goes_on) {
            let from = before + read - (unfinished - self.held.len());
            self.held.extend_from_slice(&buf.filled()[from..]);
            buf.set_filled(from);
            return from == before;
        }
        self.release(buf, before);
        false
    }

    /// Lets what was held go to hyper, ahead of what `buf` received from `before`.
    fn release(&mut self, buf: &mut ReadBuf<'_>, before: usize) {
        if self.held.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.held);
        out.extend_from_slice(&buf.filled()[before..]);
        buf.set_filled(before);
        self.released = Bytes::from(out);
        self.hand_over(buf);
    }

    /// Copies what fits of the bytes let go into `buf`; the rest waits for the next read.
    fn hand_over(&mut self, buf: &mut ReadBuf<'_>) {
        let fits = self.released.len().min(buf.remaining());
        buf.put_slice(&self.released[..fits]);
        if fits == self.released.len() {
            self.released = Bytes::new(); // Let its buffer go.
        } else {
            self.released.advance(fits);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FramingWatch<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.released.is_empty() {
            this.hand_over(buf);
            return Poll::Ready(Ok(()));
        }
        loop {
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            if this.framing.is_passive() && this.held.is_empty() {
                return Poll::Ready(Ok(())); // Almost every read of a connection that stopped: the cheap test first.
            }
            let read = buf.filled().len() - before;
            if read == 0 {
                // The end of the connection: hyper gets what was held (a head cut short),
                // then the end.
                this.release(buf, before);
                return Poll::Ready(Ok(()));
            }
            if this.activity.is_http2() || this.activity.is_upgraded() {
                this.framing.stop();
            } else {
                this.framing.on_read(&mut buf.filled_mut()[before..]);
                // Held here or not, hyper cannot have all of a head begun: the connection
                // must not park (`parking.rs`).
                this.activity.set_head_begun(this.framing.unfinished_head() > 0);
            }
            if !this.hold_or_release(buf, before, read) {
                return Poll::Ready(Ok(()));
            }
            // All of it held: read on, until the head ends or the socket has no more (its
            // `Pending` then wakes this task when more comes).
        }
    }
}

forward_async_write!(FramingWatch, inner);

#[cfg(any(test, feature = "fuzzing"))]
/// A socket that gives these reads in turn (what does not fit the buffer comes next;
/// an empty read is the end, for good), then waits.
struct Script(std::collections::VecDeque<Vec<u8>>);

#[cfg(any(test, feature = "fuzzing"))]
impl AsyncRead for Script {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let Some(mut data) = self.0.pop_front() else {
            return Poll::Pending;
        };
        let rest = data.split_off(data.len().min(buf.remaining()));
        if data.is_empty() || !rest.is_empty() {
            self.0.push_front(rest);
        }
        buf.put_slice(&data);
        Poll::Ready(Ok(()))
    }
}

#[cfg(any(test, feature = "fuzzing"))]
/// What hyper would get, read by read, from a socket that gives `reads` in turn, reading
/// into buffers of `room` bytes (at least 1), until the socket waits (or ends: an empty
/// read, then no more). For the tests, and the fuzz target `request_framing`.
pub(crate) fn handed_over(reads: &[&[u8]], room: usize) -> Vec<Vec<u8>> {
    let script = Script(reads.iter().map(|read| read.to_vec()).collect());
    let mut watch = FramingWatch::new(script, Arc::new(Activity::default()));
    let mut context = Context::from_waker(std::task::Waker::noop());
    let mut got = Vec::new();
    loop {
        let mut space = vec![0; room];
        let mut buf = ReadBuf::new(&mut space);
        match Pin::new(&mut watch).poll_read(&mut context, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                got.push(Vec::new());
                return got;
            }
            Poll::Ready(Ok(())) => got.push(buf.filled().to_vec()),
            Poll::Ready(Err(error)) => panic!("{error}"),
            Poll::Pending => return got,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"GET /path HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";

    #[test]
    fn a_head_in_pieces_is_handed_over_whole() {
        assert_eq!(handed_over(&[&HEAD[..3], &HEAD[3..20], &HEAD[20..]], 8192), [HEAD]);
        assert_eq!(handed_over(&[HEAD], 8192), [HEAD], "a whole head goes at once");
        assert_eq!(handed_over(&[&HEAD[..10]], 8192), Vec::<Vec<u8>>::new(), "still held while the socket waits");
    }

    #[test]
    fn what_precedes_an_unfinished_head_goes_at_once() {
        let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        let first = [&post[..], &HEAD[..7]].concat();
        assert_eq!(handed_over(&[&first, &HEAD[7..]], 8192), [&post[..], HEAD]);
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let first = [&chunked[..], &HEAD[..7]].concat();
        assert_eq!(handed_over(&[&first, &HEAD[7..]], 8192), [&chunked[..], HEAD]);
    }

    #[test]
    fn a_long_unfinished_head_is_let_go() {
        let long = [&b"GET /"[..], &[b'a'; 5000], &b" HTTP/1.1\r\nX: "[..], &[b'b'; 5000]].concat();
        let (first, second) = long.split_at(5005);
        // The first piece is held; with the second the head passes the limit: both go.
        assert_eq!(handed_over(&[first, second], 16384), [long.as_slice()]);
        // Past the limit in one read: it goes as it is, and what follows goes as it comes.
        assert_eq!(handed_over(&[&long, b"c", b"\r\n\r\n"], 16384), [long, b"c".to_vec(), b"\r\n\r\n".to_vec()]);
    }

    #[test]
    fn the_end_of_the_connection_lets_a_held_head_go() {
        assert_eq!(handed_over(&[&HEAD[..9], b""], 8192), [HEAD[..9].to_vec(), Vec::new()]);
    }

    #[test]
    fn what_does_not_fit_hyper_s_buffer_comes_in_the_next_reads() {
        let pieces = handed_over(&[&HEAD[..5], &HEAD[5..]], 16);
        assert!(pieces.iter().all(|piece| piece.len() <= 16));
        assert_eq!(pieces.concat(), HEAD);
    }

    #[test]
    fn nothing_is_held_once_the_follower_stops() {
        // A request hyper refuses itself makes the follower passive: bytes flow as read.
        let refused = b"GET / HTTP/1.1\r\nBad Header\r\n";
        assert_eq!(handed_over(&[refused, b"\r\n"], 8192), [refused.to_vec(), b"\r\n".to_vec()]);
    }
}
