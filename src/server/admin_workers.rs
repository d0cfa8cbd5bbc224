//! The supervisor's admin listener under `--workers N`: one scrape covers every worker.
//!
//! Each worker serves its own admin listener on a private Unix socket that the supervisor
//! names (`admin_workers.py` on the Python side), and tells nobody else about. Here the
//! supervisor's `/metrics` asks each live worker for its exposition (at once, each bounded by
//! `WORKER_SCRAPE`) and answers with their sum (`metrics/merge.rs`).
//!
//! Counters never go backwards across worker restarts: each worker's last exposition is
//! kept, and when the supervisor reports a worker gone, its counters and histograms are added
//! to the `retired` figures, which every later answer includes. A worker that stops
//! gracefully writes its final exposition next to its socket (`<socket>.final`) as it exits,
//! so nothing it counted is lost; one that dies abruptly leaves what the last scrape saw,
//! which a refresh every `REFRESH` keeps recent. A worker that does not answer in time is
//! counted with its last exposition.
//!
//! Liveness is the supervisor's: `/healthz` is `200` while it has live workers. Readiness
//! is what the supervisor says (`set_ready`): ready once a worker serves, not ready from a
//! stop signal on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::UnixStream;

use crate::metrics::merge::Exposition;
use crate::sync::lock;

/// Longest a scrape waits for one worker.
const WORKER_SCRAPE: Duration = Duration::from_secs(2);
/// How often the workers' figures are refreshed between scrapes.
pub const REFRESH: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Live {
    /// The `worker` label of its per-process figures: its slot, which a replacement reuses.
    slot: u32,
    socket: PathBuf,
    last: Option<Exposition>,
}

/// The workers as the supervisor's admin listener sees them.
#[derive(Debug, Default)]
pub struct Workers {
    live: Mutex<Vec<Live>>,
    /// The counts of every worker gone so far.
    retired: Mutex<Exposition>,
    ready: AtomicBool,
}

impl Workers {
    /// A worker started, serving its admin listener on `socket` (soon).
    pub fn started(&self, slot: u32, socket: PathBuf) {
        lock(&self.live).push(Live { slot, socket, last: None });
    }

    /// The worker of `socket` is gone: its counts join the retired ones (its final
    /// exposition when it wrote one, else the last one read).
    pub fn gone(&self, socket: &Path) {
        let Some(live) = ({
            let mut workers = lock(&self.live);
            let at = workers.iter().position(|live| live.socket == socket);
            at.map(|at| workers.remove(at))
        }) else {
            return;
        };
        let final_path = final_exposition(socket);
        let last = match std::fs::read_to_string(&final_path) {
            Ok(text) => Some(Exposition::parse(&text)),
            Err(_) => live.last,
        };
        let _ = std::fs::remove_file(final_path);
        if let Some(last) = last {
            lock(&self.retired).absorb(&last.counted(), "");
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// `/readyz`.
    pub fn readiness(&self) -> (StatusCode, &'static str) {
        if self.ready.load(Ordering::Relaxed) {
            (StatusCode::OK, "ready\n")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }
    }

    /// `/healthz`.
    pub fn liveness(&self) -> (StatusCode, &'static str) {
        if lock(&self.live).is_empty() {
            (StatusCode::SERVICE_UNAVAILABLE, "no live workers\n")
        } else {
            (StatusCode::OK, "ok\n")
        }
    }

    /// Reads every live worker's exposition now, keeping the last one of those that do not
    /// answer.
    pub async fn refresh(&self) {
        let sockets: Vec<PathBuf> = lock(&self.live).iter().map(|live| live.socket.clone()).collect();
        let scrapes = sockets.iter().map(|socket| tokio::time::timeout(WORKER_SCRAPE, scrape(socket, "/metrics")));
        let texts = futures::future::join_all(scrapes).await;
        let mut workers = lock(&self.live);
        for (socket, text) in sockets.iter().zip(texts) {
            let (Ok(Some(text)), Some(live)) = (text, workers.iter_mut().find(|live| &live.socket == socket)) else {
                continue;
            };
            live.last = Some(Exposition::parse(&text));
        }
    }

    /// `/metrics`: the retired counts plus every live worker's, read now, plus the
    /// supervisor's own (`own`: its worker restarts, and its process figures under
    /// `worker="supervisor"`).
    pub async fn exposition(&self, own: &str) -> String {
        self.refresh().await;
        let mut total = lock(&self.retired).clone();
        total.absorb(&Exposition::parse(own), "supervisor");
        for live in lock(&self.live).iter() {
            if let Some(last) = &live.last {
                total.absorb(last, &live.slot.to_string());
            }
        }
        total.render()
    }
}

impl Workers {
    /// `/status`: the supervisor's own fields (`own`: version, uptime, pid), the live
    /// workers' figures added up (`merge_json`), and `workers`: each one's slot, pid,
    /// requests, RSS and uptime. Unlike `/metrics`, it covers the live workers only.
    pub async fn status(&self, mut own: Value) -> Value {
        let sockets: Vec<(u32, PathBuf)> =
            lock(&self.live).iter().map(|live| (live.slot, live.socket.clone())).collect();
        let reads = sockets.iter().map(|(_, socket)| tokio::time::timeout(WORKER_SCRAPE, scrape(socket, "/status")));
        let answers = futures::future::join_all(reads).await;
        let mut total = Value::Null;
        let mut workers = Vec::new();
        for ((slot, _), answer) in sockets.iter().zip(answers) {
            let Some(status) = answer.ok().flatten().and_then(|text| serde_json::from_str::<Value>(&text).ok()) else {
                workers.push(json!({"slot": slot, "answered": false}));
                continue;
            };
            let fields = ["pid", "requests", "rss_bytes", "uptime_seconds"];
            let mut worker = json!({"slot": slot, "answered": true});
            for field in fields {
                worker[field] = status[field].clone();
            }
            workers.push(worker);
            if total.is_null() {
                total = status;
            } else {
                merge_json(&mut total, &status);
            }
        }
        for field in ["requests", "rss_bytes", "mounts", "refused"] {
            own[field] = total[field].take();
        }
        own["workers"] = Value::Array(workers);
        own
    }
}

/// Adds `from` into `into`: numbers summed, objects merged key by key (a mount's `canary`
/// state is the first worker's), lists of paths (`fallback_paths`) merged by path and
/// sorted again; anything else keeps `into`'s.
fn merge_json(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(key) {
                    // A canary's weight and state are the same in each worker: not summed.
                    Some(_) if key == "canary" => {}
                    Some(existing) => merge_json(existing, value),
                    None => {
                        into.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (into @ Value::Number(_), Value::Number(from)) => {
            *into = match (into.as_u64(), from.as_u64()) {
                (Some(a), Some(b)) => json!(a.saturating_add(b)),
                _ => json!(into.as_f64().unwrap_or(0.0) + from.as_f64().unwrap_or(0.0)),
            };
        }
        (Value::Array(into), Value::Array(from)) => {
            let by_path = |entry: &Value| entry.get("path").and_then(Value::as_str).map(str::to_owned);
            if !into.iter().chain(from).all(|entry| by_path(entry).is_some()) {
                return;
            }
            for entry in from {
                match into.iter_mut().find(|known| by_path(known) == by_path(entry)) {
                    Some(known) => merge_json(known, entry),
                    None => into.push(entry.clone()),
                }
            }
            let count = |entry: &Value| entry.get("count").and_then(Value::as_u64).unwrap_or(0);
            into.sort_by(|a, b| count(b).cmp(&count(a)).then_with(|| by_path(a).cmp(&by_path(b))));
        }
        _ => {}
    }
}

/// Where the worker serving on `socket` leaves its final exposition.
pub fn final_exposition(socket: &Path) -> PathBuf {
    let mut path = socket.as_os_str().to_owned();
    path.push(".final");
    PathBuf::from(path)
}

/// `GET path` from the worker's admin listener at `socket`; None when it does not serve.
async fn scrape(socket: &Path, path: &str) -> Option<String> {
    let stream = UnixStream::connect(socket).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    let request = Request::get(path).header(HOST, "localhost").body(Empty::<Bytes>::new()).ok()?;
    let response = sender.send_request(request).await.ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    let body = response.into_body().collect().await.ok()?.to_bytes();
    String::from_utf8(body.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_statuses_add_up() {
        let mut total = json!({
            "version": "1", "requests": 3, "uptime_seconds": 1.5,
            "mounts": {"/api": {"requests": {"total": 3, "2xx": 3}, "interface": "asgi",
                "fallback_paths": [{"path": "/a", "count": 2}, {"path": "/b", "count": 1}]}}
        });
        let other = json!({
            "version": "1", "requests": 4, "uptime_seconds": 1.0,
            "mounts": {"/api": {"requests": {"total": 4, "2xx": 3, "5xx": 1}, "interface": "asgi",
                "fallback_paths": [{"path": "/b", "count": 3}]},
                "/static": {"requests": {"total": 1}}}
        });
        merge_json(&mut total, &other);
        assert_eq!(total["requests"], 7);
        assert_eq!(total["uptime_seconds"], 2.5);
        assert_eq!(total["version"], "1");
        assert_eq!(total["mounts"]["/api"]["requests"], json!({"total": 7, "2xx": 6, "5xx": 1}));
        assert_eq!(total["mounts"]["/api"]["interface"], "asgi");
        assert_eq!(
            total["mounts"]["/api"]["fallback_paths"],
            json!([{"path": "/b", "count": 4}, {"path": "/a", "count": 2}])
        );
        assert_eq!(total["mounts"]["/static"]["requests"]["total"], 1);
    }
}
