//! One `GET /status` document from several processes' documents: what the supervisor's admin
//! listener answers under `--workers N` (`server/admin_workers.rs` gathers them), as
//! `merge.rs` is for `/metrics`.
//!
//! Each field of the document (`status.rs`) is one kind of `Figure`, named in `figure`, and
//! that says how it adds up over the workers and whether it outlives one:
//! - counts (`requests`, `refused`, `fallback_replays`, `fallback_paths`, body bytes, a
//!   shadow's comparisons, a canary's `requests` by variant) are summed, and what a gone
//!   worker counted stays in every later answer (`counted`), so they never go backwards
//!   across restarts;
//! - the present (`in_flight`, `websockets_open`, `wsgi`'s threads and queue, `rss_bytes`, a
//!   canary's `window`, the `workers` a supervisor lists) is summed (or joined) over the
//!   live workers only;
//! - what every worker says alike (`version`, a mount's `interface`, a shadow's or a canary's
//!   settings) is the first one's, and what is one process's own (`pid`, `uptime_seconds`, a
//!   canary's `weight` and rollback) is too; the supervisor shows its own and lists the
//!   workers' instead.
//!
//! A field inside another is of its kind unless named itself: a mount's `requests` by class
//! are counts, a shadow's `recent_differences` are the present (each live worker's last ones,
//! joined). Lists of counts (`fallback_paths`) are added up entry by entry, by `path`.
//!
//! A name has one kind wherever it is: `canary`, a mount's weighted canary
//! (`server/canary.rs`), is a set of fields named here in turn, as `mounts` is; the same name
//! in it (the canary's address, a string: the first one's) and in its `requests` (the
//! variant, beside `stable`: counts) reads right as that too.

use serde_json::{json, Value};

use super::status::FALLBACK_PATHS_LISTED;

/// How a field of `/status` adds up over worker processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    /// Counted since the process started (a number, or an object of them, or a list of them
    /// by `path`): summed, and kept once the process is gone.
    Counted,
    /// What the process is doing or holding now: summed over the live processes only.
    Present,
    /// The same in every process: the first one's, kept once the process is gone.
    Alike,
    /// One process's own: the first one's, dropped once the process is gone.
    Own,
}

impl Figure {
    fn summed(self) -> bool {
        matches!(self, Self::Counted | Self::Present)
    }

    fn outlives_the_process(self) -> bool {
        matches!(self, Self::Counted | Self::Alike)
    }
}

/// The kind of the field `name`, at the top level or in a mount; None for a field that is of
/// the kind of the field it is in.
fn figure(name: &str) -> Option<Figure> {
    match name {
        "requests" | "refused" | "fallback_replays" | "fallback_paths" | "shadow" => Some(Figure::Counted),
        "request_body_bytes" | "response_body_bytes" => Some(Figure::Counted),
        // The mounts, and a mount's canary, whose fields are named here in turn.
        "mounts" | "canary" => Some(Figure::Counted),
        "rss_bytes" | "in_flight" | "websockets_open" | "wsgi" | "recent_differences" => Some(Figure::Present),
        // A canary's window: the answers its rollback judges now. The workers a supervisor
        // lists, at the top level and in a canary (`server/canary_combine.rs`).
        "window" | "workers" => Some(Figure::Present),
        "version" | "interface" => Some(Figure::Alike),
        // A shadow's or a canary's settings.
        "mount" | "name" | "cookie" | "key_header" | "max_error_rate" | "window_seconds" => Some(Figure::Alike),
        "pid" | "uptime_seconds" => Some(Figure::Own),
        // A canary's weight and rollback, each worker's.
        "weight" | "rolled_back" | "reason" => Some(Figure::Own),
        _ => None,
    }
}

/// Adds `status`, one process's `/status` document or a sum of several, into `total` (null
/// for none yet).
pub fn absorb(total: &mut Value, status: &Value) {
    add(total, status, Figure::Counted);
}

/// What stays of a gone process's `/status` document: its counts, and what every process
/// says alike.
pub fn counted(status: &Value) -> Value {
    kept(status, Figure::Counted).unwrap_or(Value::Null)
}

/// Whether `figure` names the field `name` (for the fields other modules add: a canary's).
#[cfg(test)]
pub(crate) fn says_how_it_adds_up(name: &str) -> bool {
    figure(name).is_some()
}

fn add(into: &mut Value, from: &Value, figure: Figure) {
    if into.is_null() {
        *into = from.clone();
        return;
    }
    if !figure.summed() {
        return;
    }
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (name, value) in from {
                let figure = self::figure(name).unwrap_or(figure);
                match into.get_mut(name) {
                    Some(existing) => add(existing, value, figure),
                    None => {
                        into.insert(name.clone(), value.clone());
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
        (Value::Array(into), Value::Array(from)) if figure == Figure::Counted => add_by_path(into, from),
        (Value::Array(into), Value::Array(from)) => into.extend(from.iter().cloned()),
        _ => {}
    }
}

/// Adds a list of counts by path (`fallback_paths`) into another, most counted first, as
/// long as one process lists it.
fn add_by_path(into: &mut Vec<Value>, from: &[Value]) {
    let path = |entry: &Value| entry.get("path").and_then(Value::as_str).map(str::to_owned);
    for entry in from {
        let known = path(entry).and_then(|wanted| into.iter_mut().find(|known| path(known).as_ref() == Some(&wanted)));
        match known {
            Some(known) => add(known, entry, Figure::Counted),
            None => into.push(entry.clone()),
        }
    }
    let count = |entry: &Value| entry.get("count").and_then(Value::as_u64).unwrap_or(0);
    into.sort_by(|a, b| count(b).cmp(&count(a)).then_with(|| path(a).cmp(&path(b))));
    into.truncate(FALLBACK_PATHS_LISTED);
}

/// `value`, a field of kind `figure`, less what does not outlive its process; None when
/// nothing of it does.
fn kept(value: &Value, figure: Figure) -> Option<Value> {
    if !figure.outlives_the_process() {
        return None;
    }
    let Value::Object(fields) = value else {
        return Some(value.clone());
    };
    if figure == Figure::Alike {
        return Some(value.clone());
    }
    let fields = fields
        .iter()
        .filter_map(|(name, value)| Some((name.clone(), kept(value, self::figure(name).unwrap_or(figure))?)))
        .collect();
    Some(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn worker_statuses_add_up() {
        let mut total = Value::Null;
        absorb(
            &mut total,
            &json!({
                "version": "1", "pid": 10, "requests": 3, "rss_bytes": 100,
                "mounts": {"/api": {"requests": {"total": 3, "2xx": 3}, "interface": "asgi", "in_flight": 1,
                    "fallback_paths": [{"path": "/a", "count": 2}, {"path": "/b", "count": 1}],
                    "canary": {"canary": "/next", "weight": 10, "window": {"answers": 2},
                        "requests": {"stable": {"total": 1}, "canary": {"total": 2}}},
                    "shadow": {"differ": 1, "recent_differences": [{"path": "/a", "status": 200}]}}}
            }),
        );
        absorb(
            &mut total,
            &json!({
                "version": "1", "pid": 11, "requests": 4, "rss_bytes": 200,
                "mounts": {"/api": {"requests": {"total": 4, "2xx": 3, "5xx": 1}, "interface": "asgi", "in_flight": 2,
                    "fallback_paths": [{"path": "/b", "count": 3}],
                    "canary": {"canary": "/next", "weight": 20, "window": {"answers": 5},
                        "requests": {"stable": {"total": 3}, "canary": {"total": 4}}},
                    "shadow": {"differ": 2, "recent_differences": [{"path": "/a", "status": 500}]}},
                    "/static": {"requests": {"total": 1}}}
            }),
        );
        assert_eq!((total["requests"].clone(), total["rss_bytes"].clone()), (json!(7), json!(300)));
        assert_eq!((total["version"].clone(), total["pid"].clone()), (json!("1"), json!(10)));
        let api = &total["mounts"]["/api"];
        assert_eq!(api["requests"], json!({"total": 7, "2xx": 6, "5xx": 1}));
        assert_eq!((api["interface"].clone(), api["in_flight"].clone()), (json!("asgi"), json!(3)));
        assert_eq!(api["fallback_paths"], json!([{"path": "/b", "count": 4}, {"path": "/a", "count": 2}]));
        // A canary's settings and weight are the first worker's, its variants' answers summed.
        let canary = json!({"canary": "/next", "weight": 10, "window": {"answers": 7},
            "requests": {"stable": {"total": 4}, "canary": {"total": 6}}});
        assert_eq!(api["canary"], canary);
        // Differences are each worker's own, joined, never added up by path.
        let recent = json!([{"path": "/a", "status": 200}, {"path": "/a", "status": 500}]);
        assert_eq!((api["shadow"]["differ"].clone(), api["shadow"]["recent_differences"].clone()), (json!(3), recent));
        assert_eq!(total["mounts"]["/static"]["requests"]["total"], 1);
    }

    #[test]
    fn a_gone_worker_leaves_its_counts_not_its_present() {
        let status = json!({
            "version": "1", "uptime_seconds": 2.5, "pid": 10, "requests": 3, "rss_bytes": 100,
            "mounts": {"/": {"interface": "wsgi", "requests": {"total": 3}, "in_flight": 1,
                "refused": {"body_too_large": 1}, "websockets_open": 2, "response_body_bytes": 40,
                "wsgi": {"threads": {"busy": 1, "idle": 3}, "queue_depth": 0},
                "canary": {"mount": "/", "canary": "/next", "weight": 10, "rolled_back": true, "reason": "errors",
                    "window": {"answers": 4}, "requests": {"stable": {"total": 2}, "canary": {"total": 1}}},
                "shadow": {"differ": 1, "recent_differences": [{"path": "/a"}]}}},
            "refused": {"no_mount": 1}
        });
        let kept = counted(&status);
        assert_eq!(
            kept,
            json!({
                "version": "1", "requests": 3,
                "mounts": {"/": {"interface": "wsgi", "requests": {"total": 3}, "refused": {"body_too_large": 1},
                    "response_body_bytes": 40,
                    "canary": {"mount": "/", "canary": "/next", "requests": {"stable": {"total": 2}, "canary": {"total": 1}}},
                    "shadow": {"differ": 1}}},
                "refused": {"no_mount": 1}
            })
        );
        // The live workers' figures first, then what the gone ones counted.
        let mut total = json!({"requests": 1, "mounts": {"/": {"requests": {"total": 1}, "in_flight": 0}}});
        absorb(&mut total, &kept);
        assert_eq!(total["requests"], 4);
        assert_eq!(total["mounts"]["/"]["requests"]["total"], 4);
        assert_eq!(total["mounts"]["/"]["in_flight"], 0);
    }

    #[test]
    fn a_list_of_paths_stays_as_long_as_one_process_lists_it() {
        let paths = |from: u64| -> Value {
            (from..from + FALLBACK_PATHS_LISTED as u64).map(|n| json!({"path": format!("/{n}"), "count": n})).collect()
        };
        let mut total = json!({"fallback_paths": paths(0)});
        absorb(&mut total, &json!({"fallback_paths": paths(50)}));
        let listed = total["fallback_paths"].as_array().cloned().unwrap_or_default();
        assert_eq!(listed.len(), FALLBACK_PATHS_LISTED);
        // The 50 paths both list (doubled: 198 down to 100), then `/149` down to `/100`.
        assert_eq!(listed.first(), Some(&json!({"path": "/99", "count": 198})));
        assert_eq!(listed.last().map(|entry| entry["count"].clone()), Some(json!(100)));
    }

    /// Every field a process's `/status` has is named in `figure` (`canary`'s, from
    /// `server/canary.rs`, are checked there: `says_how_it_adds_up`).
    #[test]
    fn every_field_says_how_it_adds_up() {
        let metrics = Metrics::new();
        let mount = metrics.mount(&Arc::from("/api"), "wsgi", Some("/"));
        let _ = mount.watch_pool(metrics.pools(), 1, Box::new(|| 0));
        mount.show_shadow(Arc::new(metrics.shadows.pair("/api", "/next")));
        let status = metrics.status();
        let names = |value: &Value| value.as_object().map(|fields| fields.keys().cloned().collect::<Vec<_>>());
        let mut fields = names(&status).unwrap_or_default();
        fields.extend(names(&status["mounts"]["/api"]).unwrap_or_default());
        assert!(fields.len() > 15, "{status}");
        for name in fields {
            assert!(figure(&name).is_some(), "/status's {name:?} is not in `figure`");
        }
    }
}
