//! Response compression for a mount whose `compress` setting names codings (br, gzip, zstd):
//! which responses are compressed and how their headers change. `negotiate.rs` reads
//! `Accept-Encoding` and matches types; `body.rs` compresses the body; `codec.rs` names the
//! codings.
//!
//! `service.rs` asks `offer` before the app runs (the request's coding, None for `HEAD`) and
//! `apply` on its answer. A response is eligible when none of these holds: a status of 1xx,
//! 204, 206 or 304; a `Content-Encoding` or `Content-Range` already; `Cache-Control:
//! no-transform`; a `Content-Type` not in `compress-types` (or none); a known length (its
//! `Content-Length`, or a body whole in memory) under `compress-min-size`; an empty body.
//! An eligible response gets `Vary: Accept-Encoding` (added to what the app set, once), and
//! when the request chose a coding: `Content-Encoding`, no `Content-Length` (the body streams;
//! a body already whole in memory is compressed at once and gets its new length), no
//! `Accept-Ranges` (a range would be of the identity's bytes), and a weak
//! `ETag` (`W/"…"`: RFC 9110 §8.8.1, the compressed bytes are not the identity's).
//!
//! A mount without `compress` has no settings here at all: the service tests an empty
//! `Option` before the app runs and after (no allocation, no header read).

pub mod body;
pub mod codec;
pub mod negotiate;

use http::header::{
    HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    VARY,
};
use http::{request, Method, Response, StatusCode};

use self::body::{Compressing, Encoder};
pub use self::codec::Codec;
use self::negotiate::{choose, type_matches, TypePattern};
use crate::errors::Error;
use crate::http::response_body::ResponseBody;

/// A mount's compression settings (only mounts that compress have them).
#[derive(Debug)]
pub struct CompressSettings {
    /// In the mount's order of preference; never empty.
    codings: Vec<Codec>,
    min_size: u64,
    types: Vec<TypePattern>,
}

impl CompressSettings {
    /// The settings of a mount, from its `compress`, `compress-min-size` and `compress-types`;
    /// None when `compress` is empty (off).
    pub fn new(codings: &[String], min_size: u64, types: &[String]) -> Result<Option<Self>, Error> {
        if codings.is_empty() {
            return Ok(None);
        }
        let codings = codings
            .iter()
            .map(|text| {
                Codec::from_setting(text)
                    .ok_or_else(|| Error::setting_value("compress", text, "expected br, gzip or zstd"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let types = types
            .iter()
            .map(|text| {
                TypePattern::parse(text).ok_or_else(|| {
                    Error::setting_value("compress_types", text, "expected type/subtype, type/* or type/*+suffix")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Self { codings, min_size, types }))
    }

    /// The coding the request asks for among the mount's (None for `HEAD`, or none).
    pub fn offer(&self, head: &request::Parts) -> Option<Codec> {
        if head.method == Method::HEAD {
            return None;
        }
        choose(&head.headers, &self.codings)
    }

    /// Compresses `response` in `coding` if eligible (see the module's header); an eligible
    /// response gets `Vary: Accept-Encoding` even when `coding` is None.
    pub fn apply(&self, coding: Option<Codec>, response: &mut Response<ResponseBody>) {
        if !self.eligible(response) {
            return;
        }
        add_vary(response.headers_mut());
        let Some(coding) = coding else {
            return;
        };
        let length = match response.body() {
            // A body handed over whole is compressed whole, and keeps a length.
            ResponseBody::Full(Some(data)) => match body::whole(coding, data) {
                Ok(compressed) => {
                    let length = compressed.len();
                    *response.body_mut() = ResponseBody::full(compressed);
                    Some(length)
                }
                Err(_) => return,
            },
            _ => {
                let Ok(encoder) = Encoder::new(coding) else {
                    return;
                };
                let streamed = std::mem::replace(response.body_mut(), ResponseBody::Empty);
                *response.body_mut() = ResponseBody::Compressed(Box::new(Compressing::new(streamed, encoder)));
                None
            }
        };
        let headers = response.headers_mut();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
        // A range would be of the identity's bytes, not of these (nginx's gzip does the same).
        headers.remove(ACCEPT_RANGES);
        match length {
            Some(length) => headers.insert(CONTENT_LENGTH, HeaderValue::from(length)),
            None => headers.remove(CONTENT_LENGTH),
        };
        if let Some(strong) = headers.get(ETAG).filter(|etag| etag.as_bytes().starts_with(b"\"")) {
            let mut weak = Vec::with_capacity(strong.len() + 2);
            weak.extend_from_slice(b"W/");
            weak.extend_from_slice(strong.as_bytes());
            if let Ok(weak) = HeaderValue::from_bytes(&weak) {
                headers.insert(ETAG, weak);
            }
        }
    }

    fn eligible(&self, response: &Response<ResponseBody>) -> bool {
        let status = response.status();
        if status.is_informational()
            || matches!(status, StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED)
        {
            return false;
        }
        let headers = response.headers();
        if headers.contains_key(CONTENT_ENCODING) || headers.contains_key(CONTENT_RANGE) {
            return false;
        }
        if headers.get_all(CACHE_CONTROL).iter().any(|value| has_token(value, "no-transform")) {
            return false;
        }
        let typed = headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok());
        if !typed.is_some_and(|content_type| type_matches(content_type, &self.types)) {
            return false;
        }
        let declared = headers.get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok());
        let known = match response.body() {
            ResponseBody::Empty => Some(0),
            ResponseBody::Full(data) => Some(data.as_ref().map_or(0, |data| data.len() as u64)),
            _ => declared,
        };
        known.is_none_or(|length| length > 0 && length >= self.min_size)
    }
}

/// Adds `accept-encoding` to `Vary` unless it (or `*`) is there already.
fn add_vary(headers: &mut http::HeaderMap) {
    let present =
        headers.get_all(VARY).iter().any(|value| has_token(value, "accept-encoding") || has_token(value, "*"));
    if !present {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// Whether the comma-separated `value` has `token` as one of its items (ignoring case and any
/// `=argument`).
fn has_token(value: &HeaderValue, token: &str) -> bool {
    value.to_str().is_ok_and(|text| {
        text.split(',').any(|item| item.split('=').next().unwrap_or("").trim().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CompressSettings {
        let types = ["text/*".to_owned(), "application/json".to_owned()];
        CompressSettings::new(&["gzip".to_owned()], 10, &types).expect("valid").expect("on")
    }

    type Headers = &'static [(&'static str, &'static str)];

    fn response(status: u16, headers: Headers, body: &'static [u8]) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::full(bytes::Bytes::from_static(body)));
        *response.status_mut() = StatusCode::from_u16(status).expect("status");
        for (name, value) in headers {
            response.headers_mut().append(*name, HeaderValue::from_static(value));
        }
        response
    }

    const LONG: &[u8] = b"hello hello hello hello";

    #[test]
    fn eligible_responses_are_compressed_with_vary_and_a_weak_etag() {
        let mut answer = response(
            200,
            &[("content-type", "text/plain"), ("etag", "\"x\""), ("vary", "Cookie"), ("accept-ranges", "bytes")],
            LONG,
        );
        settings().apply(Some(Codec::Gzip), &mut answer);
        assert_eq!(answer.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(answer.headers()[ETAG], "W/\"x\"");
        assert!(!answer.headers().contains_key(ACCEPT_RANGES));
        let vary: Vec<_> = answer.headers().get_all(VARY).iter().collect();
        assert_eq!(vary, ["Cookie", "accept-encoding"]);
        let ResponseBody::Full(Some(data)) = answer.body() else { panic!("whole") };
        assert_eq!(answer.headers()[CONTENT_LENGTH], data.len().to_string().as_str());
    }

    #[test]
    fn ineligible_responses_are_left_alone() {
        let cases: &[(u16, Headers, &'static [u8])] = &[
            (206, &[("content-type", "text/plain")], LONG),
            (304, &[("content-type", "text/plain")], b""),
            (204, &[("content-type", "text/plain")], b""),
            (200, &[("content-type", "text/plain"), ("content-encoding", "br")], LONG),
            (200, &[("content-type", "text/plain"), ("cache-control", "public, No-Transform")], LONG),
            (200, &[("content-type", "image/png")], LONG),
            (200, &[], LONG),
            (200, &[("content-type", "text/plain")], b"short"),
        ];
        for (status, headers, body) in cases {
            let mut answer = response(*status, headers, body);
            settings().apply(Some(Codec::Gzip), &mut answer);
            assert_ne!(answer.headers().get(CONTENT_ENCODING).map(|value| value.as_bytes()), Some(&b"gzip"[..]));
            assert!(!answer.headers().contains_key(VARY), "{status} {headers:?}");
        }
    }

    #[test]
    fn vary_is_added_once_even_without_a_coding() {
        let mut answer = response(200, &[("content-type", "text/plain"), ("vary", "Accept-Encoding")], LONG);
        settings().apply(None, &mut answer);
        assert_eq!(answer.headers().get_all(VARY).iter().count(), 1);
        assert!(!answer.headers().contains_key(CONTENT_ENCODING));
    }

    #[test]
    fn settings_are_checked() {
        assert!(CompressSettings::new(&[], 0, &[]).expect("valid").is_none());
        let error = CompressSettings::new(&["lzma".to_owned()], 0, &[]).expect_err("refused");
        assert_eq!(error.to_string(), "compress 'lzma': expected br, gzip or zstd");
        assert!(CompressSettings::new(&["br".to_owned()], 0, &["*/*".to_owned()]).is_err());
    }
}
