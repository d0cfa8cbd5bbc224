//! The HTTP side of a WebSocket opening handshake (RFC 6455 §4.2): recognising an upgrade
//! request, and the header values of the `101` answer.
//!
//! Frames, masking and close codes are tungstenite's; what the app sees is the ASGI
//! bridge's (`asgi/websocket/`).

use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, Method, Version};

/// True for a request that asks to become a WebSocket: `GET`, HTTP/1.1, `Connection`
/// listing `upgrade` and `Upgrade: websocket` (both case-insensitive).
pub fn is_upgrade_request(method: &Method, version: Version, headers: &HeaderMap) -> bool {
    method == Method::GET
        && version == Version::HTTP_11
        && headers.get_all(CONNECTION).iter().any(|value| has_token(value.as_bytes(), b"upgrade"))
        && headers.get_all(UPGRADE).iter().any(|value| has_token(value.as_bytes(), b"websocket"))
}

/// The `Sec-WebSocket-Accept` value for a valid handshake, or None when the request lacks
/// a key or asks for a protocol version other than 13 (the only one there is).
pub fn accept_key(headers: &HeaderMap) -> Option<String> {
    let version = headers.get(SEC_WEBSOCKET_VERSION)?;
    if version.as_bytes().trim_ascii() != b"13" {
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
    fn subprotocols_in_order() {
        let request = headers(&[("sec-websocket-protocol", "chat, superchat"), ("sec-websocket-protocol", "v2")]);
        assert_eq!(offered_subprotocols(&request), ["chat", "superchat", "v2"]);
        assert!(offered_subprotocols(&HeaderMap::new()).is_empty());
    }
}
