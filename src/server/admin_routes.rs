//! What the admin listener answers, and the state it answers from (`AdminState`, shared
//! with the `Server`); `admin.rs` runs the listener (its Python class, thread, runtime and
//! accept loops) and hands each request here (`route`).
//!
//! - `GET /healthz`: `200 ok` while the process runs (from before the apps are imported).
//! - `GET /readyz`: `503` until the server serves (every mount's lifespan startup is done
//!   before the `Server` exists, and it is marked ready once its accept loops run), `200`
//!   while it serves, `503` again from the moment the stop flag flips (a stop signal, or
//!   the `max_requests` budget), so a balancer stops sending before the drain. With
//!   `--shutdown-delay`, the stop signal only `withdraw`s the server at first: `503` while
//!   it still serves as usual, for that long, before the stop flag flips.
//! - `GET /metrics`: the exposition of `metrics/`, in OpenMetrics when the `Accept` header
//!   asks for `application/openmetrics-text`, else in the Prometheus text format 0.0.4.
//! - `GET /status`: a JSON summary per mount, in the spirit of NGINX Unit's (`metrics/status.rs`).
//!
//! - `/canary` and `/canary/<mount>`: the weighted canaries' state, and `PUT` of a new
//!   weight (`canary_admin.rs`).
//!
//! Other paths are `404`, other methods `405`. HEAD is answered as GET, without the body.
//! The answers' shapes (plain text, JSON) are `admin_responses.rs`'s.
//!
//! With `--workers`, the supervisor's admin listener answers for its workers instead
//! (`admin_workers.rs`): `/metrics` is their sum, always in the Prometheus text format, and
//! `/status` adds theirs up; both keep what replaced workers counted. `/canary` sets and
//! shows the canaries of every worker (`canary_workers.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tokio::sync::watch;

use super::admin_responses::{json, text};
use super::admin_workers::Workers;
use super::canary::CanaryState;
use super::canary_admin;
use super::canary_workers::Canaries;
use crate::metrics::Metrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the admin listener reports on, shared with the `Server`.
#[derive(Debug, Default)]
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    /// The server's stop flag, set once it serves: ready while it is false.
    serving: OnceLock<watch::Receiver<bool>>,
    /// A supervisor's: the workers whose figures it sums (`admin_workers.rs`); it has no
    /// `Server` and no metrics of its own.
    pub(super) workers: Option<Workers>,
    /// A supervisor's: the canary weights it wants in its workers (`canary_workers.rs`).
    pub(super) worker_canaries: Canaries,
    /// Set by a stop signal during `--shutdown-delay`: not ready, though still serving.
    withdrawn: AtomicBool,
    /// The mounts' weighted canaries, set by the `Server`.
    canaries: OnceLock<Vec<Arc<CanaryState>>>,
}

impl AdminState {
    /// A serving process's state, or with `workers` a supervisor's.
    pub(super) fn new(workers: Option<Workers>) -> Self {
        Self { workers, ..Self::default() }
    }

    /// The server serves from now on, until `stop` flips.
    pub fn attach(&self, stop: watch::Receiver<bool>) {
        let _ = self.serving.set(stop);
    }

    /// Not ready from now on (a stop signal with `--shutdown-delay`), though still serving.
    pub fn withdraw(&self) {
        self.withdrawn.store(true, Ordering::Relaxed);
    }

    /// The server's weighted canaries (none before it exists, or without any).
    pub fn canaries(&self) -> &[Arc<CanaryState>] {
        self.canaries.get().map_or(&[], Vec::as_slice)
    }

    /// The server's canaries, for `/canary`; they record into these metrics from now on.
    pub fn attach_canaries(&self, canaries: Vec<Arc<CanaryState>>) {
        for state in &canaries {
            state.attach_metrics(self.metrics.canaries.canary(&state.point().to_string(), &state.canary().to_string()));
        }
        let _ = self.canaries.set(canaries);
    }

    /// This process's `GET /status`: the metrics' summary, with each weighted canary's state
    /// under its mount.
    pub(super) fn status(&self) -> serde_json::Value {
        let mut status = self.metrics.status();
        for canary in self.canaries() {
            if let Some(mount) = status["mounts"].get_mut(canary.point().to_string()) {
                mount["canary"] = canary.describe();
            }
        }
        status
    }

    fn readiness(&self) -> (StatusCode, &'static str) {
        if let Some(workers) = &self.workers {
            return workers.readiness();
        }
        match self.serving.get() {
            None => (StatusCode::SERVICE_UNAVAILABLE, "starting\n"),
            Some(stop) if *stop.borrow() || self.withdrawn.load(Ordering::Relaxed) => {
                (StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
            }
            Some(_) => (StatusCode::OK, "ready\n"),
        }
    }
}

/// The answer to one request on the admin listener: `/canary` is `canary_admin.rs`'s (a
/// supervisor's, `canary_workers.rs`'s), the rest `answer_any`'s.
pub(super) async fn route(state: &AdminState, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if canary_admin::serves(request.uri().path()) {
        return match &state.workers {
            Some(workers) => state.worker_canaries.answer(workers, request).await,
            None => canary_admin::answer(state.canaries(), request).await,
        };
    }
    answer_any(state, &request).await
}

/// The answer to one admin request, a supervisor's included.
async fn answer_any<B>(state: &AdminState, request: &Request<B>) -> Response<Full<Bytes>> {
    let Some(workers) = &state.workers else {
        return answer(state, request);
    };
    let reading = request.method() == Method::GET || request.method() == Method::HEAD;
    match request.uri().path() {
        "/healthz" if reading => {
            let (status, body) = workers.liveness();
            text(status, body)
        }
        "/metrics" if reading => {
            let own = state.metrics.encode(false).unwrap_or_default();
            let mut response = Response::new(Full::new(Bytes::from(workers.exposition(&own).await)));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
            response
        }
        "/status" if reading => {
            let own = state.metrics.status();
            let own = ["version", "uptime_seconds", "pid"].map(|field| (field.to_owned(), own[field].clone()));
            let (mut status, statuses) = workers.status(serde_json::Value::Object(own.into_iter().collect())).await;
            state.worker_canaries.describe_in_status(&statuses, &mut status["mounts"]);
            json(StatusCode::OK, &status)
        }
        _ => answer(state, request),
    }
}

/// The answer to one admin request.
fn answer<B>(state: &AdminState, request: &Request<B>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(path, "/healthz" | "/readyz" | "/metrics" | "/status") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let (status, body) = state.readiness();
            text(status, body)
        }
        "/status" => json(StatusCode::OK, &state.status()),
        _ => {
            let openmetrics = request
                .headers()
                .get_all(ACCEPT)
                .iter()
                .any(|value| value.to_str().is_ok_and(|value| value.contains("application/openmetrics-text")));
            match state.metrics.encode(openmetrics) {
                Ok(body) => {
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    let kind = if openmetrics { OPENMETRICS } else { PROMETHEUS_TEXT };
                    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(kind));
                    response
                }
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be encoded\n"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(state: &AdminState, method: Method, path: &str, accept: Option<&'static str>) -> Response<Full<Bytes>> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        answer(state, &request.body(()).unwrap_or_default())
    }

    #[test]
    fn readiness_follows_the_server() {
        let state = AdminState::default();
        assert_eq!(get(&state, Method::GET, "/readyz", None).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(&state, Method::GET, "/healthz", None).status(), StatusCode::OK);
        let (stop, stopping) = watch::channel(false);
        state.attach(stopping);
        assert_eq!(get(&state, Method::HEAD, "/readyz", None).status(), StatusCode::OK);
        stop.send_replace(true);
        assert_eq!(get(&state, Method::GET, "/readyz", None).status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_withdrawn_server_is_not_ready_while_it_serves() {
        let state = AdminState::default();
        let (_stop, stopping) = watch::channel(false);
        state.attach(stopping);
        assert_eq!(get(&state, Method::GET, "/readyz", None).status(), StatusCode::OK);
        state.withdraw();
        assert_eq!(get(&state, Method::GET, "/readyz", None).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(&state, Method::GET, "/healthz", None).status(), StatusCode::OK);
    }

    #[test]
    fn routes_methods_and_formats() {
        let state = AdminState::default();
        assert_eq!(get(&state, Method::GET, "/", None).status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&state, Method::GET, "/metrics/x", None).status(), StatusCode::NOT_FOUND);
        let post = get(&state, Method::POST, "/metrics", None);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers().get(ALLOW).map(HeaderValue::as_bytes), Some(&b"GET, HEAD"[..]));
        let plain = get(&state, Method::GET, "/metrics", Some("text/plain"));
        assert_eq!(plain.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes), Some(PROMETHEUS_TEXT.as_bytes()));
        let open = get(&state, Method::GET, "/metrics", Some("application/openmetrics-text;version=1.0.0,*/*;q=0.1"));
        assert_eq!(open.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes), Some(OPENMETRICS.as_bytes()));
        let status = get(&state, Method::GET, "/status", None);
        assert_eq!(status.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes), Some(&b"application/json"[..]));
    }
}
