//! Comparing a mount's answer with its shadow's (`shadow.rs`): pure functions, no I/O.
//!
//! - the status;
//! - the headers, less those that differ between any two answers (`Date`, `Server`,
//!   `Set-Cookie`, `Content-Length`) and the mount's `shadow-ignore-headers`: names are
//!   case-insensitive (`http` keeps them lower-case), and a header given more than once is
//!   compared as the ordered list of its values;
//! - the body, unless the request was `HEAD`: when both `Content-Type`s are JSON
//!   (`application/json` or `…+json`) and both bodies parse, as JSON values, so key order
//!   and whitespace do not count, and the first differing place is named as a path
//!   (`$.items[2].price`); else byte for byte, naming the first differing offset.
//!
//! Every difference found is listed (the status, each header, the body's first), each as
//! one short phrase for the log line and `/status`. A body the tee or the shadow's reader
//! gave up on (past the cap) is not compared: the verdict says so.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER, SET_COOKIE};
use http::StatusCode;
use serde_json::Value;

/// One side's answer, as held for the comparison.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// None: it passed the cap, and was not kept.
    pub body: Option<Bytes>,
}

/// What the comparison found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// Each difference, as a phrase (`status 200 vs 404`, `header x-version`, `body at $.a`).
    Differ(Vec<String>),
    /// Status and headers agree, but a body passed the cap: nothing can be said of it.
    BodyTooLarge,
}

/// Headers never compared: they differ between any two answers.
const ALWAYS_IGNORED: [HeaderName; 4] = [DATE, SERVER, SET_COOKIE, CONTENT_LENGTH];

/// Compares `primary` with `shadow` (see the module's notes); `head`: the request was `HEAD`.
pub fn compare(primary: &Answer, shadow: &Answer, ignored: &[HeaderName], head: bool) -> Verdict {
    let mut differences = Vec::new();
    if primary.status != shadow.status {
        differences.push(format!("status {} vs {}", primary.status.as_u16(), shadow.status.as_u16()));
    }
    differences.extend(header_differences(&primary.headers, &shadow.headers, ignored));
    if head {
        return verdict(differences);
    }
    match (&primary.body, &shadow.body) {
        (Some(ours), Some(theirs)) => {
            let json = is_json(&primary.headers) && is_json(&shadow.headers);
            differences.extend(body_difference(ours, theirs, json));
            verdict(differences)
        }
        _ if differences.is_empty() => Verdict::BodyTooLarge,
        _ => Verdict::Differ(differences),
    }
}

fn verdict(differences: Vec<String>) -> Verdict {
    if differences.is_empty() {
        Verdict::Match
    } else {
        Verdict::Differ(differences)
    }
}

/// One phrase per header whose values differ: `header x-version: ["1"] vs ["2"]`.
fn header_differences(primary: &HeaderMap, shadow: &HeaderMap, ignored: &[HeaderName]) -> Vec<String> {
    let mut names: Vec<&HeaderName> = primary.keys().collect();
    names.extend(shadow.keys().filter(|name| !primary.contains_key(*name)));
    names
        .into_iter()
        .filter(|name| !ALWAYS_IGNORED.contains(name) && !ignored.contains(name))
        .filter_map(|name| {
            let values = |headers: &HeaderMap| -> Vec<String> {
                headers
                    .get_all(name)
                    .iter()
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                    .collect()
            };
            let (ours, theirs) = (values(primary), values(shadow));
            (ours != theirs).then(|| format!("header {name}: {ours:?} vs {theirs:?}"))
        })
        .collect()
}

/// Whether the answer says its body is JSON: `application/json` or a `+json` type.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let media = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media == "application/json" || (media.contains('/') && media.ends_with("+json"))
}

/// The first difference of the bodies, if any: as JSON when `json` and both parse.
fn body_difference(ours: &Bytes, theirs: &Bytes, json: bool) -> Option<String> {
    if json {
        if let (Ok(ours), Ok(theirs)) = (serde_json::from_slice::<Value>(ours), serde_json::from_slice::<Value>(theirs))
        {
            let mut path = String::from("$");
            return json_difference(&ours, &theirs, &mut path);
        }
    }
    if ours == theirs {
        return None;
    }
    let offset = ours.iter().zip(theirs.iter()).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
    Some(format!("body at byte {offset} (lengths {} vs {})", ours.len(), theirs.len()))
}

/// The first place `ours` and `theirs` differ, below `path` (`$.items[2].price: 10 vs 12`).
fn json_difference(ours: &Value, theirs: &Value, path: &mut String) -> Option<String> {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let length = path.len();
                push_key(path, key);
                let found = match b.get(key) {
                    Some(other) => json_difference(value, other, path),
                    None => Some(format!("body at {path}: only in the primary's")),
                };
                if found.is_some() {
                    return found;
                }
                path.truncate(length);
            }
            let key = b.keys().find(|key| !a.contains_key(*key))?;
            push_key(path, key);
            Some(format!("body at {path}: only in the shadow's"))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (index, (value, other)) in a.iter().zip(b).enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                let found = json_difference(value, other, path);
                if found.is_some() {
                    return found;
                }
                path.truncate(length);
            }
            (a.len() != b.len()).then(|| format!("body at {path}: {} items vs {}", a.len(), b.len()))
        }
        _ if ours == theirs => None,
        _ => Some(format!("body at {path}: {} vs {}", short(ours), short(theirs))),
    }
}

/// `.key`, or `["key"]` for a key that is not an identifier.
fn push_key(path: &mut String, key: &str) {
    let plain = key.chars().next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && key.chars().all(|character| character.is_ascii_alphanumeric() || character == '_');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

/// A JSON value for a log line: at most 60 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn answer(status: u16, headers: &[(&'static str, &'static str)], body: &'static str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: map,
            body: Some(Bytes::from_static(body.as_bytes())),
        }
    }

    const JSON: (&str, &str) = ("content-type", "application/json");

    #[test]
    fn json_bodies_compare_as_values_and_name_the_first_differing_path() {
        let ours = answer(200, &[JSON], r#"{"a": 1, "items": [{"price": 10}, {"price": 12}]}"#);
        let reordered = answer(200, &[JSON], r#"{"items":[{"price":10},{"price":12}],"a":1}"#);
        assert_eq!(compare(&ours, &reordered, &[], false), Verdict::Match);
        let problem = answer(200, &[("content-type", "application/problem+json; charset=utf-8")], "");
        assert!(is_json(&problem.headers) && !is_json(&answer(200, &[("content-type", "text/json5")], "").headers));
        let changed = answer(200, &[JSON], r#"{"items": [{"price": 10}, {"price": 13}], "a": 1}"#);
        assert_eq!(
            compare(&ours, &changed, &[], false),
            Verdict::Differ(vec!["body at $.items[1].price: 12 vs 13".to_owned()])
        );
        let extra = answer(200, &[JSON], r#"{"a": 1, "items": [{"price": 10}, {"price": 12}], "odd key": 2}"#);
        assert_eq!(
            compare(&ours, &extra, &[], false),
            Verdict::Differ(vec![r#"body at $["odd key"]: only in the shadow's"#.to_owned()])
        );
    }

    #[test]
    fn other_bodies_compare_byte_for_byte() {
        let ours = answer(200, &[("content-type", "text/plain")], "hello world");
        assert_eq!(compare(&ours, &ours.clone(), &[], false), Verdict::Match);
        let theirs = answer(200, &[("content-type", "text/plain")], "hello wurld!");
        assert_eq!(
            compare(&ours, &theirs, &[], false),
            Verdict::Differ(vec!["body at byte 7 (lengths 11 vs 12)".to_owned()])
        );
        // Not parsed as JSON unless both say so.
        let spaced = answer(200, &[JSON], r#"{"a": 1}"#);
        let tight = answer(200, &[("content-type", "text/plain")], r#"{"a":1}"#);
        assert!(matches!(compare(&spaced, &tight, &[], false), Verdict::Differ(_)));
    }

    #[test]
    fn statuses_and_headers_less_the_ignored_ones() {
        let ours = answer(200, &[("date", "x"), ("server", "a"), ("x-version", "1"), ("vary", "a"), ("vary", "b")], "");
        let theirs = answer(404, &[("date", "y"), ("x-version", "2"), ("vary", "b"), ("vary", "a"), ("x-id", "7")], "");
        let ignored = [HeaderName::from_static("x-id")];
        assert_eq!(
            compare(&ours, &theirs, &ignored, true),
            Verdict::Differ(vec![
                "status 200 vs 404".to_owned(),
                r#"header x-version: ["1"] vs ["2"]"#.to_owned(),
                r#"header vary: ["a", "b"] vs ["b", "a"]"#.to_owned(),
            ])
        );
    }

    #[test]
    fn a_body_past_the_cap_is_not_compared() {
        let ours = answer(200, &[], "x");
        let mut theirs = ours.clone();
        theirs.body = None;
        assert_eq!(compare(&ours, &theirs, &[], false), Verdict::BodyTooLarge);
        theirs.status = StatusCode::CREATED;
        assert_eq!(compare(&ours, &theirs, &[], false), Verdict::Differ(vec!["status 200 vs 201".to_owned()]));
    }
}
