//! The per-request entry point hyper calls: routes the request through the mount table,
//! pre-reads a small body, and runs the mount's app; a path no mount covers gets `404`.
//!
//! Two request-targets are not paths: `OPTIONS *` asks about the server as a whole and goes
//! to the app mounted at `/` (the host's, else the host-less one) with the path `*` and an
//! empty `SCRIPT_NAME`/`root_path`; with no such app, the server answers `200` with `Allow`
//! itself. `*` with any other method is `400`. `CONNECT` (authority form) asks for a tunnel:
//! we are not a proxy, so it gets `501` and a closed connection before any app runs. The
//! one `CONNECT` served is HTTP/2's extended CONNECT for a WebSocket (RFC 8441): it is routed
//! by its `:path` as any request, and an ASGI mount with WebSockets on takes it; at any
//! other mount it gets `501` too (an HTTP/1.1 upgrade request there reaches the app as plain
//! HTTP, but a CONNECT has no meaning an app could give it).
//!
//! Before routing, the request's framing is checked (`http/framing.rs`) and, from a trusted
//! proxy, its forwarding headers applied (`proxy.rs`), so host-qualified mounts see the
//! host the client asked for.
//!
//! A response sent while part of the request body is still unread says `Connection: close`
//! on HTTP/1.x: the connection cannot carry another request, and the client must know
//! before it tries. (On HTTP/2 only that stream ends; hyper resets it.)
//!
//! An HTTP/2 request names its host in `:authority`; apps get it as the `Host` header too,
//! as an HTTP/1.1 gateway would (RFC 9113 §8.3.1); ASGI scopes list it first, as ASGI's rule
//! for pseudo-headers asks (`asgi/scope.rs`).
//!
//! Migration fallback: a mount may name another one to answer in its place when it says
//! `404`. That needs the request again, so it applies only when the whole body is in
//! memory (no body, or one within the pre-read limit); the client then sees only the
//! fallback's answer. The replay is held to the fallback mount's own limits (concurrency,
//! body size), not the first one's. For example, with `/` (Django) as the fallback of `/api`
//! (FastAPI), `GET /api/reports` goes to Django as long as FastAPI has no such route.
//!
//! With `--admin-bind`, each request a mount takes is recorded (`metrics/`): in flight from
//! routing, in the duration histogram when its response body ends (the `Recording` is
//! handed back to `listen.rs` for that), under the mount that answered; each refusal above
//! (and the body and concurrency limits') is counted by reason, each fallback replay on the
//! mount that said 404, request body bytes as the body is read, and each WebSocket while
//! it is open.
//!
//! With `--health-path`, a `GET`/`HEAD` of exactly that path (any host, any query) is
//! answered `200 ok` here, after the framing checks and before routing, as the admin
//! listener's `/healthz`: for balancers that can only probe the traffic port. No app sees
//! it, not even one mounted at `/`, and no mount counts it.
//!
//! A mount with a weighted canary (`canary.rs`) has a variant picked for each request right
//! after routing: the canary mount's copy that answers at this mount's prefix takes it, or
//! this mount does; the access log and the metrics show the mount that answered, and the
//! answer is counted for the rollback and given the canary cookie on the way out.
//!
//! A mount with a shadow (`shadow.rs`) has each request drawn for it prepared after the body
//! is read, and its answer's body teed before compression; the shadow runs once hyper is
//! done with that body, in the background.
//!
//! A mount with `compress` has its answers compressed here (`compression/` decides which and
//! how); the request's coding is read before the app takes the head. A fallback's answer
//! follows the fallback mount's setting.

use std::sync::Arc;
use std::time::Instant;

use crate::http::wire_body::WireBody;
use http::header::{HeaderValue, CONNECTION, HOST};
use http::{request, Method, Request, Response, StatusCode, Version};
use tokio::sync::{OwnedSemaphorePermit, TryAcquireError};

use super::access_log::Note;
use super::canary::{Pick, Variant};
use super::mounted::{App, Limits, Mounted};
use super::proxy::{self, TrustedPeers};
use super::router::Router;
use super::shadow_route;
use crate::compression::Codec;
use crate::connection_info::ConnectionInfo;
use crate::http::connection::{Endpoint, PendingResponse, RequestState};
use crate::http::framing;
use crate::http::request_body::{read_body, Frames, RequestBody};
use crate::http::response_body::ResponseBody;
use crate::http::status;
use crate::http::websocket::is_extended_connect;
use crate::http::Head;
use crate::metrics::{Metrics, MountMetrics, Reason, Recording};

pub struct Service {
    router: Router<Mounted>,
    /// Bodies up to this size are read before any app runs.
    preread_limit: usize,
    /// The peers whose proxy headers are believed (None: nobody's).
    proxy_headers: Option<TrustedPeers>,
    /// Put an access-log `Note` on each response.
    notes: bool,
    /// `--max-header-size`: the most a request head may take.
    max_header_size: usize,
    /// Where requests refused before a mount are counted (`--admin-bind`).
    metrics: Option<Arc<Metrics>>,
    /// `--health-path`: answered here, before routing.
    health_path: Option<Box<str>>,
}

impl Service {
    pub fn new(
        router: Router<Mounted>,
        preread_limit: usize,
        proxy_headers: Option<TrustedPeers>,
        notes: bool,
        max_header_size: usize,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self { router, preread_limit, proxy_headers, notes, max_header_size, metrics, health_path: None }
    }

    /// Answers `GET`/`HEAD` of `path` itself, as alive, before routing (`--health-path`).
    pub fn with_health_path(mut self, path: Option<&str>) -> Self {
        self.health_path = path.map(Box::from);
        self
    }

    /// Whether any mount serves WebSockets: HTTP/2 connections then offer the extended
    /// CONNECT (RFC 8441) that carries them.
    pub fn serves_websockets(&self) -> bool {
        self.router.targets().any(Mounted::serves_websockets)
    }

    /// Where requests are counted (with `--admin-bind`).
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Answers one request; `recording` is set when a mount took it (with `--admin-bind`),
    /// for the caller to keep until the response body ends.
    pub async fn handle(
        &self,
        mut request: Box<Request<WireBody>>,
        connection: Arc<ConnectionInfo>,
        recording: &mut Option<Recording>,
    ) -> Response<ResponseBody> {
        // A clock read only when the metrics will use it.
        let started = self.metrics.as_ref().map(|_| Instant::now());
        if framing::check(&request).is_err() {
            self.refuse(Reason::BadFraming);
            return status::bad_framing();
        }
        if let Some(part) = framing::oversized(&request, self.max_header_size) {
            self.refuse(Reason::HeadersTooLarge);
            return status::head_too_large(part == framing::Oversized::RequestLine);
        }
        if self.health_path.as_deref().is_some_and(|path| path == request.uri().path()) {
            return status::alive(request.method());
        }
        if request.version() == Version::HTTP_2 {
            authority_as_host(&mut request);
        }
        let connection = match &self.proxy_headers {
            Some(trusted) if connection.remote.ip().is_some_and(|ip| trusted.contains(ip)) => {
                forwarded_connection(&mut request, connection, trusted)
            }
            _ => connection,
        };
        let client = connection.remote.clone();
        let mut mount = None;
        let mut canary = None;
        let mut response = self.dispatch(request, connection, (&mut mount, &mut canary), (started, recording)).await;
        let variant = canary.as_ref().map(|pick| pick.variant.label());
        if let Some(pick) = canary {
            pick.finish(&mut response);
        }
        if self.notes {
            response.extensions_mut().insert(Note { mount, client, variant });
        }
        response
    }

    fn refuse(&self, reason: Reason) {
        if let Some(metrics) = &self.metrics {
            metrics.refuse(reason);
        }
    }

    /// Routes the request and runs the app; `mount` is set to the label of the mount that
    /// answered, `canary` to the variant a canary picked, and the recording to the
    /// answering mount's metrics (from when the request `started`).
    async fn dispatch(
        &self,
        request: Box<Request<WireBody>>,
        connection: Arc<ConnectionInfo>,
        (mount, canary): (&mut Option<Arc<str>>, &mut Option<Pick>),
        (started, recording): (Option<Instant>, &mut Option<Recording>),
    ) -> Response<ResponseBody> {
        if request.method() == Method::CONNECT && !is_extended_connect(&request) {
            self.refuse(Reason::NotAProxy);
            return status::not_a_proxy();
        }
        let host = match request.uri().authority() {
            Some(authority) => Some(authority.as_str()),
            None => request.headers().get(HOST).and_then(|value| value.to_str().ok()),
        };
        // `OPTIONS *` goes to whatever serves `/` (only a root mount covers it); the app sees
        // the path `*`, which no prefix but the root's empty one can be stripped from.
        let asterisk = request.uri().path() == "*";
        let path = match (asterisk, request.method() == Method::OPTIONS) {
            (false, _) => request.uri().path(),
            (true, true) => "/",
            (true, false) => {
                self.refuse(Reason::BadTarget);
                return status::bad_target();
            }
        };
        let Some((_, mut mounted)) = self.router.route(host, path) else {
            if asterisk {
                return status::server_options();
            }
            self.refuse(Reason::NoMount);
            return status::plain(StatusCode::NOT_FOUND);
        };
        if let Some(route) = &mounted.canary {
            let pick = route.state.pick(request.headers());
            if pick.variant == Variant::Canary {
                mounted = &route.variant;
            }
            *canary = Some(pick);
        }
        *mount = Some(mounted.label.clone());
        if let (Some(metrics), Some(started)) = (&mounted.metrics, started) {
            *recording = Some(Recording::start(metrics, request.method(), started));
        }
        // Held until the response head is out: a full mount answers 503 before any Python runs.
        let Ok(permit) = enter(&mounted.limits) else {
            refuse(mounted.metrics.as_ref(), Reason::ConcurrencyLimit);
            return status::overloaded(1);
        };
        if let App::Asgi(app) = &mounted.app {
            if app.takes_websocket(&request) {
                // Boxed, as the replay below: rare paths that would otherwise size every
                // request's future (hyper moves it, and HTTP/2 spawns it).
                let open = mounted.metrics.as_ref().map(|metrics| metrics.websockets());
                return Box::pin(app.handle_websocket(*request, connection, open)).await;
            }
        }
        if request.method() == Method::CONNECT {
            // An extended CONNECT this mount does not take as a WebSocket.
            refuse(mounted.metrics.as_ref(), Reason::NotAProxy);
            return status::not_a_proxy();
        }
        let (head, body) = request.into_parts();
        let head = Head::new(head);
        let head_version = head.version;
        let offer = mounted.compress.as_ref().map(|compress| compress.offer(&head));
        let state = RequestState::new();
        let pending = PendingResponse::new(state.clone());
        let counted = mounted.metrics.as_ref().map(|metrics| metrics.request_bytes());
        let body =
            match read_body(body, &head.headers, (self.preread_limit, mounted.limits.body), &state, counted).await {
                Ok(body) => body,
                Err(error) => {
                    refuse(mounted.metrics.as_ref(), body_reason(&error));
                    return status::body_error(&error);
                }
            };
        // Both boxed, as the replay below: kept across the app's answer, they would size every
        // request's future, which hyper moves whole.
        let fallback = match (&mounted.fallback, &body) {
            (Some(point), RequestBody::Complete(data)) => {
                self.router.get(point).map(|fallback| Box::new((fallback, copy_head(&head), data.clone())))
            }
            _ => None,
        };
        let shadow = mounted
            .shadow
            .as_ref()
            .and_then(|route| shadow_route::prepare(route, &head, &body, &connection))
            .map(Box::new);
        let mut response = mounted.app.dispatch(head, body, connection.clone(), state.clone()).await;
        pending.disarm();
        drop(permit);
        if !state.is_body_complete() && head_version < Version::HTTP_2 {
            // The app answered (or failed, or was turned away) with part of the body still on
            // the wire. hyper then drains it if it has already arrived, else closes, and it
            // decides only when the body is dropped, usually after this head is out: so the
            // client could not tell. Say it in the head, as Go's net/http does.
            response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        match fallback.map(|fallback| *fallback) {
            Some((fallback, head, data)) if response.status() == StatusCode::NOT_FOUND => {
                // Dropping the first answer tells its app the client has gone.
                drop(response);
                if let Some(metrics) = &mounted.metrics {
                    metrics.replayed();
                }
                *mount = Some(fallback.label.clone());
                if let (Some(recording), Some(metrics)) = (recording.as_mut(), &fallback.metrics) {
                    recording.move_to(metrics);
                }
                let offer = fallback.compress.as_ref().map(|compress| compress.offer(&head));
                let path = mounted.metrics.as_ref().map(|_| head.uri.path().to_owned());
                let response = Box::pin(replay(fallback, head, data, connection)).await;
                if let (Some(metrics), Some(path)) = (&mounted.metrics, path) {
                    metrics.fallback_answered(&path, response.status());
                }
                shadow_route::around(shadow.map(|shadow| *shadow), response, |response| {
                    compressed(fallback, offer, response)
                })
            }
            _ => shadow_route::around(shadow.map(|shadow| *shadow), response, |response| {
                compressed(mounted, offer, response)
            }),
        }
    }
}

/// The answer, compressed when the mount compresses (`offer`: the request's coding, read
/// before the app ran; None when the mount does not compress).
fn compressed(
    mounted: &Mounted,
    offer: Option<Option<Codec>>,
    mut response: Response<ResponseBody>,
) -> Response<ResponseBody> {
    if let (Some(compress), Some(coding)) = (&mounted.compress, offer) {
        compress.apply(coding, &mut response);
    }
    response
}

/// A slot in the mount's app, held until the response head is out (None: the mount has no
/// concurrency limit); an error when none is free (the mount is full: `503`).
fn enter(limits: &Limits) -> Result<Option<OwnedSemaphorePermit>, TryAcquireError> {
    match &limits.concurrency {
        Some(slots) => slots.clone().try_acquire_owned().map(Some),
        None => Ok(None),
    }
}

/// Runs a request again on the mount its first one fell back to, under that mount's own
/// limits: its concurrency limit and its body size (the body is whole in memory, so no body
/// timeout can apply; the WSGI queue and its timeout are the fallback app's own).
async fn replay(
    fallback: &Mounted,
    head: Head,
    data: Frames,
    connection: Arc<ConnectionInfo>,
) -> Response<ResponseBody> {
    let Ok(_permit) = enter(&fallback.limits) else {
        refuse(fallback.metrics.as_ref(), Reason::ConcurrencyLimit);
        return status::overloaded(1);
    };
    if let Err(error) = fallback.limits.body.admit(data.len() as u64) {
        refuse(fallback.metrics.as_ref(), body_reason(&error));
        return status::body_error(&error);
    }
    let state = RequestState::new();
    state.mark_body_complete();
    let pending = PendingResponse::new(state.clone());
    let response = fallback.app.dispatch(head, RequestBody::Complete(data), connection, state).await;
    pending.disarm();
    response
}

/// Counts a refusal by a mount (with `--admin-bind`).
fn refuse(metrics: Option<&Arc<MountMetrics>>, reason: Reason) {
    if let Some(metrics) = metrics {
        metrics.refuse(reason);
    }
}

/// The refusal reason of a body that could not be taken (as `status::body_error` answers it).
fn body_reason(error: &crate::errors::Error) -> Reason {
    if error.is_body_too_large() {
        Reason::BodyTooLarge
    } else if error.is_body_timed_out() {
        Reason::BodyTimeout
    } else {
        Reason::BadBody
    }
}

/// The connection as a trusted proxy describes it; a forwarded host becomes the `Host`.
fn forwarded_connection(
    request: &mut Request<WireBody>,
    connection: Arc<ConnectionInfo>,
    trusted: &TrustedPeers,
) -> Arc<ConnectionInfo> {
    let forwarded = proxy::read(request.headers(), trusted);
    if let Some(host) = forwarded.host {
        proxy::replace_host(request.headers_mut(), host);
    }
    if forwarded.client.is_none() && forwarded.scheme.is_none() {
        return connection;
    }
    let mut seen = ConnectionInfo::new(
        connection.local.clone(),
        forwarded.client.map_or_else(|| connection.remote.clone(), Endpoint::Inet),
        forwarded.scheme.unwrap_or(connection.scheme),
    );
    // Our TLS hop is the client's only if the proxy says the client used TLS too.
    if seen.scheme == "https" {
        seen.tls.clone_from(&connection.tls);
    }
    seen.hints.clone_from(&connection.hints);
    Arc::new(seen)
}

/// Gives an HTTP/2 request without a `Host` header one, from its `:authority`, first.
fn authority_as_host(request: &mut Request<WireBody>) {
    let Some(authority) = request.uri().authority() else {
        return;
    };
    if request.headers().contains_key(HOST) {
        return;
    }
    let Ok(host) = HeaderValue::from_str(authority.as_str()) else {
        return;
    };
    // Last in the map; the ASGI scope lists it first (`asgi/scope.rs`).
    request.headers_mut().insert(HOST, host);
}

/// The request line and headers again, for a second app (extensions stay with the first).
fn copy_head(head: &request::Parts) -> Head {
    let (mut copy, ()) = Request::new(()).into_parts();
    copy.method = head.method.clone();
    copy.uri = head.uri.clone();
    copy.version = head.version;
    copy.headers = head.headers.clone();
    Head::new(copy)
}
