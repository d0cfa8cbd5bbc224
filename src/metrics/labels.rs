//! The labels every request series carries, and the bounded sets their values come from:
//! OpenTelemetry's known methods (others are `_OTHER`) and the status codes a mount's
//! table has a slot for.

use std::sync::Arc;

use http::Method;
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};

/// The status a request is recorded with when its client left before the response head
/// (nginx's 499, as in the access log).
pub(super) const CLIENT_CLOSED_REQUEST: u16 = 499;

/// OpenTelemetry's known HTTP methods; any other is `_OTHER`.
pub(super) const METHODS: [&str; 10] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"];

/// The status codes a mount's table holds a slot for: 100 to 599 (others, which `http`
/// allows up to 999, are looked up in the family).
pub(super) const STATUSES: std::ops::Range<u16> = 100..600;

pub(super) fn method_index(method: &Method) -> usize {
    METHODS.iter().position(|known| *known == method.as_str()).unwrap_or(METHODS.len() - 1)
}

/// `mount`, `interface`, `http_request_method`, `http_response_status_code`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RequestLabels {
    pub(super) mount: Arc<str>,
    pub(super) interface: &'static str,
    pub(super) method: &'static str,
    pub(super) status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeLabel;
        ("mount", &*self.mount).encode(encoder.encode_label())?;
        ("interface", self.interface).encode(encoder.encode_label())?;
        ("http_request_method", self.method).encode(encoder.encode_label())?;
        ("http_response_status_code", u32::from(self.status)).encode(encoder.encode_label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(METHODS[method_index(&Method::GET)], "GET");
        assert_eq!(METHODS[method_index(&Method::PATCH)], "PATCH");
        let custom = Method::from_bytes(b"PROPFIND").unwrap_or(Method::GET);
        assert_eq!(METHODS[method_index(&custom)], "_OTHER");
    }
}
