//! Connection timeouts: how long a client may take to send a request head, and how long an
//! idle keep-alive connection stays open.
//!
//! hyper's own header timeout closes the connection without a word, and it does not tell
//! an idle connection from a slow head. So the socket is wrapped in `TimedIo`, which sees
//! every read hyper asks for, and `Activity`, which the service updates when a request
//! starts and its response ends. Between requests, a read that has to wait arms a timer:
//!
//! - fresh connection: the first head must be complete `header_timeout` after the accept;
//! - a head has begun (some bytes, no request yet): `header_timeout` from its first byte;
//!   on expiry the client gets `408 Request Timeout` and the connection closes (a slowloris
//!   client that drips bytes is cut off at the same time as one that stalls);
//! - after a response, nothing sent yet: `keep_alive` from the end of the response, then
//!   the connection closes quietly, as it would on a fresh connection that never spoke.
//!
//! While a request is in flight no timer runs here: reading a slow request body is
//! `request_body.rs`'s timeout, and the app takes the time it takes. An upgraded connection
//! (WebSocket) is never timed out here.
//!
//! `TrackedBody` carries the request's guard (and access-log entry) to the end of its body.
//!
//! Writing the 408 directly is safe because hyper is then parsing a head: nothing of its
//! own is in the write buffer, and it gets an I/O error back, for which it writes nothing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::access_log::Entry;
use super::forward::forward_async_write;
use crate::errors::Error;
use crate::http::response_body::ResponseBody;

const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 16\r\nconnection: close\r\n\r\nRequest Timeout\n";

/// The connection timeouts (None: no limit).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionTimeouts {
    pub header: Option<Duration>,
    pub keep_alive: Option<Duration>,
}

/// What the service tells the socket about the requests on it (and what a stopping server
/// asks of it: whether another request arrived, see `listen.rs`).
#[derive(Debug, Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// A response ended since the socket last looked: the idle clock starts again.
    response_ended: AtomicBool,
    upgraded: AtomicBool,
    /// Requests begun so far, and whether a stopping server waits for the next one.
    requests: AtomicU64,
    draining: AtomicBool,
    arrived: Notify,
}

impl Activity {
    /// A request head was parsed; the returned guard ends it when dropped (with the
    /// response body, once hyper has written it).
    pub fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.draining.load(Ordering::SeqCst) {
            self.arrived.notify_one();
        }
        RequestGuard(self.clone())
    }

    /// The connection now speaks another protocol: no more HTTP timeouts.
    pub fn mark_upgraded(&self) {
        self.upgraded.store(true, Ordering::Release);
    }

    /// Resolves when a request begins after this was first called.
    pub async fn next_request(&self) {
        // Sequentially consistent with `begin()`: either it sees `draining` and notifies, or
        // this load sees its request (which then counts as begun before the stop).
        self.draining.store(true, Ordering::SeqCst);
        let seen = self.requests.load(Ordering::SeqCst);
        loop {
            let notified = self.arrived.notified();
            if self.requests.load(Ordering::SeqCst) > seen {
                return;
            }
            // A stale permit only makes us look again.
            notified.await;
        }
    }
}

pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.response_ended.store(true, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where the connection is between requests.
enum Phase {
    /// Accepted; `any_bytes` once the first head has begun.
    Fresh { any_bytes: bool },
    /// A head has begun at `since`.
    Head,
    /// Waiting for the next request since the last response.
    Idle,
    /// A request is in flight (or the connection was upgraded).
    Busy,
}

pub struct TimedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    timeouts: ConnectionTimeouts,
    phase: Phase,
    since: Instant,
    timer: Pin<Box<Sleep>>,
    expired: bool,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, activity: Arc<Activity>, timeouts: ConnectionTimeouts) -> Self {
        let now = Instant::now();
        let timer = Box::pin(tokio::time::sleep_until(now));
        Self { inner, activity, timeouts, phase: Phase::Fresh { any_bytes: false }, since: now, timer, expired: false }
    }

    /// Moves the phase on after what the service reported.
    fn settle(&mut self) {
        let busy =
            self.activity.in_flight.load(Ordering::Acquire) > 0 || self.activity.upgraded.load(Ordering::Acquire);
        if busy {
            self.phase = Phase::Busy;
        } else if self.activity.response_ended.swap(false, Ordering::AcqRel) || matches!(self.phase, Phase::Busy) {
            self.phase = Phase::Idle;
            self.since = Instant::now();
        }
    }

    /// Bytes arrived while no request was in flight: a head has begun.
    fn saw_bytes(&mut self) {
        match self.phase {
            Phase::Fresh { .. } => self.phase = Phase::Fresh { any_bytes: true },
            Phase::Idle => {
                self.phase = Phase::Head;
                self.since = Instant::now();
            }
            Phase::Head | Phase::Busy => {}
        }
    }

    /// The deadline of the current phase, and whether missing it earns a 408 (None: no
    /// deadline, also for a timeout too long to add to the clock).
    fn deadline(&self) -> Option<(Instant, bool)> {
        match self.phase {
            Phase::Fresh { any_bytes } => Some((self.since.checked_add(self.timeouts.header?)?, any_bytes)),
            Phase::Head => Some((self.since.checked_add(self.timeouts.header?)?, true)),
            Phase::Idle => Some((self.since.checked_add(self.timeouts.keep_alive?)?, false)),
            Phase::Busy => None,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        this.settle();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.saw_bytes();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => this.on_wait(cx),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> TimedIo<T> {
    /// The read has to wait: arm the phase's timer, and act if it has fired.
    fn on_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((deadline, answer)) = self.deadline() else {
            return Poll::Pending;
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if !answer {
            // Nobody is waiting for anything: end of stream, which hyper takes as a clean close.
            return Poll::Ready(Ok(()));
        }
        self.expired = true;
        // Best effort: nothing else is in the socket's way at this point, so this is one write.
        let _ = Pin::new(&mut self.inner).poll_write(cx, REQUEST_TIMEOUT);
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
        Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
    }
}

forward_async_write!(TimedIo, inner);

/// A response body that holds its request's `RequestGuard` (and access-log entry, which
/// counts the bytes) until hyper is done with it.
pub struct TrackedBody {
    body: ResponseBody,
    entry: Option<Entry>,
    _guard: RequestGuard,
}

impl TrackedBody {
    pub fn new(body: ResponseBody, guard: RequestGuard, entry: Option<Entry>) -> Self {
        Self { body, entry, _guard: guard }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(entry)) = (&frame, this.entry.as_mut()) {
            entry.add_bytes(frame.data_ref().map_or(0, Bytes::len));
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn next_request_waits_for_a_request_after_the_stop() {
        let activity = Arc::new(Activity::default());
        drop(activity.begin());
        let early = tokio::time::timeout(Duration::from_millis(50), activity.next_request()).await;
        assert!(early.is_err(), "a request before the stop must not count");
        let waiting = activity.next_request();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        let _guard = activity.begin();
        let later = tokio::time::timeout(Duration::from_secs(1), waiting).await;
        assert!(later.is_ok(), "a request after the stop must end the wait");
    }
}
