//! HTTP pieces every interface shares, none of them Python-aware (the WSGI and ASGI bridges
//! build on them; the Python objects a connection needs live in `crate::connection_info`):
//!
//! - `connection`: the ends of a connection, and the per-request state that tells the app
//!   side the client has gone;
//! - `request_body` and `frames`: the request body as apps receive it, pre-read or
//!   streamed, under the mount's body limits;
//! - `responder` and `response_body`: the response head and body handed to hyper;
//! - `framing`: the request framing checks hyper leaves to us (smuggling, `Host`);
//! - `early_hints`: an HTTP/1.1 connection's queue of `103 Early Hints` from its apps;
//! - `tee`: a response body copied as it passes, for shadow comparisons;
//! - `status`: the plain-text responses the server writes itself;
//! - `text`: latin-1 and `Host` splitting, as the gateway specs need them;
//! - `websocket`: the HTTP side of a WebSocket handshake.
//!
//! Routing, limits per mount and the connection loop are `server/`'s.

pub mod connection;
pub mod date;
pub mod early_hints;
pub mod frames;
pub mod framing;
pub mod request_body;
pub mod responder;
pub mod response_body;
pub mod status;
pub mod tee;
pub mod text;
pub mod upgrade;
pub mod websocket;
pub mod wire_body;

use http::request;

/// A request's head (method, target, version, headers, extensions), boxed once the service
/// splits it from the body: from there it is moved through each layer's future (`App`, the
/// interface's `dispatch`) into the job a Python thread takes, and a pointer moves for free
/// where 224 bytes were copied at each step, and held at each `await`.
pub type Head = Box<request::Parts>;
