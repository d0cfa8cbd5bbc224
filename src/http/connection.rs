//! The ends of a connection, and whether the client is still there.
//!
//! `Endpoint` is one end (an IP address and port, or a Unix socket); the pair, with the
//! Python objects made from it, is `crate::connection_info::ConnectionInfo`.
//! `RequestState` is per request and is how the socket side tells the app side that the
//! client went away (see `PendingResponse` and `ResponseBody`'s `Drop`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;

use http::StatusCode;
use tokio::sync::Notify;

/// One end of a connection: an IP address and port, or a Unix socket.
///
/// A Unix socket has a path and no port; the client's end is usually unnamed (an empty
/// path). Gateways follow their ecosystem: WSGI's `REMOTE_ADDR` is the client's path, as
/// gunicorn sets it (so usually `""`), with no `REMOTE_PORT`; ASGI's `client` is `None` and
/// `server` is `[path, None]`, as the ASGI spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Inet(SocketAddr),
    Unix(String),
}

impl Endpoint {
    /// The address without the port: an IP address, or a socket path.
    pub fn host(&self) -> String {
        match self {
            Self::Inet(address) => address.ip().to_string(),
            Self::Unix(path) => path.clone(),
        }
    }

    /// The IP address, for IP connections.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Self::Inet(address) => Some(address.ip()),
            Self::Unix(_) => None,
        }
    }

    /// The port, for IP connections.
    pub fn port(&self) -> Option<u16> {
        match self {
            Self::Inet(address) => Some(address.port()),
            Self::Unix(_) => None,
        }
    }

    pub fn from_unix(address: &std::os::unix::net::SocketAddr) -> Self {
        Self::Unix(address.as_pathname().map(|path| path.to_string_lossy().into_owned()).unwrap_or_default())
    }
}

/// Per-request flags shared between the tokio side and the app side.
///
/// "Closed" means the exchange is over for the app: the client went away, or the whole
/// response was handed to hyper. ASGI's `http.disconnect` waits for it.
#[derive(Debug, Default)]
pub struct RequestState {
    disconnected: AtomicBool,
    response_complete: AtomicBool,
    aborted: AtomicBool,
    /// The status a failed body earns (`status::body_error_status`), or 0.
    body_failure: AtomicU16,
    body_complete: AtomicBool,
    closed: Notify,
}

impl RequestState {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn mark_disconnected(&self) {
        self.disconnected.store(true, Ordering::Release);
        self.closed.notify_waiters();
    }

    pub fn mark_response_complete(&self) {
        self.response_complete.store(true, Ordering::Release);
        self.closed.notify_waiters();
    }

    /// The app failed mid-body: the response must end with an error, not normally.
    pub fn mark_aborted(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    /// The body failed while the app was reading it (over the mount's limit, stalled, or
    /// malformed): if the app then fails, `status` is the answer (`413`, `408` or `400`).
    pub fn mark_body_failed(&self, status: StatusCode) {
        self.body_failure.store(status.as_u16(), Ordering::Release);
    }

    /// The status for an app that failed after its body did.
    pub fn body_failure_status(&self) -> Option<StatusCode> {
        StatusCode::from_u16(self.body_failure.load(Ordering::Acquire)).ok()
    }

    /// hyper has the whole request body (set before the app can see its last byte).
    pub fn mark_body_complete(&self) {
        self.body_complete.store(true, Ordering::Release);
    }

    /// False while part of the request body is still on the wire: the connection cannot
    /// carry another request unless that part is read, so a response sent now says
    /// `Connection: close` (see `server::service`).
    pub fn is_body_complete(&self) -> bool {
        self.body_complete.load(Ordering::Acquire)
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    pub fn is_closed(&self) -> bool {
        self.is_disconnected() || self.response_complete.load(Ordering::Acquire)
    }

    /// Resolves once the client has gone or the response is complete.
    pub async fn closed(&self) {
        self.wait_for(Self::is_closed).await;
    }

    /// Resolves once the client has gone (or, for a WebSocket failed by a protocol error,
    /// the app has been told).
    pub async fn disconnected(&self) {
        self.wait_for(Self::is_disconnected).await;
    }

    /// Resolves once the whole response has been handed to hyper.
    pub async fn response_completed(&self) {
        self.wait_for(|state| state.response_complete.load(Ordering::Acquire)).await;
    }

    async fn wait_for(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a notification between the two is not lost.
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            notified.await;
        }
    }

    pub fn is_disconnected(&self) -> bool {
        self.disconnected.load(Ordering::Acquire)
    }
}

/// Held by the service future while the app prepares a response. hyper drops that future
/// when the client closes the connection before the response head was sent; the drop is how
/// we learn of it.
pub struct PendingResponse {
    state: Arc<RequestState>,
    armed: bool,
}

impl PendingResponse {
    pub fn new(state: Arc<RequestState>) -> Self {
        Self { state, armed: true }
    }

    /// The response head is ready: from here on the response body watches the client.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for PendingResponse {
    fn drop(&mut self) {
        if self.armed {
            self.state.mark_disconnected();
        }
    }
}
