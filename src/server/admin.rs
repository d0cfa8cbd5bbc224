//! The admin listener (`--admin-bind`): liveness, readiness, metrics and status, answered by Rust
//! apart from the mounts. Its requests never reach an app, are not counted in the metrics
//! and are not in the access log.
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
//! Python binds the sockets (as for the apps' listeners) and makes the `Admin` first thing,
//! before importing the apps, so probes get an answer during a slow start. That is before
//! the `Server` and its runtime exist, so the admin listener runs on a small runtime of its
//! own, on one thread: scrapes and probes then also answer while the I/O threads are busy.
//! The `Server` records into the `Admin`'s metrics and tells it when it serves (`attach`).
//!
//! With `--workers`, the supervisor's admin listener answers for its workers instead
//! (`admin_workers.rs`): `/metrics` is their sum, always in the Prometheus text format, and
//! `/status` adds theirs up; both keep what replaced workers counted. `/canary` sets and
//! shows the canaries of every worker (`canary_workers.rs`).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::sync::watch;

use super::admin_responses::{json, text};
use super::admin_workers::{self, Workers, REFRESH};
use super::canary::CanaryState;
use super::canary_admin;
use super::canary_workers::{Canaries, POLL};
use super::listeners::{accept, Listener};
use super::protocol::stopped;
use crate::metrics::Metrics;
use crate::sync::lock;
use crate::timers::ACCEPT_BACKOFF;

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
    workers: Option<Workers>,
    /// A supervisor's: the canary weights it wants in its workers (`canary_workers.rs`).
    worker_canaries: Canaries,
    /// Set by a stop signal during `--shutdown-delay`: not ready, though still serving.
    withdrawn: AtomicBool,
    /// The mounts' weighted canaries, set by the `Server`.
    canaries: OnceLock<Vec<Arc<CanaryState>>>,
}

impl AdminState {
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
    fn status(&self) -> serde_json::Value {
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

/// The admin listener, serving on its own thread from creation until `close()`.
#[pyclass(module = "amphicorn._amphicorn")]
pub struct Admin {
    state: Arc<AdminState>,
    stop: watch::Sender<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Admin {
    pub fn state(&self) -> Arc<AdminState> {
        self.state.clone()
    }
}

#[pymethods]
impl Admin {
    /// Serves `/healthz`, `/readyz` and `/metrics` on the listening sockets `fds` (the admin
    /// dups them, so the caller may close its own) until `close()`. A supervisor's
    /// (`workers=True`) answers for the workers it reports (`worker_started`, `worker_gone`).
    #[new]
    #[pyo3(signature = (fds, *, workers = false))]
    fn new(fds: Vec<i32>, workers: bool) -> PyResult<Self> {
        let listeners = fds
            .into_iter()
            .map(|fd| {
                let owned = crate::fds::duplicate(fd)
                    .map_err(|error| PyValueError::new_err(format!("socket descriptor {fd}: {error}")))?;
                Listener::from_fd(owned)
                    .map_err(|error| PyValueError::new_err(format!("socket descriptor {fd}: {error}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        if listeners.is_empty() {
            return Err(PyValueError::new_err("the admin listener needs a listening socket"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let state = Arc::new(AdminState { workers: workers.then(Workers::default), ..AdminState::default() });
        let (stop, stopping) = watch::channel(false);
        let serving = state.clone();
        let thread = std::thread::Builder::new()
            .name("amphicorn-admin".to_owned())
            .spawn(move || runtime.block_on(serve(listeners, serving, stopping)))
            .map_err(|error| PyRuntimeError::new_err(format!("cannot start the admin listener: {error}")))?;
        Ok(Self { state, stop, thread: Mutex::new(Some(thread)) })
    }

    /// The supervisor started the worker `pid`, whose admin listener serves on the Unix
    /// socket `socket`; its per-process figures get `worker="<slot>"`.
    fn worker_started(&self, slot: u32, pid: u32, socket: std::path::PathBuf) {
        if let Some(workers) = &self.state.workers {
            workers.started(slot, pid, socket);
        }
    }

    /// The worker serving on `socket` serves (`ready`), or was asked to stop: `/canary`
    /// covers the ready ones.
    fn worker_ready(&self, socket: std::path::PathBuf, ready: bool) {
        if let Some(workers) = &self.state.workers {
            workers.set_worker_ready(&socket, ready);
        }
    }

    /// The canary weights set through this supervisor (`PUT /canary/<mount>`, or a rollback
    /// in a worker), by mount: the supervisor starts new workers with them.
    fn canary_weights(&self) -> std::collections::BTreeMap<String, f64> {
        self.state.worker_canaries.weights()
    }

    /// Forgets the canary weights set for `mounts` (SIGHUP read the config file's anew).
    fn forget_canary_weights(&self, mounts: Vec<String>) {
        self.state.worker_canaries.forget(&mounts);
    }

    /// The worker serving on `socket` is gone (its counts are kept).
    fn worker_gone(&self, socket: std::path::PathBuf) {
        if let Some(workers) = &self.state.workers {
            workers.gone(&socket);
        }
    }

    /// The supervisor replaced a worker, for `cause` (`max_requests`, `crash`, `reload`).
    fn worker_restarted(&self, cause: &str) -> PyResult<()> {
        if self.state.metrics.worker_restarted(cause) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!("unknown worker restart cause {cause:?}")))
        }
    }

    /// A supervisor's readiness: whether a worker serves and no stop has begun.
    fn set_ready(&self, ready: bool) {
        if let Some(workers) = &self.state.workers {
            workers.set_ready(ready);
        }
    }

    /// A worker's, as it exits: leaves this process's figures (its exposition and its
    /// `/status`) next to its admin listener's socket `socket`, where the supervisor reads
    /// them once it is gone (`admin_workers.rs`).
    fn leave_final_figures(&self, py: Python<'_>, socket: std::path::PathBuf) -> PyResult<()> {
        let state = &self.state;
        let exposition =
            state.metrics.encode(false).map_err(|_| PyRuntimeError::new_err("the metrics could not be encoded"))?;
        py.detach(|| admin_workers::leave_final_figures(&socket, &exposition, &state.status()))?;
        Ok(())
    }

    /// Stops answering (the listening sockets close; open connections are dropped).
    fn close(&self, py: Python<'_>) {
        self.stop.send_replace(true);
        if let Some(thread) = lock(&self.thread).take() {
            py.detach(|| {
                let _ = thread.join();
            });
        }
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn serve(listeners: Vec<Listener>, state: Arc<AdminState>, stop: watch::Receiver<bool>) {
    let mut loops = tokio::task::JoinSet::new();
    if state.workers.is_some() {
        loops.spawn(tend_workers(state.clone(), stop.clone()));
    }
    for listener in listeners {
        match listener.into_tokio() {
            Ok(listener) => {
                loops.spawn(accept_loop(listener, state.clone(), stop.clone()));
            }
            Err(_) => continue,
        }
    }
    while loops.join_next().await.is_some() {}
}

/// Keeps the workers' last figures recent, for those that die without a final word, and
/// their canaries one (`canary_workers.rs`).
async fn tend_workers(state: Arc<AdminState>, mut stop: watch::Receiver<bool>) {
    let Some(workers) = &state.workers else {
        return;
    };
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + POLL, POLL);
    for interval in [&mut refresh, &mut poll] {
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = refresh.tick() => workers.refresh().await,
            _ = poll.tick() => state.worker_canaries.poll(workers).await,
        }
    }
}

async fn accept_loop(
    listener: super::listeners::TokioListener,
    state: Arc<AdminState>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = accept(&listener) => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            continue;
        };
        let state = state.clone();
        let handler = service_fn(move |request: Request<hyper::body::Incoming>| {
            let state = state.clone();
            async move {
                if canary_admin::serves(request.uri().path()) {
                    let answer = match &state.workers {
                        Some(workers) => state.worker_canaries.answer(workers, request).await,
                        None => canary_admin::answer(state.canaries(), request).await,
                    };
                    return Ok::<_, Infallible>(answer);
                }
                Ok(answer_any(&state, &request).await)
            }
        });
        match stream {
            super::listeners::Stream::Tcp(stream) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), handler));
            }
            super::listeners::Stream::Unix(stream) => {
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), handler));
            }
        }
    }
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
