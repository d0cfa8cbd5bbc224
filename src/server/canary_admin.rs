//! The canary's part of the admin listener (`admin.rs` routes `/canary` here):
//!
//! - `GET /canary`: every mount's canary state, as a JSON list;
//! - `GET /canary/<mount>`: one mount's (`<mount>` is its name or its address, `api` or
//!   `/api`): its weight, whether it was rolled back and why, its window's counts;
//! - `PUT /canary/<mount>` with `{"weight": 25}` or just `25`: sets the weight (percent, 0 to
//!   100) at once, clears a rollback, and answers 200 with the new state. A mount without a
//!   canary is `404`, a weight that is not a number from 0 to 100 `400`.
//!
//! The state itself, and what a weight means, are `canary.rs`'s. The weight is the serving
//! process's: with workers, each has its own, on its private admin socket, and the
//! supervisor's admin listener answers `/canary` for all of them (`canary_workers.rs`).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Value};

use super::admin_responses::json;
use super::canary::CanaryState;

/// The most a `PUT` body may hold.
const MAX_BODY: usize = 4096;

/// Whether `path` is one `answer` serves.
pub fn serves(path: &str) -> bool {
    path == "/canary" || path.starts_with("/canary/")
}

/// The answer to a request for `/canary` or `/canary/...`.
pub async fn answer<B>(canaries: &[Arc<CanaryState>], request: Request<B>) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = request.uri().path().to_owned();
    let reference = path.strip_prefix("/canary/");
    let method = request.method().clone();
    let Some(reference) = reference else {
        if method != Method::GET && method != Method::HEAD {
            return not_allowed("GET, HEAD");
        }
        return json(StatusCode::OK, &Value::Array(canaries.iter().map(|state| state.describe()).collect()));
    };
    let Some(state) = canaries.iter().find(|state| state.answers_to(reference)) else {
        return json(StatusCode::NOT_FOUND, &json!({"error": format!("no mount {reference:?} has a canary")}));
    };
    match method {
        Method::GET | Method::HEAD => json(StatusCode::OK, &state.describe()),
        Method::PUT => {
            let body = match put_body(request.into_body()).await {
                Ok(body) => body,
                Err(refused) => return refused,
            };
            let Some(weight) = weight(&body) else {
                return bad_request("expected a weight from 0 to 100: {\"weight\": 25} or 25");
            };
            match state.set_weight(weight) {
                Ok(()) => json(StatusCode::OK, &state.describe()),
                Err(why) => bad_request(&why),
            }
        }
        _ => not_allowed("GET, HEAD, PUT"),
    }
}

/// A `PUT` body, whole; the `400` to answer when it cannot be read or passes `MAX_BODY`.
pub(super) async fn put_body<B>(body: B) -> Result<Bytes, Response<Full<Bytes>>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(bad_request("the body could not be read (at most 4096 bytes)")),
    }
}

/// The weight a `PUT` body gives: `{"weight": 25}` or a bare number.
fn weight(body: &[u8]) -> Option<f64> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let number = match &value {
        Value::Object(fields) => fields.get("weight")?.as_f64()?,
        other => other.as_f64()?,
    };
    (0.0..=100.0).contains(&number).then_some(number)
}

fn bad_request(why: &str) -> Response<Full<Bytes>> {
    json(StatusCode::BAD_REQUEST, &json!({ "error": why }))
}

pub(super) fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = json(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method not allowed"}));
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_from_json_or_a_bare_number() {
        assert_eq!(weight(br#"{"weight": 25}"#), Some(25.0));
        assert_eq!(weight(b"12.5\n"), Some(12.5));
        assert_eq!(weight(b"0"), Some(0.0));
        for bad in [&b"101"[..], b"-1", b"{\"weight\": \"x\"}", b"{}", b"nope", b""] {
            assert_eq!(weight(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
