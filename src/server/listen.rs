//! Accept loops and per-connection HTTP/1.1 serving (with upgrades, for WebSockets), and
//! graceful shutdown.
//!
//! When the stop flag flips, every accept loop ends (closing its listener), each
//! connection is told to finish its in-flight request and close (idle keep-alive
//! connections close at once), and we wait up to the graceful timeout for the last one.
//! Each connection task holds the shared `AcceptContext`, which holds a receiver of
//! `drained`; when the last is dropped, `drained.closed()` resolves.
//!
//! Each connection's socket is wrapped twice: `Prefixed` (bytes read ahead with a PROXY
//! protocol header, `proxy_protocol.rs`) and `TimedIo` (head and keep-alive timeouts,
//! `timeouts.rs`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::access_log::{AccessLog, Entry, Note};
use super::proxy::TrustedPeers;
use super::proxy_protocol::{self, Prefixed};
use super::service::Service;
use super::timeouts::{Activity, ConnectionTimeouts, TimedIo, TrackedBody};
use crate::http::connection::ConnectionInfo;

/// Back-off after a failed `accept()` (out of descriptors, say), so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// How long in-flight requests get after a stop.
    pub graceful_timeout: Duration,
    pub timeouts: ConnectionTimeouts,
    /// The most a request line and headers may take; more gets `431`.
    pub max_header_size: usize,
    /// Trusted peers start their connections with a PROXY protocol header.
    pub proxy_protocol: Option<TrustedPeers>,
    pub access_log: Option<Arc<AccessLog>>,
}

/// How long a trusted peer has to send its PROXY header when there is no header timeout.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// hyper refuses read buffers smaller than this.
const MIN_HEADER_BUFFER: usize = 8192;

pub async fn serve(
    listeners: Vec<TcpListener>,
    service: Arc<Service>,
    stop: watch::Receiver<bool>,
    settings: ListenSettings,
) {
    let mut builder = http1::Builder::new();
    // No `pipeline_flush`: with it, hyper 1.12 drops the automatic 400 it writes for a
    // malformed request line instead of flushing it before closing.
    builder.timer(TokioTimer::new()).keep_alive(true).max_buf_size(settings.max_header_size.max(MIN_HEADER_BUFFER));
    let (drained, connection_token) = watch::channel(());
    let context = Arc::new(AcceptContext {
        service,
        builder: Arc::new(builder),
        timeouts: settings.timeouts,
        proxy_protocol: settings.proxy_protocol,
        access_log: settings.access_log,
        _connection_token: connection_token,
    });
    let mut accepting = JoinSet::new();
    for listener in listeners {
        accepting.spawn(accept_loop(listener, context.clone(), stop.clone()));
    }
    // Every connection task holds the context: `drained` closes when the last one ends.
    drop(context);
    while accepting.join_next().await.is_some() {}
    // Past the timeout, whatever is left is dropped with the runtime.
    let _ = tokio::time::timeout(settings.graceful_timeout, drained.closed()).await;
}

/// What every accept loop and connection shares.
struct AcceptContext {
    service: Arc<Service>,
    builder: Arc<http1::Builder>,
    timeouts: ConnectionTimeouts,
    proxy_protocol: Option<TrustedPeers>,
    access_log: Option<Arc<AccessLog>>,
    /// Held while any connection is open, for the drain at shutdown.
    _connection_token: watch::Receiver<()>,
}

async fn accept_loop(listener: TcpListener, context: Arc<AcceptContext>, mut stop: watch::Receiver<bool>) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    loop {
        let (stream, remote) = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Latency matters more than packet count for request/response traffic.
        let _ = stream.set_nodelay(true);
        let connection = ConnectionInfo { local, remote, scheme: "http" };
        tokio::spawn(serve_connection(stream, connection, context.clone(), stop.clone()));
    }
}

/// Serves one connection until it closes, or until a stop lets its in-flight request finish.
async fn serve_connection(
    stream: TcpStream,
    mut connection: ConnectionInfo,
    context: Arc<AcceptContext>,
    mut stop: watch::Receiver<bool>,
) {
    let stream = match &context.proxy_protocol {
        Some(trusted) if trusted.contains(connection.remote.ip()) => {
            let timeout = context.timeouts.header.unwrap_or(PROXY_HEADER_TIMEOUT);
            let Ok((stream, addresses)) = proxy_protocol::read_header(stream, timeout).await else {
                return; // Nothing trustworthy to serve: close.
            };
            if let Some((remote, local)) = addresses {
                connection.remote = remote;
                connection.local = local;
            }
            stream
        }
        _ => Prefixed::new(stream),
    };
    let connection = Arc::new(connection);
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(TimedIo::new(stream, activity.clone(), context.timeouts));
    let service = context.service.clone();
    let access_log = context.access_log.clone();
    let handler = service_fn(move |request| {
        let service = service.clone();
        let connection = connection.clone();
        let activity = activity.clone();
        let mut entry = access_log.as_ref().map(|log| Entry::start(log, &request, connection.remote));
        async move {
            let guard = activity.begin();
            let response = service.handle(request, connection).await;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                activity.mark_upgraded();
            }
            if let Some(entry) = entry.as_mut() {
                entry.respond(response.status(), response.extensions().get::<Note>());
            }
            Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, guard, entry)))
        }
    });
    let served = context.builder.serve_connection(io, handler).with_upgrades();
    tokio::pin!(served);
    // Connection errors (resets, malformed input already answered) end only that connection.
    tokio::select! {
        _ = served.as_mut() => {}
        _ = stopped(&mut stop) => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it before anything else awaits.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}
