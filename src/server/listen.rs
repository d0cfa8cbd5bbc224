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

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::service::Service;
use crate::http::connection::ConnectionInfo;

/// Back-off after a failed `accept()` (out of descriptors, say), so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub async fn serve(
    listeners: Vec<TcpListener>,
    service: Arc<Service>,
    stop: watch::Receiver<bool>,
    graceful_timeout: Duration,
) {
    let mut builder = http1::Builder::new();
    // No `pipeline_flush`: with it, hyper 1.12 drops the automatic 400 it writes for a
    // malformed request line instead of flushing it before closing.
    builder.timer(TokioTimer::new()).keep_alive(true);
    let builder = Arc::new(builder);
    let (drained, connection_token) = watch::channel(());
    let mut accepting = JoinSet::new();
    for listener in listeners {
        let accept = accept_loop(listener, service.clone(), builder.clone(), stop.clone(), connection_token.clone());
        accepting.spawn(accept);
    }
    drop(connection_token);
    while accepting.join_next().await.is_some() {}
    // Past the timeout, whatever is left is dropped with the runtime.
    let _ = tokio::time::timeout(graceful_timeout, drained.closed()).await;
}

async fn accept_loop(
    listener: TcpListener,
    service: Arc<Service>,
    builder: Arc<http1::Builder>,
    mut stop: watch::Receiver<bool>,
    connection_token: watch::Receiver<()>,
) {
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
        let service = service.clone();
        let handler = service_fn(move |request| {
            let service = service.clone();
            let connection = connection.clone();
            async move { Ok::<_, Infallible>(service.handle(request, connection).await) }
        });
        let served = builder.serve_connection(TokioIo::new(stream), handler).with_upgrades();
        let mut stop = stop.clone();
        let token = connection_token.clone();
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
