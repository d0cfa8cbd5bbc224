//! How the supervisor's `/canary` and `/status` put its workers' canary reports together
//! into one answer (see `canary_workers.rs`'s notes for what that answer says): their states
//! of a mount added up (`added_up`, over `metrics/status_merge.rs`) and made one (`combine`:
//! the weight the supervisor wants, any worker's rollback, each worker's own state), a
//! mount's entry in one worker's list (`find`), and what the workers that did not take a
//! request did instead (`missing`, `refused_alike`).
//!
//! These are pure functions of what the workers answered and what the supervisor wants:
//! asking the workers, keeping the wanted weights and polling are `canary_workers.rs`'s.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use super::admin_responses::json;
use super::admin_workers::Peer;
use crate::metrics::status_merge;

/// A weight the supervisor wants in every worker, and why when it was a rollback.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Wanted {
    pub(super) weight: f64,
    pub(super) reason: Option<String>,
}

/// One worker's answer: its status and JSON body (None: it did not answer).
pub(super) type Answer = Option<(StatusCode, Value)>;

/// The entry of `mount` in a worker's `GET /canary` list.
pub(super) fn find<'a>(list: &'a [Value], mount: &str) -> Option<&'a Value> {
    list.iter().find(|state| state["mount"].as_str() == Some(mount))
}

/// What each worker that did not take a request did instead: `worker 1 (pid 4243) did not
/// answer`, `... answered 500`.
pub(super) fn missing(peers: &[Peer], answers: &[Answer]) -> Vec<String> {
    peers
        .iter()
        .zip(answers)
        .filter_map(|(peer, answer)| match answer {
            None => Some(format!("{peer} did not answer")),
            Some((StatusCode::OK, _)) => None,
            Some((status, _)) => Some(format!("{peer} answered {}", status.as_u16())),
        })
        .collect()
}

/// The answer when no worker took a request: the workers' own when they all refused it
/// alike (a bad weight, an unknown mount), else `502` naming each worker's failure.
pub(super) fn refused_alike(peers: &[Peer], answers: &[Answer]) -> Response<Full<Bytes>> {
    if let Some(Some((status, body))) = answers.first() {
        if answers.iter().all(|answer| answer.as_ref().is_some_and(|(other, _)| other == status)) {
            return json(*status, body);
        }
    }
    json(StatusCode::BAD_GATEWAY, &json!({ "error": missing(peers, answers).join("; ") }))
}

/// The states of one canary that `reports` hold added up (`metrics/status_merge.rs`): the
/// first one's settings and weight, the `window` and `requests` summed.
pub(super) fn added_up(reports: &[(&Peer, Option<&Value>)]) -> Value {
    let mut added = Value::Null;
    for state in reports.iter().filter_map(|(_, state)| *state) {
        status_merge::absorb(&mut added, state);
    }
    added
}

/// One mount's canary over the workers: their states of it added up (`added`), with the
/// weight the supervisor wants of it, the rollback, and each one's state from `reports`
/// (None: it did not answer); see the module's notes.
pub(super) fn combine(mut combined: Value, reports: &[(&Peer, Option<&Value>)], wanted: Option<&Wanted>) -> Value {
    let mut reason = wanted.and_then(|wanted| wanted.reason.clone());
    let mut workers = Vec::new();
    for (peer, state) in reports {
        let Some(state) = state else {
            workers.push(json!({"slot": peer.slot, "pid": peer.pid, "answered": false}));
            continue;
        };
        if state["rolled_back"] == json!(true) && reason.is_none() {
            reason = Some(format!("{peer}: {}", state["reason"].as_str().unwrap_or("rolled back")));
        }
        workers.push(json!({
            "slot": peer.slot,
            "pid": peer.pid,
            "answered": true,
            "weight": state["weight"],
            "rolled_back": state["rolled_back"],
            "reason": state["reason"],
            "window": state["window"],
        }));
    }
    if !combined.is_object() {
        combined = json!({});
    }
    if let Some(wanted) = wanted {
        combined["weight"] = json!(wanted.weight);
    }
    combined["rolled_back"] = json!(reason.is_some());
    combined["reason"] = json!(reason);
    combined["workers"] = Value::Array(workers);
    combined
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;

    use super::*;

    // `peer` and `state` are also `canary_workers.rs`'s tests'.
    pub fn peer(slot: u32) -> Peer {
        Peer { slot, pid: 100 + slot, socket: PathBuf::from(format!("/run/worker-{slot}.sock")) }
    }

    pub fn state(weight: f64, reason: Option<&str>, answers: u64) -> Value {
        json!({
            "mount": "/shop", "name": "shop", "canary": "/_next", "weight": weight,
            "rolled_back": reason.is_some(), "reason": reason,
            "window": {"answers": answers, "failures": 1},
            "requests": {"stable": {"total": 3, "2xx": 3}, "canary": {"total": answers, "2xx": answers}},
        })
    }

    #[test]
    fn the_workers_states_combine_into_one() {
        let (zero, one, two) = (peer(0), peer(1), peer(2));
        let (healthy, failed) = (state(10.0, None, 5), state(0.0, Some("error rate 0.5"), 7));
        let reports = [(&zero, Some(&healthy)), (&one, Some(&failed)), (&two, None)];
        let combined = combine(added_up(&reports), &reports, None);
        // The first worker's settings and weight, the counts added up, any worker's rollback.
        assert_eq!((combined["name"].clone(), combined["weight"].clone()), (json!("shop"), json!(10.0)));
        assert_eq!(combined["window"], json!({"answers": 12, "failures": 2}));
        assert_eq!(combined["requests"]["canary"], json!({"total": 12, "2xx": 12}));
        assert_eq!(combined["requests"]["stable"]["total"], 6);
        assert_eq!(combined["reason"], json!("worker 1 (pid 101): error rate 0.5"));
        assert_eq!(combined["rolled_back"], json!(true));
        let workers = combined["workers"].as_array().cloned().unwrap_or_default();
        assert_eq!(workers.len(), 3);
        assert_eq!((workers[1]["pid"].clone(), workers[1]["weight"].clone()), (json!(101), json!(0.0)));
        assert_eq!(workers[2], json!({"slot": 2, "pid": 102, "answered": false}));
        // What the supervisor wants comes first.
        let wanted = Wanted { weight: 25.0, reason: None };
        let reports = [(&zero, Some(&healthy))];
        let combined = combine(added_up(&reports), &reports, Some(&wanted));
        assert_eq!((combined["weight"].clone(), combined["rolled_back"].clone()), (json!(25.0), json!(false)));
        // Each field says how it adds up in the supervisor's `/status`.
        let fields = combined.as_object().map(|fields| fields.keys().cloned().collect::<Vec<_>>());
        for name in fields.unwrap_or_default() {
            assert!(status_merge::says_how_it_adds_up(&name), "the canary's {name:?}");
        }
    }

    #[test]
    fn refusals_alike_pass_on_and_others_name_the_workers() {
        let peers = [peer(0), peer(1)];
        let not_found = Some((StatusCode::NOT_FOUND, json!({"error": "no mount"})));
        assert_eq!(refused_alike(&peers, &[not_found.clone(), not_found.clone()]).status(), StatusCode::NOT_FOUND);
        let mixed = [not_found, None];
        assert_eq!(refused_alike(&peers, &mixed).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(missing(&peers, &mixed), ["worker 0 (pid 100) answered 404", "worker 1 (pid 101) did not answer"]);
    }
}
