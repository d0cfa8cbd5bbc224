//! The HTTP side of a WebSocket opening handshake: recognising the request, and the header
//! values of the answer.
//!
//! Over HTTP/1.1 (RFC 6455 §4.2) the client sends a `GET` with `Upgrade: websocket` and a
//! key, and an accepting server answers `101` with the key's digest. Over HTTP/2 (RFC 8441)
//! the client sends an extended `CONNECT` with `:protocol websocket` on one stream, without a
//! key, and an accepting server answers `200`; the stream then carries the frames. A client
//! may do so only once the server's SETTINGS said `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`
//! (`server/protocol.rs` sends it). Both name the version (13) and offer subprotocols alike.
//!
//! `StreamOpen` and `OpenUntil` tie an open WebSocket, of either version, to its connection:
//! the connection holds the one (`server/listen.rs`: the drain counts the WebSocket, and a
//! stop asks it to close), the WebSocket's task the other.
//!
//! Frames, masking and close codes are tungstenite's; what the app sees is the ASGI
//! bridge's (`asgi/websocket/`).

use h2::ext::Protocol;
use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, Method, Request, Version};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

/// True for a request that asks to become a WebSocket: `GET`, HTTP/1.1, `Connection`
/// listing `upgrade` and `Upgrade: websocket` (both case-insensitive).
pub fn is_upgrade_request(method: &Method, version: Version, headers: &HeaderMap) -> bool {
    method == Method::GET
        && version == Version::HTTP_11
        && headers.get_all(CONNECTION).iter().any(|value| has_token(value.as_bytes(), b"upgrade"))
        && headers.get_all(UPGRADE).iter().any(|value| has_token(value.as_bytes(), b"websocket"))
}

/// True for an HTTP/2 request that asks for a WebSocket on its stream (RFC 8441 §4): an
/// extended `CONNECT` whose `:protocol` is `websocket` (h2 hands `:protocol` over as the
/// `Protocol` extension, only when the connection enabled the extended CONNECT).
pub fn is_extended_connect<B>(request: &Request<B>) -> bool {
    request.method() == Method::CONNECT
        && request.version() == Version::HTTP_2
        && request
            .extensions()
            .get::<Protocol>()
            .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"))
}

/// True for a request that opens a WebSocket by either route: an HTTP/1.1 upgrade or an
/// HTTP/2 extended `CONNECT`.
pub fn is_websocket_request<B>(request: &Request<B>) -> bool {
    is_upgrade_request(request.method(), request.version(), request.headers()) || is_extended_connect(request)
}

/// Whether the request names WebSocket version 13, the only one there is.
pub fn is_version_13(headers: &HeaderMap) -> bool {
    headers.get(SEC_WEBSOCKET_VERSION).is_some_and(|version| version.as_bytes().trim_ascii() == b"13")
}

/// The `Sec-WebSocket-Accept` value for a valid HTTP/1.1 handshake, or None when the request
/// lacks a key or asks for a protocol version other than 13.
pub fn accept_key(headers: &HeaderMap) -> Option<String> {
    if !is_version_13(headers) {
        return None;
    }
    let key = headers.get(SEC_WEBSOCKET_KEY)?;
    Some(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes().trim_ascii()))
}

/// The subprotocols the client offers, in its order: `chat, superchat` → [chat, superchat].
pub fn offered_subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|protocol| !protocol.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Put on the answer that opens a WebSocket (`101` over HTTP/1.1, `200` over HTTP/2), for
/// the connection: `closed` resolves when the WebSocket has ended, so that the connection
/// (and a stopping server's drain) counts it as open until then; `go_away` asks the
/// WebSocket to close (`1001`), as a stopping server does.
#[derive(Debug, Clone)]
pub struct StreamOpen {
    ended: watch::Receiver<()>,
    going_away: Arc<Notify>,
}

/// The WebSocket's end of a `StreamOpen`: the WebSocket is open while this lives.
pub struct OpenUntil {
    _ended: watch::Sender<()>,
    going_away: Arc<Notify>,
}

impl StreamOpen {
    pub fn pair() -> (Self, OpenUntil) {
        let (ended_sender, ended) = watch::channel(());
        let going_away = Arc::new(Notify::new());
        (Self { ended, going_away: going_away.clone() }, OpenUntil { _ended: ended_sender, going_away })
    }

    /// Resolves once the `OpenUntil` is dropped.
    pub async fn closed(mut self) {
        // Nothing is ever sent: `changed` fails only when the sender is gone.
        while self.ended.changed().await.is_ok() {}
    }

    /// Asks the WebSocket to close: the server is going away.
    pub fn go_away(&self) {
        // Kept as a permit if the WebSocket is not waiting for it at this moment.
        self.going_away.notify_one();
    }
}

impl OpenUntil {
    /// Resolves once the connection asked the WebSocket to close (`StreamOpen::go_away`).
    pub async fn going_away(&self) {
        self.going_away.notified().await;
    }
}

/// Whether a comma-separated header value holds `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&byte| byte == b',').any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn upgrade_requests() {
        let upgrade = headers(&[("connection", "keep-alive, Upgrade"), ("upgrade", "WebSocket")]);
        assert!(is_upgrade_request(&Method::GET, Version::HTTP_11, &upgrade));
        assert!(!is_upgrade_request(&Method::POST, Version::HTTP_11, &upgrade));
        assert!(!is_upgrade_request(&Method::GET, Version::HTTP_10, &upgrade));
        assert!(!is_upgrade_request(&Method::GET, Version::HTTP_11, &headers(&[("upgrade", "websocket")])));
        let other = headers(&[("connection", "upgrade"), ("upgrade", "h2c")]);
        assert!(!is_upgrade_request(&Method::GET, Version::HTTP_11, &other));
    }

    #[test]
    fn accept_key_from_rfc_6455_example() {
        let request = headers(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), ("sec-websocket-version", "13")]);
        assert_eq!(accept_key(&request).as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        let old = headers(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), ("sec-websocket-version", "8")]);
        assert_eq!(accept_key(&old), None);
        assert_eq!(accept_key(&headers(&[("sec-websocket-version", "13")])), None);
    }

    #[test]
    fn extended_connect_needs_http2_connect_and_the_websocket_protocol() {
        let request = |method: Method, version: Version, protocol: Option<&'static str>| {
            let mut request = Request::builder().method(method).version(version).body(()).unwrap_or_default();
            if let Some(protocol) = protocol {
                request.extensions_mut().insert(Protocol::from_static(protocol));
            }
            request
        };
        assert!(is_extended_connect(&request(Method::CONNECT, Version::HTTP_2, Some("websocket"))));
        assert!(is_extended_connect(&request(Method::CONNECT, Version::HTTP_2, Some("WebSocket"))));
        assert!(is_websocket_request(&request(Method::CONNECT, Version::HTTP_2, Some("websocket"))));
        // A plain CONNECT (a tunnel), another protocol, another method: not a WebSocket.
        assert!(!is_extended_connect(&request(Method::CONNECT, Version::HTTP_2, None)));
        assert!(!is_extended_connect(&request(Method::CONNECT, Version::HTTP_2, Some("connect-udp"))));
        assert!(!is_extended_connect(&request(Method::GET, Version::HTTP_2, Some("websocket"))));
        assert!(!is_websocket_request(&request(Method::CONNECT, Version::HTTP_11, Some("websocket"))));
    }

    #[test]
    fn subprotocols_in_order() {
        let request = headers(&[("sec-websocket-protocol", "chat, superchat"), ("sec-websocket-protocol", "v2")]);
        assert_eq!(offered_subprotocols(&request), ["chat", "superchat", "v2"]);
        assert!(offered_subprotocols(&HeaderMap::new()).is_empty());
    }
}
