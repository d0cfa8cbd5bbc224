//! HTTP pieces every interface shares: the request body as apps receive it, the response
//! body hyper sends, the per-request connection state, request framing checks, plain-status
//! responses and the text helpers (latin-1, `Host` splitting) that gateway specs need.
//!
//! Nothing here knows about Python: the WSGI and ASGI bridges build on these types.

pub mod connection;
pub mod frames;
pub mod framing;
pub mod request_body;
pub mod responder;
pub mod response_body;
pub mod status;
pub mod text;
pub mod websocket;
