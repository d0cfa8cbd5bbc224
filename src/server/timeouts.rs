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
//! HTTP/2 (told by the connection preface in the first bytes) differs in two ways: bytes
//! between requests (PING, SETTINGS, WINDOW_UPDATE frames) do not begin a head, so an idle
//! connection's clock keeps running; and on expiry nothing is written here: `Activity`
//! tells the connection's driver (`protocol.rs`), which sends a GOAWAY.
//!
//! While a request is in flight no timer runs here: reading a slow request body is
//! `request_body.rs`'s timeout, and the app takes the time it takes. An upgraded connection
//! (WebSocket) is never timed out here. The read hyper left waiting while the connection was
//! busy is woken when the last request (or HTTP/2 WebSocket stream) ends, so the idle clock
//! starts then even if the client sends nothing more: hyper's driver need not be polled for
//! anything else at that moment (an HTTP/2 WebSocket ends in a task of its own).
//!
//! `TrackedBody` carries the request's guard (and access-log entry, and metrics recording) to
//! the end of its body.
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
use futures::task::AtomicWaker;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::access_log::Entry;
use super::forward::forward_async_write;
use crate::errors::Error;
use crate::http::response_body::ResponseBody;
use crate::metrics::Recording;
use crate::timers::IDLE_PARK;

/// The HTTP/2 connection preface, which an HTTP/2 client sends first.
pub(crate) const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// True once `first` holds the whole HTTP/2 preface, false as soon as it departs from it,
/// None while what came so far is the preface's beginning.
pub(crate) fn preface_verdict(first: &[u8]) -> Option<bool> {
    let compared = first.len().min(HTTP2_PREFACE.len());
    if first[..compared] != HTTP2_PREFACE[..compared] {
        Some(false)
    } else if compared == HTTP2_PREFACE.len() {
        Some(true)
    } else {
        None
    }
}

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
    /// The client spoke HTTP/2 (its first bytes were the preface).
    http2: AtomicBool,
    /// An HTTP/2 connection's head or idle timer fired: its driver sends a GOAWAY.
    idle_expired: AtomicBool,
    expired: Notify,
    /// The socket's read that waits while the connection is busy, woken when it is not.
    reader: AtomicWaker,
    /// The idle connection let go of hyper's state, until its next bytes (`parking.rs`).
    parked: AtomicBool,
    /// Bytes of a request head that hyper has not had whole were read (`FramingWatch`).
    head_begun: AtomicBool,
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

    /// Something other than a request keeps the connection busy (an HTTP/2 WebSocket's
    /// stream) until the guard is dropped; it does not count as a request begun.
    pub fn hold(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(self.clone())
    }

    /// The connection now speaks another protocol: no more HTTP timeouts.
    pub fn mark_upgraded(&self) {
        self.upgraded.store(true, Ordering::Release);
    }

    /// The connection was handed to an upgrade (`101`): what it carries now is not HTTP.
    pub fn is_upgraded(&self) -> bool {
        self.upgraded.load(Ordering::Acquire)
    }

    /// Requests whose responses are not finished yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// True once the client sent the HTTP/2 connection preface.
    pub fn is_http2(&self) -> bool {
        self.http2.load(Ordering::Acquire)
    }

    /// Resolves once an HTTP/2 connection has been idle (or silent since its preface) for
    /// its timeout; never on HTTP/1.1, whose timers close the socket themselves.
    pub async fn idle_expired(&self) {
        loop {
            let notified = self.expired.notified();
            if self.idle_expired.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    fn expire_idle(&self) {
        self.idle_expired.store(true, Ordering::Release);
        self.expired.notify_one();
    }

    /// The connection is parked: its hyper connection ends, and the socket goes back to
    /// `parking::serve` (see `parking.rs`).
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::Acquire)
    }

    /// Whether bytes of a request head hyper has not had whole were read; told by the
    /// socket wrapper that follows the framing after each read.
    pub fn set_head_begun(&self, begun: bool) {
        self.head_begun.store(begun, Ordering::Relaxed);
    }

    /// A request is in flight, or the connection speaks another protocol now.
    pub fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0 || self.upgraded.load(Ordering::Acquire)
    }

    /// How many requests have begun on the connection.
    pub fn requests_begun(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
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
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The connection is idle now: its waiting read arms the keep-alive timer.
            self.0.reader.wake();
        }
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
    /// An HTTP/2 connection's timer fired; its GOAWAY is on the way, no timer runs.
    GoingAway,
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
        if matches!(self.phase, Phase::GoingAway) {
            return;
        }
        if self.activity.is_busy() {
            self.phase = Phase::Busy;
        } else if self.activity.response_ended.swap(false, Ordering::AcqRel) || matches!(self.phase, Phase::Busy) {
            self.phase = Phase::Idle;
            self.since = Instant::now();
        }
    }

    /// Bytes arrived while no request was in flight: a head has begun (on HTTP/1.1).
    fn saw_bytes(&mut self, bytes: &[u8]) {
        match self.phase {
            Phase::Fresh { any_bytes: false } => {
                // The first bytes: are they the start of the HTTP/2 preface?
                if preface_verdict(bytes) != Some(false) {
                    self.activity.http2.store(true, Ordering::Release);
                }
                self.phase = Phase::Fresh { any_bytes: true };
            }
            Phase::Idle if !self.activity.is_http2() => {
                self.phase = Phase::Head;
                self.since = Instant::now();
                self.activity.parked.store(false, Ordering::Release);
            }
            Phase::Fresh { any_bytes: true } | Phase::Idle | Phase::Head | Phase::Busy | Phase::GoingAway => {}
        }
    }

    /// The deadline of the current phase, and what missing it does. A deadline beyond the
    /// clock's range (settings are checked long before) is no deadline.
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        let (limit, expiry) = match self.phase {
            Phase::Fresh { any_bytes: false } => (self.timeouts.header?, Expiry::Close),
            Phase::Fresh { any_bytes: true } | Phase::Head => (self.timeouts.header?, Expiry::Answer),
            Phase::Idle if self.may_park() => match self.timeouts.keep_alive {
                Some(keep_alive) if keep_alive <= IDLE_PARK => (keep_alive, Expiry::Close),
                _ => (IDLE_PARK, Expiry::Park),
            },
            Phase::Idle => (self.timeouts.keep_alive?, Expiry::Close),
            Phase::Busy | Phase::GoingAway => return None,
        };
        Some((self.since.checked_add(limit)?, expiry))
    }

    /// Whether an idle connection may park now: HTTP/1.1, not parked already, nothing of a
    /// next request read (`parking.rs`).
    fn may_park(&self) -> bool {
        let activity = &self.activity;
        !activity.is_http2() && !activity.is_parked() && !activity.head_begun.load(Ordering::Relaxed)
    }
}

/// What a connection's timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// `408 Request Timeout`, and close.
    Answer,
    /// Close quietly: nobody is waiting for anything.
    Close,
    /// End hyper's connection, keep the socket (`parking.rs`).
    Park,
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
                    this.saw_bytes(&buf.filled()[before..]);
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
        let Some((deadline, expiry)) = self.deadline() else {
            if matches!(self.phase, Phase::Busy) {
                self.activity.reader.register(cx.waker());
                // The work may have ended just before the registration: look again.
                if !self.activity.is_busy() {
                    cx.waker().wake_by_ref();
                }
            }
            return Poll::Pending;
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if self.activity.is_http2() {
            // No 408 in HTTP/2's framing: the driver sends a GOAWAY and closes. Meanwhile the
            // socket stays open for it (the inner read is registered for the next bytes).
            self.phase = Phase::GoingAway;
            self.activity.expire_idle();
            return Poll::Pending;
        }
        match expiry {
            // Nobody is waiting for anything: end of stream, which hyper takes as a clean close.
            Expiry::Close => return Poll::Ready(Ok(())),
            Expiry::Park => {
                self.activity.parked.store(true, Ordering::Release);
                return Poll::Ready(Ok(()));
            }
            Expiry::Answer => {}
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
    /// Boxed: hyper moves this body with the response, and most servers log no access.
    entry: Option<Box<Entry>>,
    /// The request in the metrics: recorded when the body is dropped.
    recording: Option<Recording>,
    _guard: RequestGuard,
}

impl TrackedBody {
    pub fn new(
        body: ResponseBody,
        guard: RequestGuard,
        entry: Option<Box<Entry>>,
        recording: Option<Recording>,
    ) -> Self {
        Self { body, entry, recording, _guard: guard }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame {
            let bytes = frame.data_ref().map_or(0, Bytes::len);
            if let Some(entry) = this.entry.as_mut() {
                entry.add_bytes(bytes);
            }
            if let Some(recording) = this.recording.as_mut() {
                recording.add_bytes(bytes);
            }
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const HEADER: Duration = Duration::from_secs(10);
    const KEEP_ALIVE: Duration = Duration::from_secs(5);

    /// A timed server end and the client's end of an in-memory connection.
    fn connection() -> (TimedIo<DuplexStream>, DuplexStream, Arc<Activity>) {
        connection_with(ConnectionTimeouts { header: Some(HEADER), keep_alive: Some(KEEP_ALIVE) })
    }

    /// `connection()` with other timeouts.
    fn connection_with(timeouts: ConnectionTimeouts) -> (TimedIo<DuplexStream>, DuplexStream, Arc<Activity>) {
        let (server, client) = tokio::io::duplex(4096);
        let activity = Arc::new(Activity::default());
        (TimedIo::new(server, activity.clone(), timeouts), client, activity)
    }

    /// Reads once, as hyper would: Ok(bytes read; 0 is a clean end of stream) or the error.
    async fn read(io: &mut TimedIo<DuplexStream>) -> io::Result<usize> {
        let mut buffer = [0; 1024];
        io.read(&mut buffer).await
    }

    /// What the client has received so far.
    async fn received(client: &mut DuplexStream) -> String {
        let mut buffer = vec![0; 4096];
        let read = tokio::time::timeout(Duration::from_millis(1), client.read(&mut buffer)).await;
        let count = read.map_or(0, |read| read.unwrap_or(0));
        String::from_utf8_lossy(&buffer[..count]).into_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_connection_that_never_speaks_closes_quietly_after_the_header_timeout() {
        let (mut io, mut client, _activity) = connection();
        let started = Instant::now();
        assert_eq!(read(&mut io).await.ok(), Some(0));
        assert_eq!(started.elapsed(), HEADER);
        assert_eq!(received(&mut client).await, "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_stalls_gets_408_header_timeout_after_the_accept() {
        let (mut io, mut client, _activity) = connection();
        let started = Instant::now();
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap_or_else(|error| panic!("{error}"));
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        let error = read(&mut io).await.err().map(|error| error.kind());
        assert_eq!(error, Some(io::ErrorKind::TimedOut));
        assert_eq!(started.elapsed(), HEADER);
        assert!(received(&mut client).await.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        // Once expired, it stays so.
        assert!(read(&mut io).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_parks_then_closes_quietly_keep_alive_after_its_last_response() {
        let (mut io, mut client, activity) = connection();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap_or_else(|error| panic!("{error}"));
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        let guard = activity.begin();
        tokio::time::advance(HEADER * 3).await;
        drop(guard); // The response ended: the idle clock starts now.
        let ended = Instant::now();
        // hyper's read ends at the park, the parked connection's own at keep-alive.
        assert_eq!(read(&mut io).await.ok(), Some(0));
        assert_eq!((ended.elapsed(), activity.is_parked()), (IDLE_PARK, true));
        assert_eq!(read(&mut io).await.ok(), Some(0));
        assert_eq!(ended.elapsed(), KEEP_ALIVE);
        assert_eq!(received(&mut client).await, "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_connection_s_next_head_unparks_it_and_has_the_header_timeout() {
        let (mut io, mut client, activity) = connection();
        drop(activity.begin());
        assert_eq!(read(&mut io).await.ok(), Some(0));
        assert!(activity.is_parked());
        client.write_all(b"GET /next HTTP/1.1\r\n").await.unwrap_or_else(|error| panic!("{error}"));
        let began = Instant::now();
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        assert!(!activity.is_parked());
        assert!(read(&mut io).await.is_err_and(|error| error.kind() == io::ErrorKind::TimedOut));
        assert_eq!(began.elapsed(), HEADER);
        assert!(received(&mut client).await.starts_with("HTTP/1.1 408"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_begun_keeps_an_idle_connection_from_parking() {
        let (mut io, _client, activity) = connection();
        drop(activity.begin());
        activity.set_head_begun(true); // Held above this wrapper (`FramingWatch`).
        let ended = Instant::now();
        assert_eq!(read(&mut io).await.ok(), Some(0));
        assert_eq!((ended.elapsed(), activity.is_parked()), (KEEP_ALIVE, false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_no_longer_than_the_park_closes_without_parking() {
        let (mut io, _client, activity) =
            connection_with(ConnectionTimeouts { header: Some(HEADER), keep_alive: Some(IDLE_PARK) });
        drop(activity.begin());
        assert_eq!(read(&mut io).await.ok(), Some(0));
        assert!(!activity.is_parked());
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_head_gets_the_header_timeout_from_its_first_byte() {
        let (mut io, mut client, activity) = connection();
        drop(activity.begin());
        // Idle for less than the park, then a head begins and stalls.
        assert!(tokio::time::timeout(IDLE_PARK / 2, read(&mut io)).await.is_err());
        client.write_all(b"GET /next HTTP/1.1\r\n").await.unwrap_or_else(|error| panic!("{error}"));
        let began = Instant::now();
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        assert!(read(&mut io).await.is_err_and(|error| error.kind() == io::ErrorKind::TimedOut));
        assert_eq!(began.elapsed(), HEADER);
        assert!(received(&mut client).await.starts_with("HTTP/1.1 408"));
    }

    #[tokio::test(start_paused = true)]
    async fn no_timer_runs_while_a_request_is_in_flight_or_after_an_upgrade() {
        let (mut io, _client, activity) = connection();
        let guard = activity.begin();
        assert!(tokio::time::timeout(HEADER * 100, read(&mut io)).await.is_err(), "in flight: no timeout");
        activity.mark_upgraded();
        drop(guard);
        assert!(tokio::time::timeout(HEADER * 100, read(&mut io)).await.is_err(), "upgraded: no timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_clock_starts_when_the_work_ends_though_the_client_sends_nothing() {
        for http2 in [false, true] {
            let (mut io, mut client, activity) = connection();
            let first: &[u8] = if http2 { HTTP2_PREFACE } else { b"GET / HTTP/1.1\r\n\r\n" };
            client.write_all(first).await.unwrap_or_else(|error| panic!("{error}"));
            assert!(read(&mut io).await.is_ok_and(|count| count > 0));
            // A WebSocket stream (or a request) keeps the connection busy while hyper's read waits.
            let held = activity.hold();
            let reading = tokio::spawn(async move { read(&mut io).await.ok() });
            tokio::time::advance(KEEP_ALIVE * 3).await;
            assert!(!reading.is_finished(), "busy: no timer");
            drop(held);
            let ended = Instant::now();
            if http2 {
                let told = tokio::time::timeout(KEEP_ALIVE * 2, activity.idle_expired()).await;
                assert!(told.is_ok(), "the driver must hear of the expiry (http2: {http2})");
                reading.abort();
                assert_eq!(ended.elapsed(), KEEP_ALIVE);
            } else {
                let parked = tokio::time::timeout(KEEP_ALIVE * 2, reading).await;
                assert!(matches!(parked, Ok(Ok(Some(0)))), "the idle connection must park: {parked:?}");
                assert_eq!((ended.elapsed(), activity.is_parked()), (IDLE_PARK, true));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_timeouts_nothing_expires_and_a_huge_one_never_overflows() {
        for limit in [None, Some(Duration::MAX)] {
            let (mut io, _client, _) = connection_with(ConnectionTimeouts { header: limit, keep_alive: limit });
            assert!(tokio::time::timeout(Duration::from_secs(1_000_000), read(&mut io)).await.is_err());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_is_never_sent_a_408_and_its_driver_hears_of_the_expiry() {
        let (mut io, mut client, activity) = connection();
        client.write_all(&HTTP2_PREFACE[..10]).await.unwrap_or_else(|error| panic!("{error}"));
        let started = Instant::now();
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        assert!(activity.is_http2());
        // The timer fires: the read keeps waiting (for the GOAWAY exchange), the driver is told.
        let waiting = tokio::time::timeout(HEADER * 2, read(&mut io)).await;
        assert!(waiting.is_err(), "the socket must stay open for the GOAWAY");
        let told = tokio::time::timeout(Duration::ZERO, activity.idle_expired()).await;
        assert!(told.is_ok(), "the driver must hear of the expiry");
        assert!(started.elapsed() >= HEADER);
        assert_eq!(received(&mut client).await, "", "no HTTP/1.1 408 on an HTTP/2 connection");
    }

    #[tokio::test(start_paused = true)]
    async fn frames_between_http2_requests_do_not_reset_the_idle_clock() {
        let (mut io, mut client, activity) = connection();
        client.write_all(HTTP2_PREFACE).await.unwrap_or_else(|error| panic!("{error}"));
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        drop(activity.begin());
        let ended = Instant::now();
        // A PING frame (9-byte header, 8-byte payload) halfway through the idle time.
        assert!(tokio::time::timeout(KEEP_ALIVE / 2, read(&mut io)).await.is_err());
        client.write_all(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        // Expired at keep-alive after the response, not keep-alive after the PING.
        let rest = KEEP_ALIVE / 2 + Duration::from_millis(1);
        assert!(tokio::time::timeout(rest, read(&mut io)).await.is_err());
        assert!(tokio::time::timeout(Duration::ZERO, activity.idle_expired()).await.is_ok());
        assert!(ended.elapsed() < KEEP_ALIVE + Duration::from_millis(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_http1_connection_is_not_taken_for_http2() {
        let (mut io, mut client, activity) = connection();
        client.write_all(b"PUT / HTTP/1.1\r\n").await.unwrap_or_else(|error| panic!("{error}"));
        assert!(read(&mut io).await.is_ok_and(|count| count > 0));
        assert!(!activity.is_http2());
    }

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
