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

#[cfg(test)]
mod tests {
    use super::*;

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
