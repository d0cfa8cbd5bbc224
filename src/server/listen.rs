//! Accept loops and per-connection HTTP serving (HTTP/1.1 with upgrades, for WebSockets,
//! and HTTP/2, as `--http` allows: `protocol.rs`), graceful shutdown and the
//! `max_requests` budget.
//!
//! When the stop flag flips, every accept loop ends (closing its listener), each
//! connection is told to finish its in-flight request and close (idle keep-alive
//! connections close at once), and we wait up to the graceful timeout for the last one.
//! Each connection task holds the `Shared` state, which holds a receiver of `drained`; when
//! the last is dropped, `drained.closed()` resolves.
//!
//! Before an HTTP/1.1 connection is told to shut down, it gets a short grace
//! (`LAST_REQUEST_GRACE`) to send one more request, which is then answered with
//! `Connection: close` (see `protocol::drive`). hyper closes a connection that is between
//! requests at once on `graceful_shutdown()`, and a client that sent a request at that
//! moment (on a connection accepted just before the stop, or on an idle keep-alive one)
//! would see it closed without an answer although it did nothing wrong. With the grace,
//! under a rolling restart only a client that waits exactly that long before reusing its
//! connection can meet the close; the cost is up to that much longer to drain idle
//! connections. HTTP/2 connections get a GOAWAY at once.
//!
//! An open WebSocket, though its `101` or `200` has gone out, keeps the drain waiting until
//! it ends (`hold_websocket` holds the `Shared` state), and on a stop it is asked to close
//! (`1001`, `asgi/websocket/`) rather than left holding the drain to its timeout, or cut
//! when the runtime goes. An HTTP/2 WebSocket (RFC 8441) is also a stream its connection
//! counts as in flight (`Activity::hold`); an HTTP/1.1 one has left hyper with its whole
//! connection, whose task has ended.
//!
//! Every HTTP/1.x response that leaves once the stop flag is set says `Connection: close` in its own
//! head (hyper then closes after it), rather than relying on `graceful_shutdown()` to add
//! it: the connection task and hyper race, and when hyper wrote the head first the client
//! got a keep-alive answer on a connection closed right after, and its next request, sent
//! a moment later, met the close (`tests/test_rolling_restart.py`).
//!
//! Each connection's socket is wrapped five or six times: `Prefixed` (bytes read ahead with
//! a PROXY protocol header, `proxy_protocol.rs`), with `--ssl-certfile` a TLS stream on TCP
//! connections (`tls.rs`; Unix sockets stay plain), `RequestLineWatch` (`414` for a request
//! line too long for the head buffer, `request_line.rs`), `TimedIo` (head and keep-alive
//! timeouts, `timeouts.rs`), `FramingWatch` (`400` for a chunk-size line with whitespace
//! after the size, and a head that arrives in pieces handed to hyper whole,
//! `framing_watch.rs`; it rewrites and holds back what is read, so it comes after the
//! watch that only looks and the timer) and, outermost, `Prefixed` again, for the first
//! bytes `--http auto` reads to tell HTTP/2 from HTTP/1.1 (`protocol::choose_version`). The
//! listening sockets themselves are `listeners.rs`.
//!
//! With `--admin-bind`, each connection is counted by protocol and TLS from its first
//! request (`metrics/connections.rs`).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use http::header::{HeaderValue, CONNECTION};
use http::{Request, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use pyo3::Python;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::access_log::{AccessLog, Entry, Note};
use super::batched_body::Batched;
use super::framing_watch::FramingWatch;
use super::h2_serve;
use super::joined_writes::JoinedWrites;
use super::listeners::{accept, AcceptErrors, Listener, Stream, TokioListener};
use super::parking;
use super::protocol::{self, stopped, Http2Limits, Protocols, Versions};
use super::proxy::TrustedPeers;
use super::proxy_protocol::{self, Prefixed};
use super::request_line::RequestLineWatch;
use super::service::Service;
use super::timeouts::{Activity, ConnectionTimeouts, RequestGuard, TimedIo, TrackedBody};
use super::tls;
use crate::connection_info::ConnectionInfo;
use crate::http::connection::Endpoint;
use crate::http::early_hints::EarlyHints;
use crate::http::websocket::StreamOpen;
use crate::http::wire_body::WireBody;
use crate::log;
use crate::timers::{ACCEPT_BACKOFF, PROXY_HEADER_TIMEOUT};

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// How long in-flight requests get after a stop.
    pub graceful_timeout: Duration,
    pub timeouts: ConnectionTimeouts,
    /// The most a request line and headers may take; more gets `431`. Also HTTP/2's header
    /// list size.
    pub max_header_size: usize,
    /// The HTTP versions served (`--http`).
    pub versions: Versions,
    pub http2_max_concurrent_streams: u32,
    /// Trusted peers start their connections with a PROXY protocol header.
    pub proxy_protocol: Option<TrustedPeers>,
    pub access_log: Option<Arc<AccessLog>>,
    /// TLS on TCP connections (`--ssl-certfile`, `--ssl-keyfile`).
    pub tls: Option<tls::ServerTls>,
}

/// Counts requests and flips the stop flag when the `max_requests` budget is spent, so the
/// worker drains and exits and its supervisor starts a fresh one. One relaxed atomic add
/// per request; only the request that reaches the limit does more.
pub struct RequestBudget {
    limit: u64,
    served: AtomicU64,
    stop: watch::Sender<bool>,
}

impl RequestBudget {
    pub fn new(limit: u64, stop: watch::Sender<bool>) -> Self {
        Self { limit, served: AtomicU64::new(0), stop }
    }

    fn count(&self) {
        if self.served.fetch_add(1, Ordering::Relaxed) + 1 == self.limit {
            self.stop.send_replace(true);
        }
    }
}

/// What every accept loop and connection shares.
struct Shared {
    service: Arc<Service>,
    protocols: Protocols,
    budget: Option<Arc<RequestBudget>>,
    timeouts: ConnectionTimeouts,
    proxy_protocol: Option<TrustedPeers>,
    access_log: Option<Arc<AccessLog>>,
    tls: Option<tls::ServerTls>,
    /// Held while any connection is open, for the drain at shutdown.
    _connection_token: watch::Receiver<()>,
}

/// Serves until the stop flag flips, then drains for up to the graceful timeout; returns
/// when draining began, so the caller can spend only what is left of the timeout.
pub async fn serve(
    listeners: Vec<Listener>,
    service: Arc<Service>,
    stop: watch::Receiver<bool>,
    settings: ListenSettings,
    budget: Option<Arc<RequestBudget>>,
) -> io::Result<Instant> {
    let limits = Http2Limits {
        max_concurrent_streams: settings.http2_max_concurrent_streams,
        max_header_list_size: u32::try_from(settings.max_header_size).unwrap_or(u32::MAX),
    };
    let protocols = Protocols::new(settings.versions, settings.max_header_size, limits, service.serves_websockets());
    let (drained, connection_token) = watch::channel(());
    let shared = Arc::new(Shared {
        service,
        protocols,
        budget,
        timeouts: settings.timeouts,
        proxy_protocol: settings.proxy_protocol,
        access_log: settings.access_log,
        tls: settings.tls,
        _connection_token: connection_token,
    });
    let mut accepting = JoinSet::new();
    for listener in listeners {
        accepting.spawn(accept_loop(listener.into_tokio()?, shared.clone(), stop.clone()));
    }
    // Every connection task holds the shared state: `drained` closes when the last one ends.
    drop(shared);
    while accepting.join_next().await.is_some() {}
    let draining = Instant::now();
    // Past the timeout, whatever is left is dropped with the runtime.
    let _ = tokio::time::timeout(settings.graceful_timeout, drained.closed()).await;
    Ok(draining)
}

async fn accept_loop(listener: TokioListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Ok(local) = listener.local() else {
        return;
    };
    let mut errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = accept(&listener) => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if let Some(warning) = errors.on_error(&error, Instant::now()) {
                    // Logging takes the GIL: not on a tokio worker.
                    tokio::task::spawn_blocking(move || Python::attach(|py| log::warning(py, &warning)));
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        match stream {
            Stream::Tcp(stream) => {
                let scheme = if shared.tls.is_some() { "https" } else { "http" };
                let connection = ConnectionInfo::new(local.clone(), remote, scheme);
                // Latency matters more than packet count for request/response traffic.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, connection, shared.clone(), stop.clone()));
            }
            Stream::Unix(stream) => {
                let connection = ConnectionInfo::new(local.clone(), remote, "http");
                tokio::spawn(serve_connection(stream, connection, shared.clone(), stop.clone()));
            }
        }
    }
}

/// Reads a trusted peer's PROXY header, does the TLS handshake of an `https` connection,
/// then serves HTTP on it.
async fn serve_connection<S>(
    stream: S,
    mut connection: ConnectionInfo,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stream = JoinedWrites::new(stream);
    let trusted_proxy = match (&shared.proxy_protocol, &connection.remote) {
        (Some(trusted), Endpoint::Inet(remote)) => trusted.contains(remote.ip()),
        _ => false,
    };
    let stream = if trusted_proxy {
        let timeout = shared.timeouts.header.unwrap_or(PROXY_HEADER_TIMEOUT);
        let Ok((stream, addresses)) = proxy_protocol::read_header(stream, timeout).await else {
            return; // Nothing trustworthy to serve: close.
        };
        if let Some((remote, local)) = addresses {
            connection.remote = Endpoint::Inet(remote);
            connection.local = Endpoint::Inet(local);
        }
        stream
    } else {
        Prefixed::new(stream)
    };
    match &shared.tls {
        Some(acceptor) if connection.scheme == "https" => {
            let timeout = shared.timeouts.header.unwrap_or(PROXY_HEADER_TIMEOUT);
            // Boxed, as what follows: only TLS connections pay for its state.
            let Some((stream, described)) = Box::pin(tls::handshake(acceptor, stream, timeout)).await else {
                return; // A failed or stalled handshake: nothing to answer.
            };
            connection.tls = Some(Arc::new(described));
            // Boxed: a TLS connection's state is twice a plain one's, and unboxed it would
            // set the size of every connection's task.
            Box::pin(serve_http(stream, connection, shared, stop)).await;
        }
        _ => serve_http(stream, connection, shared, stop).await,
    }
}

/// Serves HTTP on one connection until it closes, or until a stop lets its in-flight
/// requests finish.
async fn serve_http<S>(stream: S, connection: ConnectionInfo, shared: Arc<Shared>, stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The apps' `103 Early Hints`, for HTTP/1.1 requests (HTTP/1.0 has no 1xx answers;
    // an HTTP/2 stream's go on the stream, `h2_serve.rs`).
    let hints = EarlyHints::default();
    let connection = Arc::new(ConnectionInfo { hints: Some(hints.clone()), ..connection });
    let activity = Arc::new(Activity::default());
    let stream = RequestLineWatch::new(stream, activity.clone(), shared.protocols.head_limit());
    let stream = TimedIo::new(stream, activity.clone(), shared.timeouts);
    // Outside the timer, which must see each byte as it arrives, not once a held head ends.
    let stream = FramingWatch::new(stream, activity.clone());
    // Outermost, so that the first bytes `choose_version` reads ahead pass the watches and
    // the timer once and reach hyper from the prefix.
    let io = Prefixed::new(stream);
    // With `--admin-bind`: the connection is counted open from its first request.
    let watch = shared.service.metrics().map(|metrics| metrics.connections().watch(connection.tls.is_some()));
    let answer_for = {
        let shared = shared.clone();
        let activity = activity.clone();
        let stopping = stop.clone();
        move |request: Request<WireBody>| {
            // Boxed: it moves into the answer's future, then into `Service::handle`'s and
            // `dispatch`'s, each holding it until the service splits it (a pointer moves for
            // free; the request is 264 bytes).
            let request = Box::new(request);
            if let Some(watch) = &watch {
                watch.request(request.version());
            }
            let shared = shared.clone();
            let connection = connection.clone();
            let guard = activity.begin();
            let activity = activity.clone();
            let stopping = stopping.clone();
            if let Some(budget) = &shared.budget {
                budget.count();
            }
            let mut entry =
                shared.access_log.as_ref().map(|log| Box::new(Entry::start(log, &request, connection.remote.clone())));
            // HTTP/2 has no `Connection` header: its drain is the GOAWAY (`protocol.rs`).
            let http1 = request.version() < Version::HTTP_2;
            let answer = Box::new(async move {
                // Set when a mount takes the request (with `--admin-bind`); if the client leaves
                // before the answer, dropping it records the request as 499.
                let mut recording = None;
                let mut response = shared.service.handle(request, connection, &mut recording).await;
                let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
                if upgraded {
                    activity.mark_upgraded();
                }
                if let Some(open) = response.extensions_mut().remove::<StreamOpen>() {
                    // A WebSocket, of either version: open until it ends.
                    tokio::spawn(hold_websocket(open, activity.hold(), shared.clone(), stopping.clone()));
                } else if http1 && !upgraded && *stopping.borrow() {
                    // The connection's last response: say so in its head (hyper then closes
                    // after it), or the client may send its next request as hyper closes.
                    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                if let Some(entry) = entry.as_mut() {
                    entry.respond(response.status(), response.extensions().get::<Note>());
                }
                if let Some(recording) = recording.as_mut() {
                    recording.respond(response.status());
                }
                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, guard, entry, recording)))
            });
            // Boxed: the future is nearly 1 KiB, and it is moved (into its stream's future on
            // HTTP/2, into hyper's slot on HTTP/1.1): a pointer moves for free. Built in its
            // box (`Box::new` of the block), not built and then moved there (`Box::pin`).
            Pin::from(answer)
        }
    };
    let protocols = &shared.protocols;
    let (io, http2) = match protocols.versions() {
        Versions::Http1 => (io, false),
        Versions::Http2 => (io, true),
        // Boxed: its state, with the socket in it, would otherwise take its own room in every
        // connection's task for the connection's life (1 KiB more).
        Versions::Auto => match Box::pin(protocol::choose_version(io, &activity, stop.clone())).await {
            (io, Some(http2)) => (io, http2),
            (_, None) => return, // Closed, or silent past its time: nothing to answer.
        },
    };
    if http2 {
        // Boxed: an HTTP/2 connection's state is twice an HTTP/1.1 one's, and in place it
        // would set the size of every connection's task.
        let mut served = Box::pin(h2_serve::served(io, protocols.http2(), &answer_for));
        protocol::drive(served.as_mut(), |served| served.get_mut().graceful_shutdown(), &activity, stop).await;
    } else {
        // hyper gets every chunk the app has ready as one frame (`batched_body.rs`).
        let handler = service_fn(|request: Request<Incoming>| {
            answer_for(request.map(WireBody::Http1)).map(|answer| answer.map(|response| response.map(Batched::new)))
        });
        parking::serve(io, protocols.http1(), (&handler, &hints), &activity, stop).await;
    }
}

/// Holds an open WebSocket's connection until the WebSocket ends: as a stream in flight
/// (`held`: over HTTP/2, or the connection would count as idle and be sent a GOAWAY), and
/// in the drain's count (`shared`: over HTTP/1.1 the connection's own task has ended with
/// the upgrade). On a stop, asks the WebSocket to close (`1001`) and waits for it to.
async fn hold_websocket(open: StreamOpen, held: RequestGuard, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        () = open.clone().closed() => {}
        () = stopped(&mut stop) => {
            open.go_away();
            open.closed().await;
        }
    }
    drop((held, shared));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_flips_the_stop_flag_at_the_limit_and_only_then() {
        let (stop, watched) = watch::channel(false);
        let budget = RequestBudget::new(3, stop);
        budget.count();
        budget.count();
        assert!(!*watched.borrow());
        budget.count();
        assert!(*watched.borrow());
        // Requests already on their way past the limit change nothing.
        budget.count();
        assert!(*watched.borrow());
    }
}
