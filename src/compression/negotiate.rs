//! Which coding a request gets, and which responses are worth compressing: pure functions of
//! header text, no I/O.
//!
//! `Accept-Encoding` (RFC 9110 §12.5.3): each coding the mount offers is rated by the
//! client's q-value for it (`x-gzip` counts as `gzip`), else by the `*` item's, else not at
//! all; `q=0` refuses. The best rated wins; ties go to the mount's order. `identity` counts
//! only when the client names it: a coding rated below an explicit `identity` loses to it.
//! No header at all means no compression. Malformed q-values drop their item. The same
//! reading chooses among a static file's precompressed siblings (`ranked`).
//!
//! Types: `compress-types` entries are `type/subtype` (exact), `type/*` (any subtype) or
//! `type/*+suffix` (`application/*+json`), matched against the response's `Content-Type`
//! without its parameters, case-insensitively.

use http::header::ACCEPT_ENCODING;
use http::HeaderMap;

use super::codec::Codec;

/// A request's `Accept-Encoding`, read once: each of our codings' rating, the `*` item's
/// and `identity`'s, in thousandths.
#[derive(Debug, Default)]
pub struct Ratings {
    named: [Option<u16>; Codec::COUNT],
    wildcard: Option<u16>,
    identity: Option<u16>,
}

impl Ratings {
    /// The ratings `headers` give; None without any `Accept-Encoding` (no coding then).
    pub fn read(headers: &HeaderMap) -> Option<Self> {
        let mut ratings = Self::default();
        let mut any_header = false;
        for value in headers.get_all(ACCEPT_ENCODING) {
            any_header = true;
            let Ok(text) = value.to_str() else {
                continue;
            };
            for item in text.split(',') {
                let mut parts = item.split(';');
                let token = parts.next().unwrap_or("").trim();
                if token.is_empty() {
                    continue;
                }
                let Some(quality) = parts.find_map(|parameter| quality(parameter.trim())).unwrap_or(Some(1000)) else {
                    continue;
                };
                if token == "*" {
                    ratings.wildcard = Some(quality);
                } else if token.eq_ignore_ascii_case("identity") {
                    ratings.identity = Some(quality);
                } else if let Some(codec) = Codec::from_accept_token(token) {
                    ratings.named[codec as usize] = Some(quality);
                }
            }
        }
        any_header.then_some(ratings)
    }

    /// `codec`'s rating when the client accepts it (over `identity`, when it rated that),
    /// else None.
    fn acceptable(&self, codec: Codec) -> Option<u16> {
        let rating = self.named[codec as usize].or(self.wildcard).unwrap_or(0);
        (rating > 0 && rating >= self.identity.unwrap_or(0)).then_some(rating)
    }
}

/// The coding `headers` ask for among `offered` (in the mount's order), or None.
pub fn choose(headers: &HeaderMap, offered: &[Codec]) -> Option<Codec> {
    let ratings = Ratings::read(headers)?;
    let mut best: Option<(u16, Codec)> = None;
    for &codec in offered {
        if let Some(rating) = ratings.acceptable(codec) {
            if best.is_none_or(|(top, _)| rating > top) {
                best = Some((rating, codec));
            }
        }
    }
    best.map(|(_, codec)| codec)
}

/// Every coding of `preference` that `headers` accept, best rated first, ties in
/// `preference`'s order (for choosing among precompressed files, which may be missing).
pub fn ranked(headers: &HeaderMap, preference: &[Codec]) -> Vec<Codec> {
    let Some(ratings) = Ratings::read(headers) else {
        return Vec::new();
    };
    let mut rated: Vec<(u16, Codec)> =
        preference.iter().filter_map(|&codec| ratings.acceptable(codec).map(|rating| (rating, codec))).collect();
    rated.sort_by_key(|(rating, _)| std::cmp::Reverse(*rating)); // Stable: ties keep their order.
    rated.into_iter().map(|(_, codec)| codec).collect()
}

/// A `q=` parameter in thousandths: None when this is not one, Some(None) when malformed.
fn quality(parameter: &str) -> Option<Option<u16>> {
    let (name, value) = parameter.split_once('=')?;
    if !name.trim().eq_ignore_ascii_case("q") {
        return None;
    }
    Some(parse_quality(value.trim()))
}

/// `0`, `0.5`, `1.000` … (at most three decimals, at most 1) in thousandths.
fn parse_quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |total, digit| total * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// One `compress-types` entry, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypePattern {
    Exact(String),
    /// `text/*`: the top-level type with its `/`.
    AnySubtype(String),
    /// `application/*+json`: the top-level type with its `/`, and the `+suffix`.
    Suffix(String, String),
}

impl TypePattern {
    /// Reads an entry; None when it is not `type/subtype`, `type/*` or `type/*+suffix`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        let (top, sub) = text.split_once('/')?;
        let token = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_graphic() && byte != b'*');
        if !token(top) {
            return None;
        }
        if sub == "*" {
            return Some(Self::AnySubtype(format!("{top}/")));
        }
        if let Some(suffix) = sub.strip_prefix("*+") {
            return token(suffix).then(|| Self::Suffix(format!("{top}/"), format!("+{suffix}")));
        }
        token(sub).then_some(Self::Exact(text))
    }

    fn matches(&self, essence: &str) -> bool {
        match self {
            Self::Exact(exact) => essence.eq_ignore_ascii_case(exact),
            Self::AnySubtype(top) => starts_with_ignore_case(essence, top) && essence.len() > top.len(),
            Self::Suffix(top, suffix) => {
                starts_with_ignore_case(essence, top)
                    && essence.len() > top.len() + suffix.len()
                    && ends_with_ignore_case(essence, suffix)
            }
        }
    }
}

/// Whether the `Content-Type` value `content_type` is one of `patterns`.
pub fn type_matches(content_type: &str, patterns: &[TypePattern]) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    patterns.iter().any(|pattern| pattern.matches(essence))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len() && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use Codec::{Brotli, Gzip, Zstd};

    fn accepting(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn q_values_then_the_mounts_order_decide() {
        let all = [Brotli, Gzip, Zstd];
        let cases: &[(&[&'static str], &[Codec], Option<Codec>)] = &[
            (&[], &all, None),
            (&["gzip, br"], &all, Some(Brotli)),
            (&["gzip, br"], &[Gzip, Brotli], Some(Gzip)),
            (&["gzip;q=1, br;q=0.5"], &all, Some(Gzip)),
            (&["gzip;q=0.2, zstd;q=0.9, br;q=0.5"], &all, Some(Zstd)),
            (&["br;q=0, gzip"], &all, Some(Gzip)),
            (&["br;q=0, gzip;q=0"], &all, None),
            (&["identity"], &all, None),
            (&["*"], &[Zstd, Gzip], Some(Zstd)),
            (&["*;q=0.5, br;q=0"], &all, Some(Gzip)),
            (&["*;q=0"], &all, None),
            (&["x-gzip"], &all, Some(Gzip)),
            (&["GZIP; Q=0.7"], &all, Some(Gzip)),
            (&["gzip;q=0.5, identity"], &all, None),
            (&["gzip, identity;q=0.5"], &all, Some(Gzip)),
            (&["gzip;q=0.5"], &all, Some(Gzip)),
            (&["gzip;q=2, br"], &all, Some(Brotli)),
            (&["gzip;q=0.0001"], &all, None),
            (&["deflate, compress"], &all, None),
            (&["br"], &[Gzip], None),
            (&["gzip", "br;q=0.9"], &all, Some(Gzip)),
            (&[""], &all, None),
        ];
        for (values, offered, expected) in cases {
            assert_eq!(choose(&accepting(values), offered), *expected, "{values:?} offered {offered:?}");
        }
    }

    #[test]
    fn quality_parsing() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.05"), Some(50));
        assert_eq!(parse_quality("0"), Some(0));
        for bad in ["1.5", "2", "0.1234", "-0", "", ".5", "0.x"] {
            assert_eq!(parse_quality(bad), None, "{bad}");
        }
    }

    #[test]
    fn types_match_exactly_by_top_level_or_by_suffix() {
        let patterns: Vec<TypePattern> = ["text/*", "application/json", "application/*+xml"]
            .iter()
            .map(|text| TypePattern::parse(text).expect("valid"))
            .collect();
        for yes in ["text/html", "text/plain; charset=utf-8", "TEXT/CSS", "application/json", "application/atom+xml"] {
            assert!(type_matches(yes, &patterns), "{yes}");
        }
        for no in ["image/png", "application/jsonx", "application/+xml", "text/", "textual/x", "", "application/xml"] {
            assert!(!type_matches(no, &patterns), "{no}");
        }
        for bad in ["text", "*/*", "/json", "text/", "a/*+", "a/b*"] {
            assert_eq!(TypePattern::parse(bad), None, "{bad}");
        }
    }
}
