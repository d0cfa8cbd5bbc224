//! The mount table: which app a request goes to.
//!
//! A mount is a path prefix, optionally qualified by a host (`api.example.com/v2`). The
//! longest prefix that matches on a segment boundary wins: `/api` matches `/api` and
//! `/api/users`, never `/apix`. The root mount (prefix `/`, stored as the empty string)
//! matches every path. Host-qualified mounts are virtual hosts, as in nginx: when a
//! request's `Host` has mounts of its own, only those are considered, and the host-less
//! mounts serve every other host (or a request none of the host's mounts matched).
//!
//! Walking through `/`, `/api`, `/api/v2` and `docs.example.com/`:
//! - `GET /api/v2/items`, Host `example.com` → `/api/v2` (longest match);
//! - `GET /apiary` → `/` (`/api` does not match mid-segment);
//! - `GET /api`, Host `docs.example.com:8000` → `docs.example.com/` (the port is ignored).
//!
//! Matching compares the raw request path, before percent-decoding, so `/%61pi` is not
//! `/api`: the app decides what encoded paths mean.

use std::fmt;

use crate::errors::Error;

/// A mount's address: `host` (lower-case, no port) and a normalized `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    pub host: Option<String>,
    /// Without a trailing slash; empty for the root.
    pub prefix: String,
}

impl MountPoint {
    /// Parses `/api`, `/api/`, `/`, `api.example.com/v2` or `api.example.com` (its root).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (host, path) = match text.find('/') {
            Some(0) => (None, text),
            Some(slash) => (Some(&text[..slash]), &text[slash..]),
            None if !text.is_empty() => (Some(text), "/"),
            None => return Err(Error::mount("a mount prefix must start with '/', e.g. /api")),
        };
        if let Some(host) = host {
            let valid = host.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-.".contains(&byte));
            if !valid || host.starts_with('.') || host.ends_with('.') {
                return Err(Error::mount(format!("invalid host {host:?} in mount {text:?}")));
            }
        }
        let invalid = |byte: u8| byte <= b' ' || byte == 0x7f || b"?#".contains(&byte);
        if path.bytes().any(invalid) || path.contains("//") {
            return Err(Error::mount(format!("invalid path {path:?} in mount {text:?}")));
        }
        let prefix = path.trim_end_matches('/').to_owned();
        Ok(Self { host: host.map(str::to_ascii_lowercase), prefix })
    }

    /// Whether `path` is this prefix or lies below it.
    fn covers(&self, path: &str) -> bool {
        match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

impl fmt::Display for MountPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.prefix.is_empty() { "/" } else { &self.prefix };
        write!(f, "{}{prefix}", self.host.as_deref().unwrap_or(""))
    }
}

pub struct Router<T> {
    /// Sorted: host-qualified first, then by prefix length, longest first.
    mounts: Vec<(MountPoint, T)>,
}

impl<T> Router<T> {
    /// Builds the table; two mounts at the same address are an error.
    pub fn new(mounts: Vec<(MountPoint, T)>) -> Result<Self, Error> {
        for (index, (point, _)) in mounts.iter().enumerate() {
            if mounts[..index].iter().any(|(other, _)| other == point) {
                return Err(Error::mount(format!("two mounts at {point}")));
            }
        }
        let mut mounts = mounts;
        mounts.sort_by(|(a, _), (b, _)| {
            b.host.is_some().cmp(&a.host.is_some()).then_with(|| b.prefix.len().cmp(&a.prefix.len()))
        });
        Ok(Self { mounts })
    }

    /// The mount for a request, with its point; `host` is the `Host` header as sent.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<(&MountPoint, &T)> {
        let host = host.map(host_name);
        let for_host = |wanted: Option<&str>| {
            self.mounts
                .iter()
                .filter(move |(point, _)| match (&point.host, wanted) {
                    (Some(mounted), Some(host)) => mounted.eq_ignore_ascii_case(host),
                    (None, _) => true,
                    (Some(_), None) => false,
                })
                .find(|(point, _)| point.covers(path))
                .map(|(point, target)| (point, target))
        };
        for_host(host)
    }

    /// Every mount's target, in routing order.
    pub fn targets(&self) -> impl Iterator<Item = &T> {
        self.mounts.iter().map(|(_, target)| target)
    }

    /// The mount at exactly `point`.
    pub fn get(&self, point: &MountPoint) -> Option<&T> {
        self.mounts.iter().find(|(mounted, _)| mounted == point).map(|(_, target)| target)
    }
}

/// `Example.com:8080` → `Example.com`; `[::1]:80` → `[::1]`.
pub(crate) fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(name, _)| &host[..=name.len()]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn router(points: &[&str]) -> Router<String> {
        let mounts = points
            .iter()
            .map(|text| (MountPoint::parse(text).expect("test mounts are valid"), (*text).to_owned()))
            .collect();
        Router::new(mounts).expect("test mounts are distinct")
    }

    #[test]
    fn parse_cases() {
        // (mount text, Some((host, prefix))) when valid
        type Case = (&'static str, Option<(Option<&'static str>, &'static str)>);
        let cases: [Case; 10] = [
            ("/", Some((None, ""))),
            ("/api", Some((None, "/api"))),
            ("/api/", Some((None, "/api"))),
            ("/api/v2", Some((None, "/api/v2"))),
            ("API.example.com/v2", Some((Some("api.example.com"), "/v2"))),
            ("api.example.com", Some((Some("api.example.com"), ""))),
            ("api", Some((Some("api"), ""))),
            ("", None),
            ("/a b", None),
            ("bad_host/x", None),
        ];
        for (text, expected) in cases {
            let parsed = MountPoint::parse(text).ok().map(|point| (point.host, point.prefix));
            let expected = expected.map(|(host, prefix)| (host.map(str::to_owned), prefix.to_owned()));
            assert_eq!(parsed, expected, "parsing {text:?}");
        }
    }

    #[test]
    fn route_table() {
        let table = router(&["/", "/api", "/api/v2", "docs.example.com/", "docs.example.com/old"]);
        let cases = [
            (Some("example.com"), "/", Some("/")),
            (Some("example.com"), "/api", Some("/api")),
            (Some("example.com"), "/api/", Some("/api")),
            (Some("example.com"), "/api/users", Some("/api")),
            (Some("example.com"), "/apix", Some("/")),
            (Some("example.com"), "/api/v2/items", Some("/api/v2")),
            (Some("example.com"), "/api/v20", Some("/api")),
            (None, "/api/v2", Some("/api/v2")),
            (Some("docs.example.com"), "/api", Some("docs.example.com/")),
            (Some("DOCS.example.com:8000"), "/old/page", Some("docs.example.com/old")),
            (Some("docs.example.com"), "/older", Some("docs.example.com/")),
        ];
        for (host, path, expected) in cases {
            let found = table.route(host, path).map(|(_, name)| name.as_str());
            assert_eq!(found, expected, "routing {host:?} {path}");
        }
    }

    #[test]
    fn no_root_means_404() {
        let table = router(&["/api", "docs.example.com/"]);
        assert_eq!(table.route(Some("example.com"), "/"), None);
        assert_eq!(table.route(Some("example.com"), "/ap"), None);
        assert_eq!(table.route(None, "/api/x").map(|(_, name)| name.as_str()), Some("/api"));
        // A host with its own mounts falls back to the host-less ones when none match.
        let table = router(&["/api", "docs.example.com/guide"]);
        assert_eq!(table.route(Some("docs.example.com"), "/api").map(|(_, name)| name.as_str()), Some("/api"));
    }

    #[test]
    fn duplicates_are_refused() {
        let point = || MountPoint::parse("/api").expect("valid");
        let twice = Router::new(vec![(point(), 1), (MountPoint::parse("/api/").expect("valid"), 2)]);
        assert!(twice.is_err());
        assert!(Router::new(vec![(point(), 1)]).is_ok());
    }

    #[test]
    fn host_names() {
        assert_eq!(host_name("example.com:80"), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(host_name("[::1]:8000"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }

    proptest! {
        #[test]
        fn routing_never_panics(host in proptest::option::of(".{0,40}"), path in ".{0,80}", mounts in proptest::collection::vec("[a-z./]{0,12}", 0..8)) {
            let mut seen = Vec::new();
            for text in mounts {
                if let Ok(point) = MountPoint::parse(&text) {
                    if !seen.contains(&point) {
                        seen.push(point);
                    }
                }
            }
            let table = Router::new(seen.into_iter().map(|point| (point, ())).collect()).expect("distinct");
            if let Some((point, ())) = table.route(host.as_deref(), &path) {
                prop_assert!(path.starts_with(point.prefix.as_str()));
            }
        }

        #[test]
        fn parsing_never_panics(text in ".{0,60}") {
            let _ = MountPoint::parse(&text);
        }
    }
}
