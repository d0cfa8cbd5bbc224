//! One mount's figures: its families (registered once, in `Metrics::new`) and the handles a
//! mount holds into them (`MountMetrics`, made at start), and the `Recording` of one request
//! through a mount, from routing to the end of its response body.
//!
//! Every handle is made at start, so a request updates each figure with one atomic add: its
//! method's in-flight gauge (up, then down), its duration series (`histogram.rs`), one add
//! of its request body's bytes (where the body is read, `http/request_body.rs`) and one of
//! its response body's (counted in the `Recording` as it is sent, added when it ends).
//! Refusals, fallback replays (and the fallback's answers, with the paths it answered:
//! `fallback_paths.rs`) and WebSockets are counted when they happen. The WSGI pool's
//! figures are `pool.rs`'s; `status.rs` reads all of these for `GET /status`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::fallback_paths::FallbackPaths;
use super::histogram::DurationHistogram;
use super::labels::{method_index, RequestLabels, CLIENT_CLOSED_REQUEST, METHODS, STATUSES};
use super::pool::{PoolFigures, Pools};
use super::reason::Reason;
use super::shadow::ShadowFigures;

/// `mount`, `interface`, `http_request_method`.
type ActiveLabels = [(&'static str, String); 3];
/// `mount` and one more: `reason` (refusals) or `fallback` (replays).
type PairLabels = [(&'static str, String); 2];
/// `mount`, `fallback`, `http_response_status_code`: what the fallback answered.
type FallbackAnswerLabels = [(&'static str, String); 3];
/// `mount`.
type MountLabel = [(&'static str, String); 1];

/// The families every mount has series in.
#[derive(Clone)]
pub(super) struct MountFamilies {
    durations: Family<RequestLabels, DurationHistogram>,
    active: Family<ActiveLabels, Gauge>,
    pub(super) refused: Family<PairLabels, Counter>,
    replays: Family<PairLabels, Counter>,
    fallback_answers: Family<FallbackAnswerLabels, Counter>,
    websockets: Family<MountLabel, Gauge>,
    request_bytes: Family<MountLabel, Counter>,
    response_bytes: Family<MountLabel, Counter>,
}

impl MountFamilies {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let families = Self {
            durations: Family::default(),
            active: Family::default(),
            refused: Family::default(),
            replays: Family::default(),
            fallback_answers: Family::default(),
            websockets: Family::default(),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
        };
        registry.register(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, until the response body is sent",
            families.durations.clone(),
        );
        registry.register(
            "http_server_active_requests",
            "Number of active HTTP server requests",
            families.active.clone(),
        );
        registry.register(
            "amphicorn_requests_refused",
            "Requests answered by the server before any app ran, by reason (mount empty when none was chosen)",
            families.refused.clone(),
        );
        registry.register(
            "amphicorn_fallback_replays",
            "Requests a mount answered 404 to and replayed on its fallback mount",
            families.replays.clone(),
        );
        registry.register(
            "amphicorn_fallback_answers",
            "Answers of a mount's fallback to the requests it replayed, by status",
            families.fallback_answers.clone(),
        );
        registry.register(
            "amphicorn_websockets_open",
            "WebSocket connections open, from the upgrade to the close",
            families.websockets.clone(),
        );
        registry.register(
            "amphicorn_request_body_bytes",
            "Request body bytes read from clients, by the mount that took the request",
            families.request_bytes.clone(),
        );
        registry.register(
            "amphicorn_response_body_bytes",
            "Response body bytes sent to clients, by the mount that answered",
            families.response_bytes.clone(),
        );
        families
    }

    /// One mount's handles: every series it has shows (as 0) from the first scrape, but the
    /// duration series, made when a method and status first meet.
    pub(super) fn mount(&self, label: &Arc<str>, interface: &'static str, fallback: Option<&str>) -> MountMetrics {
        let mount = || ("mount", label.to_string());
        let active = METHODS.map(|method| {
            self.active.get_or_create_owned(&[
                mount(),
                ("interface", interface.to_owned()),
                ("http_request_method", method.to_owned()),
            ])
        });
        let refused = Reason::MOUNT
            .map(|reason| self.refused.get_or_create_owned(&[mount(), ("reason", reason.label().to_owned())]));
        let replays = fallback.map(|fallback| Fallback {
            replays: self.replays.get_or_create_owned(&[mount(), ("fallback", fallback.to_owned())]),
            answers: self.fallback_answers.clone(),
            labels: [mount(), ("fallback", fallback.to_owned())],
            paths: FallbackPaths::new(FALLBACK_PATHS_KEPT),
        });
        let slots = METHODS.len() * STATUSES.len();
        MountMetrics {
            label: label.clone(),
            interface,
            durations: self.durations.clone(),
            series: (0..slots).map(|_| OnceLock::new()).collect(),
            active,
            refused,
            replays,
            websockets: self.websockets.get_or_create_owned(&[mount()]),
            request_bytes: self.request_bytes.get_or_create_owned(&[mount()]),
            response_bytes: self.response_bytes.get_or_create_owned(&[mount()]),
            pool: OnceLock::new(),
            shadow: OnceLock::new(),
        }
    }
}

/// How many paths each fallback pair's map keeps (it reports the most frequent of them).
const FALLBACK_PATHS_KEPT: usize = 1000;

/// A mount's fallback: its replays, the answers to them, and the paths answered.
pub(super) struct Fallback {
    pub(super) replays: Counter,
    answers: Family<FallbackAnswerLabels, Counter>,
    /// `mount` and `fallback`.
    labels: PairLabels,
    pub(super) paths: FallbackPaths,
}

/// One mount's handles into the metrics, made at start.
pub struct MountMetrics {
    pub(super) label: Arc<str>,
    pub(super) interface: &'static str,
    durations: Family<RequestLabels, DurationHistogram>,
    /// The series of `durations` met so far, by method and then status (`STATUSES`):
    /// 5,000 slots, 80 KB per mount.
    series: Box<[OnceLock<DurationHistogram>]>,
    /// One per entry of `METHODS`.
    active: [Gauge; METHODS.len()],
    /// One per entry of `Reason::MOUNT`.
    pub(super) refused: [Counter; Reason::MOUNT.len()],
    /// Replays on the fallback mount and what it answered (None: the mount has none).
    pub(super) replays: Option<Fallback>,
    pub(super) websockets: Gauge,
    request_bytes: Counter,
    pub(super) response_bytes: Counter,
    /// A WSGI mount's pool (set once its pool runs).
    pub(super) pool: OnceLock<Arc<PoolFigures>>,
    /// Its shadow's comparisons (set when it has a shadow).
    pub(super) shadow: OnceLock<Arc<ShadowFigures>>,
}

impl MountMetrics {
    fn observe(&self, method: usize, status: u16, elapsed: Duration) {
        let labels = || RequestLabels {
            mount: self.label.clone(),
            interface: self.interface,
            method: METHODS.get(method).copied().unwrap_or("_OTHER"),
            status,
        };
        let slot = STATUSES
            .contains(&status)
            .then(|| method * STATUSES.len() + usize::from(status - STATUSES.start))
            .and_then(|index| self.series.get(index));
        match slot {
            Some(slot) => slot.get_or_init(|| self.durations.get_or_create_owned(&labels())).observe(elapsed),
            None => self.durations.get_or_create(&labels()).observe(elapsed),
        }
    }

    /// Counts a request this mount refused before its app ran.
    pub fn refuse(&self, reason: Reason) {
        if let Some(position) = Reason::MOUNT.iter().position(|known| *known == reason) {
            if let Some(counter) = self.refused.get(position) {
                counter.inc();
            }
        }
    }

    /// Counts a request replayed on this mount's fallback.
    pub fn replayed(&self) {
        if let Some(fallback) = &self.replays {
            fallback.replays.inc();
        }
    }

    /// Counts the fallback's answer to a replayed request for `path`: by status, and in the
    /// map of the paths the old app still answers (`fallback_paths.rs`).
    pub fn fallback_answered(&self, path: &str, status: StatusCode) {
        if let Some(fallback) = &self.replays {
            let [mount, pair] = fallback.labels.clone();
            let code = ("http_response_status_code", status.as_u16().to_string());
            fallback.answers.get_or_create(&[mount, pair, code]).inc();
            fallback.paths.record(path, status.as_u16());
        }
    }

    /// Where this mount's request body bytes are counted.
    pub fn request_bytes(&self) -> &Counter {
        &self.request_bytes
    }

    /// The gauge of this mount's open WebSockets, for the connection's task to hold.
    pub fn websockets(&self) -> WebSockets {
        WebSockets(self.websockets.clone())
    }

    /// Shows a WSGI mount's pool: its threads, queue and queue waits, as `pools` samples them.
    pub fn watch_pool(
        &self,
        pools: &Pools,
        size: usize,
        depth: Box<dyn Fn() -> usize + Send + Sync>,
    ) -> Arc<PoolFigures> {
        self.pool.get_or_init(|| pools.add(&self.label, size, depth)).clone()
    }

    /// Shows this mount's shadow comparisons in `GET /status` (`figures`: the pair's).
    pub fn show_shadow(&self, figures: Arc<ShadowFigures>) {
        let _ = self.shadow.set(figures);
    }

    /// (requests by status code, in flight): what `GET /status` shows, read from the same
    /// atomics as `/metrics` (statuses past 599, which no client should see, are left out).
    pub(super) fn requests(&self) -> (Vec<(u16, u64)>, i64) {
        let mut statuses: Vec<(u16, u64)> = Vec::new();
        for (index, slot) in self.series.iter().enumerate() {
            if let Some(series) = slot.get() {
                let status = STATUSES.start + u16::try_from(index % STATUSES.len()).unwrap_or(0);
                statuses.push((status, series.count()));
            }
        }
        let in_flight = self.active.iter().map(Gauge::get).sum();
        (statuses, in_flight)
    }
}

/// A mount's open WebSockets: `open()` counts one until the guard is dropped.
#[derive(Clone)]
pub struct WebSockets(Gauge);

impl WebSockets {
    pub fn open(&self) -> OpenWebSocket {
        self.0.inc();
        OpenWebSocket(self.0.clone())
    }
}

/// One open WebSocket, counted until dropped.
pub struct OpenWebSocket(Gauge);

impl Drop for OpenWebSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One request on its way through a mount: in flight from its creation, recorded in the
/// duration histogram with its status, and its response body's bytes, when dropped (when
/// its response body has been sent, or when the client left).
pub struct Recording {
    mount: Arc<MountMetrics>,
    method: usize,
    started: Instant,
    status: Option<StatusCode>,
    /// Response body bytes sent so far.
    sent: u64,
}

impl Recording {
    pub fn start(mount: &Arc<MountMetrics>, method: &Method, started: Instant) -> Self {
        let method = method_index(method);
        if let Some(gauge) = mount.active.get(method) {
            gauge.inc();
        }
        Self { mount: mount.clone(), method, started, status: None, sent: 0 }
    }

    /// The request went on to another mount (a fallback): it is counted there instead.
    pub fn move_to(&mut self, mount: &Arc<MountMetrics>) {
        if let Some(gauge) = self.mount.active.get(self.method) {
            gauge.dec();
        }
        if let Some(gauge) = mount.active.get(self.method) {
            gauge.inc();
        }
        self.mount = mount.clone();
    }

    /// The response head is out with this status.
    pub fn respond(&mut self, status: StatusCode) {
        self.status = Some(status);
    }

    /// `bytes` more of the response body went to hyper.
    pub fn add_bytes(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let mount = &self.mount;
        if let Some(gauge) = mount.active.get(self.method) {
            gauge.dec();
        }
        if self.sent > 0 {
            mount.response_bytes.inc_by(self.sent);
        }
        let status = self.status.map_or(CLIENT_CLOSED_REQUEST, |status| status.as_u16());
        mount.observe(self.method, status, self.started.elapsed());
    }
}
