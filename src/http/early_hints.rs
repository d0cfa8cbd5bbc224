//! `103 Early Hints` (RFC 8297): `Link` fields an app sends while it still works
//! on its answer, so that a browser can begin fetching what the page will need.
//!
//! On HTTP/1.1, hyper's server cannot send a 1xx response of its own choosing
//! (hyperium/hyper#4114), so the 103 is written beside hyper, on the connection's socket: an
//! app's hints are queued here (`EarlyHints::send`), and the socket hyper writes through
//! (`server/hint_writer.rs`) writes them out between hyper's own writes, never inside one.
//! They can only come before the final response's head (the ASGI layer refuses them after
//! `http.response.start`), and hyper writes that head after them.
//!
//! One `EarlyHints` per connection (`ConnectionInfo::hints`), for its HTTP/1.1 requests.
//! HTTP/1.0 has no 1xx responses. On HTTP/2 each stream has its own `StreamHints`, a short
//! queue its task (`server/h2_serve.rs`, which serves HTTP/2 on the `h2` crate) sends from,
//! as HEADERS frames before the final ones. `HintSink` is either, as a request sees it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use futures::task::AtomicWaker;
use http::HeaderValue;

use crate::sync::lock;

/// At most this many bytes of 103s wait for a client that does not read: hints past it are
/// dropped (they are only hints), so an app cannot grow the queue without bound.
const MAX_QUEUED: usize = 64 * 1024;

/// At most this many 103s wait for an HTTP/2 stream's task; more are dropped.
const MAX_QUEUED_ON_A_STREAM: usize = 16;

/// Where a request's `103 Early Hints` go.
#[derive(Clone, Debug)]
pub enum HintSink {
    /// Its HTTP/1.1 connection's queue.
    Connection(EarlyHints),
    /// Its HTTP/2 stream's.
    Stream(StreamHints),
}

impl HintSink {
    /// Queues a 103 with one `link` field per entry of `links` (dropped if too many wait).
    pub fn send(&self, links: &[HeaderValue]) {
        match self {
            Self::Connection(hints) => hints.send(links),
            Self::Stream(hints) => hints.send(links),
        }
    }
}

/// An HTTP/2 stream's 103s (each its links), for the stream's task to send; in the request's
/// extensions, where `ConnectionInfo::hints_for` finds it. One allocation per stream, none
/// more until a hint is queued.
#[derive(Clone, Debug, Default)]
pub struct StreamHints(Arc<StreamQueue>);

#[derive(Debug, Default)]
struct StreamQueue {
    hints: Mutex<Vec<Vec<HeaderValue>>>,
    /// The stream's task, woken to send what was queued.
    task: AtomicWaker,
}

impl StreamHints {
    fn send(&self, links: &[HeaderValue]) {
        let mut hints = lock(&self.0.hints);
        // Hints being only hints, past the bound they are dropped.
        if hints.len() < MAX_QUEUED_ON_A_STREAM {
            hints.push(links.to_vec());
        }
        drop(hints);
        self.0.task.wake();
    }

    /// The hints queued since the last look, or Pending (the task is woken when one is).
    pub fn poll_queued(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Vec<Vec<HeaderValue>>> {
        self.0.task.register(cx.waker());
        match self.take() {
            queued if queued.is_empty() => std::task::Poll::Pending,
            queued => std::task::Poll::Ready(queued),
        }
    }

    /// The hints queued since the last look.
    pub fn take(&self) -> Vec<Vec<HeaderValue>> {
        std::mem::take(&mut *lock(&self.0.hints))
    }
}

/// The connection's queue of 103 responses not yet written, shared by its requests and the
/// socket hyper writes through.
#[derive(Clone, Default)]
pub struct EarlyHints(Arc<Queue>);

#[derive(Default)]
struct Queue {
    /// The bytes of the 103s not yet written.
    bytes: Mutex<Vec<u8>>,
    /// Set while `bytes` holds some: the socket's look at it costs no lock.
    pending: AtomicBool,
    /// The connection's task, woken to write what was queued.
    writer: AtomicWaker,
}

impl std::fmt::Debug for EarlyHints {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("EarlyHints").field("pending", &self.is_pending()).finish()
    }
}

impl EarlyHints {
    /// Queues a `103 Early Hints` with one `link` field per entry of `links`, and wakes the
    /// connection to write it (dropped if `MAX_QUEUED` bytes already wait).
    pub fn send(&self, links: &[HeaderValue]) {
        let mut bytes = lock(&self.0.bytes);
        if bytes.len() >= MAX_QUEUED {
            return;
        }
        bytes.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\n");
        for link in links {
            bytes.extend_from_slice(b"link: ");
            bytes.extend_from_slice(link.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        self.0.pending.store(true, Ordering::Release);
        drop(bytes);
        self.0.writer.wake();
    }

    /// Whether some 103 waits to be written.
    pub fn is_pending(&self) -> bool {
        self.0.pending.load(Ordering::Acquire)
    }

    /// The task to wake when a 103 is queued.
    pub fn register(&self, waker: &Waker) {
        self.0.writer.register(waker);
    }

    /// Calls `write` with the queued bytes until it has taken them all (true), or until it
    /// takes none (false: it will be called again). `write` returns how many it took.
    pub fn write_with<E>(&self, mut write: impl FnMut(&[u8]) -> Result<usize, E>) -> Result<bool, E> {
        let mut bytes = lock(&self.0.bytes);
        while !bytes.is_empty() {
            match write(&bytes)? {
                0 => return Ok(false),
                count => drop(bytes.drain(..count)),
            }
        }
        self.0.pending.store(false, Ordering::Release);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_a_103_with_a_link_field_per_link_written_in_the_pieces_the_socket_takes() {
        let hints = EarlyHints::default();
        assert!(!hints.is_pending());
        let links = [HeaderValue::from_static("</a.css>; rel=preload; as=style"), HeaderValue::from_static("</b.js>")];
        hints.send(&links);
        assert!(hints.is_pending());
        let mut written = Vec::new();
        // A socket that takes 10 bytes, then nothing: the rest waits for the next call.
        let mut room = 10;
        let some = hints.write_with(|data| {
            let count = data.len().min(room);
            room -= count;
            written.extend_from_slice(&data[..count]);
            Ok::<_, ()>(count)
        });
        assert_eq!((some, hints.is_pending()), (Ok(false), true));
        let rest = hints.write_with(|data| {
            written.extend_from_slice(data);
            Ok::<_, ()>(data.len())
        });
        assert_eq!((rest, hints.is_pending()), (Ok(true), false));
        assert_eq!(
            written,
            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload; as=style\r\nlink: </b.js>\r\n\r\n"
        );
    }

    #[test]
    fn hints_for_a_client_that_does_not_read_stop_queueing_past_the_bound() {
        let hints = EarlyHints::default();
        let link = [HeaderValue::from_static("</a.css>")];
        for _ in 0..100_000 {
            hints.send(&link);
        }
        let mut queued = 0;
        let all = hints.write_with(|data| {
            queued += data.len();
            Ok::<_, ()>(data.len())
        });
        assert_eq!(all, Ok(true));
        assert!((MAX_QUEUED..MAX_QUEUED + 64).contains(&queued), "{queued} bytes queued");
    }
}
