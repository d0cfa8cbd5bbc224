//! What tokio hands the loop thread to start one ASGI exchange: the request head, its body
//! (or, for a WebSocket, the loop-side ends of the session), and where the response goes.
//!
//! Built by `AsgiApp::dispatch` (`mod.rs`) and `websocket::handle`, carried by the bridge
//! (`bridge.rs`), taken apart by `call.rs`.

use std::sync::Arc;

use http::Response;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use super::messages::Incoming;
use crate::connection_info::ConnectionInfo;
use crate::http::connection::RequestState;
use crate::http::request_body::RequestBody;
use crate::http::response_body::ResponseBody;
use crate::http::Head;

/// Everything the loop thread needs to run one request.
pub struct AsgiJob {
    pub head: Head,
    pub exchange: Exchange,
    pub connection: Arc<ConnectionInfo>,
    pub state: Arc<RequestState>,
    pub respond: oneshot::Sender<Response<ResponseBody>>,
    pub root_path: Arc<str>,
}

/// What kind of scope a job opens.
pub enum Exchange {
    Http(RequestBody),
    WebSocket(Session),
}

/// The loop-side ends of one WebSocket exchange.
pub struct Session {
    /// The `Sec-WebSocket-Accept` of an HTTP/1.1 handshake (answered `101`); None over
    /// HTTP/2, where there is no key and an accept is a `200` (RFC 8441).
    pub accept_key: Option<String>,
    pub subprotocols: Vec<String>,
    pub incoming: async_channel::Receiver<Incoming>,
    pub outgoing: async_channel::Sender<Message>,
}
