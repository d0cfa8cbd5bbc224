//! ASGI 3 (`http` scopes): the async half that hands a request to the asyncio loop and
//! brings the response back.
//!
//! The flow for one request:
//! 1. `AsgiApp::dispatch` (tokio; the service has pre-read a small body) pushes a `Start` event with an
//!    `AsgiJob` (`job.rs`) to the loop through the bridge (`bridge.rs`), and awaits the response head.
//! 2. On the loop thread, `call.rs` builds the scope (`scope.rs`), the `receive`
//!    (`receive.rs`) and `send` (`send.rs`) callables, and runs the app as a task.
//!    `receive()`/`send()` answer at once with `Ready` (`awaitable.rs`) when they can.
//!
//! Lifespan, loop choice and the loop thread itself are Python's (`amphicorn/asgi.py`).

pub mod awaitable;
pub mod bridge;
pub mod call;
pub mod file_body;
pub mod job;
pub mod messages;
pub mod receive;
pub mod scope;
pub mod send;
pub mod websocket;

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use tokio::sync::oneshot;

use crate::connection_info::ConnectionInfo;
use crate::http::connection::RequestState;
use crate::http::request_body::RequestBody;
use crate::http::response_body::ResponseBody;
use crate::http::status;
use crate::http::websocket::is_websocket_request;
use crate::http::wire_body::WireBody;
use crate::http::Head;
use crate::metrics::WebSockets;
use bridge::{Bridge, LoopEvent};
use job::{AsgiJob, Exchange};

/// Per-mount ASGI settings.
#[derive(Debug, Clone)]
pub struct AsgiSettings {
    /// `root_path` for this mount (empty at the root).
    pub root_path: String,
    /// WebSocket support; None sends upgrade requests to the app as plain HTTP.
    pub websocket: Option<websocket::WebSocketSettings>,
}

/// A mounted ASGI app: the bridge to its loop, and its settings.
pub struct AsgiApp {
    bridge: Arc<Bridge>,
    root_path: Arc<str>,
    websocket: Option<websocket::WebSocketSettings>,
}

impl AsgiApp {
    pub fn new(bridge: Arc<Bridge>, settings: AsgiSettings) -> Self {
        Self { bridge, root_path: Arc::from(settings.root_path.as_str()), websocket: settings.websocket }
    }

    /// The same app and bridge, with another `root_path` (a canary answering at its
    /// primary's prefix, `server/canary.rs`).
    pub fn at(&self, root_path: &str) -> Self {
        Self { bridge: self.bridge.clone(), root_path: Arc::from(root_path), websocket: self.websocket.clone() }
    }

    /// Whether this mount takes `request` as a WebSocket (rather than plain HTTP): an
    /// HTTP/1.1 upgrade or an HTTP/2 extended `CONNECT`, with WebSockets on (`--ws`).
    pub fn takes_websocket<B>(&self, request: &Request<B>) -> bool {
        self.websocket.is_some() && is_websocket_request(request)
    }

    /// Whether this mount serves WebSockets at all (`--ws` is not `none`).
    pub fn serves_websockets(&self) -> bool {
        self.websocket.is_some()
    }

    /// Serves a WebSocket request, over either HTTP version (see `takes_websocket`).
    pub async fn handle_websocket(
        &self,
        request: Request<WireBody>,
        connection: Arc<ConnectionInfo>,
        open: Option<WebSockets>,
    ) -> Response<ResponseBody> {
        let Some(settings) = &self.websocket else {
            return status::plain(StatusCode::BAD_REQUEST);
        };
        websocket::handle(&self.bridge, settings, (request, connection), self.root_path.clone(), open).await
    }

    /// Runs one request whose body the service has prepared; `state` is the request's.
    pub async fn dispatch(
        &self,
        head: Head,
        body: RequestBody,
        connection: Arc<ConnectionInfo>,
        state: Arc<RequestState>,
    ) -> Response<ResponseBody> {
        let (respond, response) = oneshot::channel();
        let exchange = Exchange::Http(body);
        let job = AsgiJob { head, exchange, connection, state, respond, root_path: self.root_path.clone() };
        self.bridge.push(LoopEvent::Start(Box::new(job)));
        // The loop always answers; a dropped sender means the loop is gone.
        response.await.unwrap_or_else(|_| status::plain(StatusCode::SERVICE_UNAVAILABLE))
    }
}
