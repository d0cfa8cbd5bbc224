//! The answer to one request on a static mount, decided on the event loop: which file
//! (`resolve.rs`), which representation (`encoding.rs`), which status and part
//! (`conditional.rs`), and the headers that describe it.
//!
//! Headers of every file response (`200`, `206`, `304`, `416`; not `412`): `ETag`, `Last-Modified`,
//! `Vary: Accept-Encoding` (always, so a cache never hands one client another's coding, even
//! for a file that gains a sibling later), and `Cache-Control` when the mount sets
//! `static-cache-control`, or `public, max-age=31536000, immutable` for a name that carries a
//! content hash as Django's `ManifestStaticFilesStorage` writes it (`app.3f2a9c1b7d4e.css`: a
//! dot-separated part of exactly 12 lower-case hex digits, neither the first nor the last).
//! `200` and `206` add `Content-Type` (from the extension of the name asked for; text, JS and
//! JSON types say `charset=utf-8`), `Content-Length`, `Accept-Ranges: bytes`, and the
//! `Content-Encoding` of a precompressed sibling.
//!
//! Methods: only `GET` and `HEAD` read files; any other gets `405` with `Allow: GET, HEAD`,
//! but only for a path that names a file: a path that names nothing is `404` whatever the
//! method, so a static mount can be another's fallback's front (a `POST /login` that
//! matches no file falls back to the app).

use std::ffi::OsStr;
use std::fs::File;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;

use http::header::{
    HeaderValue, ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, LAST_MODIFIED, LOCATION, VARY,
};
use http::{request, HeaderMap, Method, Response, StatusCode};

use super::body::{self, BLOCK};
use super::cache::FileCache;
use super::conditional::{evaluate, Answer, Validators};
use super::encoding::{acceptable, sibling};
use super::resolve::{segments, Found, Opened, Root};
use crate::compression::Codec;
use crate::http::response_body::ResponseBody;
use crate::http::status;

/// Per-mount settings of a static mount, and its cache of small files.
#[derive(Debug)]
pub struct StaticSettings {
    pub root: Root,
    /// The mount prefix (empty at the root), stripped from the request path.
    pub prefix: String,
    /// `static-cache-control`, for names without a content hash.
    pub cache_control: Option<HeaderValue>,
    pub cache: FileCache,
}

/// `Cache-Control` of a name with a content hash: it can never change, so keep it a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What `prepare` decided: a response ready to send, or one whose body is streamed from
/// `file` (the head is ready; the `range` is yet to read).
pub enum Prepared {
    Ready(Response<ResponseBody>),
    Stream { head: Response<ResponseBody>, file: File, range: RangeInclusive<u64> },
}

/// What the answers about one representation of a file (the file itself, or a
/// precompressed sibling) say, whatever the request's conditions: worked out once per
/// version of the file when it is cached (`cache.rs`).
#[derive(Debug)]
pub struct Facts {
    pub coding: Option<Codec>,
    length: u64,
    validators: Validators,
    /// The headers of every answer about the file (see the module's header).
    described: HeaderMap,
    content_type: HeaderValue,
}

impl Facts {
    /// The facts of a representation of `length` bytes in `coding`, last modified at
    /// `modified`, of the file asked for as `name`.
    pub fn new(
        settings: &StaticSettings,
        coding: Option<Codec>,
        length: u64,
        modified: Option<SystemTime>,
        name: &OsStr,
    ) -> Self {
        let validators = Validators::new(length, modified, coding);
        let described = describe(settings, &validators, name);
        Self { coding, length, validators, described, content_type: content_type(name) }
    }
}

/// Where an answer's bytes come from.
enum Source {
    File(File),
    Kept(Bytes),
}

/// Decides the answer to `head` (metadata and cached pages only: see `mod.rs`).
pub fn prepare(settings: &StaticSettings, head: &request::Parts) -> Prepared {
    let path = head.uri.path();
    let rest = path.strip_prefix(settings.prefix.as_str()).unwrap_or("*");
    let reads = head.method == Method::GET || head.method == Method::HEAD;
    if reads {
        if let Some(entry) = settings.cache.get(rest) {
            let variant = entry.choose(&acceptable(&head.headers));
            if entry.is_current(&settings.root, variant) {
                return answer(head, &variant.facts, Source::Kept(variant.content.clone()));
            }
        }
    }
    let found = segments(rest).map_or(Found::NotFound, |segments| settings.root.find(&segments));
    match found {
        Found::NotFound => Prepared::Ready(status::plain(StatusCode::NOT_FOUND)),
        _ if !reads => Prepared::Ready(not_allowed()),
        Found::AddSlash => Prepared::Ready(add_slash(head)),
        Found::File { opened, relative, name } => {
            match settings.cache.fill(settings, rest, &relative, &opened.file, &name) {
                Some(entry) => {
                    let variant = entry.choose(&acceptable(&head.headers));
                    answer(head, &variant.facts, Source::Kept(variant.content.clone()))
                }
                None => serve_file(settings, head, opened, &relative, &name),
            }
        }
    }
}

/// The answer for the file `opened` at `relative` (below the root), asked for as `name`, to a
/// `GET` or `HEAD`, read from the filesystem.
fn serve_file(
    settings: &StaticSettings,
    head: &request::Parts,
    opened: Opened,
    relative: &Path,
    name: &OsStr,
) -> Prepared {
    let codings = acceptable(&head.headers);
    let (coding, Opened { file, metadata }) = match sibling(&settings.root, relative, &codings) {
        Some((coding, sibling)) => (Some(coding), sibling),
        None => (None, opened),
    };
    let facts = Facts::new(settings, coding, metadata.len(), metadata.modified().ok(), name);
    answer(head, &facts, Source::File(file))
}

/// The answer to `head` about the representation `facts` describe, whose bytes `source`
/// holds.
fn answer(head: &request::Parts, facts: &Facts, source: Source) -> Prepared {
    let length = facts.length;
    let mut response = Response::new(ResponseBody::Empty);
    *response.headers_mut() = facts.described.clone();
    let range = match evaluate(&head.method, &head.headers, &facts.validators, length) {
        Answer::NotModified => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return Prepared::Ready(response);
        }
        Answer::PreconditionFailed => return Prepared::Ready(status::plain(StatusCode::PRECONDITION_FAILED)),
        Answer::Unsatisfiable => {
            let mut refused = status::plain(StatusCode::RANGE_NOT_SATISFIABLE);
            let headers = refused.headers_mut();
            headers.insert(CONTENT_RANGE, value(&format!("bytes */{length}")));
            for (name, value) in response.headers() {
                headers.insert(name, value.clone());
            }
            return Prepared::Ready(refused);
        }
        Answer::Whole if length == 0 => None,
        Answer::Whole => Some(0..=length - 1),
        Answer::Part(range) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let content_range = format!("bytes {}-{}/{length}", range.start(), range.end());
            response.headers_mut().insert(CONTENT_RANGE, value(&content_range));
            Some(range)
        }
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, facts.content_type.clone());
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(coding) = facts.coding {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    }
    let sent = range.as_ref().map_or(0, |range| range.end() + 1 - range.start());
    headers.insert(CONTENT_LENGTH, HeaderValue::from(sent));
    match (range, source) {
        (Some(range), Source::File(file)) if head.method == Method::GET => with_body(response, file, range),
        (Some(range), Source::Kept(content)) if head.method == Method::GET => {
            // The range lies within the content: `evaluate` checked it against its length.
            let part = usize::try_from(*range.start()).unwrap_or(0)..=usize::try_from(*range.end()).unwrap_or(0);
            *response.body_mut() = ResponseBody::full(content.slice(part));
            Prepared::Ready(response)
        }
        _ => Prepared::Ready(response),
    }
}

/// The response with its body: read now when small and cached, else to be streamed.
fn with_body(mut response: Response<ResponseBody>, file: File, range: RangeInclusive<u64>) -> Prepared {
    let length = range.end() + 1 - range.start();
    if length <= BLOCK {
        let data = body::read_cached(&file, &range);
        if data.len() as u64 == length {
            *response.body_mut() = ResponseBody::full(data);
            return Prepared::Ready(response);
        }
    }
    Prepared::Stream { head: response, file, range }
}

/// The headers every response about a file carries (see the module's header).
fn describe(settings: &StaticSettings, validators: &Validators, name: &OsStr) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(ETAG, value(&validators.etag));
    if let Some(date) = validators.last_modified() {
        headers.insert(LAST_MODIFIED, value(&date));
    }
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if has_content_hash(name) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    } else if let Some(cache_control) = &settings.cache_control {
        headers.insert(CACHE_CONTROL, cache_control.clone());
    }
    headers
}

/// A header value we formatted from digits, quotes, letters and punctuation.
fn value(text: &str) -> HeaderValue {
    // Only ETags, dates and ranges we wrote come here: always visible ASCII. The fallback
    // keeps the request path free of panics all the same.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Content-Type` from the extension of `name`; `charset=utf-8` for text, JS and JSON.
pub fn content_type(name: &OsStr) -> HeaderValue {
    let guessed = mime_guess::from_path(name).first_raw().unwrap_or("application/octet-stream");
    let textual = guessed.starts_with("text/")
        || guessed == "application/javascript"
        || guessed == "application/json"
        || guessed.ends_with("+json");
    if textual {
        value(&format!("{guessed}; charset=utf-8"))
    } else {
        HeaderValue::from_static(guessed)
    }
}

/// Whether `name` looks like `app.3f2a9c1b7d4e.css` (see the module's header).
pub fn has_content_hash(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|part| {
            part.len() == 12 && part.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        })
}

fn not_allowed() -> Response<ResponseBody> {
    let mut response = status::plain(StatusCode::METHOD_NOT_ALLOWED);
    response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// `301` to the same path with a final `/` (and the same query).
fn add_slash(head: &request::Parts) -> Response<ResponseBody> {
    let location = match head.uri.query() {
        Some(query) => format!("{}/?{query}", head.uri.path()),
        None => format!("{}/", head.uri.path()),
    };
    let mut response = status::plain(StatusCode::MOVED_PERMANENTLY);
    response.headers_mut().insert(LOCATION, value(&location));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let cases = [
            ("app.css", "text/css; charset=utf-8"),
            ("index.html", "text/html; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("data.json", "application/json; charset=utf-8"),
            ("logo.png", "image/png"),
            ("logo.svg", "image/svg+xml"),
            ("archive.tar.gz", "application/gzip"),
            ("no-extension", "application/octet-stream"),
        ];
        for (name, expected) in cases {
            assert_eq!(content_type(OsStr::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn content_hashes() {
        for hashed in ["app.3f2a9c1b7d4e.css", "base.0123456789ab.js.map", "x.aaaaaaaaaaaa.y.z"] {
            assert!(has_content_hash(OsStr::new(hashed)), "{hashed}");
        }
        for plain in ["app.css", "3f2a9c1b7d4e.css", "app.3f2a9c1b7d4e", "app.3F2A9C1B7D4E.css", "app.3f2a9c1b7d4.css"]
        {
            assert!(!has_content_hash(OsStr::new(plain)), "{plain}");
        }
    }
}
