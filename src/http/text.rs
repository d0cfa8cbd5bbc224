//! Byte/text conversions required by the gateway specs.
//!
//! PEP 3333 carries HTTP bytes in `str` objects by decoding them as latin-1 ("bytes as
//! code points"), so every byte survives the trip; `Host` handling follows RFC 9110 §7.2.

use std::borrow::Cow;

/// Decodes bytes as latin-1: byte `0xE9` becomes `'é'` (U+00E9). Never fails; borrows
/// ASCII (the same text in both).
pub fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(bytes.iter().map(|&byte| char::from(byte)).collect()),
    }
}

/// Encodes text as latin-1, the inverse of `latin1`: `'é'` becomes byte `0xE9`. None if a
/// character is beyond U+00FF; borrows ASCII (the same bytes in both).
pub fn latin1_bytes(text: &str) -> Option<Cow<'_, [u8]>> {
    if text.is_ascii() {
        return Some(Cow::Borrowed(text.as_bytes()));
    }
    text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect::<Option<Vec<u8>>>().map(Cow::Owned)
}

/// Percent-decodes a request path, leaving the bytes' charset to the app (`PATH_INFO`
/// carries them as latin-1): `/caf%C3%A9` becomes `b"/caf\xc3\xa9"`. Borrows a path with
/// no escape.
pub fn percent_decoded(path: &str) -> Cow<'_, [u8]> {
    percent_encoding::percent_decode(path.as_bytes()).into()
}

/// Splits a `Host` value into name and port: `example.com:8080` → (`example.com`, `8080`),
/// `[::1]:8000` → (`::1`, `8000`) (brackets dropped, as `SERVER_NAME` carries an address),
/// `example.com` → (`example.com`, None). A port that is not all digits is no port: the
/// whole value is the name (`weird:port`, `[::1]:evil`), never a `SERVER_PORT` of "evil".
pub fn split_host(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, "" | ":")) => (address, None),
            Some((address, tail)) => match tail.strip_prefix(':') {
                Some(port) if is_port(port) => (address, Some(port)),
                _ => (host, None),
            },
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => (name, Some(port)),
        Some((name, "")) => (name, None),
        _ => (host, None),
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_keeps_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = latin1(&all);
        assert_eq!(text.chars().count(), 256);
        assert!(text.chars().zip(0u32..).all(|(c, i)| c as u32 == i));
    }

    #[test]
    fn latin1_encoding() {
        assert_eq!(latin1_bytes("abc").as_deref(), Some(&b"abc"[..]));
        assert_eq!(latin1_bytes("caf\u{e9}").as_deref(), Some(&[b'c', b'a', b'f', 0xe9][..]));
        assert_eq!(latin1_bytes("\u{20ac}"), None);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(latin1_bytes(&latin1(&all)).as_deref(), Some(&all[..]), "latin1's inverse");
    }

    #[test]
    fn percent_decoded_cases() {
        let cases = [
            ("/", &b"/"[..]),
            ("/a%20b", b"/a b"),
            ("/caf%C3%A9", b"/caf\xc3\xa9"),
            ("/%2Fslash", b"//slash"),
            ("/bad%zz", b"/bad%zz"),
            ("/tail%", b"/tail%"),
        ];
        for (raw, expected) in cases {
            assert_eq!(&*percent_decoded(raw), expected, "decoding {raw}");
        }
    }

    #[test]
    fn split_host_cases() {
        let cases = [
            ("example.com", ("example.com", None)),
            ("example.com:8080", ("example.com", Some("8080"))),
            ("example.com:", ("example.com", None)),
            ("[::1]:8000", ("::1", Some("8000"))),
            ("[::1]", ("::1", None)),
            ("[::1", ("[::1", None)),
            ("127.0.0.1:80", ("127.0.0.1", Some("80"))),
            ("weird:port", ("weird:port", None)),
            // Found by the `text` fuzz target: a bracketed address's port was not checked,
            // so `Host: [::1]:evil` gave SERVER_PORT "evil".
            ("[::1]:evil", ("[::1]:evil", None)),
            ("[::1]:80x", ("[::1]:80x", None)),
            ("[::1]junk", ("[::1]junk", None)),
        ];
        for (host, expected) in cases {
            assert_eq!(split_host(host), expected, "splitting {host}");
        }
    }
}
