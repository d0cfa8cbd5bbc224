//! Shadow traffic: a mount (`shadow = "next"` on `/`) has a share of its requests run again
//! on another mount in the background, after its own answer went out, and the two answers
//! compared (`shadow_compare.rs`), so a team sees where the new app answers unlike the old
//! one before it takes any traffic.
//!
//! Which requests, decided when the request is routed (`shadow_route::prepare`): a method of
//! `shadow-methods` (default `GET`, `HEAD`: unsafe methods only when listed), drawn with
//! probability `shadow-sample`. A drawn request is then *skipped* (counted, not compared)
//! when its body was streamed rather than held in full (it cannot be sent twice), or when
//! `shadow-max-concurrency` comparisons of this pair are under way: a slot is taken before
//! the primary runs and held until the comparison ends, so at most that many copies of
//! answers are held at once and nothing queues without bound.
//!
//! The client's answer is never delayed or changed: its body is teed (`http/tee.rs`) as it
//! is sent, before the mount's compression (the app's own bytes are compared), up to
//! `BODY_CAP`; a body already whole in memory is kept as it is (a reference count), and the
//! tee only waits for its end. Once hyper is done with it, a task runs the shadow
//! (`shadow_run.rs`). An answer that did not reach its end (the app failed, the client
//! left) is skipped, as is one whose body passed the cap (the shadow is not run then).
//!
//! The shadow mount takes the request as its copy that answers at this mount's prefix (as
//! a canary does), under its own concurrency and body limits, with `X-Amphicorn-Shadow: 1`
//! added so it can skip side effects. Its fallback, canary and shadow do not apply. Shadow
//! requests are in no request metrics and not in the access log: only the comparisons are
//! counted (`metrics/shadow.rs`). A request the canary gave to its canary is not shadowed;
//! after a fallback, the answer compared is the fallback's, the one the client got.
//!
//! This file holds the settings and the per-pair state (the slots, the figures); the
//! request path is `shadow_route.rs`'s, the background run `shadow_run.rs`'s.

use std::sync::Arc;

use http::header::HeaderName;
use http::Method;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::router::MountPoint;
use crate::errors::Error;
use crate::metrics::{ShadowFigures, ShadowResult};

/// The most of each answer's body kept for a comparison: 1 MiB. Past it, the primary's
/// answer is not shadowed, and a shadow's is compared by status and headers only.
pub const BODY_CAP: usize = 1 << 20;

/// A mount's shadow as configured.
#[derive(Debug, Clone)]
pub struct ShadowSettings {
    pub shadow: MountPoint,
    /// The share of requests shadowed, 0 to 1.
    sample: f64,
    methods: Vec<Method>,
    pub(super) ignore_headers: Vec<HeaderName>,
    max_concurrency: usize,
}

impl ShadowSettings {
    /// The settings Python passes; an error naming the setting for a bad value.
    pub fn new(
        shadow: &str,
        sample: f64,
        methods: &[String],
        ignore_headers: &[String],
        max_concurrency: usize,
    ) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&sample) {
            return Err(Error::setting_value("shadow_sample", &sample.to_string(), "expected a rate from 0 to 1"));
        }
        if max_concurrency == 0 {
            return Err(Error::setting_value("shadow_max_concurrency", "0", "expected at least 1"));
        }
        let methods = methods
            .iter()
            .map(|text| {
                Method::from_bytes(text.as_bytes())
                    .map_err(|_| Error::setting_value("shadow_methods", text, "not an HTTP method"))
            })
            .collect::<Result<_, _>>()?;
        let ignore_headers = ignore_headers
            .iter()
            .map(|text| {
                HeaderName::from_bytes(text.as_bytes())
                    .map_err(|_| Error::setting_value("shadow_ignore_headers", text, "not a header name"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { shadow: MountPoint::parse(shadow)?, sample, methods, ignore_headers, max_concurrency })
    }
}

/// One mount's shadow while the server runs.
pub struct ShadowState {
    /// The labels of the primary and of the shadow mount, for the log.
    pub(super) mount: Arc<str>,
    pub(super) shadow: Arc<str>,
    pub(super) settings: ShadowSettings,
    /// `shadow-max-concurrency` slots.
    slots: Arc<Semaphore>,
    /// With `--admin-bind`: the pair's counters and recent differences.
    figures: Option<Arc<ShadowFigures>>,
}

impl ShadowState {
    /// The shadow of the mount labelled `mount`: the mount labelled `shadow`.
    pub fn new(
        mount: Arc<str>,
        shadow: Arc<str>,
        settings: ShadowSettings,
        figures: Option<Arc<ShadowFigures>>,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(settings.max_concurrency));
        Self { mount, shadow, settings, slots, figures }
    }

    /// One of the pair's `shadow-max-concurrency` slots, if one is free.
    pub(super) fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Whether a request with this method is drawn for shadowing (`shadow-methods`, `shadow-sample`).
    pub(super) fn draw(&self, method: &Method) -> bool {
        self.settings.methods.contains(method) && fastrand::f64() < self.settings.sample
    }

    /// Counts a comparison's result (with `--admin-bind`).
    pub(super) fn count(&self, result: ShadowResult) {
        if let Some(figures) = &self.figures {
            figures.count(result);
        }
    }

    /// Keeps a difference for `/status` (with `--admin-bind`).
    pub(super) fn remember(&self, difference: serde_json::Value) {
        if let Some(figures) = &self.figures {
            figures.remember(difference);
        }
    }
}

/// An error naming the first mount whose shadow is not another mount.
pub fn check_targets(mounts: &[(MountPoint, Option<&ShadowSettings>)]) -> Result<(), String> {
    for (point, settings) in mounts {
        let Some(shadow) = settings.map(|settings| &settings.shadow) else { continue };
        if shadow == point || !mounts.iter().any(|(other, _)| other == shadow) {
            return Err(format!("mount {point}: its shadow {shadow} is not another mount"));
        }
    }
    Ok(())
}
