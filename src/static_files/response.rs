//! The answer to one request on a static mount, decided on the event loop: which file
//! (`resolve.rs`), which representation (`encoding.rs`), which status and part
//! (`conditional.rs`), and the headers that describe it.
//!
//! The headers that describe a file are `representation.rs`'s; this adds the status's:
//! `Content-Type`, `Content-Length`, `Accept-Ranges: bytes` and `Content-Encoding` for
//! `200` and `206`, `Content-Range` for `206` and `416`.
//!
//! Methods: only `GET` and `HEAD` read files; any other gets `405` with `Allow: GET, HEAD`,
//! but only for a path that names a file: a path that names nothing is `404` whatever the
//! method, so a static mount can be another's fallback's front (a `POST /login` that
//! matches no file falls back to the app).

use std::ffi::OsStr;
use std::fs::File;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;

use http::header::{
    HeaderValue, ACCEPT_RANGES, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION,
};
use http::{request, Method, Response, StatusCode};

use super::body::{self, BLOCK};
use super::cache::{Entry, FileCache};
use super::conditional::{evaluate, Answer};
use super::encoding::{acceptable, sibling};
use super::representation::{value, Content, Facts};
use super::resolve::{segments, Found, Opened, Root};
use crate::http::response_body::ResponseBody;
use crate::http::status;

/// Per-mount settings of a static mount, and its cache of files (`cache.rs`).
#[derive(Debug)]
pub struct StaticSettings {
    pub root: Root,
    /// The mount prefix (empty at the root), stripped from the request path.
    pub prefix: String,
    /// `static-cache-control`, for names without a content hash.
    pub cache_control: Option<HeaderValue>,
    pub cache: FileCache,
}

/// What `prepare` decided: a response ready to send, or one whose body is streamed from
/// `file` (the head is ready; the `range` is yet to read).
pub enum Prepared {
    Ready(Response<ResponseBody>),
    Stream { head: Response<ResponseBody>, file: Arc<File>, range: RangeInclusive<u64> },
}

/// Decides the answer to `head` (metadata and cached pages only: see `mod.rs`).
pub fn prepare(settings: &StaticSettings, head: &request::Parts) -> Prepared {
    let path = head.uri.path();
    let rest = path.strip_prefix(settings.prefix.as_str()).unwrap_or("*");
    let reads = head.method == Method::GET || head.method == Method::HEAD;
    if reads {
        if let Some(entry) = settings.cache.get(rest) {
            let variant = entry.choose(&acceptable(&head.headers));
            let (response, range) = decide(head, &variant.facts);
            // Bytes about to be read from a kept open file are checked first (`cache.rs`).
            let reads_open_file = range.is_some() && matches!(variant.content, Content::Open(_));
            if !reads_open_file || entry.is_current(&settings.root, variant) {
                return with_content(response, range, variant.content.clone());
            }
            settings.cache.forget(rest);
        }
    }
    let found = segments(rest).map_or(Found::NotFound, |segments| settings.root.find(&segments));
    match found {
        Found::NotFound => Prepared::Ready(status::plain(StatusCode::NOT_FOUND)),
        _ if !reads => Prepared::Ready(not_allowed()),
        Found::AddSlash => Prepared::Ready(add_slash(head)),
        Found::File { opened, relative, name } => {
            let cache_control = settings.cache_control.as_ref();
            match Entry::read(&settings.root, cache_control, &relative, &opened.file, &name) {
                Some(entry) => {
                    // Kept when there is room; answered from what was read either way.
                    settings.cache.keep(rest, &entry);
                    let variant = entry.choose(&acceptable(&head.headers));
                    answer(head, &variant.facts, variant.content.clone())
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
    let facts = Facts::new(settings.cache_control.as_ref(), coding, metadata.len(), metadata.modified().ok(), name);
    answer(head, &facts, Content::Open(Arc::new(file)))
}

/// The answer to `head` about the representation `facts` describe, whose bytes `content`
/// holds.
fn answer(head: &request::Parts, facts: &Facts, content: Content) -> Prepared {
    let (response, range) = decide(head, facts);
    with_content(response, range, content)
}

/// The answer to `head` about the representation `facts` describe, without its body, and
/// the part of the representation to send: None when nothing is (`HEAD`, `304`, `412`,
/// `416`, an empty file).
fn decide(head: &request::Parts, facts: &Facts) -> (Response<ResponseBody>, Option<RangeInclusive<u64>>) {
    let length = facts.length;
    let mut response = Response::new(ResponseBody::Empty);
    *response.headers_mut() = facts.described.clone();
    let range = match evaluate(&head.method, &head.headers, &facts.validators, length) {
        Answer::NotModified => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return (response, None);
        }
        Answer::PreconditionFailed => return (status::plain(StatusCode::PRECONDITION_FAILED), None),
        Answer::Unsatisfiable => {
            let mut refused = status::plain(StatusCode::RANGE_NOT_SATISFIABLE);
            let headers = refused.headers_mut();
            headers.insert(CONTENT_RANGE, value(&format!("bytes */{length}")));
            for (name, value) in response.headers() {
                headers.insert(name, value.clone());
            }
            return (refused, None);
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
    (response, range.filter(|_| head.method == Method::GET))
}

/// `response` with the `range` of the representation whose bytes `content` holds as its
/// body (none without a range).
fn with_content(
    mut response: Response<ResponseBody>,
    range: Option<RangeInclusive<u64>>,
    content: Content,
) -> Prepared {
    match (range, content) {
        (Some(range), Content::Open(file)) => with_body(response, file, range),
        (Some(range), Content::Read(content)) => {
            // The range lies within the content: `evaluate` checked it against its length.
            let part = usize::try_from(*range.start()).unwrap_or(0)..=usize::try_from(*range.end()).unwrap_or(0);
            *response.body_mut() = ResponseBody::full(content.slice(part));
            Prepared::Ready(response)
        }
        (None, _) => Prepared::Ready(response),
    }
}

/// The response with its body: read now when small and cached, else to be streamed.
fn with_body(mut response: Response<ResponseBody>, file: Arc<File>, range: RangeInclusive<u64>) -> Prepared {
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
