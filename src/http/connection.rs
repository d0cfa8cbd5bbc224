//! What a request knows about the connection it arrived on, and whether the client is
//! still there.
//!
//! `ConnectionInfo` is built once per accepted socket and shared by every request on it;
//! `RequestState` is per request and is how the socket side tells the app side that the
//! client went away (see `PendingResponse` and `ResponseBody`'s `Drop`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The two ends of an accepted connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
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
    body_too_large: AtomicBool,
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

    /// The body grew past the mount's limit while the app was reading it.
    pub fn mark_body_too_large(&self) {
        self.body_too_large.store(true, Ordering::Release);
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

    pub fn is_body_too_large(&self) -> bool {
        self.body_too_large.load(Ordering::Acquire)
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
