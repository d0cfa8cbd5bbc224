//! Validators and what a request's conditions make of them: `304 Not Modified`, the whole
//! file, one range of it (`206`), or `416` (RFC 9110 §13 and §14).
//!
//! The ETag is strong, made of the file's size and modification time in nanoseconds
//! (`"1f4-17d2c3a1b2c3d4e5"`), with the coding appended for a precompressed sibling
//! (`"…-br"`): strong so that `If-Range` can use it, and any rewrite that changes the size
//! or the time changes it. `Last-Modified` is the same time, to the second.
//!
//! Order of evaluation (RFC 9110 §13.2.2): `If-Match` (strong comparison, `*` matches), else
//! `If-Unmodified-Since`, failing gives `412`; then `If-None-Match` (weak comparison, `*`
//! matches) decides when present, else `If-Modified-Since`; a match is `304` for `GET` and
//! `HEAD`. Then, for `GET` only,
//! `Range`: a single range gives `206` (or `416` when it starts past the end), unless
//! `If-Range` names another validator (a strong ETag must equal ours, a date must equal
//! `Last-Modified`), which gives the whole file. Several ranges (`bytes=0-1,5-6`) also give
//! the whole file, `200`: simpler than `multipart/byteranges` and allowed (a server may
//! ignore `Range`); so does a header that does not parse or another unit.
//!
//! Headers are written by `response.rs`.

use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE};
use http::{HeaderMap, Method};
use http_range_header::{parse_range_header, RangeUnsatisfiableError};

use crate::compression::Codec;

/// A representation's validators.
#[derive(Debug, Clone)]
pub struct Validators {
    /// With its quotes.
    pub etag: String,
    /// Whole seconds (what `Last-Modified` can say); None when the filesystem has no time.
    pub modified: Option<SystemTime>,
}

impl Validators {
    pub fn new(length: u64, modified: Option<SystemTime>, coding: Option<Codec>) -> Self {
        let since_epoch = modified.and_then(|time| time.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        let suffix = coding.map(|coding| format!("-{}", coding.token())).unwrap_or_default();
        let etag = format!("\"{length:x}-{:x}{suffix}\"", since_epoch.as_nanos());
        let modified = modified.map(|_| UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs()));
        Self { etag, modified }
    }

    /// `Last-Modified`'s value.
    pub fn last_modified(&self) -> Option<String> {
        self.modified.map(httpdate::fmt_http_date)
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `412`: `If-Match` or `If-Unmodified-Since` does not hold.
    PreconditionFailed,
    NotModified,
    Whole,
    Part(RangeInclusive<u64>),
    /// `416`, with `Content-Range: bytes */length`.
    Unsatisfiable,
}

pub fn evaluate(method: &Method, headers: &HeaderMap, validators: &Validators, length: u64) -> Answer {
    if !preconditions_hold(headers, validators) {
        return Answer::PreconditionFailed;
    }
    if not_modified(headers, validators) {
        return Answer::NotModified;
    }
    if method != Method::GET {
        return Answer::Whole;
    }
    let Some(range) = headers.get(RANGE).and_then(|value| value.to_str().ok()) else {
        return Answer::Whole;
    };
    if !if_range_holds(headers, validators) {
        return Answer::Whole;
    }
    let Ok(parsed) = parse_range_header(range) else {
        return Answer::Whole;
    };
    if parsed.len() != 1 {
        return Answer::Whole;
    }
    match parsed.validate(length) {
        Ok(ranges) => ranges.into_iter().next().map_or(Answer::Whole, Answer::Part),
        Err(RangeUnsatisfiableError::Unsatisfiable) => Answer::Unsatisfiable,
        Err(_) => Answer::Whole,
    }
}

/// `If-Match`, else `If-Unmodified-Since`: whether the request may go on.
fn preconditions_hold(headers: &HeaderMap, validators: &Validators) -> bool {
    if let Some(matched) = any_tag(headers, IF_MATCH, |tag| tag == validators.etag) {
        return matched;
    }
    match (date(headers, IF_UNMODIFIED_SINCE), validators.modified) {
        (Some(since), Some(modified)) => modified <= since,
        _ => true,
    }
}

/// `If-None-Match`, else `If-Modified-Since`: whether the client's copy is current.
fn not_modified(headers: &HeaderMap, validators: &Validators) -> bool {
    let ours = weak_form(&validators.etag);
    if let Some(matched) = any_tag(headers, IF_NONE_MATCH, |tag| weak_form(tag) == ours) {
        return matched;
    }
    match (date(headers, IF_MODIFIED_SINCE), validators.modified) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// Whether any entity tag listed in the `name` headers (or `*`) passes `test`; None without
/// such a header.
fn any_tag(headers: &HeaderMap, name: http::header::HeaderName, test: impl Fn(&str) -> bool) -> Option<bool> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    Some(values.filter_map(|value| value.to_str().ok()).flat_map(|text| text.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || test(tag)
    }))
}

/// A date header; None when absent or not an HTTP date.
fn date(headers: &HeaderMap, name: http::header::HeaderName) -> Option<SystemTime> {
    httpdate::parse_http_date(headers.get(name)?.to_str().ok()?).ok()
}

/// An ETag without its weakness flag, for the weak comparison.
fn weak_form(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// Whether `If-Range` (when present) names the current representation.
fn if_range_holds(headers: &HeaderMap, validators: &Validators) -> bool {
    let Some(value) = headers.get(IF_RANGE) else {
        return true;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let text = text.trim();
    if text.starts_with('"') {
        return text == validators.etag;
    }
    if text.starts_with("W/") {
        return false; // A weak ETag never allows a range (RFC 9110 §13.1.5).
    }
    match (httpdate::parse_http_date(text), validators.modified) {
        (Ok(date), Some(modified)) => date == modified,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const LENGTH: u64 = 1000;

    fn validators() -> Validators {
        Validators::new(LENGTH, Some(UNIX_EPOCH + Duration::new(1_700_000_000, 123)), None)
    }

    fn answer(method: Method, headers: &[(&'static str, &str)]) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).expect("valid"));
        }
        evaluate(&method, &map, &validators(), LENGTH)
    }

    #[test]
    fn validators_shape() {
        let plain = validators();
        assert_eq!(plain.etag, format!("\"3e8-{:x}\"", 1_700_000_000_000_000_123u128));
        assert_eq!(plain.last_modified().as_deref(), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
        let brotli = Validators::new(LENGTH, plain.modified, Some(Codec::Brotli));
        assert!(brotli.etag.ends_with("-br\""));
    }

    /// A method, its request headers, and the answer they should get.
    type Case<'a> = (Method, Vec<(&'static str, &'a str)>, Answer);

    #[test]
    fn conditions_table() {
        let etag = validators().etag;
        let weak = format!("W/{etag}");
        let list = format!("\"other\", {etag}");
        let date = "Tue, 14 Nov 2023 22:13:20 GMT";
        let later = "Wed, 15 Nov 2023 00:00:00 GMT";
        let earlier = "Mon, 13 Nov 2023 00:00:00 GMT";
        let get = Method::GET;
        let cases: Vec<Case<'_>> = vec![
            (get.clone(), vec![], Answer::Whole),
            (get.clone(), vec![("if-none-match", &etag)], Answer::NotModified),
            (get.clone(), vec![("if-none-match", &weak)], Answer::NotModified),
            (get.clone(), vec![("if-none-match", &list)], Answer::NotModified),
            (get.clone(), vec![("if-none-match", "*")], Answer::NotModified),
            (get.clone(), vec![("if-none-match", "\"other\"")], Answer::Whole),
            // If-None-Match wins over If-Modified-Since.
            (get.clone(), vec![("if-none-match", "\"other\""), ("if-modified-since", later)], Answer::Whole),
            (get.clone(), vec![("if-modified-since", date)], Answer::NotModified),
            (get.clone(), vec![("if-modified-since", later)], Answer::NotModified),
            (get.clone(), vec![("if-modified-since", earlier)], Answer::Whole),
            (get.clone(), vec![("if-modified-since", "yesterday")], Answer::Whole),
            (Method::HEAD, vec![("if-none-match", &etag)], Answer::NotModified),
            (get.clone(), vec![("range", "bytes=0-99")], Answer::Part(0..=99)),
            (get.clone(), vec![("range", "bytes=990-")], Answer::Part(990..=999)),
            (get.clone(), vec![("range", "bytes=-10")], Answer::Part(990..=999)),
            (get.clone(), vec![("range", "bytes=-5000")], Answer::Part(0..=999)),
            (get.clone(), vec![("range", "bytes=900-5000")], Answer::Part(900..=999)),
            (get.clone(), vec![("range", "bytes=1000-")], Answer::Unsatisfiable),
            (get.clone(), vec![("range", "bytes=-0")], Answer::Unsatisfiable),
            (get.clone(), vec![("range", "bytes=0-1,5-6")], Answer::Whole),
            (get.clone(), vec![("range", "bytes=5-1")], Answer::Whole),
            (get.clone(), vec![("range", "lines=1-2")], Answer::Whole),
            (Method::HEAD, vec![("range", "bytes=0-99")], Answer::Whole),
            (get.clone(), vec![("range", "bytes=0-99"), ("if-range", &etag)], Answer::Part(0..=99)),
            (get.clone(), vec![("range", "bytes=0-99"), ("if-range", &weak)], Answer::Whole),
            (get.clone(), vec![("range", "bytes=0-99"), ("if-range", "\"other\"")], Answer::Whole),
            (get.clone(), vec![("range", "bytes=0-99"), ("if-range", date)], Answer::Part(0..=99)),
            (get.clone(), vec![("range", "bytes=0-99"), ("if-range", earlier)], Answer::Whole),
            (get.clone(), vec![("if-match", &etag)], Answer::Whole),
            (get.clone(), vec![("if-match", "*")], Answer::Whole),
            (get.clone(), vec![("if-match", &weak)], Answer::PreconditionFailed),
            (get.clone(), vec![("if-match", "\"other\"")], Answer::PreconditionFailed),
            (get.clone(), vec![("if-unmodified-since", date)], Answer::Whole),
            (get.clone(), vec![("if-unmodified-since", earlier)], Answer::PreconditionFailed),
            // If-Match wins over If-Unmodified-Since.
            (get.clone(), vec![("if-match", &etag), ("if-unmodified-since", earlier)], Answer::Whole),
        ];
        for (method, headers, expected) in cases {
            assert_eq!(answer(method.clone(), &headers), expected, "{method} {headers:?}");
        }
    }
}
