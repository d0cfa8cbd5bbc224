//! Which HTTP versions a connection may speak (`--http auto|1|2`), how hyper (HTTP/1.1) and
//! h2 (HTTP/2, `h2_serve.rs`) are set up, and how one connection is driven to its end: by the client, by a stop (a drain),
//! or by an idle HTTP/2 connection's timer.
//!
//! `auto` serves HTTP/1.1 and HTTP/2 on every listener: over TLS the client picks by ALPN,
//! in cleartext by sending the HTTP/2 connection preface first ("prior knowledge", h2c).
//! Either way the first bytes tell (`choose_version`), and the connection is then served by
//! hyper's HTTP/1.1 connection or our HTTP/2 one (`h2_serve.rs`) alone. (hyper-util's auto builder, which did this
//! before, holds both in every connection and hands hyper the first 24 bytes as a read of
//! their own, after which hyper's read buffer doubles: 4.6 KiB more per idle connection.)
//! `1` is plain HTTP/1.1 (a client that sends the preface gets hyper's `400`), `2` only
//! HTTP/2.
//!
//! HTTP/2's limits: `--http2-max-concurrent-streams` streams at once per connection, and
//! `--max-header-size` for the header list (as for an HTTP/1.1 head). Rapid reset
//! (CVE-2023-44487) and CONTINUATION floods are bounded by h2 itself: a client
//! that resets more streams than `MAX_PENDING_RESETS` before we answered them, or whose
//! header block grows past the limit, gets a GOAWAY.
//!
//! HTTP/2 connections offer the extended CONNECT (RFC 8441, `SETTINGS_ENABLE_CONNECT_PROTOCOL
//! = 1` in the server's first SETTINGS) when a mount serves WebSockets, and only then: a
//! browser that sees the setting opens its WebSockets to this origin over HTTP/2 and would
//! not fall back to HTTP/1.1 if nothing took them.
//!
//! Left to others: what the connection's socket is (`listen.rs`), the TLS handshake
//! (`tls.rs`, which offers `alpn()` from here), the head and idle timers (`timeouts.rs`).

use std::future::Future;
use std::pin::Pin;

use hyper::server::conn::http1;
use tokio::io::AsyncRead;
use tokio::sync::watch;

use super::proxy_protocol::Prefixed;
use super::timeouts::{preface_verdict, Activity, HTTP2_PREFACE};
use super::when_woken::WhenWoken;
use crate::timers::{GOAWAY_GRACE, LAST_REQUEST_GRACE};

/// How much `choose_version` reads at once: no more than it needs to tell (the rest stays
/// in the socket for hyper's own read, and the read-ahead buffer stays small).
const FIRST_READ: usize = HTTP2_PREFACE.len();

/// The most hyper reads from a socket at once (its read size grows, from 8 KiB, while reads
/// fill it, and falls back when they stop), and what it queues of a response before a
/// streamed body waits. A request head has a limit of its own (`--max-header-size`); this
/// was that limit before, so a 64 KiB POST with its head took two reads, the second for the
/// last hundred bytes (`strace` of the WSGI echo benchmark: 2.04 `recvfrom` per request,
/// granian, at hyper's default of 408 KiB, 1.06).
const READ_BUFFER_MAX: usize = 256 * 1024;

/// Streams a client may reset before we have answered them, per connection, before it gets
/// a GOAWAY: rapid reset's bound (h2's own default, written down here).
const MAX_PENDING_RESETS: usize = 20;

/// hyper's windows (its `DEFAULT_CONN_WINDOW` and `DEFAULT_STREAM_WINDOW`): what a client may
/// send ahead of the app's reading, per stream and per connection.
const WINDOW: u32 = 1024 * 1024;

/// What h2 buffers per stream before `poll_capacity` holds the body back (hyper's default).
const SEND_BUFFER: usize = 400 * 1024;

/// Streams the server resets on its own (malformed requests) before the client gets a GOAWAY
/// (hyper's default).
const MAX_LOCAL_RESETS: usize = 1024;

/// h2's connection settings (`h2_serve.rs` serves HTTP/2 with them), made once.
fn h2_builder(limits: Http2Limits, max_pending_resets: usize, websockets: bool) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .max_send_buffer_size(SEND_BUFFER)
        .max_local_error_reset_streams(Some(MAX_LOCAL_RESETS))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_size)
        .max_pending_accept_reset_streams(max_pending_resets);
    if websockets {
        builder.enable_connect_protocol();
    }
    builder
}

/// The HTTP versions served (`--http`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// HTTP/1.1 and HTTP/2.
    Auto,
    Http1,
    Http2,
}

impl Versions {
    /// `auto`, `1` or `2` (checked in Python long before).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(Self::Auto),
            "1" => Some(Self::Http1),
            "2" => Some(Self::Http2),
            _ => None,
        }
    }

    /// What the TLS handshake offers by ALPN, most preferred first.
    pub fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            Self::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Self::Http1 => vec![b"http/1.1".to_vec()],
            Self::Http2 => vec![b"h2".to_vec()],
        }
    }
}

/// HTTP/2's settings.
#[derive(Debug, Clone, Copy)]
pub struct Http2Limits {
    pub max_concurrent_streams: u32,
    pub max_header_list_size: u32,
}

/// hyper and h2, set up once for every connection.
pub struct Protocols {
    versions: Versions,
    /// `--max-header-size`.
    head_limit: usize,
    http1: http1::Builder,
    http2: h2::server::Builder,
}

impl Protocols {
    /// `websockets`: offer HTTP/2's extended CONNECT (some mount serves WebSockets).
    pub fn new(versions: Versions, max_header_size: usize, limits: Http2Limits, websockets: bool) -> Self {
        let mut http1 = http1::Builder::new();
        // No `pipeline_flush`: with it, hyper 1.12 drops the automatic 400 it writes for a
        // malformed request line instead of flushing it before closing.
        // No header read timeout of hyper's own (30 s by default once a timer is given):
        // `timeouts.rs` times request heads (with a 408), and hyper's would arm, register
        // and drop one more timer for every request.
        http1.header_read_timeout(None).keep_alive(true).max_header_size(max_header_size);
        http1.max_buf_size(READ_BUFFER_MAX.max(max_header_size));
        let http2 = h2_builder(limits, MAX_PENDING_RESETS, websockets);
        Self { versions, head_limit: max_header_size, http1, http2 }
    }

    pub fn versions(&self) -> Versions {
        self.versions
    }

    /// The most bytes a request head may take (`--max-header-size`).
    pub fn head_limit(&self) -> usize {
        self.head_limit
    }

    pub fn http1(&self) -> &http1::Builder {
        &self.http1
    }

    pub fn http2(&self) -> &h2::server::Builder {
        &self.http2
    }
}

/// Whether a connection speaks HTTP/2 (`--http auto`): its first bytes are the HTTP/2
/// preface, or they are not (HTTP/1.1). What is read stays in `io`'s prefix for hyper, and
/// `io` comes back (taken and given back, so that the caller's future does not keep a copy
/// of it beside the one this future holds).
///
/// None: the connection ended first, or its time ran out (`TimedIo` ends a fresh connection
/// that says nothing within the header timeout; a client that stops in the middle of the
/// preface is told by `Activity`, as an idle HTTP/2 connection would be). On a stop, a
/// client still silent gets `LAST_REQUEST_GRACE` to begin, as between requests.
pub async fn choose_version<T: AsyncRead + Unpin>(
    mut io: Prefixed<T>,
    activity: &Activity,
    stop: watch::Receiver<bool>,
) -> (Prefixed<T>, Option<bool>) {
    let chosen = wait_for_bytes(&mut io, FIRST_READ, activity, stop, preface_verdict).await;
    (io, chosen)
}

/// Reads into `io`'s prefix, `at_most` bytes at a time, until `enough` makes something of
/// it. None when the connection ends first, its time runs out (`TimedIo`), an HTTP/2
/// connection's idle timer fires, or the server stops and the client sends nothing that is
/// enough within `LAST_REQUEST_GRACE`.
pub async fn wait_for_bytes<T: AsyncRead + Unpin, R>(
    io: &mut Prefixed<T>,
    at_most: usize,
    activity: &Activity,
    mut stop: watch::Receiver<bool>,
    enough: impl Fn(&[u8]) -> Option<R>,
) -> Option<R> {
    let reading = async {
        loop {
            if let Some(made) = enough(io.prefix()) {
                return Some(made);
            }
            if io.read_more(at_most).await.ok()? == 0 {
                return None;
            }
        }
    };
    tokio::pin!(reading);
    tokio::select! {
        made = reading.as_mut() => return made,
        () = activity.idle_expired() => return None,
        () = stopped(&mut stop) => {}
    }
    tokio::time::timeout(LAST_REQUEST_GRACE, reading).await.ok().flatten()
}

/// Drives one connection until it ends: the client closes it, an HTTP/2 connection's idle
/// timer fires (GOAWAY, see `timeouts.rs`), or a stop asks it to finish. `shut_down` is the
/// connection's `graceful_shutdown`: HTTP/1.1 closes after the response in flight, HTTP/2
/// sends GOAWAY and finishes its open streams.
///
/// On a stop, an HTTP/1.1 connection first gets a short grace (`LAST_REQUEST_GRACE`) to send
/// one more request: hyper closes a connection that is between requests at once on a
/// graceful shutdown, and a client that sent a request at that moment would see it closed
/// unanswered. HTTP/2 needs no grace: its GOAWAY tells the client which streams were taken.
/// Either way, once nothing is in flight a client that does not close is dropped
/// (`finish_after_stop`).
///
/// The connection comes pinned by the caller: an argument moved into a local would take its
/// room twice in this future's state (rustc does not overlap them), and it is most of a
/// connection's memory.
pub async fn drive<F: Future>(
    mut served: Pin<&mut F>,
    shut_down: impl Fn(Pin<&mut F>),
    activity: &Activity,
    mut stop: watch::Receiver<bool>,
) {
    // Connection errors (resets, malformed input already answered) end only that connection.
    // Biased, the connection first: the other two come once in its life, and a fair select
    // draws a random order on every poll, twice a request; and they are polled only once
    // woken (`when_woken.rs`).
    tokio::select! {
        biased;
        _ = served.as_mut() => {}
        () = WhenWoken::new(activity.idle_expired()) => {
            shut_down(served.as_mut());
            finish_after_goaway(served, activity).await;
        }
        () = WhenWoken::new(stopped(&mut stop)) => {
            if !activity.is_http2() {
                let finished = tokio::select! {
                    _ = served.as_mut() => true,
                    () = activity.next_request() => false,
                    () = tokio::time::sleep(LAST_REQUEST_GRACE) => false,
                };
                if finished {
                    return;
                }
            }
            shut_down(served.as_mut());
            finish_after_stop(served, activity).await;
        }
    }
}

/// After a stop's graceful shutdown: what is in flight finishes, however long it takes (the
/// drain's own timeout bounds it). Then the client has `GOAWAY_GRACE` to close: HTTP/2's
/// GOAWAY waits for the client's answer to a PING, and a client that no longer reads would
/// otherwise hold the stop to the graceful timeout. Seen idle at two looks `GOAWAY_GRACE`
/// apart, the connection is dropped.
async fn finish_after_stop<F: Future>(mut served: Pin<&mut F>, activity: &Activity) {
    let mut idle_before = false;
    loop {
        tokio::select! {
            _ = served.as_mut() => return,
            () = tokio::time::sleep(GOAWAY_GRACE) => {}
        }
        let idle = activity.in_flight() == 0;
        if idle && idle_before {
            return;
        }
        idle_before = idle;
    }
}

/// After an idle HTTP/2 connection's GOAWAY: its client has `GOAWAY_GRACE` to acknowledge
/// it, then the connection is dropped unless a request (one that was already on its way)
/// is still being answered. A client that ignores the GOAWAY cannot keep it open.
async fn finish_after_goaway<F: Future>(mut served: Pin<&mut F>, activity: &Activity) {
    tokio::select! {
        _ = served.as_mut() => {}
        () = tokio::time::sleep(GOAWAY_GRACE) => {
            if activity.in_flight() > 0 {
                let _ = served.await;
            }
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it before anything else awaits.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_tell_http2_from_http1() {
        assert_eq!(preface_verdict(b""), None);
        assert_eq!(preface_verdict(b"PRI * HTTP/2.0\r\n"), None);
        assert_eq!(preface_verdict(HTTP2_PREFACE), Some(true));
        assert_eq!(preface_verdict(&[HTTP2_PREFACE, b"\0\0\x12\x04"].concat()), Some(true));
        assert_eq!(preface_verdict(b"G"), Some(false));
        assert_eq!(preface_verdict(b"POST / HTTP/1.1\r\n"), Some(false));
        assert_eq!(preface_verdict(b"PRI * HTTP/1.1\r\n"), Some(false));
    }

    #[test]
    fn versions_parse_and_offer_alpn_in_preference_order() {
        assert_eq!(Versions::parse("auto"), Some(Versions::Auto));
        assert_eq!(Versions::parse("1"), Some(Versions::Http1));
        assert_eq!(Versions::parse("2"), Some(Versions::Http2));
        assert_eq!(Versions::parse("3"), None);
        assert_eq!(Versions::Auto.alpn(), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(Versions::Http1.alpn(), vec![b"http/1.1".to_vec()]);
        assert_eq!(Versions::Http2.alpn(), vec![b"h2".to_vec()]);
    }
}
