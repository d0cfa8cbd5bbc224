//! `GET /status` on the admin listener: a JSON summary in the spirit of NGINX Unit's
//! `/status`, read from the same atomics `/metrics` exposes (nothing is counted twice).
//!
//! ```json
//! {
//!   "version": "0.1.0", "uptime_seconds": 12.5, "pid": 4242,
//!   "requests": 130, "rss_bytes": 52428800,
//!   "mounts": {
//!     "/legacy": {
//!       "interface": "wsgi",
//!       "requests": {"total": 120, "1xx": 0, "2xx": 110, "3xx": 0, "4xx": 9, "5xx": 1},
//!       "in_flight": 2,
//!       "refused": {"concurrency_limit": 1, "body_too_large": 0, "body_timeout": 0, "bad_body": 0},
//!       "fallback_replays": 0, "websockets_open": 0,
//!       "request_body_bytes": 0, "response_body_bytes": 4800,
//!       "wsgi": {"threads": {"busy": 1, "idle": 3}, "queue_depth": 0}
//!     }
//!   },
//!   "refused": {"no_mount": 1, ...}
//! }
//! ```
//!
//! `requests` counts what the mounts answered (recorded when each response body ended, a
//! client that left before the head as 499) plus what the server refused before choosing a
//! mount (`refused`). `fallback_replays` is there only for a mount with a fallback (counted
//! on the mount that said 404), with `fallback_paths`: the paths the fallback answered,
//! normalised (`/users/{int}`), most answered first (`fallback_paths.rs`); `wsgi` only for
//! WSGI mounts.
//!
//! Fields keep their order, and mounts their mount order (serde_json's `preserve_order`).
//! The document is built as two field lists, `process_fields` (the top level) and
//! `mount_fields` (one mount): later figures join one of them. With `--workers` the
//! supervisor adds `workers` (one entry per worker: pid, requests, RSS) to the top level;
//! the migration aids (shadow, canary) add their own entries to a mount's fields. How each
//! field adds up over workers, and whether it outlives one, is `status_merge.rs`'s `figure`:
//! a new field is named there too (a test there checks).

use serde_json::{json, Map, Value};

use super::fallback_paths::PathCount;
use super::labels::{by_class, class_index, CLASSES};
use super::mount::MountMetrics;
use super::process::resident_memory_bytes;
use super::reason::Reason;
use super::Metrics;
use crate::sync::lock;

impl Metrics {
    /// The `GET /status` document.
    pub fn status(&self) -> Value {
        Value::Object(self.process_fields().into_iter().map(|(name, value)| (name.to_owned(), value)).collect())
    }

    /// The top level's fields, in order.
    fn process_fields(&self) -> Vec<(&'static str, Value)> {
        let mounts = lock(&self.mounts).clone();
        let mut requests: u64 = 0;
        let mut described = Map::new();
        for mount in &mounts {
            let (fields, answered) = mount_fields(mount);
            requests += answered;
            let fields = fields.into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
            described.insert(mount.label.to_string(), Value::Object(fields));
        }
        let mut refused = Map::new();
        for (reason, counter) in Reason::SERVER.iter().zip(&self.server_refusals) {
            requests += counter.get();
            refused.insert(reason.label().to_owned(), json!(counter.get()));
        }
        vec![
            ("version", json!(env!("CARGO_PKG_VERSION"))),
            ("uptime_seconds", json!(self.started.elapsed().as_secs_f64())),
            ("pid", json!(std::process::id())),
            ("requests", json!(requests)),
            ("rss_bytes", json!(resident_memory_bytes().map(|bytes| bytes as u64))),
            ("mounts", Value::Object(described)),
            ("refused", Value::Object(refused)),
        ]
    }
}

/// How many of a fallback pair's paths `/status` lists, most answered first.
pub(super) const FALLBACK_PATHS_LISTED: usize = 100;

/// One path the fallback answered: `{"path", "count", "1xx".."5xx", "error"}`.
fn path_entry(entry: PathCount) -> Value {
    let mut fields = Map::new();
    fields.insert("path".to_owned(), json!(entry.path));
    fields.insert("count".to_owned(), json!(entry.count));
    for (class, count) in CLASSES.iter().zip(entry.by_class) {
        fields.insert((*class).to_owned(), json!(count));
    }
    fields.insert("error".to_owned(), json!(entry.error));
    Value::Object(fields)
}

/// One mount's fields, in order, and the requests it answered.
fn mount_fields(mount: &MountMetrics) -> (Vec<(&'static str, Value)>, u64) {
    let (statuses, in_flight) = mount.requests();
    let mut classes = [0_u64; CLASSES.len()];
    for (status, count) in statuses {
        if let Some(class) = class_index(status).and_then(|index| classes.get_mut(index)) {
            *class += count;
        }
    }
    let total: u64 = classes.iter().sum();
    let refused: Map<String, Value> = Reason::MOUNT
        .iter()
        .zip(&mount.refused)
        .map(|(reason, counter)| (reason.label().to_owned(), json!(counter.get())))
        .collect();
    let mut fields = vec![
        ("interface", json!(mount.interface)),
        ("requests", by_class(classes)),
        ("in_flight", json!(in_flight)),
        ("refused", Value::Object(refused)),
    ];
    if let Some(fallback) = &mount.replays {
        fields.push(("fallback_replays", json!(fallback.replays.get())));
        let paths: Vec<Value> = fallback.paths.top(FALLBACK_PATHS_LISTED).into_iter().map(path_entry).collect();
        fields.push(("fallback_paths", Value::Array(paths)));
    }
    fields.push(("websockets_open", json!(mount.websockets.get())));
    fields.push(("request_body_bytes", json!(mount.request_bytes().get())));
    fields.push(("response_body_bytes", json!(mount.response_bytes.get())));
    if let Some(pool) = mount.pool.get() {
        let threads = json!({"busy": pool.busy(), "idle": pool.idle()});
        fields.push(("wsgi", json!({"threads": threads, "queue_depth": pool.queue_depth()})));
    }
    if let Some(shadow) = mount.shadow.get() {
        fields.push(("shadow", shadow.describe()));
    }
    (fields, total)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use http::{Method, StatusCode};

    use super::*;
    use crate::metrics::Recording;

    #[test]
    fn the_status_sums_what_the_metrics_counted() {
        let metrics = Metrics::new();
        let legacy = metrics.mount(&Arc::from("/legacy"), "wsgi", Some("/"));
        let api = metrics.mount(&Arc::from("/api"), "asgi", None);
        for status in [200, 201, 404, 503] {
            let mut recording = Recording::start(&legacy, &Method::GET, Instant::now());
            recording.respond(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
            recording.add_bytes(10);
        }
        let _in_flight = Recording::start(&api, &Method::POST, Instant::now());
        legacy.replayed();
        legacy.refuse(Reason::ConcurrencyLimit);
        metrics.refuse(Reason::NoMount);
        let pool = legacy.watch_pool(metrics.pools(), 4, Box::new(|| 3));
        let _busy = pool.take(Some(Instant::now()));
        let status = metrics.status();
        assert_eq!(status["requests"], 5);
        assert_eq!(status["refused"]["no_mount"], 1);
        let mount = &status["mounts"]["/legacy"];
        assert_eq!(mount["interface"], "wsgi");
        assert_eq!(mount["requests"], json!({"total": 4, "1xx": 0, "2xx": 2, "3xx": 0, "4xx": 1, "5xx": 1}));
        assert_eq!(mount["refused"]["concurrency_limit"], 1);
        assert_eq!(mount["fallback_replays"], 1);
        assert_eq!(mount["response_body_bytes"], 40);
        assert_eq!(mount["wsgi"], json!({"threads": {"busy": 1, "idle": 3}, "queue_depth": 3}));
        let api = &status["mounts"]["/api"];
        assert_eq!(api["in_flight"], 1);
        assert!(api.get("fallback_replays").is_none() && api.get("wsgi").is_none(), "{api}");
        assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
        // Fields in the lists' order, mounts in mount order (serde_json's `preserve_order`).
        let keys = |value: &Value| value.as_object().map(|map| map.keys().cloned().collect::<Vec<_>>());
        let top = ["version", "uptime_seconds", "pid", "requests", "rss_bytes", "mounts", "refused"];
        assert_eq!(keys(&status), Some(top.map(String::from).to_vec()));
        assert_eq!(keys(&status["mounts"]), Some(vec!["/legacy".to_owned(), "/api".to_owned()]));
    }
}
