//! The supervisor's admin listener under `--workers N`: one scrape covers every worker.
//!
//! Each worker serves its own admin listener on a private Unix socket that the supervisor
//! names (`admin_workers.py` on the Python side), and tells nobody else about. Here the
//! supervisor's `/metrics` asks each live worker for its exposition (at once, each bounded by
//! `WORKER_SCRAPE`) and answers with their sum (`metrics/merge.rs`); `/status` adds up their
//! documents likewise (`metrics/status_merge.rs`).
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
use crate::metrics::status_merge;
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
    /// workers' figures added up (`status_merge.rs`), and `workers`: each one's slot, pid,
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
            status_merge::absorb(&mut total, &status);
        }
        for field in ["requests", "rss_bytes", "mounts", "refused"] {
            own[field] = total[field].take();
        }
        own["workers"] = Value::Array(workers);
        own
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
