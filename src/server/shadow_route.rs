//! Shadow traffic on the request path (`shadow.rs` says what it does): drawing a request
//! when it is routed (`prepare`), teeing the primary's answer around the mount's
//! compression (`Pending`), and starting the shadow's run (`shadow_run.rs`) once hyper is
//! done with that answer; and, at start, giving each mount with a shadow its route to the
//! shadow mount (`route_shadows`). Where these are called is `service.rs` and `mod.rs`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{request, Method, Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use super::mounted::{Mounted, ShadowRoute};
use super::router::MountPoint;
use super::shadow::{ShadowSettings, ShadowState, BODY_CAP};
use super::shadow_compare::Answer;
use super::shadow_run::{self, ShadowRequest};
use crate::connection_info::ConnectionInfo;
use crate::http::request_body::RequestBody;
use crate::http::response_body::ResponseBody;
use crate::http::tee::{OnEnd, Tee, TeeEnd};
use crate::http::Head;
use crate::metrics::{Metrics, ShadowResult, SkipReason};

/// A request drawn for shadowing, from routing until its answer is teed.
pub struct Pending {
    route: ShadowRoute,
    request: ShadowRequest,
    /// The pair's slot, held until the comparison ends.
    permit: OwnedSemaphorePermit,
    runtime: tokio::runtime::Handle,
    /// The primary's status and headers, and its body when it was whole in memory.
    answer: Option<(StatusCode, http::HeaderMap, Option<Bytes>)>,
    /// Hyper will poll the primary's body (not the answer to HEAD, nor a 204 or 304).
    expects_body: bool,
}

/// Whether this request is shadowed (see `shadow.rs`): None when it is not, or when it was
/// drawn but must be skipped (then counted).
pub fn prepare(
    route: &ShadowRoute,
    head: &request::Parts,
    body: &RequestBody,
    connection: &Arc<ConnectionInfo>,
) -> Option<Pending> {
    let state = &route.state;
    if !state.draw(&head.method) {
        return None;
    }
    let RequestBody::Complete(data) = body else {
        state.count(ShadowResult::Skipped(SkipReason::StreamedBody));
        return None;
    };
    let Some(permit) = state.slot() else {
        state.count(ShadowResult::Skipped(SkipReason::Busy));
        return None;
    };
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let request = ShadowRequest {
        head: Head::new(shadow_head(head)),
        data: data.clone(),
        connection: connection.without_hints(),
    };
    Some(Pending { route: route.clone(), request, permit, runtime, answer: None, expects_body: true })
}

/// The request line and headers again, with `X-Amphicorn-Shadow: 1` (extensions stay with
/// the primary's request).
fn shadow_head(head: &request::Parts) -> request::Parts {
    let (mut copy, ()) = http::Request::new(()).into_parts();
    copy.method = head.method.clone();
    copy.uri = head.uri.clone();
    copy.version = head.version;
    copy.headers = head.headers.clone();
    copy.headers.insert(HeaderName::from_static("x-amphicorn-shadow"), HeaderValue::from_static("1"));
    copy
}

impl Pending {
    /// Before the mount's compression: tees a streamed body (nothing more to do then: None),
    /// or keeps a body whole in memory and returns itself, to `watch` the compressed answer.
    pub fn tee(mut self, response: &mut Response<ResponseBody>) -> Option<Self> {
        self.expects_body = self.request.head.method != Method::HEAD
            && !response.status().is_informational()
            && !matches!(response.status(), StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
        let expects_body = self.expects_body;
        let whole = match response.body() {
            ResponseBody::Empty => Some(Bytes::new()),
            ResponseBody::Full(data) => Some(data.clone().unwrap_or_default()),
            _ => None,
        };
        let held = whole.map(|data| if data.len() > BODY_CAP { None } else { Some(data) });
        self.answer = Some((response.status(), response.headers().clone(), held.clone().flatten()));
        if held.is_some() {
            return Some(self);
        }
        let body = std::mem::replace(response.body_mut(), ResponseBody::Empty);
        let length = announced(response.headers());
        let tee = Tee::copying(body, BODY_CAP, expects_body, self.on_end()).announced(length);
        *response.body_mut() = ResponseBody::Teed(Box::new(tee));
        None
    }

    /// After compression: waits for the end of an answer whose body was kept whole.
    pub fn watch(mut self, response: &mut Response<ResponseBody>) {
        let data = self.answer.as_mut().and_then(|(_, _, data)| data.take());
        let body = std::mem::replace(response.body_mut(), ResponseBody::Empty);
        let expects_body = self.expects_body;
        let length = announced(response.headers());
        let tee = Tee::copied(body, data, expects_body, self.on_end()).announced(length);
        *response.body_mut() = ResponseBody::Teed(Box::new(tee));
    }

    /// What runs when hyper is done with the primary's body.
    fn on_end(self) -> OnEnd {
        Box::new(move |end: TeeEnd| {
            let Self { route, request, permit, runtime, answer, .. } = self;
            let Some((status, headers, _)) = answer else { return };
            if !end.complete {
                route.state.count(ShadowResult::Skipped(SkipReason::PrimaryIncomplete));
                return;
            }
            let Some(body) = end.data else {
                route.state.count(ShadowResult::Skipped(SkipReason::BodyTooLarge));
                return;
            };
            let primary = Answer { status, headers, body: Some(body) };
            drop(runtime.spawn(shadow_run::run(route, request, primary, permit)));
        })
    }
}

/// The answer as `compress` makes it (the mount's compression), its body teed for a shadow
/// comparison when the request was drawn for one: before compression, so that the app's own
/// bytes are compared.
pub fn around(
    shadow: Option<Pending>,
    mut response: Response<ResponseBody>,
    compress: impl FnOnce(Response<ResponseBody>) -> Response<ResponseBody>,
) -> Response<ResponseBody> {
    let Some(pending) = shadow else {
        return compress(response);
    };
    let whole = pending.tee(&mut response);
    let mut response = compress(response);
    if let Some(pending) = whole {
        pending.watch(&mut response);
    }
    response
}

/// The `Content-Length` an answer announces.
fn announced(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Gives each started mount with a shadow its route to it (the shadow mount's copy that
/// answers at this mount's prefix) and, with `metrics`, the pair's figures, shown in
/// `/status` under the mount. `apps` and `shadows` (each mount's settings) are in mount order.
pub fn route_shadows(
    apps: &mut [(MountPoint, Mounted)],
    shadows: &[Option<ShadowSettings>],
    metrics: Option<&Metrics>,
) {
    for (index, settings) in shadows.iter().enumerate() {
        let Some(settings) = settings else { continue };
        let Some(prefix) = apps.get(index).map(|(point, _)| point.prefix.clone()) else { continue };
        let Some((shadow, label)) = apps
            .iter()
            .find(|(other, _)| *other == settings.shadow)
            .map(|(_, app)| (Arc::new(app.at(&prefix)), app.label.clone()))
        else {
            continue; // Server::new checked that it exists
        };
        let Some((_, app)) = apps.get_mut(index) else { continue };
        let figures = metrics.map(|metrics| Arc::new(metrics.shadows.pair(&app.label, &label)));
        if let (Some(figures), Some(mount)) = (&figures, &app.metrics) {
            mount.show_shadow(figures.clone());
        }
        let state = ShadowState::new(app.label.clone(), label, settings.clone(), figures);
        app.shadow = Some(ShadowRoute { state: Arc::new(state), mount: shadow });
    }
}
