//! Running one request on a shadow mount, in the background, and reporting how its answer
//! compares with the primary's (`shadow.rs` decides which requests, `shadow_compare.rs`
//! compares).
//!
//! The shadow mount's own limits apply: a full concurrency limit, or a body its
//! `max-body-size` refuses, skips the comparison (counted as `skipped`), as `503`/`413`
//! would not say how the app answers. The WSGI queue and its timeout are the app's own, as
//! for any request. The run, from the dispatch to the end of the shadow's body, must end
//! within `SHADOW_TIMEOUT`, and the body is read up to `BODY_CAP`: past it only status and
//! headers are compared.
//!
//! Results: `match`; `differ`, logged as one WARNING line on the error log and kept for
//! `/status`; `shadow_error` (the shadow's body failed, or the timeout passed), logged too;
//! `skipped`. Counted by `metrics/shadow.rs` with `--admin-bind`.

use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use std::sync::Arc;

use super::mounted::{Mounted, ShadowRoute};
use super::shadow::BODY_CAP;
use super::shadow_compare::{compare, Answer, Verdict};
use crate::connection_info::ConnectionInfo;
use crate::http::connection::{PendingResponse, RequestState};
use crate::http::frames::Frames;
use crate::http::request_body::RequestBody;
use crate::http::Head;
use crate::metrics::{ShadowResult, SkipReason};
use crate::timers::SHADOW_TIMEOUT;

/// A request to run on the shadow, once the primary's answer is out.
pub(super) struct ShadowRequest {
    pub head: Head,
    pub data: Frames,
    pub connection: Arc<ConnectionInfo>,
}

/// How the shadow answered, or why it did not.
enum Outcome {
    Answered(Answer),
    Skipped(SkipReason),
    Failed(String),
}

/// Runs `request` on the route's shadow mount and reports the comparison with `primary`;
/// `slot` (the pair's) is held until then.
pub(super) async fn run(route: ShadowRoute, request: ShadowRequest, primary: Answer, slot: OwnedSemaphorePermit) {
    let method = request.head.method.clone();
    let path = request.head.uri.path().to_owned();
    let head = method == http::Method::HEAD;
    let outcome = match tokio::time::timeout(SHADOW_TIMEOUT, answer(&route.mount, request)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Failed(format!("no whole answer within {} s", SHADOW_TIMEOUT.as_secs())),
    };
    drop(slot);
    let state = &route.state;
    let (shadow_status, problem) = match outcome {
        Outcome::Skipped(reason) => return state.count(ShadowResult::Skipped(reason)),
        Outcome::Failed(error) => {
            state.count(ShadowResult::ShadowError);
            (None, format!("error={}", quoted(&error)))
        }
        Outcome::Answered(shadow) => match compare(&primary, &shadow, &state.settings.ignore_headers, head) {
            Verdict::Match => return state.count(ShadowResult::Match),
            Verdict::BodyTooLarge => return state.count(ShadowResult::Skipped(SkipReason::BodyTooLarge)),
            Verdict::Differ(differences) => {
                state.count(ShadowResult::Differ);
                state.remember(json!({
                    "method": method.as_str(),
                    "path": path,
                    "status": primary.status.as_u16(),
                    "shadow_status": shadow.status.as_u16(),
                    "differences": differences,
                }));
                (Some(shadow.status.as_u16()), format!("differences={}", quoted(&differences.join("; "))))
            }
        },
    };
    let what = if shadow_status.is_some() { "Shadow difference" } else { "Shadow error" };
    let message = format!(
        "{what}: mount={} shadow={} method={method} path={} status={} shadow_status={} {problem}",
        state.mount,
        state.shadow,
        quoted(&path),
        primary.status.as_u16(),
        shadow_status.map_or_else(|| "-".to_owned(), |status| status.to_string()),
    );
    let logged = tokio::task::spawn_blocking(move || pyo3::Python::attach(|py| crate::log::warning(py, &message)));
    let _ = logged.await;
}

/// The shadow mount's answer to `request`, its body read up to `BODY_CAP`.
async fn answer(mount: &Mounted, request: ShadowRequest) -> Outcome {
    let permit = match &mount.limits.concurrency {
        Some(slots) => match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return Outcome::Skipped(SkipReason::ShadowLimits),
        },
        None => None,
    };
    if mount.limits.body.admit(request.data.len() as u64).is_err() {
        return Outcome::Skipped(SkipReason::ShadowLimits);
    }
    let state = RequestState::new();
    state.mark_body_complete();
    let pending = PendingResponse::new(state.clone());
    let response =
        mount.app.dispatch(request.head, RequestBody::Complete(request.data), request.connection, state).await;
    pending.disarm();
    let (parts, mut body) = response.into_parts();
    let mut copy = Some(Frames::default());
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => frame.into_data().unwrap_or_default(),
            Err(error) => return Outcome::Failed(format!("its body failed: {error}")),
        };
        if let Some(kept) = &mut copy {
            if kept.len().saturating_add(data.len()) > BODY_CAP {
                copy = None;
            } else {
                kept.push(data);
            }
        }
    }
    drop(permit);
    Outcome::Answered(Answer { status: parts.status, headers: parts.headers, body: copy.map(Frames::into_bytes) })
}

/// `text` as a JSON string: quoted and escaped, for a log line of `key=value` pairs.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
