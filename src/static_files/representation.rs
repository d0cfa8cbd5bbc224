//! What the answers about one representation of a static file (the file itself, or a
//! precompressed sibling) say whatever the request's conditions: its validators and the
//! headers that describe it, worked out once per version of the file when it is kept
//! (`cache.rs`); and where its bytes come from. `response.rs` answers each request with them.
//!
//! Headers of every file response (`200`, `206`, `304`, `416`; not `412`): `ETag`, `Last-Modified`,
//! `Vary: Accept-Encoding` (always, so a cache never hands one client another's coding, even
//! for a file that gains a sibling later), and `Cache-Control` when the mount sets
//! `static-cache-control`, or `public, max-age=31536000, immutable` for a name that carries a
//! content hash as Django's `ManifestStaticFilesStorage` writes it (`app.3f2a9c1b7d4e.css`: a
//! dot-separated part of exactly 12 lower-case hex digits, neither the first nor the last).
//! `200` and `206` add `Content-Type` (from the extension of the name asked for; text, JS and
//! JSON types say `charset=utf-8`), which is worked out here too.

use std::ffi::OsStr;
use std::fs::File;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, ETAG, LAST_MODIFIED, VARY};
use http::HeaderMap;

use super::conditional::Validators;
use crate::compression::Codec;

/// `Cache-Control` of a name with a content hash: it can never change, so keep it a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What the answers about one representation of a file (the file itself, or a
/// precompressed sibling) say, whatever the request's conditions: worked out once per
/// version of the file when it is cached (`cache.rs`).
#[derive(Debug)]
pub struct Facts {
    pub coding: Option<Codec>,
    pub length: u64,
    pub validators: Validators,
    /// The headers of every answer about the file (see the module's header).
    pub described: HeaderMap,
    pub content_type: HeaderValue,
}

impl Facts {
    /// The facts of a representation of `length` bytes in `coding`, last modified at
    /// `modified`, of the file asked for as `name`.
    pub fn new(
        cache_control: Option<&HeaderValue>,
        coding: Option<Codec>,
        length: u64,
        modified: Option<SystemTime>,
        name: &OsStr,
    ) -> Self {
        let validators = Validators::new(length, modified, coding);
        let described = describe(cache_control, &validators, name);
        Self { coding, length, validators, described, content_type: content_type(name) }
    }
}

/// Where an answer's bytes come from: bytes read (a whole small file, kept by `cache.rs`),
/// or an open file to read them from.
#[derive(Debug, Clone)]
pub enum Content {
    Read(Bytes),
    Open(Arc<File>),
}

/// The headers every response about a file carries (see the module's header).
fn describe(cache_control: Option<&HeaderValue>, validators: &Validators, name: &OsStr) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(ETAG, value(&validators.etag));
    if let Some(date) = validators.last_modified() {
        headers.insert(LAST_MODIFIED, value(&date));
    }
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if has_content_hash(name) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    } else if let Some(cache_control) = cache_control {
        headers.insert(CACHE_CONTROL, cache_control.clone());
    }
    headers
}

/// A header value we formatted from digits, quotes, letters and punctuation.
pub fn value(text: &str) -> HeaderValue {
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
