//! Proxy headers: who the client is and which scheme and host it used, when amphicorn runs
//! behind a proxy that says so in `Forwarded` (RFC 7239) or `X-Forwarded-For/-Proto/-Host`.
//!
//! Only a peer in the trusted list (`--forwarded-allow-ips`) is believed; anyone else's
//! headers are passed to the app untouched and change nothing. The client is found by walking
//! the chain of addresses from the right (the hop nearest to us) past every trusted proxy:
//! with `X-Forwarded-For: 203.0.113.7, 10.0.0.2` from trusted `10.0.0.3`, and `10.0.0.0/8`
//! trusted, the client is `203.0.113.7`; if the chain is all proxies, its leftmost entry. A
//! spoofed entry the client put in front of the chain is never reached.
//!
//! `Forwarded` wins over the `X-Forwarded-*` headers when both are present; its element for
//! the chosen hop also gives `proto` and `host`. The scheme becomes `http` or `https` (other
//! values are ignored); a forwarded host replaces the request's `Host`. Applying the result
//! to a request is `service.rs`'s job; the PROXY protocol is `proxy_protocol.rs`.

use std::net::{IpAddr, SocketAddr};

use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The peers whose word is taken: addresses and networks, or everyone (`*`).
#[derive(Debug, Clone, Default)]
pub struct TrustedPeers {
    everyone: bool,
    networks: Vec<IpNet>,
}

impl TrustedPeers {
    /// Parses `127.0.0.1`, `10.0.0.0/8`, `::1`, `*`; the error names the bad entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut trusted = Self::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry == "*" {
                trusted.everyone = true;
            } else if let Ok(network) = entry.parse::<IpNet>() {
                trusted.networks.push(network);
            } else if let Ok(address) = entry.parse::<IpAddr>() {
                trusted.networks.push(IpNet::from(address));
            } else {
                return Err(format!("{entry:?} is not an IP address, a network like 10.0.0.0/8, or *"));
            }
        }
        Ok(trusted)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical(); // An IPv4 peer on an IPv6 socket: ::ffff:10.0.0.1.
        self.everyone || self.networks.iter().any(|network| network.contains(&address))
    }
}

/// What the proxy headers say about the original request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub client: Option<SocketAddr>,
    pub scheme: Option<&'static str>,
    pub host: Option<HeaderValue>,
}

/// Reads the forwarding headers a trusted peer sent (the caller checks the peer).
pub fn read(headers: &HeaderMap, trusted: &TrustedPeers) -> Forwarded {
    if !forwards(headers) {
        return Forwarded::default();
    }
    if headers.contains_key(&FORWARDED) {
        let elements = forwarded_elements(headers);
        let Some(chosen) = choose(&elements, |element| element.client, trusted) else {
            return Forwarded::default();
        };
        return Forwarded {
            client: chosen.client,
            scheme: chosen.proto.as_deref().and_then(scheme),
            host: chosen.host.as_deref().and_then(|host| HeaderValue::from_str(host).ok()),
        };
    }
    let chain: Vec<Option<SocketAddr>> = list(headers, &X_FORWARDED_FOR).map(|entry| node(&entry)).collect();
    Forwarded {
        client: choose(&chain, |client| *client, trusted).copied().flatten(),
        scheme: list(headers, &X_FORWARDED_PROTO).last().as_deref().and_then(scheme),
        host: list(headers, &X_FORWARDED_HOST).last().and_then(|host| HeaderValue::from_str(&host).ok()),
    }
}

/// Whether any forwarding header came: one pass over the names, for the common request
/// (every one from a trusted local peer, by default) that has none. Four lookups, each
/// hashing its name, cost 900 instructions per request under callgrind.
fn forwards(headers: &HeaderMap) -> bool {
    let names = [&FORWARDED, &X_FORWARDED_FOR, &X_FORWARDED_PROTO, &X_FORWARDED_HOST];
    headers.keys().any(|name| names.contains(&name))
}

/// Sets the request's `Host` to a forwarded one.
pub fn replace_host(headers: &mut HeaderMap, host: HeaderValue) {
    headers.insert(HOST, host);
}

/// The hop the client is: the rightmost one not in `trusted`, or the leftmost of all-proxy
/// chains. An entry that is not an address (`unknown`, an obfuscated name) ends the walk.
fn choose<'a, T>(chain: &'a [T], address: impl Fn(&T) -> Option<SocketAddr>, trusted: &TrustedPeers) -> Option<&'a T> {
    for entry in chain.iter().rev() {
        match address(entry) {
            Some(client) if trusted.contains(client.ip()) => continue,
            _ => return Some(entry),
        }
    }
    chain.first()
}

/// The comma-separated entries of every line of `name`, trimmed.
fn list<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl DoubleEndedIterator<Item = String> + 'a {
    let values: Vec<&'a HeaderValue> = headers.get_all(name).iter().collect();
    values
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
}

/// `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:4711`, `2001:db8::1` → an address
/// (port 0 when none is given, as there is no way to know it).
fn node(text: &str) -> Option<SocketAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Some(address);
    }
    let bare = text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(text);
    bare.parse::<IpAddr>().ok().map(|address| SocketAddr::new(address, 0))
}

fn scheme(proto: &str) -> Option<&'static str> {
    match proto.trim().to_ascii_lowercase().as_str() {
        "http" | "ws" => Some("http"),
        "https" | "wss" => Some("https"),
        _ => None,
    }
}

/// One hop of a `Forwarded` header.
#[derive(Debug, Default)]
struct Element {
    client: Option<SocketAddr>,
    proto: Option<String>,
    host: Option<String>,
}

/// `for=192.0.2.60;proto=https, for="[2001:db8::1]:4711";host=example.com` → two elements.
/// Quoted values may hold `,` and `;`.
fn forwarded_elements(headers: &HeaderMap) -> Vec<Element> {
    let mut elements = Vec::new();
    for value in headers.get_all(&FORWARDED).iter().filter_map(|value| value.to_str().ok()) {
        for element in split_outside_quotes(value, ',') {
            let mut parsed = Element::default();
            for pair in split_outside_quotes(element, ';') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "for" => parsed.client = node(value),
                    "proto" => parsed.proto = Some(value.to_owned()),
                    "host" => parsed.host = Some(value.to_owned()),
                    _ => {}
                }
            }
            elements.push(parsed);
        }
    }
    elements
}

pub(crate) fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (index, character) in text.char_indices() {
        if character == '"' {
            quoted = !quoted;
        } else if character == separator && !quoted {
            parts.push(&text[start..index]);
            start = index + separator.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let value = HeaderValue::from_str(value).unwrap_or_else(|error| panic!("bad test header: {error}"));
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap_or(HOST), value);
        }
        map
    }

    fn trusted(entries: &[&str]) -> TrustedPeers {
        TrustedPeers::parse(entries).unwrap_or_else(|error| panic!("{error}"))
    }

    fn client(text: &str) -> Option<SocketAddr> {
        node(text)
    }

    #[test]
    fn trusted_peers() {
        let peers = trusted(&["127.0.0.1", "10.0.0.0/8", "::1"]);
        assert!(peers.contains("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(peers.contains(IpAddr::from([127, 0, 0, 1])));
        assert!(peers.contains("::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!peers.contains(IpAddr::from([192, 168, 0, 1])));
        assert!(trusted(&["*"]).contains(IpAddr::from([192, 168, 0, 1])));
        assert!(TrustedPeers::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedPeers::parse(&["proxy.local"]).is_err());
    }

    /// Request headers, then the client, scheme and host expected from them.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Option<&'a str>, Option<&'a str>);

    #[test]
    fn x_forwarded_headers() {
        let peers = trusted(&["10.0.0.0/8"]);
        let cases: &[Case<'_>] = &[
            (&[("x-forwarded-for", "203.0.113.7")], Some("203.0.113.7:0"), None, None),
            (&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.2")], Some("203.0.113.7:0"), None, None),
            (&[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "10.0.0.2")], Some("1.1.1.1:0"), None, None),
            (&[("x-forwarded-for", "10.0.0.5, 10.0.0.2")], Some("10.0.0.5:0"), None, None),
            (&[("x-forwarded-for", "[2001:db8::1]:4711")], Some("[2001:db8::1]:4711"), None, None),
            (&[("x-forwarded-for", "unknown")], None, None, None),
            (&[("x-forwarded-proto", "https")], None, Some("https"), None),
            (&[("x-forwarded-proto", "gopher")], None, None, None),
            (&[("x-forwarded-host", "example.com")], None, None, Some("example.com")),
            (&[("host", "a"), ("user-agent", "b"), ("x-forwarded-proto", "https")], None, Some("https"), None),
            (&[("host", "a"), ("user-agent", "b")], None, None, None),
        ];
        for (pairs, expected_client, expected_scheme, expected_host) in cases {
            let forwarded = read(&headers(pairs), &peers);
            assert_eq!(forwarded.client, expected_client.and_then(client), "{pairs:?}");
            assert_eq!(forwarded.scheme, *expected_scheme, "{pairs:?}");
            assert_eq!(forwarded.host.as_ref().and_then(|host| host.to_str().ok()), *expected_host, "{pairs:?}");
        }
    }

    #[test]
    fn forwarded_header() {
        let peers = trusted(&["10.0.0.0/8"]);
        let value = r#"for=198.51.100.17;proto=https;host="shop.example", for="[2001:db8::17]:4711";proto=http, for=10.0.0.2;proto=http"#;
        let forwarded = read(&headers(&[("forwarded", value), ("x-forwarded-for", "1.2.3.4")]), &peers);
        assert_eq!(forwarded.client, client("[2001:db8::17]:4711"));
        assert_eq!(forwarded.scheme, Some("http"));
        assert_eq!(forwarded.host, None);
        let forwarded = read(&headers(&[("forwarded", r#"for=198.51.100.17;proto=https;host="a,b""#)]), &peers);
        assert_eq!(forwarded.client, client("198.51.100.17"));
        assert_eq!(forwarded.scheme, Some("https"));
        assert_eq!(forwarded.host, Some(HeaderValue::from_static("a,b")));
        let obfuscated = read(&headers(&[("forwarded", "for=_hidden, for=10.0.0.3")]), &peers);
        assert_eq!(obfuscated.client, None);
    }

    /// The headers a proxy might send, and the Host the request has anyway.
    const NAMES: [&str; 5] = ["forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "host"];

    /// Header lines of any of those names with any value a header can hold (all bytes but
    /// CR, LF and NUL, non-ASCII included), biased towards the characters the parser
    /// cares about.
    fn any_header_lines() -> impl Strategy<Value = Vec<(usize, Vec<u8>)>> {
        let byte = prop_oneof![
            3 => proptest::sample::select(b"=;,\"[]:.for proto host _ 10.0.0.1 ::1 https".to_vec()),
            1 => any::<u8>().prop_filter("a header value byte", |byte| !matches!(byte, b'\r' | b'\n' | 0)),
        ];
        proptest::collection::vec((0..NAMES.len(), proptest::collection::vec(byte, 0..60)), 0..6)
    }

    fn any_trusted() -> impl Strategy<Value = TrustedPeers> {
        proptest::sample::select(vec![vec![], vec!["*"], vec!["10.0.0.0/8", "::1"], vec!["0.0.0.0/0", "::/0"]])
            .prop_map(|entries| trusted(&entries))
    }

    /// One hop as a proxy writes it: an address, with or without a port.
    fn any_hop() -> impl Strategy<Value = SocketAddr> {
        (any::<IpAddr>(), proptest::option::of(1..=u16::MAX))
            .prop_map(|(address, port)| SocketAddr::new(address, port.unwrap_or(0)))
    }

    /// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
    fn x_forwarded_for_entry(hop: SocketAddr) -> String {
        match (hop.ip(), hop.port()) {
            (address, 0) => address.to_string(),
            _ => hop.to_string(),
        }
    }

    /// `for=203.0.113.7`, `for="203.0.113.7:4711"`, `for="[2001:db8::1]"`, as RFC 7239 says.
    fn forwarded_for(hop: SocketAddr) -> String {
        match (hop.ip(), hop.port()) {
            (IpAddr::V4(address), 0) => format!("for={address}"),
            (IpAddr::V6(address), 0) => format!("for=\"[{address}]\""),
            _ => format!("for=\"{hop}\""),
        }
    }

    proptest! {
        #[test]
        fn reading_never_panics(lines in any_header_lines(), peers in any_trusted()) {
            let mut map = HeaderMap::new();
            for (name, value) in lines {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    map.append(HeaderName::from_static(NAMES[name]), value);
                }
            }
            let forwarded = read(&map, &peers);
            if let Some(host) = forwarded.host {
                replace_host(&mut map, host);
            }
        }

        #[test]
        fn parts_never_panic(text in "[a-z,;\"é€ ]{0,40}|\\PC{0,40}", separator in proptest::sample::select(vec![',', ';', 'é', '€'])) {
            let _ = node(&text);
            let _ = scheme(&text);
            let parts = split_outside_quotes(&text, separator);
            prop_assert_eq!(parts.join(&separator.to_string()), text);
        }

        /// What a proxy chain writes is read back: with nobody trusted, the client is the
        /// nearest hop; with everyone trusted, the farthest; the same from `Forwarded` as
        /// from `X-Forwarded-*`.
        #[test]
        fn valid_headers_round_trip(
            chain in proptest::collection::vec(any_hop(), 1..5),
            proto in proptest::option::of(proptest::sample::select(vec!["http", "https", "HTTPS", "ws", "wss"])),
            host in proptest::option::of("[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,6}){0,2}(:[0-9]{1,5})?"),
        ) {
            let expected_scheme = proto.map(|proto| if proto.eq_ignore_ascii_case("http") || proto == "ws" { "http" } else { "https" });
            let expected_host = host.as_deref().map(HeaderValue::from_str).transpose().ok().flatten();

            let mut x_forwarded = vec![("x-forwarded-for", chain.iter().map(|hop| x_forwarded_for_entry(*hop)).collect::<Vec<_>>().join(", "))];
            x_forwarded.extend(proto.map(|proto| ("x-forwarded-proto", proto.to_owned())));
            x_forwarded.extend(host.clone().map(|host| ("x-forwarded-host", host)));

            // Every hop but the last one only says who it forwarded for; the last one also
            // says the scheme and host the client used.
            let mut elements: Vec<String> = chain.iter().map(|hop| forwarded_for(*hop)).collect();
            if let Some(last) = elements.last_mut() {
                last.extend(proto.map(|proto| format!(";proto={proto}")));
                last.extend(host.as_ref().map(|host| format!(";host=\"{host}\"")));
            }
            let forwarded = vec![("forwarded", elements.join(", "))];

            for pairs in [x_forwarded, forwarded] {
                let pairs: Vec<(&str, &str)> = pairs.iter().map(|(name, value)| (*name, value.as_str())).collect();
                let nobody = read(&headers(&pairs), &TrustedPeers::default());
                prop_assert_eq!(nobody.client, chain.last().copied(), "{:?}", pairs);
                prop_assert_eq!(nobody.scheme, expected_scheme, "{:?}", pairs);
                prop_assert_eq!(nobody.host.clone(), expected_host.clone(), "{:?}", pairs);
                let everyone = read(&headers(&pairs), &trusted(&["*"]));
                prop_assert_eq!(everyone.client, chain.first().copied(), "{:?}", pairs);
            }
        }
    }
}
