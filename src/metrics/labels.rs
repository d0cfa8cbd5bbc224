//! The labels every request series carries, and the bounded sets their values come from:
//! OpenTelemetry's known methods (others are `_OTHER`), the status codes a mount's table has
//! a slot for, and the status classes (`2xx`) that `/status` and the canary's counter use
//! (with the JSON object `/status` counts them in).

use std::sync::Arc;

use http::Method;
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use serde_json::{json, Map, Value};

/// The status a request is recorded with when its client left before the response head
/// (nginx's 499, as in the access log).
pub(super) const CLIENT_CLOSED_REQUEST: u16 = 499;

/// OpenTelemetry's known HTTP methods; any other is `_OTHER`.
pub(super) const METHODS: [&str; 10] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"];

/// The status codes a mount's table holds a slot for: 100 to 599 (others, which `http`
/// allows up to 999, are looked up in the family).
pub(super) const STATUSES: std::ops::Range<u16> = 100..600;

/// The status classes, by the first digit of the status.
pub(super) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index in `CLASSES` of a status's class (None past 599, which no client should see).
pub(super) fn class_index(status: u16) -> Option<usize> {
    let index = usize::from(status / 100).checked_sub(1)?;
    (index < CLASSES.len()).then_some(index)
}

/// Requests by status class, as `/status` shows them: `{"total", "1xx", .., "5xx"}`.
pub(super) fn by_class(classes: [u64; CLASSES.len()]) -> Value {
    let mut requests = Map::new();
    requests.insert("total".to_owned(), json!(classes.iter().sum::<u64>()));
    for (class, count) in CLASSES.iter().zip(classes) {
        requests.insert((*class).to_owned(), json!(count));
    }
    Value::Object(requests)
}

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

    #[test]
    fn statuses_fall_in_their_class() {
        let classes: Vec<_> = [100, 204, 399, 499, 503, 599, 600, 99].map(class_index).to_vec();
        assert_eq!(classes, [Some(0), Some(1), Some(2), Some(3), Some(4), Some(4), None, None]);
    }
}
