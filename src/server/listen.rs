//! Accept loops (TCP and Unix sockets) and per-connection HTTP/1.1 serving (with upgrades,
//! for WebSockets), graceful shutdown and the `max_requests` budget.
//!
//! When the stop flag flips, every accept loop ends (closing its listener), each
//! connection is told to finish its in-flight request and close (idle keep-alive
//! connections close at once), and we wait up to the graceful timeout for the last one.
//! Each connection task holds a receiver of `drained`; when the last is dropped,
//! `drained.closed()` resolves.
//!
//! Before a connection is told to shut down, it gets a short grace (`LAST_REQUEST_GRACE`)
//! to send one more request, which is then answered with `Connection: close`. hyper closes
//! a connection that is between requests at once on `graceful_shutdown()`, and a client
//! that sent a request at that moment (on a connection accepted just before the stop, or
//! on an idle keep-alive one) would see it closed without an answer although it did
//! nothing wrong. With the grace, under a rolling restart only a client that waits exactly
//! that long before reusing its connection can meet the close; the cost is up to that much
//! longer to drain idle connections.
//!
//! The listening sockets themselves belong to Python (bound there, or inherited); what the
//! socket *is* (TCP or Unix) is read from its address family.

use std::convert::Infallible;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::service::Service;
use crate::http::connection::{ConnectionInfo, Endpoint};

/// Back-off after a failed `accept()` (out of descriptors, say), so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long a connection may take to send one more request once the server is stopping.
const LAST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// A listening socket handed over by Python: TCP (IPv4 or IPv6) or Unix.
pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Listener {
    /// Takes ownership of a listening socket, telling TCP from Unix by its address family.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        let tcp = std::net::TcpListener::from(fd);
        if tcp.local_addr().is_ok() {
            return Ok(Self::Tcp(tcp));
        }
        let unix = std::os::unix::net::UnixListener::from(OwnedFd::from(tcp));
        match unix.local_addr() {
            Ok(_) => Ok(Self::Unix(unix)),
            Err(_) => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a TCP or Unix stream socket")),
        }
    }

    /// Registers the socket with the current tokio runtime.
    fn into_tokio(self) -> io::Result<TokioListener> {
        Ok(match self {
            Self::Tcp(listener) => {
                listener.set_nonblocking(true)?;
                TokioListener::Tcp(TcpListener::from_std(listener)?)
            }
            Self::Unix(listener) => {
                listener.set_nonblocking(true)?;
                TokioListener::Unix(UnixListener::from_std(listener)?)
            }
        })
    }
}

enum TokioListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl TokioListener {
    fn local(&self) -> io::Result<Endpoint> {
        match self {
            Self::Tcp(listener) => listener.local_addr().map(Endpoint::Inet),
            Self::Unix(listener) => listener.local_addr().map(|address| Endpoint::from_unix(&address.into())),
        }
    }
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

/// What every accept loop shares.
struct Shared {
    service: Arc<Service>,
    builder: http1::Builder,
    budget: Option<Arc<RequestBudget>>,
}

/// Serves until the stop flag flips, then drains for up to `graceful_timeout`; returns
/// when draining began, so the caller can spend only what is left of the timeout.
pub async fn serve(
    listeners: Vec<Listener>,
    service: Arc<Service>,
    stop: watch::Receiver<bool>,
    graceful_timeout: Duration,
    budget: Option<Arc<RequestBudget>>,
) -> io::Result<Instant> {
    let mut builder = http1::Builder::new();
    // No `pipeline_flush`: with it, hyper 1.12 drops the automatic 400 it writes for a
    // malformed request line instead of flushing it before closing.
    builder.timer(TokioTimer::new()).keep_alive(true);
    let shared = Arc::new(Shared { service, builder, budget });
    let (drained, connection_token) = watch::channel(());
    let mut accepting = JoinSet::new();
    for listener in listeners {
        let listener = listener.into_tokio()?;
        accepting.spawn(accept_loop(listener, shared.clone(), stop.clone(), connection_token.clone()));
    }
    drop(connection_token);
    while accepting.join_next().await.is_some() {}
    let draining = Instant::now();
    // Past the timeout, whatever is left is dropped with the runtime.
    let _ = tokio::time::timeout(graceful_timeout, drained.closed()).await;
    Ok(draining)
}

async fn accept_loop(
    listener: TokioListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    connection_token: watch::Receiver<()>,
) {
    let Ok(local) = listener.local() else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = accept(&listener) => accepted,
        };
        let Ok((stream, remote)) = accepted else {
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            continue;
        };
        let connection = Arc::new(ConnectionInfo { local: local.clone(), remote, scheme: "http" });
        match stream {
            Stream::Tcp(stream) => {
                // Latency matters more than packet count for request/response traffic.
                let _ = stream.set_nodelay(true);
                spawn_connection(TokioIo::new(stream), connection, &shared, &stop, &connection_token);
            }
            Stream::Unix(stream) => {
                spawn_connection(TokioIo::new(stream), connection, &shared, &stop, &connection_token);
            }
        }
    }
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &TokioListener) -> io::Result<(Stream, Endpoint)> {
    match listener {
        TokioListener::Tcp(listener) => {
            let (stream, remote) = listener.accept().await?;
            Ok((Stream::Tcp(stream), Endpoint::Inet(remote)))
        }
        TokioListener::Unix(listener) => {
            let (stream, remote) = listener.accept().await?;
            Ok((Stream::Unix(stream), Endpoint::from_unix(&remote.into())))
        }
    }
}

fn spawn_connection<I>(
    io: I,
    connection: Arc<ConnectionInfo>,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
    connection_token: &watch::Receiver<()>,
) where
    I: Read + Write + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let handler = {
        let shared = shared.clone();
        let activity = activity.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            let connection = connection.clone();
            activity.request();
            if let Some(budget) = &shared.budget {
                budget.count();
            }
            async move { Ok::<_, Infallible>(shared.service.handle(request, connection).await) }
        })
    };
    let served = shared.builder.serve_connection(io, handler).with_upgrades();
    let mut stop = stop.clone();
    let token = connection_token.clone();
    tokio::spawn(async move {
        tokio::pin!(served);
        // Connection errors (resets, malformed input already answered) end only that connection.
        tokio::select! {
            _ = served.as_mut() => {}
            _ = stopped(&mut stop) => {
                let finished = tokio::select! {
                    _ = served.as_mut() => true,
                    () = activity.next_request() => false,
                    () = tokio::time::sleep(LAST_REQUEST_GRACE) => false,
                };
                if !finished {
                    served.as_mut().graceful_shutdown();
                    let _ = served.await;
                }
            }
        }
        drop(token);
    });
}

/// A connection's requests, counted so that a stopping server can wait for the next one.
/// Per request: one add and one load, both on this connection's own counters.
#[derive(Default)]
struct Activity {
    requests: AtomicU64,
    draining: AtomicBool,
    notify: Notify,
}

impl Activity {
    fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.draining.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// Resolves when a request arrives after this was first called.
    async fn next_request(&self) {
        // Sequentially consistent with `request()`: either it sees `draining` and notifies,
        // or this load sees its request (which then counts as arrived before the stop).
        self.draining.store(true, Ordering::SeqCst);
        let seen = self.requests.load(Ordering::SeqCst);
        loop {
            let notified = self.notify.notified();
            if self.requests.load(Ordering::SeqCst) > seen {
                return;
            }
            // A stale permit only makes us look again.
            notified.await;
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it before anything else awaits.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
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

    #[tokio::test]
    async fn next_request_waits_for_a_request_after_the_stop() {
        let activity = Activity::default();
        activity.request();
        let early = tokio::time::timeout(Duration::from_millis(50), activity.next_request()).await;
        assert!(early.is_err(), "a request before the stop must not count");
        let waiting = activity.next_request();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        activity.request();
        let later = tokio::time::timeout(Duration::from_secs(1), waiting).await;
        assert!(later.is_ok(), "a request after the stop must end the wait");
    }

    #[test]
    fn listeners_are_told_apart_by_address_family() -> io::Result<()> {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        assert!(matches!(Listener::from_fd(OwnedFd::from(tcp))?, Listener::Tcp(_)));

        let directory = std::env::temp_dir().join(format!("amphicorn-listen-{}", std::process::id()));
        std::fs::create_dir_all(&directory)?;
        let path = directory.join("test.sock");
        let _ = std::fs::remove_file(&path);
        let unix = std::os::unix::net::UnixListener::bind(&path)?;
        let kind = Listener::from_fd(OwnedFd::from(unix));
        std::fs::remove_dir_all(&directory)?;
        assert!(matches!(kind?, Listener::Unix(_)));

        let file = std::fs::File::open("/dev/null")?;
        assert!(Listener::from_fd(OwnedFd::from(file)).is_err());
        Ok(())
    }

    #[test]
    fn an_unnamed_unix_peer_has_an_empty_path_and_no_port() -> io::Result<()> {
        let (left, _right) = std::os::unix::net::UnixStream::pair()?;
        let endpoint = Endpoint::from_unix(&left.peer_addr()?);
        assert_eq!(endpoint, Endpoint::Unix(String::new()));
        assert_eq!(endpoint.host(), "");
        assert_eq!(endpoint.port(), None);
        Ok(())
    }
}
