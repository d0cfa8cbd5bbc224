//! Request framing checks hyper leaves to us: the ones that stop request smuggling and the
//! `Host` rules of RFC 9112.
//!
//! hyper already refuses differing duplicate `Content-Length`s, lists and signs in it,
//! obs-fold, bad chunk sizes, a final transfer coding other than `chunked`, and
//! `Transfer-Encoding` on HTTP/1.0. A `Content-Length` sent with `Transfer-Encoding` never
//! reaches us: hyper drops it, reads the body chunked and closes the connection after the
//! response, as RFC 9112 §6.3 asks (`tests/test_smuggling.py` pins that). The check for the
//! pair below is a second guard, should a request ever arrive with both.
//!
//! What hyper lets through, and we refuse with `400` and a closed connection (nothing after
//! an ambiguous message can be trusted):
//!
//! - `chunked` applied more than once (`Transfer-Encoding: chunked, chunked`, or the header
//!   twice), which §7 forbids;
//! - an HTTP/1.1 request without `Host`, or with more than one (§3.2).
//!
//! And the head's size (`oversized`), as the request line and header lines would be
//! written in HTTP/1.1, against `--max-header-size`: hyper checks an HTTP/1.1 head itself
//! (`server/protocol.rs`), but an HTTP/2 header list is bounded by h2 as HPACK counts it,
//! 32 bytes more per field, so a request that passed there is checked again here.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Request, Version};

use crate::errors::Error;

const LENGTH_AND_TRANSFER_ENCODING: &str = "Content-Length and Transfer-Encoding together";
const CHUNKED_TWICE: &str = "chunked transfer coding applied more than once";
const MISSING_HOST: &str = "HTTP/1.1 request without Host";
const SEVERAL_HOSTS: &str = "more than one Host";

/// Ok, or an error (framing, with the reason) for a request head that cannot be served.
pub fn check<B>(request: &Request<B>) -> Result<(), Error> {
    let headers = request.headers();
    if headers.contains_key(TRANSFER_ENCODING) {
        if headers.contains_key(CONTENT_LENGTH) {
            return Err(Error::framing(LENGTH_AND_TRANSFER_ENCODING));
        }
        let chunked = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
            .filter(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
            .count();
        if chunked > 1 {
            return Err(Error::framing(CHUNKED_TWICE));
        }
    }
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err(Error::framing(SEVERAL_HOSTS)),
        // An absolute request target carries the host itself.
        (None, None) if request.version() == Version::HTTP_11 && request.uri().authority().is_none() => {
            Err(Error::framing(MISSING_HOST))
        }
        _ => Ok(()),
    }
}

/// The part of a head over the size limit.
#[derive(Debug, PartialEq, Eq)]
pub enum Oversized {
    /// The request line alone is over it: `414`.
    RequestLine,
    /// The whole head is: `431`.
    Head,
}

/// Whether the request line and header lines, as HTTP/1.1 writes them, take more than
/// `limit` bytes.
pub fn oversized<B>(request: &Request<B>, limit: usize) -> Option<Oversized> {
    // `METHOD SP target SP HTTP/1.1 CRLF`
    let uri = request.uri();
    let target = uri.path_and_query().map_or(1, |target| target.as_str().len())
        + uri.authority().map_or(0, |authority| authority.as_str().len())
        + uri.scheme_str().map_or(0, |scheme| scheme.len() + 3);
    let line = request.method().as_str().len() + target + 12;
    if line > limit {
        return Some(Oversized::RequestLine);
    }
    // `name: value CRLF` each, then the blank line.
    let fields: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    (line + fields + 2 > limit).then_some(Oversized::Head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_over_the_limit_are_told_apart_by_the_part_that_is() {
        let long_uri = format!("/{}", "a".repeat(100));
        let long_header = "b".repeat(100);
        let fits = request(Version::HTTP_11, "/", &[("host", "x")]);
        assert_eq!(oversized(&fits, 64), None);
        assert_eq!(
            oversized(&request(Version::HTTP_11, &long_uri, &[("host", "x")]), 64),
            Some(Oversized::RequestLine)
        );
        let big = request(Version::HTTP_11, "/", &[("host", "x"), ("x-big", &long_header)]);
        assert_eq!(oversized(&big, 64), Some(Oversized::Head));
        // `GET / HTTP/1.1\r\n` (16) + `host: x\r\n` (9) + `\r\n` (2) = 27.
        assert_eq!(oversized(&fits, 27), None);
        assert_eq!(oversized(&fits, 26), Some(Oversized::Head));
    }

    fn request(version: Version, target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut request = Request::builder().version(version).uri(target);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap_or_else(|error| panic!("bad test case: {error}"))
    }

    /// HTTP version, request target, headers, expected verdict.
    type Case<'a> = (Version, &'a str, &'a [(&'a str, &'a str)], Result<(), &'static str>);

    #[test]
    fn table() {
        let v11 = Version::HTTP_11;
        let cases: &[Case<'_>] = &[
            (v11, "/", &[("host", "x")], Ok(())),
            (v11, "/", &[("host", "x"), ("content-length", "4")], Ok(())),
            (v11, "/", &[("host", "x"), ("transfer-encoding", "chunked")], Ok(())),
            (v11, "/", &[("host", "x"), ("transfer-encoding", "gzip, chunked")], Ok(())),
            (
                v11,
                "/",
                &[("host", "x"), ("transfer-encoding", "chunked"), ("content-length", "4")],
                Err(LENGTH_AND_TRANSFER_ENCODING),
            ),
            (v11, "/", &[("host", "x"), ("transfer-encoding", "chunked, Chunked")], Err(CHUNKED_TWICE)),
            (
                v11,
                "/",
                &[("host", "x"), ("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
                Err(CHUNKED_TWICE),
            ),
            (v11, "/", &[], Err(MISSING_HOST)),
            (v11, "http://example.com/", &[], Ok(())),
            (Version::HTTP_10, "/", &[], Ok(())),
            (v11, "/", &[("host", "a"), ("host", "b")], Err(SEVERAL_HOSTS)),
            (Version::HTTP_10, "/", &[("host", "a"), ("host", "a")], Err(SEVERAL_HOSTS)),
        ];
        for (version, target, headers, expected) in cases {
            let verdict = check(&request(*version, target, headers));
            assert_eq!(verdict, expected.map_err(Error::framing), "{target} {headers:?}");
        }
    }
}
