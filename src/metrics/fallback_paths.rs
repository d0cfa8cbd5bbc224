//! What still runs on the old app: for a mount with a migration fallback, the paths the
//! fallback answered, with counts, so a team sees which routes are left to port.
//!
//! Paths are normalised before counting so that ids do not explode the list: a segment of
//! digits becomes `{int}`, a UUID `{uuid}`, and a hexadecimal segment of 16 or more digits
//! (a hash, a Mongo-style id) `{hex}`; the query is not part of it. `/users/42/orders/17`
//! and `/users/7/orders/3` are both `/users/{int}/orders/{int}`.
//!
//! The list is bounded: it keeps at most `capacity` paths with the Space-Saving algorithm
//! (Metwally, Agrawal and El Abbadi, 2005): when a new path arrives at a full list, it takes
//! the place of the least counted one and inherits that count as its possible over-count
//! (`error`). Every path answered more often than `total / capacity` times is in the list,
//! and each count is exact until the list first overflows. `top` reports the most frequent.
//!
//! The cost is paid only by requests the fallback answers (which already went through two
//! apps): one lock and the normalised path's allocation. `GET /status` lists the most
//! frequent paths under the mount (`status.rs`); `amphicorn --migration-report` prints them.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sync::lock;

/// One path the fallback answered, as `top` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathCount {
    pub path: String,
    /// How many times (at most `error` fewer in truth).
    pub count: u64,
    /// How many of those answers were 1xx, 2xx, 3xx, 4xx, 5xx (since the path entered the
    /// list).
    pub by_class: [u64; 5],
    /// The count the path inherited when it took an evicted path's place.
    pub error: u64,
}

/// The paths one fallback pair answered.
#[derive(Debug)]
pub struct FallbackPaths {
    capacity: usize,
    entries: Mutex<HashMap<String, PathCount>>,
}

impl FallbackPaths {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: Mutex::new(HashMap::new()) }
    }

    /// The fallback answered `path` with `status`.
    pub fn record(&self, path: &str, status: u16) {
        let path = normalise(path);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get_mut(&path) {
            entry.count += 1;
            entry.by_class[class] += 1;
            return;
        }
        let mut entry = PathCount { path: path.clone(), count: 1, by_class: [0; 5], error: 0 };
        entry.by_class[class] = 1;
        if entries.len() >= self.capacity {
            let least = entries.values().min_by_key(|entry| entry.count).map(|entry| entry.path.clone());
            if let Some(least) = least.and_then(|least| entries.remove(&least)) {
                entry.count += least.count;
                entry.error = least.count;
            }
        }
        entries.insert(path, entry);
    }

    /// The `limit` most answered paths, most first (ties by path).
    pub fn top(&self, limit: usize) -> Vec<PathCount> {
        let mut entries: Vec<PathCount> = lock(&self.entries).values().cloned().collect();
        entries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
        entries.truncate(limit);
        entries
    }
}

/// `path` with its id-like segments collapsed.
pub fn normalise(path: &str) -> String {
    let mut normalised = String::with_capacity(path.len());
    for (at, segment) in path.split('/').enumerate() {
        if at > 0 {
            normalised.push('/');
        }
        normalised.push_str(placeholder(segment).unwrap_or(segment));
    }
    normalised
}

fn placeholder(segment: &str) -> Option<&'static str> {
    let bytes = segment.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    if bytes.iter().all(u8::is_ascii_digit) {
        return Some("{int}");
    }
    if is_uuid(bytes) {
        return Some("{uuid}");
    }
    (bytes.len() >= 16 && bytes.iter().all(u8::is_ascii_hexdigit)).then_some("{hex}")
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(at, byte)| match at {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_collapse_and_words_stay() {
        let cases = [
            ("/users/42/orders/17", "/users/{int}/orders/{int}"),
            ("/a/3f2504e0-4f89-11d3-9a0c-0305e82c3301/b", "/a/{uuid}/b"),
            ("/blob/5f1d7a9c3b2e4d6f8a0b", "/blob/{hex}"),
            ("/blob/5f1d7a9c3b2e", "/blob/5f1d7a9c3b2e"),
            ("/reports/2024-q1/", "/reports/2024-q1/"),
            ("/", "/"),
            ("", ""),
            ("/v2/items", "/v2/items"),
            ("/deadbeefdeadbeef", "/{hex}"),
        ];
        for (path, expected) in cases {
            assert_eq!(normalise(path), expected, "{path}");
        }
    }

    #[test]
    fn counts_are_exact_until_the_list_overflows() {
        let map = FallbackPaths::new(3);
        for id in 0..5 {
            map.record(&format!("/users/{id}"), 200);
        }
        map.record("/old/report", 404);
        map.record("/old/report", 500);
        let top = map.top(10);
        assert_eq!(top[0], PathCount { path: "/users/{int}".into(), count: 5, by_class: [0, 5, 0, 0, 0], error: 0 });
        assert_eq!(top[1], PathCount { path: "/old/report".into(), count: 2, by_class: [0, 0, 0, 1, 1], error: 0 });
        assert_eq!(map.top(1).len(), 1);
    }

    #[test]
    fn a_full_list_keeps_the_frequent_paths() {
        let map = FallbackPaths::new(4);
        // Two heavy paths among a stream of paths seen once each.
        for round in 0..200 {
            map.record("/heavy/a", 200);
            map.record("/heavy/b", 200);
            map.record(&format!("/once/x{round}"), 404);
        }
        let top = map.top(2);
        assert_eq!(top.iter().map(|entry| entry.path.as_str()).collect::<Vec<_>>(), ["/heavy/a", "/heavy/b"]);
        assert_eq!(top[0].count - top[0].error, 200);
        assert!(lock(&map.entries).len() <= 4);
    }
}
