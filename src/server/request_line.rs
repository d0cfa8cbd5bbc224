//! `414 URI Too Long` for a request line too long for the head buffer, where hyper says `431`.
//!
//! hyper answers any head that outgrows its buffer (`--max-header-size`) with the same canned
//! `431 Request Header Fields Too Large` (its own `414` is only for a URI over 64 KiB that
//! still fits in the buffer). A client that sent a 200 KiB URI and no header at all deserves
//! `414`. The parser is hyper's, so `RequestLineWatch` wraps the connection's socket and
//! watches both ways: reads tell it whether the request line of the head being read has
//! ended (an LF has arrived since the head began), and when hyper writes its canned `431`
//! while that line is still open, the status line is replaced: hyper writes, for example,
//!
//! ```text
//! HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n...
//! ```
//!
//! and the client gets `HTTP/1.1 414 URI Too Long\r\nconnection: close\r\n...`, the rest of
//! hyper's head unchanged. The same goes for a head that arrived whole but whose request
//! line alone is longer than the limit: hyper's buffer may hold more than the limit (it
//! reads up to `READ_BUFFER_MAX` at once, `protocol.rs`), and it then refuses the complete
//! head with the same `431`, so the line's length is counted as it is read, up to its LF.
//!
//! When a head begins is read from `Activity` (timeouts.rs): the first bytes after a
//! request has begun and no request is in flight. Bytes hyper read ahead of that (a
//! pipelined request, the end of a body) may already hold the new head's request line, so
//! the line counts as open only if nothing was read while the last request was in flight
//! and the bytes read before it end a line; otherwise hyper's `431` goes out as it is. So
//! the guess can err only towards `431`, except for a pipelining client whose earlier bytes
//! happen to end exactly after the new request line: it would get `414` for a long header.
//!
//! HTTP/2 connections (`Activity::is_http2`) are left alone: their writes are frames.
//!
//! The status is all this changes: limits are hyper's (`listen.rs` sets them), and the
//! timeouts are `TimedIo`'s, which wraps this.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::timeouts::Activity;

/// The status line hyper writes for a head too large for its buffer.
const HEAD_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n";
const URI_TOO_LONG: &[u8] = b"HTTP/1.1 414 URI Too Long\r\n";

/// Whether the request line of the head being read has ended, and how long it was: the pure
/// part, fed with what is read and what the service reports.
#[derive(Debug)]
pub(crate) struct LineState {
    /// The most bytes a head may take (`--max-header-size`): a request line longer than that
    /// is what made its head too large.
    limit: usize,
    /// No LF has arrived since the current head began.
    open: bool,
    /// The bytes of the open line read so far.
    length: usize,
    /// The current head's request line ended past `limit`.
    long: bool,
    /// What was read so far ends a line (nothing read yet counts as such).
    at_line_end: bool,
    /// Bytes were read while a request was in flight, since the current head began.
    read_while_busy: bool,
    /// The requests begun when the current head began.
    begun: u64,
}

impl LineState {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, open: true, length: 0, long: false, at_line_end: true, read_while_busy: false, begun: 0 }
    }

    /// `data` was read; `busy`: a request is in flight (or the connection was upgraded);
    /// `begun`: how many requests have begun on the connection so far.
    ///
    /// Only the last byte is looked at, and the rest only while the line is open: a body
    /// (64 KiB POSTs arrive with their head, after its LF) is never searched. Searching
    /// every byte read for the last LF cost a third of the CPU of the 64 KiB echo benchmark.
    pub(crate) fn on_read(&mut self, data: &[u8], busy: bool, begun: u64) {
        let Some(&last) = data.last() else {
            return;
        };
        if busy {
            self.read_while_busy = true;
        } else if begun != self.begun {
            // The first bytes since the last request began: a new head. Its line is open
            // only if no bytes of it can have been read before.
            self.begun = begun;
            self.open = self.at_line_end && !self.read_while_busy;
            (self.length, self.long) = (0, false);
            self.read_while_busy = false;
        }
        if self.open {
            match data.iter().position(|&byte| byte == b'\n') {
                Some(end) => (self.open, self.long) = (false, self.length + end + 1 > self.limit),
                None => self.length += data.len(),
            }
        }
        self.at_line_end = last == b'\n';
    }

    /// What to write instead of `data`: the `414` when `data` is hyper's `431` and the
    /// request line never ended, or ended past the limit.
    pub(crate) fn replacement(&self, data: &[u8]) -> Option<Vec<u8>> {
        if !self.open && !self.long {
            return None; // Almost every write: the cheap test first.
        }
        let rest = data.strip_prefix(HEAD_TOO_LARGE)?;
        Some([URI_TOO_LONG, rest].concat())
    }
}

/// A socket wrapper that turns hyper's `431` into `414` when the request line is what was
/// too long.
pub struct RequestLineWatch<T> {
    inner: T,
    activity: Arc<Activity>,
    line: LineState,
    /// The `414` being written (bytes, how many are out) and the length of the `431` it
    /// stands for, which is what hyper is told was written.
    rewritten: Option<(Vec<u8>, usize, usize)>,
}

impl<T> RequestLineWatch<T> {
    /// `limit`: `--max-header-size`, the most bytes a head may take.
    pub fn new(inner: T, activity: Arc<Activity>, limit: usize) -> Self {
        Self { inner, activity, line: LineState::new(limit), rewritten: None }
    }

    /// The `414` to write instead of `data`, on HTTP/1.x (HTTP/2 has no status lines).
    fn replacement(&self, data: &[u8]) -> Option<Vec<u8>> {
        if self.activity.is_http2() {
            return None;
        }
        self.line.replacement(data)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for RequestLineWatch<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            if this.activity.is_http2() {
                return result; // Frames, never rewritten.
            }
            let (busy, begun) = (this.activity.is_busy(), this.activity.requests_begun());
            this.line.on_read(&buf.filled()[before..], busy, begun);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for RequestLineWatch<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.rewritten.is_none() {
            match this.replacement(data) {
                Some(replacement) => this.rewritten = Some((replacement, 0, data.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, data),
            }
        }
        // hyper writes the same bytes again after `Pending`; they stand for the `414`.
        let Some((replacement, written, stands_for)) = this.rewritten.as_mut() else {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        };
        while *written < replacement.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &replacement[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(count)) => *written += count,
                other => return other,
            }
        }
        let stands_for = *stands_for;
        this.rewritten = None;
        (this.line.open, this.line.long) = (false, false);
        Poll::Ready(Ok(stands_for))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper's `431` is one buffer: write it on its own, where it can be replaced.
        let first = data.iter().find(|slice| !slice.is_empty());
        match first {
            Some(first) if self.rewritten.is_some() || self.replacement(first).is_some() => self.poll_write(cx, first),
            _ => Pin::new(&mut self.inner).poll_write_vectored(cx, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 8192;

    const CANNED: &[u8] =
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

    fn status_line(state: &LineState) -> String {
        let written = state.replacement(CANNED).unwrap_or_else(|| CANNED.to_vec());
        let text = String::from_utf8_lossy(&written).into_owned();
        text.split("\r\n").next().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_long_uri_on_a_fresh_connection_is_414_and_the_rest_of_the_head_is_kept() {
        let mut state = LineState::new(LIMIT);
        state.on_read(b"GET /aaaa", false, 0);
        state.on_read(&[b'a'; 9000], false, 0);
        assert_eq!(status_line(&state), "HTTP/1.1 414 URI Too Long");
        let written = state.replacement(CANNED).unwrap_or_default();
        assert!(written.ends_with(b"\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"));
    }

    #[test]
    fn a_long_header_is_431() {
        let mut state = LineState::new(LIMIT);
        state.on_read(b"GET / HTTP/1.1\r\nX-Big: ", false, 0);
        state.on_read(&[b'b'; 9000], false, 0);
        assert_eq!(status_line(&state), "HTTP/1.1 431 Request Header Fields Too Large");
        // The line ended in another read than the one that began the head.
        let mut state = LineState::new(LIMIT);
        state.on_read(b"GET / HTTP/1.1", false, 0);
        state.on_read(b"\r\nX-Big: bbbb", false, 0);
        assert!(state.replacement(CANNED).is_none());
    }

    #[test]
    fn the_next_head_on_a_kept_alive_connection_starts_a_new_line() {
        let mut state = LineState::new(LIMIT);
        state.on_read(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, 0);
        // The request ran (begun 1) and its response ended; a long URI follows.
        state.on_read(b"GET /aaaa", false, 1);
        state.on_read(&[b'a'; 9000], false, 1);
        assert_eq!(status_line(&state), "HTTP/1.1 414 URI Too Long");
        // And a long header after that (a third request) is 431 again.
        let mut state = LineState::new(LIMIT);
        state.on_read(b"GET / HTTP/1.1\r\n\r\n", false, 0);
        state.on_read(b"GET / HTTP/1.1\r\nX: bbbb", false, 1);
        assert!(state.replacement(CANNED).is_none());
    }

    #[test]
    fn bytes_read_ahead_of_a_head_leave_hyper_s_431() {
        // A body read while its request was in flight may hold the next request line.
        let mut state = LineState::new(LIMIT);
        state.on_read(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", false, 0);
        state.on_read(b"abcGET / HTTP/1.1\r\n", true, 1);
        state.on_read(&[b'b'; 9000], false, 1);
        assert!(state.replacement(CANNED).is_none());
        // A pipelined request line read with the previous head, unfinished.
        let mut state = LineState::new(LIMIT);
        state.on_read(b"GET / HTTP/1.1\r\n\r\nGET /aaa", false, 0);
        state.on_read(&[b'a'; 9000], false, 1);
        assert!(state.replacement(CANNED).is_none());
        // A body that ends a line, read while its request was in flight, changes nothing.
        let mut state = LineState::new(LIMIT);
        state.on_read(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", false, 0);
        state.on_read(b"ab\n", true, 1);
        state.on_read(&[b'a'; 9000], false, 1);
        assert!(state.replacement(CANNED).is_none());
    }

    #[test]
    fn a_head_that_came_whole_is_414_when_its_line_alone_is_over_the_limit() {
        // hyper read it all (its buffer may grow past the limit) and refused it complete.
        let mut state = LineState::new(LIMIT);
        state.on_read(b"GET /", false, 0);
        state.on_read(&[b'a'; LIMIT], false, 0);
        state.on_read(b" HTTP/1.1\r\nHost: x\r\n\r\n", false, 0);
        assert_eq!(status_line(&state), "HTTP/1.1 414 URI Too Long");
        // A line of exactly the limit, LF included: the headers made the head too large.
        let mut state = LineState::new(LIMIT);
        let line = [b"GET /".as_slice(), &[b'a'; LIMIT - 16], b" HTTP/1.1\r\n"].concat();
        assert_eq!(line.len(), LIMIT);
        state.on_read(&[line.as_slice(), b"X-Big: ", &[b'b'; LIMIT]].concat(), false, 0);
        assert_eq!(status_line(&state), "HTTP/1.1 431 Request Header Fields Too Large");
        // The next head on the connection is counted afresh.
        state.on_read(b"GET / HTTP/1.1\r\n\r\n", false, 1);
        state.on_read(b"GET / HTTP/1.1\r\nX-Big: bbbb", false, 2);
        assert!(state.replacement(CANNED).is_none());
    }

    #[test]
    fn only_hyper_s_431_is_replaced() {
        let state = LineState::new(LIMIT);
        assert!(state.replacement(b"HTTP/1.1 408 Request Timeout\r\n\r\n").is_none());
        assert!(state.replacement(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        assert!(state.replacement(b"HTTP/1.1 431 ").is_none());
    }
}
