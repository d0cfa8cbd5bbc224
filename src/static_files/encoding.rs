//! Precompressed siblings: for `app.css`, the `app.css.br`, `app.css.zst` or `app.css.gz`
//! that a build step or `collectstatic` tool wrote next to it, chosen by `Accept-Encoding`.
//!
//! The client's q-values decide (`gzip;q=1, br;q=0.5` gets gzip), read as response
//! compression reads them (`compression/negotiate.rs`: `q=0` refuses, `*` rates every coding
//! the header does not name, `x-gzip` is gzip, an explicit `identity` rated higher wins);
//! among codings it rates equally, ours decides: br, then zstd, then gzip. Without the
//! header, or when no acceptable sibling exists, the file itself is sent. A sibling must be
//! a regular file below the root, like any file served (a symlink out of the root is not
//! followed); it is looked for next to the path asked for (`inside.css.br` for a symlink
//! `inside.css`, as nginx's `gzip_static` does), or next to the canonical path when that path
//! had to be worked out (`resolve.rs`).
//!
//! The response's `Content-Type` stays the original name's and `Content-Encoding` names the
//! coding (`response.rs`); the sibling has its own length, ETag and dates.

use std::path::{Path, PathBuf};

use http::HeaderMap;

use super::resolve::{Opened, Root};
use crate::compression::negotiate::ranked;
use crate::compression::Codec;

/// The codings we look for siblings of, in our order of preference.
pub const PREFERENCE: [Codec; 3] = [Codec::Brotli, Codec::Zstd, Codec::Gzip];

/// The sibling file's suffix.
fn suffix(coding: Codec) -> &'static str {
    match coding {
        Codec::Brotli => ".br",
        Codec::Zstd => ".zst",
        Codec::Gzip => ".gz",
    }
}

/// The codings the client accepts, best first (by its q-value, then by ours); empty when it
/// sent no `Accept-Encoding` or accepts none of ours.
pub fn acceptable(headers: &HeaderMap) -> Vec<Codec> {
    ranked(headers, &PREFERENCE)
}

/// Each of `codings` that `relative` (a path below the root) has a regular-file sibling
/// in, in that order: the coding, the sibling opened, and its path below the root. Lazy: a
/// sibling is looked for when the one before it has been taken.
pub fn siblings<'a>(
    root: &'a Root,
    relative: &'a Path,
    codings: &'a [Codec],
) -> impl Iterator<Item = (Codec, Opened, PathBuf)> + 'a {
    codings.iter().filter_map(move |&coding| {
        let mut name = relative.as_os_str().to_owned();
        name.push(suffix(coding));
        let (opened, relative) = root.open(Path::new(&name))?;
        opened.metadata.is_file().then_some((coding, opened, relative))
    })
}

/// The first of `codings` with a regular-file sibling of `relative`, opened.
pub fn sibling(root: &Root, relative: &Path, codings: &[Codec]) -> Option<(Codec, Opened)> {
    siblings(root, relative, codings).next().map(|(coding, opened, _)| (coding, opened))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accepted(value: &str) -> Vec<&'static str> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ACCEPT_ENCODING, HeaderValue::from_str(value).expect("valid"));
        acceptable(&headers).into_iter().map(Codec::token).collect()
    }

    #[test]
    fn negotiation_table() {
        let cases: [(&str, &[&str]); 14] = [
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
            ("gzip;q=0.5, br, identity;q=0.8", &["br"]),
            ("gzip, br;q=0.001", &["gzip", "br"]),
        ];
        for (value, expected) in cases {
            assert_eq!(accepted(value), expected, "Accept-Encoding: {value}");
        }
        assert!(acceptable(&HeaderMap::new()).is_empty());
    }
}
