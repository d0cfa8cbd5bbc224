//! What the server counts for `GET /metrics` on the admin listener (`server/admin.rs`):
//! request durations and requests in flight per mount, requests refused before any app by
//! reason, the build, and the process (`process.rs`). Exposed through `prometheus-client`
//! (the official Rust client), in OpenMetrics or the Prometheus text format 0.0.4.
//!
//! Names follow OpenTelemetry's HTTP semantic conventions where one exists
//! (`http.server.request.duration` becomes `http_server_request_duration_seconds`). Every
//! label is bounded: the mount's label (fixed at start), the interface, the method (the nine
//! standard ones, else `_OTHER`), the status code and the refusal reason. Never a path.
//!
//! Cost on the request path: each mount's in-flight gauges (one per method) and refusal
//! counters are registered when the server starts and held by the mount, so updating them
//! is one atomic add. The status is only known at the end, so a histogram series is made
//! (registered in its family) the first time a method and status meet on a mount, and kept
//! in the mount's table indexed by both: a finished request finds it with one atomic load
//! and adds to it with atomics (`histogram.rs`). Without `--admin-bind` nothing here exists
//! and nothing is recorded.
//!
//! Where the service records is `server/service.rs` (routing and refusals) and the response
//! body's end in `server/timeouts.rs` (`TrackedBody`), as the access log does.

mod canary;
mod histogram;
mod process;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use canary::{CanaryFamilies, CanaryMetrics};
pub use histogram::DurationHistogram;

/// The status a request is recorded with when its client left before the response head
/// (nginx's 499, as in the access log).
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// OpenTelemetry's known HTTP methods; any other is `_OTHER`.
const METHODS: [&str; 10] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"];

/// The status codes a mount's table holds a slot for: 100 to 599 (others, which `http`
/// allows up to 999, are looked up in the family).
const STATUSES: std::ops::Range<u16> = 100..600;

fn method_index(method: &Method) -> usize {
    METHODS.iter().position(|known| *known == method.as_str()).unwrap_or(METHODS.len() - 1)
}

/// Why a request was answered before any app ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `400`: conflicting or malformed `Content-Length`/`Transfer-Encoding`.
    BadFraming,
    /// `431`/`414`: a request line or headers over `--max-header-size`.
    HeadersTooLarge,
    /// `400`: `*` as the target of a method other than `OPTIONS`.
    BadTarget,
    /// `501`: `CONNECT`; we are not a proxy.
    NotAProxy,
    /// `404`: no mount covers the path.
    NoMount,
    /// `503`: the mount's `--limit-concurrency` is reached.
    ConcurrencyLimit,
    /// `413`: a body over `--max-body-size`.
    BodyTooLarge,
    /// `408`: the body stalled past `--timeout-request-body`.
    BodyTimeout,
    /// `400`: a body that could not be read (bad chunking, the client gone).
    BadBody,
}

impl Reason {
    /// The reasons counted before a mount is known (label `mount=""`).
    const SERVER: [Self; 5] =
        [Self::BadFraming, Self::HeadersTooLarge, Self::BadTarget, Self::NotAProxy, Self::NoMount];
    /// The reasons counted for a mount.
    const MOUNT: [Self; 4] = [Self::ConcurrencyLimit, Self::BodyTooLarge, Self::BodyTimeout, Self::BadBody];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::BadFraming => "bad_framing",
            Self::HeadersTooLarge => "headers_too_large",
            Self::BadTarget => "bad_target",
            Self::NotAProxy => "not_a_proxy",
            Self::NoMount => "no_mount",
            Self::ConcurrencyLimit => "concurrency_limit",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BadBody => "bad_body",
        }
    }
}

/// `mount`, `interface`, `http_request_method`, `http_response_status_code`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RequestLabels {
    mount: Arc<str>,
    interface: &'static str,
    method: &'static str,
    status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeLabel;
        ("mount", &*self.mount).encode(encoder.encode_label())?;
        ("interface", self.interface).encode(encoder.encode_label())?;
        ("http_request_method", self.method).encode(encoder.encode_label())?;
        ("http_response_status_code", u32::from(self.status)).encode(encoder.encode_label())
    }
}

/// `mount`, `interface`, `http_request_method`.
type ActiveLabels = [(&'static str, String); 3];
/// `mount`, `reason`.
type RefusalLabels = [(&'static str, String); 2];

/// Every metric of the process, registered once; shared by the admin listener (which
/// encodes it) and the server (which records into it).
pub struct Metrics {
    registry: Registry,
    durations: Family<RequestLabels, DurationHistogram>,
    active: Family<ActiveLabels, Gauge>,
    refused: Family<RefusalLabels, Counter>,
    /// The counters of `Reason::SERVER`, in that order.
    server_refusals: Vec<Counter>,
    /// The weighted canaries' weights and rollbacks (`canary.rs`).
    pub canaries: CanaryFamilies,
}

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
        let durations = Family::<RequestLabels, DurationHistogram>::default();
        registry.register(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, until the response body is sent",
            durations.clone(),
        );
        let active = Family::<ActiveLabels, Gauge>::default();
        registry.register("http_server_active_requests", "Number of active HTTP server requests", active.clone());
        let refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "amphicorn_requests_refused",
            "Requests answered by the server before any app ran, by reason (mount empty when none was chosen)",
            refused.clone(),
        );
        let server_refusals = Reason::SERVER
            .iter()
            .map(|reason| {
                refused.get_or_create_owned(&[("mount", String::new()), ("reason", reason.label().to_owned())])
            })
            .collect();
        let build = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        build.get_or_create(&[("version", env!("CARGO_PKG_VERSION"))]).set(1);
        registry.register("amphicorn_build_info", "The amphicorn version serving, as a label; always 1", build);
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        let canaries = CanaryFamilies::register(&mut registry);
        Self { registry, durations, active, refused, server_refusals, canaries }
    }

    /// The metrics of one mount, registered now: its in-flight gauges and refusal counters
    /// show as 0 from the first scrape. `interface` is `wsgi`, `asgi` or `static`.
    pub fn mount(&self, label: &Arc<str>, interface: &'static str) -> Arc<MountMetrics> {
        let active = METHODS.map(|method| {
            self.active.get_or_create_owned(&[
                ("mount", label.to_string()),
                ("interface", interface.to_owned()),
                ("http_request_method", method.to_owned()),
            ])
        });
        let refused = Reason::MOUNT.map(|reason| {
            self.refused.get_or_create_owned(&[("mount", label.to_string()), ("reason", reason.label().to_owned())])
        });
        let slots = METHODS.len() * STATUSES.len();
        let series = (0..slots).map(|_| OnceLock::new()).collect();
        Arc::new(MountMetrics {
            label: label.clone(),
            interface,
            durations: self.durations.clone(),
            series,
            active,
            refused,
        })
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

/// One mount's handles into the metrics, made at start.
pub struct MountMetrics {
    label: Arc<str>,
    interface: &'static str,
    durations: Family<RequestLabels, DurationHistogram>,
    /// The series of `durations` met so far, by method and then status (`STATUSES`):
    /// 5,000 slots, 80 KB per mount.
    series: Box<[OnceLock<DurationHistogram>]>,
    /// One per entry of `METHODS`.
    active: [Gauge; METHODS.len()],
    /// One per entry of `Reason::MOUNT`.
    refused: [Counter; Reason::MOUNT.len()],
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
}

/// One request on its way through a mount: in flight from its creation, recorded in the
/// duration histogram with its status when dropped (when its response body has been sent,
/// or when the client left).
pub struct Recording {
    mount: Arc<MountMetrics>,
    method: usize,
    started: Instant,
    status: Option<StatusCode>,
}

impl Recording {
    pub fn start(mount: &Arc<MountMetrics>, method: &Method, started: Instant) -> Self {
        let method = method_index(method);
        if let Some(gauge) = mount.active.get(method) {
            gauge.inc();
        }
        Self { mount: mount.clone(), method, started, status: None }
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
}

impl Drop for Recording {
    fn drop(&mut self) {
        let mount = &self.mount;
        if let Some(gauge) = mount.active.get(self.method) {
            gauge.dec();
        }
        let status = self.status.map_or(CLIENT_CLOSED_REQUEST, |status| status.as_u16());
        mount.observe(self.method, status, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cost of recording one request (start, status, end), single-threaded:
    /// `cargo test --profile fast --lib recording_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn recording_cost() {
        let metrics = Metrics::new();
        let mount = metrics.mount(&Arc::from("/legacy"), "wsgi");
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
    fn unknown_methods_are_other() {
        assert_eq!(METHODS[method_index(&Method::GET)], "GET");
        assert_eq!(METHODS[method_index(&Method::PATCH)], "PATCH");
        let custom = Method::from_bytes(b"PROPFIND").unwrap_or(Method::GET);
        assert_eq!(METHODS[method_index(&custom)], "_OTHER");
    }

    #[test]
    fn a_request_is_in_flight_until_dropped_then_in_the_histogram() -> Result<(), std::fmt::Error> {
        let metrics = Metrics::new();
        let mount = metrics.mount(&Arc::from("/legacy"), "wsgi");
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
