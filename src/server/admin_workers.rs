//! The supervisor's admin listener under `--workers N`: one scrape covers every worker.
//!
//! Each worker serves its own admin listener on a private Unix socket that the supervisor
//! names (`admin_workers.py` on the Python side), and tells nobody else about. Here the
//! supervisor's `/metrics` and `/status` ask each live worker for its own (at once, each
//! bounded by `WORKER_SCRAPE`) and answer with their sum (`metrics/merge.rs`,
//! `metrics/status_merge.rs`).
//!
//! Counts never go backwards across worker restarts: each worker's last figures (its
//! exposition and its `/status` document) are kept, and when the supervisor reports a worker
//! gone, what it counted (counters and histograms; the document's counted fields) is added to
//! the `retired` figures, which every later answer includes; what described its present (its
//! gauges, requests in flight, threads, memory) leaves with it. A worker that stops
//! gracefully writes its final figures next to its socket as it exits (`<socket>.final`, and
//! `<socket>.final.json` for its `/status`), so nothing it counted is lost; one that dies
//! abruptly leaves what the last read saw, which a refresh every `REFRESH` keeps recent. A
//! worker that does not answer in time is counted with its last figures.
//!
//! Liveness is the supervisor's: `/healthz` is `200` while it has live workers. Readiness
//! is what the supervisor says (`set_ready`): ready once a worker serves, not ready from a
//! stop signal on. It also says which workers serve (`set_worker_ready`): those are the ones
//! whose weighted canaries `/canary` sets and reports (`canary_workers.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::UnixStream;

use crate::metrics::merge::Exposition;
use crate::metrics::status_merge;
use crate::sync::lock;

/// Longest a scrape (or any other request to a worker) waits for one worker.
pub const WORKER_SCRAPE: Duration = Duration::from_secs(2);
/// How often the workers' figures are refreshed between scrapes.
pub const REFRESH: Duration = Duration::from_secs(5);

/// One worker's figures as last read, or what the gone workers counted, summed.
#[derive(Debug, Clone, Default)]
struct Figures {
    exposition: Exposition,
    /// Its `/status` document (null before the first one).
    status: Value,
}

impl Figures {
    /// What outlives the worker: its counts.
    fn counted(&self) -> Self {
        Self { exposition: self.exposition.counted(), status: status_merge::counted(&self.status) }
    }

    fn absorb(&mut self, other: &Self) {
        self.exposition.absorb(&other.exposition, "");
        status_merge::absorb(&mut self.status, &other.status);
    }

    fn keep_exposition(&mut self, text: &str) -> bool {
        self.exposition = Exposition::parse(text);
        true
    }

    /// False for an answer that is not JSON (the last document stays).
    fn keep_status(&mut self, text: &str) -> bool {
        let Ok(status) = serde_json::from_str(text) else {
            return false;
        };
        self.status = status;
        true
    }
}

#[derive(Debug)]
struct Live {
    peer: Peer,
    /// Serving, and not asked to stop.
    ready: bool,
    last: Figures,
}

/// A live worker as requests to it name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The `worker` label of its per-process figures: its slot, which a replacement reuses.
    pub slot: u32,
    pub pid: u32,
    /// Its private admin listener's.
    pub socket: PathBuf,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "worker {} (pid {})", self.slot, self.pid)
    }
}

/// The live workers and what the gone ones counted, under one lock: a worker moves from one
/// to the other at once, so no answer counts it twice or not at all.
#[derive(Debug, Default)]
struct Roster {
    live: Vec<Live>,
    retired: Figures,
}

/// The workers as the supervisor's admin listener sees them.
#[derive(Debug, Default)]
pub struct Workers {
    roster: Mutex<Roster>,
    ready: AtomicBool,
}

impl Workers {
    /// A worker started, serving its admin listener on `socket` (soon).
    pub fn started(&self, slot: u32, pid: u32, socket: PathBuf) {
        let peer = Peer { slot, pid, socket };
        lock(&self.roster).live.push(Live { peer, ready: false, last: Figures::default() });
    }

    /// The worker of `socket` serves (`ready`), or was asked to stop (not).
    pub fn set_worker_ready(&self, socket: &Path, ready: bool) {
        if let Some(live) = lock(&self.roster).live.iter_mut().find(|live| live.peer.socket == socket) {
            live.ready = ready;
        }
    }

    /// The workers that serve and were not asked to stop, in the order they started.
    pub fn ready_peers(&self) -> Vec<Peer> {
        lock(&self.roster).live.iter().filter(|live| live.ready).map(|live| live.peer.clone()).collect()
    }

    /// The worker of `socket` is gone: its counts join the retired ones (its final figures
    /// when it left them, else the last ones read).
    pub fn gone(&self, socket: &Path) {
        let mut roster = lock(&self.roster);
        let Some(at) = roster.live.iter().position(|live| live.peer.socket == socket) else {
            return;
        };
        let live = roster.live.remove(at);
        let last = final_figures(socket, live.last);
        roster.retired.absorb(&last.counted());
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
        if lock(&self.roster).live.is_empty() {
            (StatusCode::SERVICE_UNAVAILABLE, "no live workers\n")
        } else {
            (StatusCode::OK, "ok\n")
        }
    }

    /// Reads every live worker's figures now, keeping the last ones of those that do not
    /// answer.
    pub async fn refresh(&self) {
        futures::join!(self.read("/metrics", Figures::keep_exposition), self.read("/status", Figures::keep_status));
    }

    /// Reads `path` from every live worker at once and keeps each answer in its figures with
    /// `keep`; the sockets of the workers that answered.
    async fn read(&self, path: &str, keep: fn(&mut Figures, &str) -> bool) -> Vec<PathBuf> {
        let sockets: Vec<PathBuf> = lock(&self.roster).live.iter().map(|live| live.peer.socket.clone()).collect();
        let reads = sockets.iter().map(|socket| tokio::time::timeout(WORKER_SCRAPE, scrape(socket, path)));
        let answers = futures::future::join_all(reads).await;
        let mut roster = lock(&self.roster);
        let mut answered = Vec::new();
        for (socket, answer) in sockets.into_iter().zip(answers) {
            // A worker gone meanwhile is retired with what it left.
            let found = roster.live.iter_mut().find(|live| live.peer.socket == socket);
            let (Ok(Some(text)), Some(live)) = (answer, found) else {
                continue;
            };
            if keep(&mut live.last, &text) {
                answered.push(socket);
            }
        }
        answered
    }

    /// `/metrics`: the retired counts plus every live worker's, read now, plus the
    /// supervisor's own (`own`: its worker restarts, and its process figures under
    /// `worker="supervisor"`).
    pub async fn exposition(&self, own: &str) -> String {
        self.read("/metrics", Figures::keep_exposition).await;
        let roster = lock(&self.roster);
        let mut total = roster.retired.exposition.clone();
        total.absorb(&Exposition::parse(own), "supervisor");
        for live in &roster.live {
            total.absorb(&live.last.exposition, &live.peer.slot.to_string());
        }
        total.render()
    }

    /// `/status`: the supervisor's own fields (`own`: version, uptime, pid), the live
    /// workers' figures, read now, plus what the gone ones counted (`status_merge.rs` says
    /// which is which), and `workers`: each live one's slot, pid, requests, RSS and uptime.
    /// With it, each live worker's own document (None when it did not answer now), for what
    /// does not add up: a mount's `canary`, which `canary_workers.rs` puts over the workers.
    pub async fn status(&self, mut own: Value) -> (Value, Vec<(Peer, Option<Value>)>) {
        let answering = self.read("/status", Figures::keep_status).await;
        let mut total = Value::Null;
        let mut workers = Vec::new();
        let mut statuses = Vec::new();
        let roster = lock(&self.roster);
        for live in &roster.live {
            let status = &live.last.status;
            status_merge::absorb(&mut total, status);
            let answered = answering.contains(&live.peer.socket);
            let mut worker = json!({"slot": live.peer.slot, "answered": answered});
            if answered {
                for field in ["pid", "requests", "rss_bytes", "uptime_seconds"] {
                    worker[field] = status[field].clone();
                }
            }
            workers.push(worker);
            statuses.push((live.peer.clone(), answered.then(|| status.clone())));
        }
        status_merge::absorb(&mut total, &roster.retired.status);
        drop(roster);
        for field in ["requests", "rss_bytes", "mounts", "refused"] {
            own[field] = total[field].take();
        }
        own["workers"] = Value::Array(workers);
        (own, statuses)
    }
}

/// Where the worker serving its admin listener on `socket` leaves its final figures: its
/// exposition, and its `/status` document.
fn final_paths(socket: &Path) -> [PathBuf; 2] {
    [".final", ".final.json"].map(|suffix| beside(socket, suffix))
}

/// `path` with `suffix` added to its name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A worker's last act with its admin listener: leaves its figures (`exposition`, `status`)
/// where the supervisor reads them once it is gone, each file whole (written aside, then
/// renamed into place).
pub fn leave_final_figures(socket: &Path, exposition: &str, status: &Value) -> std::io::Result<()> {
    let [exposition_path, status_path] = final_paths(socket);
    for (path, text) in [(exposition_path, exposition.to_owned()), (status_path, status.to_string())] {
        let aside = beside(&path, ".tmp");
        std::fs::write(&aside, text)?;
        std::fs::rename(&aside, &path)?;
    }
    Ok(())
}

/// The figures the worker of `socket` left as it exited (the files are removed once read),
/// and `last` for what it did not leave.
fn final_figures(socket: &Path, last: Figures) -> Figures {
    let take = |path: &Path| {
        let text = std::fs::read_to_string(path).ok();
        let _ = std::fs::remove_file(path);
        text
    };
    let [exposition_path, status_path] = final_paths(socket);
    let exposition = take(&exposition_path).map(|text| Exposition::parse(&text));
    let status = take(&status_path).and_then(|text| serde_json::from_str(&text).ok());
    Figures { exposition: exposition.unwrap_or(last.exposition), status: status.unwrap_or(last.status) }
}

/// `GET path` from the worker's admin listener at `socket`; None when it does not serve,
/// or answers other than `200`.
async fn scrape(socket: &Path, path: &str) -> Option<String> {
    let (status, body) = ask(socket, Method::GET, path, Bytes::new()).await?;
    (status == StatusCode::OK).then(|| String::from_utf8(body.to_vec()).ok()).flatten()
}

/// The worker's admin listener at `socket` asked `method path` with `body`: its answer's
/// status and body; None when it does not serve.
pub async fn ask(socket: &Path, method: Method, path: &str, body: Bytes) -> Option<(StatusCode, Bytes)> {
    let stream = UnixStream::connect(socket).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    let request = Request::builder().method(method).uri(path).header(HOST, "localhost").body(Full::new(body)).ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "# TYPE requests counter\nrequests_total 3\n# TYPE active gauge\nactive 1\n";

    #[test]
    fn a_gone_worker_leaves_what_it_counted_in_every_later_answer() -> std::io::Result<()> {
        let directory = tempfile::tempdir()?;
        let workers = Workers::default();
        let (stopped, killed) = (directory.path().join("worker-1.sock"), directory.path().join("worker-2.sock"));
        let status =
            json!({"requests": 3, "rss_bytes": 100, "mounts": {"/": {"requests": {"total": 3}, "in_flight": 1}}});
        workers.started(0, 100, stopped.clone());
        workers.started(1, 101, killed.clone());
        // The one stopped leaves its final figures; the one killed, what was last read.
        leave_final_figures(&stopped, EXPOSITION, &status)?;
        lock(&workers.roster).live[1].last = Figures { exposition: Exposition::parse(EXPOSITION), status };
        workers.gone(&stopped);
        workers.gone(&killed);
        assert!(lock(&workers.roster).live.is_empty());
        assert_eq!(std::fs::read_dir(directory.path())?.count(), 0, "the final figures are removed once read");
        let retired = lock(&workers.roster).retired.clone();
        assert_eq!(retired.status, json!({"requests": 6, "mounts": {"/": {"requests": {"total": 6}}}}));
        assert_eq!(retired.exposition.render(), "# TYPE requests counter\nrequests_total 6\n");
        Ok(())
    }
}
