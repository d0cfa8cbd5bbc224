//! The weighted canary under `--workers N`: the supervisor's admin listener answers
//! `/canary` for its workers (`admin_routes.rs` routes it here; a single process answers it
//! in `canary_admin.rs`, as each worker does on its private admin socket).
//!
//! Each worker holds its own canary state (`canary.rs`): its weight, its window of answers,
//! its rollback. The supervisor keeps them one:
//! - `PUT /canary/<mount>` goes to every ready worker (serving, not asked to stop) at once,
//!   each bounded by `WORKER_SCRAPE`. When all take it: `200` and the state over the workers
//!   (below). When some do not (no answer, or another status): `502`, the state, and an
//!   `error` naming them; the weight stays wanted, and they get it once they answer (the
//!   poll, below). When none takes it and all refuse alike (`400` for a bad weight, `404` for
//!   a mount without a canary), that answer is passed on. No ready worker: `503`.
//! - `GET /canary/<mount>` (and each entry of `GET /canary`): the first worker's settings,
//!   with `weight` the one the supervisor wants (the first worker's if it wants none),
//!   `window` and `requests` added up over the workers (`metrics/status_merge.rs`),
//!   `rolled_back` and `reason` the supervisor's rollback or else any worker's (`"worker 1
//!   (pid 4243): error rate ..."`), and `workers`: each one's slot, pid, weight, rollback and
//!   window (`"answered": false` when it did not answer). `/status` shows the same under each
//!   mount, added up as the rest of `/status` is: over every live worker (one that did not
//!   answer with what it last said), its `requests` with what gone workers counted.
//! - Every `POLL` the supervisor reads each ready worker's `/canary`. A worker that rolled a
//!   canary back since the last look (each worker counts only its own share of the answers)
//!   makes the wanted weight 0 with its reason, logged as a warning; then every worker whose
//!   weight is not the wanted one is sent it. So a rollback in one worker rolls them all back
//!   within about a second (and `amphicorn_canary_rollbacks_total` counts it once), and a
//!   worker that missed a `PUT` (it was starting, or did not answer) catches up. Workers
//!   that list no canary at all end the polls.
//!
//! The wanted weights are also those the supervisor starts new workers with (a crash, its
//! `--limit-max-requests`), read from `Canaries::weights` by `supervisor.py`, until SIGHUP
//! reads the config file's anew and forgets them (`forget`). A `PUT` and a poll take turns, so
//! a rollback and a `PUT` never interleave: the later one wins.
//!
//! This file asks the workers and keeps what the supervisor wants; how their answers make
//! one (the states added up, who did not take a request) is `canary_combine.rs`'s.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use super::admin_responses::json;
use super::admin_workers::{ask, Peer, Workers, WORKER_SCRAPE};
use super::canary::warn;
use super::canary_admin::{not_allowed, put_body};
use super::canary_combine::{added_up, combine, find, missing, refused_alike, Answer, Wanted};
use crate::sync::lock;

/// How often the supervisor reads its workers' canaries.
pub const POLL: Duration = Duration::from_secs(1);
/// Weights closer than this (percent) are the same: workers keep hundredths of a percent.
const SAME_WEIGHT: f64 = 0.005;

/// The supervisor's side of its workers' canaries.
#[derive(Debug, Default)]
pub struct Canaries {
    /// By mount (its address as the workers write it, `/shop`): set by a `PUT` or a rollback.
    wanted: Mutex<BTreeMap<String, Wanted>>,
    /// The workers (by socket) and mounts last seen rolled back: each rollback is acted on once.
    rolled_back: Mutex<HashSet<(PathBuf, String)>>,
    /// Held by a `PUT` and by a poll, each from its reading to its last write.
    turn: tokio::sync::Mutex<()>,
    /// Set once the workers said they have no canary: their mounts are the supervisor's
    /// config's, the same for its whole life, so there is nothing to poll from then on.
    none: AtomicBool,
}

impl Canaries {
    /// The weights the supervisor wants, by mount: new workers start with them.
    pub fn weights(&self) -> BTreeMap<String, f64> {
        lock(&self.wanted).iter().map(|(mount, wanted)| (mount.clone(), wanted.weight)).collect()
    }

    /// Forgets the wanted weights of `mounts` (SIGHUP read the config file's anew).
    pub fn forget(&self, mounts: &[String]) {
        lock(&self.wanted).retain(|mount, _| !mounts.contains(mount));
    }

    /// The answer to a request for `/canary` or `/canary/...` (see the module's notes).
    pub async fn answer<B>(&self, workers: &Workers, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = request.uri().path().to_owned();
        let one = path.starts_with("/canary/");
        let (method, body) = match (request.method().clone(), one) {
            (Method::GET | Method::HEAD, _) => (Method::GET, Bytes::new()),
            (Method::PUT, true) => match put_body(request.into_body()).await {
                Ok(body) => (Method::PUT, body),
                Err(refused) => return refused,
            },
            (_, true) => return not_allowed("GET, HEAD, PUT"),
            (_, false) => return not_allowed("GET, HEAD"),
        };
        let _turn = self.turn.lock().await;
        let peers = workers.ready_peers();
        if peers.is_empty() {
            return json(StatusCode::SERVICE_UNAVAILABLE, &json!({"error": "no worker serves yet"}));
        }
        let answers = ask_all(&peers, &method, &path, &body).await;
        if !one {
            let listed = self.combine_lists(&peers, &answers);
            return json(StatusCode::OK, &Value::Array(listed));
        }
        // Each worker's state of the mount, when it took the request.
        let took: Vec<Option<&Value>> = answers
            .iter()
            .map(|answer| answer.as_ref().filter(|(status, _)| *status == StatusCode::OK).map(|(_, state)| state))
            .collect();
        let Some(first) = took.iter().flatten().next() else {
            return refused_alike(&peers, &answers);
        };
        let mount = first["mount"].as_str().unwrap_or_default().to_owned();
        if method == Method::PUT {
            let taken: Vec<&Peer> =
                peers.iter().zip(&took).filter(|(_, state)| state.is_some()).map(|(peer, _)| peer).collect();
            self.put(&mount, first["weight"].as_f64().unwrap_or_default(), &taken);
        }
        let reports: Vec<(&Peer, Option<&Value>)> = peers.iter().zip(took.iter().copied()).collect();
        let mut state = combine(added_up(&reports), &reports, lock(&self.wanted).get(&mount));
        let missing = missing(&peers, &answers);
        if missing.is_empty() {
            return json(StatusCode::OK, &state);
        }
        let mut error = missing.join("; ");
        if method == Method::PUT {
            error.push_str("; the supervisor sends the weight again each second to a worker that has not taken it");
        }
        state["error"] = json!(error);
        json(StatusCode::BAD_GATEWAY, &state)
    }

    /// `weight` set on `mount` by a `PUT` that the workers `taken` took: wanted in all.
    fn put(&self, mount: &str, weight: f64, taken: &[&Peer]) {
        lock(&self.wanted).insert(mount.to_owned(), Wanted { weight, reason: None });
        // The workers that took it cleared their rollbacks: a new one there is new again.
        // One that did not keeps its rollback, which is not new: the poll sends it this weight
        // rather than spread that rollback over the others.
        let cleared = |socket: &PathBuf| taken.iter().any(|peer| peer.socket == *socket);
        lock(&self.rolled_back).retain(|(socket, rolled)| rolled != mount || !cleared(socket));
    }

    /// Each mount's state over the workers, from their `GET /canary` lists, in the order the
    /// first worker lists them.
    fn combine_lists(&self, peers: &[Peer], answers: &[Answer]) -> Vec<Value> {
        let lists: Vec<&[Value]> = answers
            .iter()
            .map(|answer| match answer {
                Some((StatusCode::OK, Value::Array(states))) => states.as_slice(),
                _ => &[],
            })
            .collect();
        let mut mounts: Vec<&str> = Vec::new();
        for state in lists.iter().copied().flatten() {
            if let Some(mount) = state["mount"].as_str().filter(|mount| !mounts.contains(mount)) {
                mounts.push(mount);
            }
        }
        let wanted = lock(&self.wanted);
        mounts
            .into_iter()
            .map(|mount| {
                let reports: Vec<(&Peer, Option<&Value>)> =
                    peers.iter().zip(&lists).map(|(peer, list)| (peer, find(list, mount))).collect();
                combine(added_up(&reports), &reports, wanted.get(mount))
            })
            .collect()
    }

    /// `/status` with workers: each mount's `canary` in `mounts` (the workers' figures added
    /// up, with what the gone ones counted: `metrics/status_merge.rs`) made its state over the
    /// workers, from each live one's `/status` document (None: it did not answer).
    pub fn describe_in_status(&self, statuses: &[(Peer, Option<Value>)], mounts: &mut Value) {
        let Some(mounts) = mounts.as_object_mut() else {
            return;
        };
        let wanted = lock(&self.wanted);
        for (mount, fields) in mounts.iter_mut() {
            let Some(added) = fields.get_mut("canary").map(Value::take) else {
                continue;
            };
            let reports: Vec<(&Peer, Option<&Value>)> = statuses
                .iter()
                .map(|(peer, status)| (peer, status.as_ref().and_then(|status| status["mounts"][mount].get("canary"))))
                .collect();
            fields["canary"] = combine(added, &reports, wanted.get(mount));
        }
    }

    /// One look at the ready workers' canaries: a new rollback in any of them is wanted in
    /// all, and each worker gets the weights wanted of it (see the module's notes).
    pub async fn poll(&self, workers: &Workers) {
        let _turn = self.turn.lock().await;
        let peers = workers.ready_peers();
        if peers.is_empty() || self.none.load(Ordering::Relaxed) {
            return;
        }
        let answers = ask_all(&peers, &Method::GET, "/canary", &Bytes::new()).await;
        let mut reports: Vec<(&Peer, &Value)> = Vec::new();
        let mut listed = false;
        for (peer, answer) in peers.iter().zip(&answers) {
            if let Some((StatusCode::OK, Value::Array(states))) = answer {
                listed = true;
                reports.extend(states.iter().map(|state| (peer, state)));
            }
        }
        if listed && reports.is_empty() {
            self.none.store(true, Ordering::Relaxed);
            return;
        }
        for message in self.note_rollbacks(&peers, &reports) {
            warn(message);
        }
        let wanted = lock(&self.wanted).clone();
        let sends = reports.iter().filter_map(|(peer, state)| {
            let mount = state["mount"].as_str()?;
            let weight = wanted.get(mount)?.weight;
            if (state["weight"].as_f64()? - weight).abs() < SAME_WEIGHT {
                return None;
            }
            let path = format!("/canary/{}", mount.trim_start_matches('/'));
            let body = Bytes::from(json!({ "weight": weight }).to_string());
            Some(async move { tokio::time::timeout(WORKER_SCRAPE, ask(&peer.socket, Method::PUT, &path, body)).await })
        });
        futures::future::join_all(sends).await;
    }

    /// Takes in the rollbacks `reports` show (each worker's state of each canary): one not
    /// seen before makes that mount's wanted weight 0 with its reason. Returns the warnings
    /// to log.
    fn note_rollbacks(&self, peers: &[Peer], reports: &[(&Peer, &Value)]) -> Vec<String> {
        let mut seen = lock(&self.rolled_back);
        seen.retain(|(socket, _)| peers.iter().any(|peer| peer.socket == *socket));
        let mut wanted = lock(&self.wanted);
        let mut messages = Vec::new();
        for (peer, state) in reports {
            let Some(mount) = state["mount"].as_str() else {
                continue;
            };
            let key = (peer.socket.clone(), mount.to_owned());
            if state["rolled_back"] != json!(true) {
                seen.remove(&key);
                continue;
            }
            if !seen.insert(key) {
                continue;
            }
            let why = state["reason"].as_str().unwrap_or("rolled back");
            let already =
                wanted.get(mount).is_some_and(|known| known.reason.is_some() && known.weight.abs() < SAME_WEIGHT);
            if already {
                continue;
            }
            wanted.insert(mount.to_owned(), Wanted { weight: 0.0, reason: Some(format!("{peer}: {why}")) });
            let canary = state["canary"].as_str().unwrap_or("?");
            messages.push(format!(
                "Canary {canary} of mount {mount} rolled back in {peer}, so in every worker (weight 0): {why}"
            ));
        }
        messages
    }
}

/// `method path` with `body` to each of `peers` at once: their answers, in order.
async fn ask_all(peers: &[Peer], method: &Method, path: &str, body: &Bytes) -> Vec<Answer> {
    let asks = peers.iter().map(|peer| async {
        let answer = tokio::time::timeout(WORKER_SCRAPE, ask(&peer.socket, method.clone(), path, body.clone())).await;
        let (status, body) = answer.ok().flatten()?;
        Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    });
    futures::future::join_all(asks).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::status_merge;
    use crate::server::canary_combine::tests::{peer, state};

    #[test]
    fn the_status_shows_the_canary_over_the_workers_with_what_gone_ones_counted() {
        let canaries = Canaries::default();
        lock(&canaries.wanted).insert("/shop".to_owned(), Wanted { weight: 40.0, reason: None });
        let (zero, one) = (peer(0), peer(1));
        let status = |state: Value| json!({"mounts": {"/shop": {"requests": {"total": 3}, "canary": state}}});
        let (answered, silent) = (status(state(40.0, None, 5)), status(state(40.0, None, 2)));
        // The supervisor's sum: the live workers' last documents, then what a gone one counted.
        let mut total = Value::Null;
        for document in [&answered, &silent] {
            status_merge::absorb(&mut total, document);
        }
        let gone = status(state(10.0, Some("error rate 0.9"), 9));
        status_merge::absorb(&mut total, &status_merge::counted(&gone));
        canaries.describe_in_status(&[(zero, Some(answered)), (one, None)], &mut total["mounts"]);
        let canary = &total["mounts"]["/shop"]["canary"];
        assert_eq!((canary["weight"].clone(), canary["rolled_back"].clone()), (json!(40.0), json!(false)));
        // The window is the live workers'; the requests also the gone one's.
        assert_eq!(canary["window"], json!({"answers": 7, "failures": 2}));
        assert_eq!(canary["requests"]["canary"], json!({"total": 16, "2xx": 16}));
        assert_eq!(canary["requests"]["stable"]["total"], 9);
        let answered: Vec<_> =
            canary["workers"].as_array().into_iter().flatten().map(|worker| worker["answered"].clone()).collect();
        assert_eq!(answered, [json!(true), json!(false)]);
        assert_eq!(total["mounts"]["/shop"]["requests"]["total"], 9);
    }

    #[test]
    fn a_rollback_is_wanted_everywhere_once() {
        let canaries = Canaries::default();
        let (zero, one) = (peer(0), peer(1));
        let peers = [zero.clone(), one.clone()];
        let (healthy, failed) = (state(50.0, None, 5), state(0.0, Some("error rate 0.5"), 30));
        let messages = canaries.note_rollbacks(&peers, &[(&zero, &healthy), (&one, &failed)]);
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].starts_with("Canary /_next of mount /shop rolled back in worker 1 (pid 101)"),
            "{messages:?}"
        );
        assert_eq!(canaries.weights(), BTreeMap::from([("/shop".to_owned(), 0.0)]));
        // Seen again: nothing new.
        assert!(canaries.note_rollbacks(&peers, &[(&one, &failed)]).is_empty());
        // A PUT that worker 1 did not take leaves its rollback old: the weight stays wanted.
        canaries.put("/shop", 30.0, &[&zero]);
        assert!(canaries.note_rollbacks(&peers, &[(&zero, &healthy), (&one, &failed)]).is_empty());
        assert_eq!(canaries.weights(), BTreeMap::from([("/shop".to_owned(), 30.0)]));
        // Once it took one, a rollback there is new again.
        canaries.put("/shop", 30.0, &[&zero, &one]);
        assert_eq!(canaries.note_rollbacks(&peers, &[(&one, &failed)]).len(), 1);
        canaries.forget(&["/shop".to_owned()]);
        assert!(canaries.weights().is_empty());
    }
}
