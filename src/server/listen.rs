//! Accept loops and per-connection HTTP/1.1 serving (with upgrades, for WebSockets), and
//! graceful shutdown.
//!
//! When the stop flag flips, every accept loop ends (closing its listener), each
//! connection is told to finish its in-flight request and close (idle keep-alive
//! connections close at once), and we wait up to the graceful timeout for the last one.
//! Each connection task holds a receiver of `drained`; when the last is dropped,
//! `drained.closed()` resolves.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::service::Service;
use super::timeouts::{Activity, ConnectionTimeouts, TimedIo, TrackedBody};
use crate::http::connection::ConnectionInfo;

/// Back-off after a failed `accept()` (out of descriptors, say), so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ListenSettings {
    /// How long in-flight requests get after a stop.
    pub graceful_timeout: Duration,
    pub timeouts: ConnectionTimeouts,
    /// The most a request line and headers may take; more gets `431`.
    pub max_header_size: usize,
}

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
    let builder = Arc::new(builder);
    let (drained, connection_token) = watch::channel(());
    let mut accepting = JoinSet::new();
    for listener in listeners {
        let context = AcceptContext {
            service: service.clone(),
            builder: builder.clone(),
            timeouts: settings.timeouts,
            connection_token: connection_token.clone(),
        };
        accepting.spawn(accept_loop(listener, context, stop.clone()));
    }
    drop(connection_token);
    while accepting.join_next().await.is_some() {}
    // Past the timeout, whatever is left is dropped with the runtime.
    let _ = tokio::time::timeout(settings.graceful_timeout, drained.closed()).await;
}

/// What every accept loop shares.
struct AcceptContext {
    service: Arc<Service>,
    builder: Arc<http1::Builder>,
    timeouts: ConnectionTimeouts,
    connection_token: watch::Receiver<()>,
}

async fn accept_loop(listener: TcpListener, context: AcceptContext, mut stop: watch::Receiver<bool>) {
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
        let connection = Arc::new(ConnectionInfo { local, remote, scheme: "http" });
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(TimedIo::new(stream, activity.clone(), context.timeouts));
        let service = context.service.clone();
        let handler = service_fn(move |request| {
            let service = service.clone();
            let connection = connection.clone();
            let activity = activity.clone();
            async move {
                let guard = activity.begin();
                let response = service.handle(request, connection).await;
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    activity.mark_upgraded();
                }
                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, guard)))
            }
        });
        let served = context.builder.serve_connection(io, handler).with_upgrades();
        let mut stop = stop.clone();
        let token = context.connection_token.clone();
        tokio::spawn(async move {
            tokio::pin!(served);
            // Connection errors (resets, malformed input already answered) end only that connection.
            tokio::select! {
                _ = served.as_mut() => {}
                _ = stopped(&mut stop) => {
                    served.as_mut().graceful_shutdown();
                    let _ = served.await;
                }
            }
            drop(token);
        });
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it before anything else awaits.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}
