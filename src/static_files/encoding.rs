//! Precompressed siblings: for `app.css`, the `app.css.br`, `app.css.zst` or `app.css.gz`
//! that a build step or `collectstatic` tool wrote next to it, chosen by `Accept-Encoding`.
//!
//! The client's q-values decide (`gzip;q=1, br;q=0.5` gets gzip); among codings it rates
//! equally, ours decides: br, then zstd, then gzip. `q=0` refuses a coding, `*` rates every
//! coding the header does not name, and `x-gzip` is gzip. Without the header, or when no
//! acceptable sibling exists, the file itself is sent. A sibling must be a regular file
//! below the root, like any file served (a symlink out of the root is not followed).
//!
//! The response's `Content-Type` stays the original name's and `Content-Encoding` names the
//! coding (`response.rs`); the sibling has its own length, ETag and dates.

use std::path::{Path, PathBuf};

use http::HeaderMap;

use super::resolve::Root;

/// A content coding we serve precompressed files for, in our order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Zstd,
    Gzip,
}

impl Coding {
    const ALL: [Self; 3] = [Self::Brotli, Self::Zstd, Self::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
        }
    }

    /// The sibling file's suffix.
    fn suffix(self) -> &'static str {
        match self {
            Self::Brotli => ".br",
            Self::Zstd => ".zst",
            Self::Gzip => ".gz",
        }
    }

    fn named(token: &str) -> bool {
        Self::ALL.iter().any(|coding| token.eq_ignore_ascii_case(coding.token()))
            || token.eq_ignore_ascii_case("x-gzip")
    }

    fn is(self, token: &str) -> bool {
        token.eq_ignore_ascii_case(self.token()) || (self == Self::Gzip && token.eq_ignore_ascii_case("x-gzip"))
    }
}

/// The codings the client accepts, best first (by its q-value, then by ours); empty when it
/// sent no `Accept-Encoding` or accepts none of ours.
pub fn acceptable(headers: &HeaderMap) -> Vec<Coding> {
    // q-values in thousandths, as RFC 9110 §12.4.2 gives them at most three decimals.
    let mut rated: Vec<(u16, Coding)> = Vec::new();
    let mut wildcard = None;
    let mut named = Vec::new();
    for value in headers.get_all(http::header::ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or("").trim();
            if token.is_empty() {
                continue;
            }
            let quality = parts.find_map(|parameter| quality(parameter.trim())).unwrap_or(Some(1000));
            let Some(quality) = quality else {
                continue; // A malformed q-value: ignore the item.
            };
            if token == "*" {
                wildcard = Some(quality);
                continue;
            }
            if Coding::named(token) {
                named.push(token.to_owned());
            }
            for coding in Coding::ALL {
                if coding.is(token) {
                    rated.retain(|(_, seen)| *seen != coding);
                    rated.push((quality, coding));
                }
            }
        }
    }
    if let Some(quality) = wildcard {
        for coding in Coding::ALL {
            if !named.iter().any(|token| coding.is(token)) {
                rated.push((quality, coding));
            }
        }
    }
    rated.retain(|(quality, _)| *quality > 0);
    rated.sort_by_key(|(quality, coding)| (std::cmp::Reverse(*quality), Coding::ALL.iter().position(|c| c == coding)));
    rated.into_iter().map(|(_, coding)| coding).collect()
}

/// `q=0.5` → Some(Some(500)); a malformed q → Some(None); another parameter → None.
fn quality(parameter: &str) -> Option<Option<u16>> {
    let (name, value) = parameter.split_once('=')?;
    if !name.trim().eq_ignore_ascii_case("q") {
        return None;
    }
    let value = value.trim();
    let parsed = value.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q) && value.len() <= 5);
    // In range 0..=1 by the filter, so the product fits.
    Some(parsed.map(|q| (q * 1000.0).round() as u16))
}

/// The first of `codings` with a regular-file sibling of `path` below the root, and its path.
pub fn sibling(root: &Root, path: &Path, codings: &[Coding]) -> Option<(Coding, PathBuf)> {
    codings.iter().find_map(|&coding| {
        let mut name = path.as_os_str().to_owned();
        name.push(coding.suffix());
        let found = root.contain(Path::new(&name))?;
        found.is_file().then_some((coding, found))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accepted(value: &str) -> Vec<&'static str> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ACCEPT_ENCODING, HeaderValue::from_str(value).expect("valid"));
        acceptable(&headers).into_iter().map(Coding::token).collect()
    }

    #[test]
    fn negotiation_table() {
        let cases: [(&str, &[&str]); 12] = [
            ("gzip, deflate, br, zstd", &["br", "zstd", "gzip"]),
            ("gzip", &["gzip"]),
            ("x-gzip", &["gzip"]),
            ("gzip;q=1, br;q=0.5", &["gzip", "br"]),
            ("br;q=0, gzip", &["gzip"]),
            ("*", &["br", "zstd", "gzip"]),
            ("*;q=0.1, gzip", &["gzip", "br", "zstd"]),
            ("*, br;q=0", &["zstd", "gzip"]),
            ("identity", &[]),
            ("", &[]),
            ("gzip;q=2, br;q=abc", &[]),
            ("GZIP ; Q=0.8 , zstd", &["zstd", "gzip"]),
        ];
        for (value, expected) in cases {
            assert_eq!(accepted(value), expected, "Accept-Encoding: {value}");
        }
        assert!(acceptable(&HeaderMap::new()).is_empty());
    }
}
