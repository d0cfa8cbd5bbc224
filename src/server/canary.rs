//! The weighted canary: a mount (`canary = "next"` on `/api`) sends a share of its requests
//! to another mount, sticky per client, and drops that share to 0 by itself when the canary
//! fails too often.
//!
//! Which variant a request gets (`CanaryState::pick`), in order:
//! 1. weight 0: the primary, always (a cookie pins nothing then);
//! 2. with `canary-key-header` and that header in the request: SipHash-1-3 of its value,
//!    with fixed keys, into 0..10000, compared with the weight in hundredths of a percent.
//!    The same key gets the same variant in every process and after restarts, and raising
//!    the weight only moves keys from the primary to the canary, never back;
//! 3. the cookie (`canary-cookie`, default `amphicorn-canary`) saying `stable` or `canary`,
//!    set by an earlier answer: the client keeps its variant while the weight is above 0;
//! 4. else a random draw with the weight, and the answer sets the cookie
//!    (`amphicorn-canary=canary; Path=/; HttpOnly; SameSite=Lax`).
//!
//! The canary mount takes the request as if it were routed to it (its own limits, pool,
//! compression and fallback, its metrics and access-log label) but at the primary's path:
//! `SCRIPT_NAME`/`root_path` are the primary's prefix and `PATH_INFO` the rest, since the
//! canary is the same site's new version, answering the same URLs (`mounted.rs` makes that
//! copy of its app).
//!
//! Automatic rollback, with `canary-max-error-rate`: the canary's answers and failures
//! (a `5xx` status, which the server's own failures — a dead thread, a full queue — are too)
//! are counted over `canary-window` seconds (`canary_window.rs`); once the window holds at
//! least `MIN_ANSWERS` answers and the failure rate passes the bound, the weight drops to 0,
//! the reason is kept for `GET /canary/<mount>` (`canary_admin.rs`), counted in
//! `amphicorn_canary_rollbacks_total` and logged as a warning. A new weight (`PUT`, or the
//! config file on SIGHUP) clears the reason and the window. A response that fails after its
//! head was sent is not seen here.
//!
//! Each pick is counted once its answer is known, under its variant and the answer's status
//! class (`amphicorn_canary_requests_total`, `metrics/canary.rs`); one dropped unanswered,
//! the client gone, as a 499.
//!
//! The state is the process's: with workers each has its own, and the supervisor keeps them
//! one (the weight set in all, a rollback in one spread to all: `canary_workers.rs`).
//!
//! Routing calls `pick` and `Pick::finish` (`service.rs`); building the variant is
//! `mounted.rs`'s and `mod.rs`'s.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::header::{HeaderMap, HeaderName, HeaderValue, COOKIE, SET_COOKIE};
use http::{Response, StatusCode};
use serde_json::json;
use siphasher::sip::SipHasher13;

use super::canary_window::{Counts, Window};
use super::router::MountPoint;
use crate::metrics::CanaryMetrics;
use crate::sync::lock;

/// The fewest canary answers in the window that can roll it back: one early error is not 100%.
pub const MIN_ANSWERS: u64 = 20;
/// Weights are kept in hundredths of a percent.
const SCALE: u32 = 10_000;
/// Fixed SipHash keys ("amphicorn-canary"): every process and every start hash a key alike.
const HASH_KEYS: (u64, u64) = (0x616d_7068_6963_6f72, 0x6e2d_6361_6e61_7279);

/// A mount's canary as configured.
#[derive(Debug, Clone)]
pub struct CanarySettings {
    pub canary: MountPoint,
    /// Percent, 0 to 100.
    pub weight: f64,
    pub cookie: String,
    pub key_header: Option<HeaderName>,
    pub max_error_rate: Option<f64>,
    pub window: Duration,
}

/// Which mount answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Stable,
    Canary,
}

impl Variant {
    /// Its name, in the cookie and in the access log's `%(variant)s`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Canary => "canary",
        }
    }
}

/// One mount's canary while the server runs: shared by its routes, the admin listener and
/// the SIGHUP reload.
pub struct CanaryState {
    /// The primary mount, and the name it was given (for `/canary/<mount>`).
    point: MountPoint,
    name: Option<String>,
    settings: CanarySettings,
    /// Hundredths of a percent.
    weight: AtomicU32,
    /// `Set-Cookie` for each variant.
    set_cookie: [HeaderValue; 2],
    window: Window,
    /// Why the weight was dropped to 0 by itself (None: it was not, or was set since).
    rollback: Mutex<Option<String>>,
    metrics: OnceLock<CanaryMetrics>,
}

impl std::fmt::Debug for CanaryState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("CanaryState").field("point", &self.point).finish_non_exhaustive()
    }
}

/// The variant chosen for one request, to finish once its answer is known. Dropped
/// unfinished (the client left before the answer), it is counted as a 499.
pub struct Pick {
    state: Arc<CanaryState>,
    pub variant: Variant,
    /// A random draw: the answer pins the client with the cookie.
    set_cookie: bool,
    /// Counted in the metrics (by `finish`, or when dropped).
    counted: bool,
}

impl CanaryState {
    /// The canary of the mount at `point`; an error naming the setting for a bad cookie name.
    pub fn new(point: MountPoint, name: Option<String>, settings: CanarySettings) -> Result<Self, String> {
        let cookie = |variant: Variant| {
            HeaderValue::from_str(&format!("{}={}; Path=/; HttpOnly; SameSite=Lax", settings.cookie, variant.label()))
                .map_err(|_| format!("canary_cookie {:?}: not a valid cookie name", settings.cookie))
        };
        let set_cookie = [cookie(Variant::Stable)?, cookie(Variant::Canary)?];
        let state = Self {
            point,
            name,
            weight: AtomicU32::new(0),
            set_cookie,
            window: Window::new(settings.window),
            rollback: Mutex::new(None),
            metrics: OnceLock::new(),
            settings,
        };
        state.set_weight(state.settings.weight)?;
        Ok(state)
    }

    pub fn point(&self) -> &MountPoint {
        &self.point
    }

    pub fn canary(&self) -> &MountPoint {
        &self.settings.canary
    }

    /// Records into the admin listener's metrics from now on.
    pub fn attach_metrics(&self, metrics: CanaryMetrics) {
        metrics.weight.set(self.weight_percent());
        let _ = self.metrics.set(metrics);
    }

    /// Whether `/canary/<reference>` means this mount: its name, or its address with or
    /// without the leading `/` (`api`, `/api`, `api.example.com/v2`; empty for `/`).
    pub fn answers_to(&self, reference: &str) -> bool {
        if self.name.as_deref() == Some(reference) {
            return true;
        }
        let slashed = format!("/{reference}");
        [reference, slashed.as_str()].iter().any(|text| MountPoint::parse(text).is_ok_and(|point| point == self.point))
    }

    pub fn weight_percent(&self) -> f64 {
        f64::from(self.weight.load(Ordering::Relaxed)) / 100.0
    }

    /// Sets the weight (percent, 0 to 100); clears a rollback and the window of answers.
    pub fn set_weight(&self, percent: f64) -> Result<(), String> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!("canary_weight {percent}: expected a percentage from 0 to 100"));
        }
        // In range by the check above: at most 10000.
        let hundredths = (percent * 100.0).round() as u32;
        *lock(&self.rollback) = None;
        self.window.clear();
        self.weight.store(hundredths.min(SCALE), Ordering::Relaxed);
        if let Some(metrics) = self.metrics.get() {
            metrics.weight.set(self.weight_percent());
        }
        Ok(())
    }

    /// The variant for a request with these headers (see the module's notes).
    pub fn pick(self: &Arc<Self>, headers: &HeaderMap) -> Pick {
        let weight = self.weight.load(Ordering::Relaxed);
        let below = |point: u32| if point < weight { Variant::Canary } else { Variant::Stable };
        let (variant, set_cookie) = if weight == 0 {
            (Variant::Stable, false)
        } else if let Some(key) = self.settings.key_header.as_ref().and_then(|name| headers.get(name)) {
            let mut hasher = SipHasher13::new_with_keys(HASH_KEYS.0, HASH_KEYS.1);
            hasher.write(key.as_bytes());
            // Below SCALE, so it fits.
            let point = (hasher.finish() % u64::from(SCALE)) as u32;
            (below(point), false)
        } else if let Some(variant) = self.cookie_variant(headers) {
            (variant, false)
        } else {
            (below(fastrand::u32(0..SCALE)), true)
        };
        Pick { state: self.clone(), variant, set_cookie, counted: false }
    }

    /// The variant a cookie of the request names, if any.
    fn cookie_variant(&self, headers: &HeaderMap) -> Option<Variant> {
        let name = self.settings.cookie.as_str();
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| match value.trim_matches('"') {
                "canary" => Some(Variant::Canary),
                "stable" => Some(Variant::Stable),
                _ => None,
            })
    }

    /// Counts one canary answer; returns the warning to log if it rolled the canary back.
    fn record(&self, status: StatusCode, now: Instant) -> Option<String> {
        let max_rate = self.settings.max_error_rate?;
        let counts = self.window.record(status.is_server_error(), now);
        if counts.answers < MIN_ANSWERS || counts.rate() <= max_rate {
            return None;
        }
        self.roll_back(counts, max_rate)
    }

    fn roll_back(&self, counts: Counts, max_rate: f64) -> Option<String> {
        let mut rollback = lock(&self.rollback);
        // Only the answer that finds the weight above 0 rolls back (and says so).
        if self.weight.swap(0, Ordering::Relaxed) == 0 {
            return None;
        }
        let reason = format!(
            "error rate {:.3} ({} of {} answers 5xx) over the last {} s passed canary-max-error-rate {max_rate}",
            counts.rate(),
            counts.failures,
            counts.answers,
            self.settings.window.as_secs_f64(),
        );
        let message =
            format!("Canary {} of mount {} rolled back to weight 0: {reason}", self.settings.canary, self.point);
        *rollback = Some(reason);
        if let Some(metrics) = self.metrics.get() {
            metrics.weight.set(0.0);
            metrics.rollbacks.inc();
        }
        Some(message)
    }

    /// The state as `GET /canary/<mount>` shows it.
    pub fn describe(&self) -> serde_json::Value {
        let counts = self.window.counts(Instant::now());
        let rollback = lock(&self.rollback).clone();
        json!({
            "mount": self.point.to_string(),
            "name": self.name,
            "canary": self.settings.canary.to_string(),
            "weight": self.weight_percent(),
            "rolled_back": rollback.is_some(),
            "reason": rollback,
            "cookie": self.settings.cookie,
            "key_header": self.settings.key_header.as_ref().map(HeaderName::as_str),
            "max_error_rate": self.settings.max_error_rate,
            "window_seconds": self.settings.window.as_secs_f64(),
            "window": {"answers": counts.answers, "failures": counts.failures},
            "requests": self.metrics.get().map(CanaryMetrics::describe),
        })
    }
}

impl Pick {
    /// Sets the cookie of a random draw on the answer, counts the answer under its variant,
    /// and counts a canary answer for the rollback (which it may trigger).
    pub fn finish<B>(mut self, response: &mut Response<B>) {
        self.count(Some(response.status().as_u16()));
        if self.set_cookie {
            let index = usize::from(self.variant == Variant::Canary);
            if let Some(value) = self.state.set_cookie.get(index) {
                response.headers_mut().append(SET_COOKIE, value.clone());
            }
        }
        if self.variant == Variant::Canary {
            if let Some(message) = self.state.record(response.status(), Instant::now()) {
                warn(message);
            }
        }
    }
}

impl Pick {
    /// Counts the answer in `amphicorn_canary_requests_total`, once (None: the client left
    /// before it).
    fn count(&mut self, status: Option<u16>) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        if let Some(metrics) = self.state.metrics.get() {
            metrics.answered(usize::from(self.variant == Variant::Canary), status);
        }
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        self.count(None);
    }
}

/// Logs a warning through Python's logging, from a thread that may wait for the GIL.
pub(super) fn warn(message: String) {
    let log = move || pyo3::Python::attach(|py| crate::log::warning(py, &message));
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(log)),
        Err(_) => drop(std::thread::spawn(log)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(weight: f64, key_header: Option<&'static str>, max_error_rate: Option<f64>) -> Arc<CanaryState> {
        let point = |text| MountPoint::parse(text).expect("test mounts are valid");
        let settings = CanarySettings {
            canary: point("/next"),
            weight,
            cookie: "amphicorn-canary".to_owned(),
            key_header: key_header.map(HeaderName::from_static),
            max_error_rate,
            window: Duration::from_secs(60),
        };
        Arc::new(CanaryState::new(point("/api"), Some("api".to_owned()), settings).expect("valid settings"))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_str(value).expect("valid value"));
        }
        map
    }

    #[test]
    fn a_key_always_gets_the_same_variant_and_the_share_follows_the_weight() {
        let canary = state(30.0, Some("x-user-id"), None);
        let keys: Vec<String> = (0..10_000).map(|key| format!("user-{key}")).collect();
        let picks: Vec<Variant> = keys.iter().map(|key| canary.pick(&headers(&[("x-user-id", key)])).variant).collect();
        let again: Vec<Variant> = keys.iter().map(|key| canary.pick(&headers(&[("x-user-id", key)])).variant).collect();
        assert_eq!(picks, again);
        let share = picks.iter().filter(|variant| **variant == Variant::Canary).count();
        // 30% of 10000, within 5 standard deviations (sqrt(10000 * 0.3 * 0.7) = 46).
        assert!((2770..=3230).contains(&share), "{share}");
        // Raising the weight moves keys to the canary only.
        canary.set_weight(60.0).expect("in range");
        for (key, before) in keys.iter().zip(&picks) {
            let now = canary.pick(&headers(&[("x-user-id", key)])).variant;
            assert!(*before == Variant::Stable || now == Variant::Canary, "{key}");
        }
    }

    #[test]
    fn the_cookie_pins_a_variant_while_the_weight_is_above_zero() {
        let canary = state(1.0, None, None);
        let pinned = headers(&[("cookie", "a=b; amphicorn-canary=canary")]);
        for _ in 0..100 {
            let pick = canary.pick(&pinned);
            assert_eq!((pick.variant, pick.set_cookie), (Variant::Canary, false));
        }
        let drawn = canary.pick(&headers(&[("cookie", "amphicorn-canary=other")]));
        assert!(drawn.set_cookie);
        let mut response = Response::new(());
        drawn.finish(&mut response);
        let cookie = response.headers().get(SET_COOKIE).and_then(|value| value.to_str().ok()).unwrap_or_default();
        assert!(cookie.starts_with("amphicorn-canary=") && cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"));
        canary.set_weight(0.0).expect("in range");
        let pick = canary.pick(&pinned);
        assert_eq!((pick.variant, pick.set_cookie), (Variant::Stable, false));
    }

    #[test]
    fn rolls_back_past_the_rate_once_enough_answers_are_in() {
        let canary = state(50.0, None, Some(0.1));
        let now = Instant::now();
        // 19 failures are not enough answers to judge.
        for _ in 0..MIN_ANSWERS - 1 {
            assert_eq!(canary.record(StatusCode::INTERNAL_SERVER_ERROR, now), None);
        }
        let message = canary.record(StatusCode::BAD_GATEWAY, now).expect("rolled back");
        assert!(message.contains("/next of mount /api rolled back"), "{message}");
        assert!(canary.weight_percent().abs() < f64::EPSILON);
        let described = canary.describe();
        assert_eq!(described["rolled_back"], json!(true));
        assert!(described["reason"].as_str().is_some_and(|reason| reason.contains("20 of 20")));
        // Only once; a new weight clears the reason and the window.
        assert_eq!(canary.record(StatusCode::INTERNAL_SERVER_ERROR, now), None);
        canary.set_weight(5.0).expect("in range");
        assert_eq!(canary.describe()["reason"], json!(null));
        assert!(canary.set_weight(100.5).is_err() && canary.set_weight(f64::NAN).is_err());
    }

    #[test]
    fn no_rollback_at_or_below_the_rate() {
        let canary = state(50.0, None, Some(0.1));
        let now = Instant::now();
        for answer in 0..200 {
            let status = if answer % 10 == 9 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
            assert_eq!(canary.record(status, now), None);
        }
        assert!((canary.weight_percent() - 50.0).abs() < f64::EPSILON);
    }

    /// Under workers, the supervisor adds the workers' states up field by field
    /// (`metrics/status_merge.rs`): each field says how.
    #[test]
    fn every_field_of_the_state_says_how_it_adds_up_over_workers() {
        let canary = state(1.0, Some("x-user-id"), Some(0.1));
        canary.attach_metrics(crate::metrics::Metrics::new().canaries.canary("/api", "/next"));
        let described = canary.describe();
        let fields = described.as_object().map(|fields| fields.keys().cloned().collect::<Vec<_>>());
        let fields = fields.unwrap_or_default();
        assert!(fields.len() > 10, "{described}");
        for name in fields {
            assert!(crate::metrics::status_merge::says_how_it_adds_up(&name), "the canary's {name:?}");
        }
    }

    #[test]
    fn answers_to_its_name_and_address() {
        let canary = state(1.0, None, None);
        for reference in ["api", "/api", "/api/"] {
            assert!(canary.answers_to(reference), "{reference}");
        }
        assert!(!canary.answers_to("next") && !canary.answers_to(""));
    }
}
