//! What the server counts for `GET /metrics` on the admin listener (`server/admin.rs`), and
//! reads back for `GET /status` (`status.rs`): per mount, request durations, requests in
//! flight, refusals by reason, fallback replays, open WebSockets and body bytes
//! (`mount.rs`); per WSGI mount, its pool's threads, queue and queue waits (`pool.rs`);
//! client connections by protocol (`connections.rs`); shadow comparisons (`shadow.rs`); access-log lines dropped; requests
//! refused before any mount; the build; and the process (`process.rs`). Exposed through
//! `prometheus-client` (the official Rust client), in OpenMetrics or the Prometheus text
//! format 0.0.4.
//!
//! Names follow OpenTelemetry's HTTP semantic conventions where one exists
//! (`http.server.request.duration` becomes `http_server_request_duration_seconds`), else
//! start with `amphicorn_`. Every label is bounded: the mount's label (fixed at start), the
//! interface, the method (the nine standard ones, else `_OTHER`), the status code, the
//! refusal reason, the pool thread state, the protocol and TLS. Never a path.
//!
//! Cost on the request path: every handle a request updates is made when the server starts
//! and held by its mount (or connection), so each figure costs one or two atomic adds
//! (`mount.rs` says which). The duration histogram's series are made the first time a
//! method and status meet on a mount, then found with one atomic load. Figures the server
//! already keeps (queue depths, dropped log lines) are read at scrape time, at no cost to
//! requests. Without `--admin-bind` nothing here exists and nothing is recorded.
//!
//! Where the service records is `server/service.rs` (routing, refusals, replays,
//! WebSockets), the response body's end in `server/timeouts.rs` (`TrackedBody`), as the
//! access log does, the request body's in `http/request_body.rs`, connections in
//! `server/listen.rs` and the pools in `wsgi/pool.rs`.
//!
//! Under `--workers`, the supervisor adds its workers' figures up: their expositions in
//! `merge.rs`, their `/status` documents in `status_merge.rs`.

mod canary;
mod connections;
mod fallback_paths;
mod histogram;
mod labels;
pub mod merge;
mod mount;
mod pool;
mod process;
mod reason;
mod shadow;
mod status;
pub mod status_merge;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use canary::{CanaryFamilies, CanaryMetrics};
pub use connections::{ConnectionWatch, Connections};
pub use histogram::DurationHistogram;
pub use mount::{MountMetrics, OpenWebSocket, Recording, WebSockets};
pub use pool::{Busy, PoolFigures, Pools};
pub use reason::Reason;
pub use shadow::{ShadowFamilies, ShadowFigures, ShadowResult, SkipReason};

use crate::sync::lock;
use mount::MountFamilies;

/// Every metric of the process, registered once; shared by the admin listener (which
/// encodes it) and the server (which records into it).
pub struct Metrics {
    registry: Registry,
    families: MountFamilies,
    /// The counters of `Reason::SERVER`, in that order.
    server_refusals: Vec<Counter>,
    pools: Arc<Pools>,
    connections: Arc<Connections>,
    /// The access log's count of dropped lines, once the server has one.
    access_log_dropped: Arc<OnceLock<Arc<AtomicU64>>>,
    /// Every mount, in mount order, for `GET /status`.
    mounts: Mutex<Vec<Arc<MountMetrics>>>,
    /// When the metrics were made, first thing at start: the uptime's origin.
    started: Instant,
    /// The weighted canaries' weights and rollbacks (`canary.rs`).
    pub canaries: CanaryFamilies,
    /// A supervisor's: the workers it replaced, by cause (`WORKER_RESTART_CAUSES`).
    worker_restarts: Family<[(&'static str, String); 1], Counter>,
    /// Shadow traffic's comparisons (`shadow.rs`).
    pub shadows: ShadowFamilies,
}

/// Why a supervisor replaced a worker: its `--limit-max-requests` budget was spent, it
/// crashed, or a rolling restart (SIGHUP, `--reload`) replaced it.
pub const WORKER_RESTART_CAUSES: [&str; 3] = ["max_requests", "crash", "reload"];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let families = MountFamilies::register(&mut registry);
        let server_refusals = Reason::SERVER
            .iter()
            .map(|reason| {
                families.refused.get_or_create_owned(&[("mount", String::new()), ("reason", reason.label().to_owned())])
            })
            .collect();
        let pools = Pools::register(&mut registry);
        let connections = Connections::register(&mut registry);
        let access_log_dropped = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(AccessLogDrops(access_log_dropped.clone())));
        let build = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        build.get_or_create(&[("version", env!("CARGO_PKG_VERSION"))]).set(1);
        registry.register("amphicorn_build_info", "The amphicorn version serving, as a label; always 1", build);
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        let canaries = CanaryFamilies::register(&mut registry);
        let worker_restarts = Family::<[(&'static str, String); 1], Counter>::default();
        registry.register(
            "amphicorn_worker_restarts",
            "Worker processes the supervisor replaced, by cause",
            worker_restarts.clone(),
        );
        let shadows = ShadowFamilies::register(&mut registry);
        Self {
            registry,
            families,
            server_refusals,
            pools,
            connections,
            access_log_dropped,
            mounts: Mutex::default(),
            started: Instant::now(),
            canaries,
            worker_restarts,
            shadows,
        }
    }

    /// Counts a worker the supervisor replaced; false for a cause not in
    /// `WORKER_RESTART_CAUSES` (the label stays bounded).
    pub fn worker_restarted(&self, cause: &str) -> bool {
        let known = WORKER_RESTART_CAUSES.contains(&cause);
        if known {
            self.worker_restarts.get_or_create(&[("cause", cause.to_owned())]).inc();
        }
        known
    }

    /// The metrics of one mount, registered now: its in-flight gauges, refusal counters and
    /// others show as 0 from the first scrape. `interface` is `wsgi`, `asgi` or `static`;
    /// `fallback` the label of the mount it falls back to.
    pub fn mount(&self, label: &Arc<str>, interface: &'static str, fallback: Option<&str>) -> Arc<MountMetrics> {
        let mount = Arc::new(self.families.mount(label, interface, fallback));
        lock(&self.mounts).push(mount.clone());
        mount
    }

    /// Where WSGI pools are shown.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// Where client connections are counted.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }

    /// Shows the access log's count of dropped lines.
    pub fn watch_access_log(&self, dropped: Arc<AtomicU64>) {
        let _ = self.access_log_dropped.set(dropped);
    }

    /// Counts a request refused before it reached a mount.
    pub fn refuse(&self, reason: Reason) {
        if let Some(position) = Reason::SERVER.iter().position(|known| *known == reason) {
            if let Some(counter) = self.server_refusals.get(position) {
                counter.inc();
            }
        }
    }

    /// The exposition: OpenMetrics (ending in `# EOF`) or the Prometheus text format 0.0.4.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(8192);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        }
        Ok(text)
    }
}

/// Samples the access log's count of dropped lines (0 without an access log).
struct AccessLogDrops(Arc<OnceLock<Arc<AtomicU64>>>);

impl std::fmt::Debug for AccessLogDrops {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("AccessLogDrops").finish_non_exhaustive()
    }
}

impl Collector for AccessLogDrops {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = self.0.get().map_or(0, |dropped| dropped.load(Ordering::Relaxed));
        let counter = ConstCounter::new(dropped);
        let help = "Access-log lines dropped because stdout could not keep up";
        counter.encode(encoder.encode_descriptor(
            "amphicorn_access_log_dropped_lines",
            help,
            None,
            counter.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};

    /// The cost of recording one request (start, status, end), single-threaded:
    /// `cargo test --profile fast --lib recording_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn recording_cost() {
        let metrics = Metrics::new();
        let mount = metrics.mount(&Arc::from("/legacy"), "wsgi", None);
        let rounds = 1_000_000_u32;
        let started = Instant::now();
        for _ in 0..rounds {
            let mut recording = Recording::start(&mount, &Method::GET, started);
            recording.respond(StatusCode::OK);
        }
        let recording = started.elapsed() / rounds;
        // The clock read each recording makes (`elapsed`), for comparison.
        let clock = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(clock.elapsed());
        }
        println!("{recording:?} per request, of which a clock read takes {:?}", clock.elapsed() / rounds);
    }

    #[test]
    fn a_request_is_in_flight_until_dropped_then_in_the_histogram() -> Result<(), std::fmt::Error> {
        let metrics = Metrics::new();
        let mount = metrics.mount(&Arc::from("/legacy"), "wsgi", None);
        let mut recording = Recording::start(&mount, &Method::POST, Instant::now());
        let text = metrics.encode(false)?;
        let active = r#"http_server_active_requests{mount="/legacy",interface="wsgi",http_request_method="POST"} 1"#;
        assert!(text.contains(active), "{text}");
        recording.respond(StatusCode::CREATED);
        drop(recording);
        // A status past the table's slots is counted all the same.
        let mut unusual = Recording::start(&mount, &Method::POST, Instant::now());
        unusual.respond(StatusCode::from_u16(799).unwrap_or(StatusCode::OK));
        drop(unusual);
        mount.refuse(Reason::ConcurrencyLimit);
        metrics.refuse(Reason::NoMount);
        let text = metrics.encode(true)?;
        assert!(text.contains(&active.replace("} 1", "} 0")), "{text}");
        let count = r#"http_server_request_duration_seconds_count{mount="/legacy",interface="wsgi",http_request_method="POST",http_response_status_code="201"} 1"#;
        assert!(text.contains(count), "{text}");
        assert!(text.contains(&count.replace("201", "799")), "{text}");
        assert!(
            text.contains(r#"amphicorn_requests_refused_total{mount="/legacy",reason="concurrency_limit"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"amphicorn_requests_refused_total{mount="",reason="no_mount"} 1"#), "{text}");
        assert!(text.contains(r#"amphicorn_build_info{version=""#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        Ok(())
    }
}
