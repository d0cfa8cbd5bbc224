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
pub mod receive;
pub mod scope;
pub mod send;

use std::sync::Arc;

use http::{request, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use crate::http::connection::{ConnectionInfo, PendingResponse, RequestState};
use crate::http::request_body::{read_body, RequestBody};
use crate::http::response_body::ResponseBody;
use crate::http::status;
use bridge::{Bridge, LoopEvent};

/// Per-mount ASGI settings.
#[derive(Debug, Clone)]
pub struct AsgiSettings {
    /// Bodies up to this size are read before the app is called.
    pub preread_limit: usize,
    /// `root_path` for this mount (empty at the root).
    pub root_path: String,
}

/// Everything the loop thread needs to run one request.
pub struct AsgiJob {
    pub head: request::Parts,
    pub body: RequestBody,
    pub connection: Arc<ConnectionInfo>,
    pub state: Arc<RequestState>,
    pub respond: oneshot::Sender<Response<ResponseBody>>,
    pub root_path: Arc<str>,
}

/// A mounted ASGI app: the bridge to its loop, and its settings.
pub struct AsgiApp {
    bridge: Arc<Bridge>,
    preread_limit: usize,
    root_path: Arc<str>,
}

impl AsgiApp {
    pub fn new(bridge: Arc<Bridge>, settings: AsgiSettings) -> Self {
        Self { bridge, preread_limit: settings.preread_limit, root_path: Arc::from(settings.root_path.as_str()) }
    }

    pub async fn handle(&self, request: Request<Incoming>, connection: Arc<ConnectionInfo>) -> Response<ResponseBody> {
        let (head, body) = request.into_parts();
        let state = RequestState::new();
        let pending = PendingResponse::new(state.clone());
        let body = match read_body(body, &head.headers, self.preread_limit, &state).await {
            Ok(body) => body,
            Err(error) => return status::body_error(&error),
        };
        let (respond, response) = oneshot::channel();
        let job = AsgiJob { head, body, connection, state, respond, root_path: self.root_path.clone() };
        self.bridge.push(LoopEvent::Start(Box::new(job)));
        let response = response.await;
        pending.disarm();
        // The loop always answers; a dropped sender means the loop is gone.
        response.unwrap_or_else(|_| status::plain(StatusCode::SERVICE_UNAVAILABLE))
    }
}
