//! ASGI 3 (`http` scopes): the async half that hands a request to the asyncio loop and
//! brings the response back.
//!
//! The flow for one request:
//! 1. `AsgiApp::handle` (tokio) pre-reads a small body, pushes a `Start` event to the
//!    loop through the bridge (`bridge.rs`), and awaits the response head.
//! 2. On the loop thread, `call.rs` builds the scope (`scope.rs`), the `receive`
//!    (`receive.rs`) and `send` (`send.rs`) callables, and runs the app as a task.
//!    `receive()`/`send()` answer at once with `Ready` (`awaitable.rs`) when they can.
//!
//! Lifespan, loop choice and the loop thread itself are Python's (`amphicorn/asgi.py`).

pub mod awaitable;
pub mod bridge;
pub mod call;
pub mod messages;
pub mod receive;
pub mod scope;
pub mod send;
pub mod websocket;

use std::sync::Arc;

use http::{request, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use crate::http::connection::{ConnectionInfo, PendingResponse, RequestState};
use crate::http::request_body::{read_body, RequestBody};
use crate::http::response_body::ResponseBody;
use crate::http::status;
use crate::http::websocket::is_upgrade_request;
use bridge::{Bridge, LoopEvent};

/// Per-mount ASGI settings.
#[derive(Debug, Clone)]
pub struct AsgiSettings {
    /// Bodies up to this size are read before the app is called.
    pub preread_limit: usize,
    /// `root_path` for this mount (empty at the root).
    pub root_path: String,
    /// WebSocket support; None sends upgrade requests to the app as plain HTTP.
    pub websocket: Option<websocket::WebSocketSettings>,
}

/// Everything the loop thread needs to run one request.
pub struct AsgiJob {
    pub head: request::Parts,
    pub exchange: Exchange,
    pub connection: Arc<ConnectionInfo>,
    pub state: Arc<RequestState>,
    pub respond: oneshot::Sender<Response<ResponseBody>>,
    pub root_path: Arc<str>,
}

/// What kind of scope a job opens.
pub enum Exchange {
    Http(RequestBody),
    WebSocket(websocket::Session),
}

/// A mounted ASGI app: the bridge to its loop, and its settings.
pub struct AsgiApp {
    bridge: Arc<Bridge>,
    preread_limit: usize,
    root_path: Arc<str>,
    websocket: Option<websocket::WebSocketSettings>,
}

impl AsgiApp {
    pub fn new(bridge: Arc<Bridge>, settings: AsgiSettings) -> Self {
        Self {
            bridge,
            preread_limit: settings.preread_limit,
            root_path: Arc::from(settings.root_path.as_str()),
            websocket: settings.websocket,
        }
    }

    pub async fn handle(&self, request: Request<Incoming>, connection: Arc<ConnectionInfo>) -> Response<ResponseBody> {
        if let Some(settings) = &self.websocket {
            if is_upgrade_request(request.method(), request.version(), request.headers()) {
                let root_path = self.root_path.clone();
                return websocket::handle(&self.bridge, settings, request, connection, root_path).await;
            }
        }
        let (head, body) = request.into_parts();
        let state = RequestState::new();
        let pending = PendingResponse::new(state.clone());
        let body = match read_body(body, &head.headers, self.preread_limit, &state).await {
            Ok(body) => body,
            Err(error) => return status::body_error(&error),
        };
        let (respond, response) = oneshot::channel();
        let exchange = Exchange::Http(body);
        let job = AsgiJob { head, exchange, connection, state, respond, root_path: self.root_path.clone() };
        self.bridge.push(LoopEvent::Start(Box::new(job)));
        let response = response.await;
        pending.disarm();
        // The loop always answers; a dropped sender means the loop is gone.
        response.unwrap_or_else(|_| status::plain(StatusCode::SERVICE_UNAVAILABLE))
    }
}
