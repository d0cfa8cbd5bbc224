//! Entry points for the fuzz targets in `fuzz/` (built only with the `fuzzing` feature):
//! one function per target, each taking the fuzzer's bytes, feeding them to a parser or pure
//! function that reads what a client (or an app) sends, and asserting what must hold of the
//! answer, so that a wrong answer crashes the target just as a panic does.
//!
//! They live in the crate, not in `fuzz/`, because the functions they call are crate-private;
//! none of them touches Python (the pure parts of the app-facing parsers were split out of
//! their GIL-holding callers for this), so a fuzz binary references no libpython symbol: pyo3
//! asks for libpython at link time, and the linker (`--as-needed`) drops it.
//! The targets themselves, their seed corpora and how they run are `fuzz/`'s and
//! `scripts/fuzz.sh`'s.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Request, Version};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::connection_tls;
use crate::http::{framing, text};
use crate::server::access_log::Format;
use crate::server::framing_watch;
use crate::server::proxy::{self, TrustedPeers};
use crate::server::proxy_protocol;
use crate::server::request_framing::RequestFraming;
use crate::server::request_line::LineState;
use crate::server::router::{self, MountPoint, Router};

/// `data` as lines of text (invalid UTF-8 replaced, so that no input is wasted).
fn lines(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data).split('\n').map(str::to_owned).collect()
}

/// `name: value` lines → a header map; lines that are no valid header are skipped.
fn header_map<'a>(lines: impl Iterator<Item = &'a [u8]>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(line[colon + 1..].trim_ascii()))
        else {
            continue;
        };
        headers.append(name, value);
    }
    headers
}

/// Target `framing`: the first byte picks the HTTP version, the first line is the request
/// target and the others are headers.
pub fn framing(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2][usize::from(selector % 3)];
    let mut parts = rest.split(|&byte| byte == b'\n');
    let target = parts.next().unwrap_or_default();
    let Ok(mut request) = Request::builder().version(version).uri(target).body(()) else {
        return;
    };
    *request.headers_mut() = header_map(parts);
    if framing::check(&request).is_ok() {
        let headers = request.headers();
        assert!(headers.get_all(http::header::HOST).iter().count() <= 1, "several Hosts accepted");
        let has_te = headers.contains_key(http::header::TRANSFER_ENCODING);
        assert!(!(has_te && headers.contains_key(http::header::CONTENT_LENGTH)), "CL with TE accepted");
    }
}

/// Target `router`: line 1 is the `Host` (empty: none), line 2 the path, the others mounts.
/// Every mount that parses must print as text that parses back to it, and `route` must
/// pick exactly the mount the rules in `router.rs` name.
pub fn router(data: &[u8]) {
    let lines = lines(data);
    let [host, path, mounts @ ..] = lines.as_slice() else {
        return;
    };
    let host = (!host.is_empty()).then_some(host.as_str());
    let mut points = Vec::new();
    for text in mounts {
        let Ok(point) = MountPoint::parse(text) else {
            continue;
        };
        let again = MountPoint::parse(&point.to_string());
        assert_eq!(again.as_ref(), Ok(&point), "{text:?} printed as {point} does not parse back");
        if !points.contains(&point) {
            points.push(point);
        }
    }
    let covers = |point: &MountPoint| {
        path.strip_prefix(point.prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let name = host.map(router::host_name);
    let eligible = |point: &&MountPoint| match (&point.host, name) {
        (None, _) => true,
        (Some(mounted), Some(name)) => mounted.eq_ignore_ascii_case(name),
        (Some(_), None) => false,
    };
    // The host's own mounts first, then the longest prefix.
    let expected = points
        .iter()
        .filter(eligible)
        .filter(|point| covers(point))
        .max_by_key(|point| (point.host.is_some(), point.prefix.len()));
    let table: Vec<(MountPoint, ())> = points.iter().cloned().map(|point| (point, ())).collect();
    let Ok(router) = Router::new(table) else {
        panic!("distinct mounts refused: {points:?}");
    };
    let chosen = router.route(host, path).map(|(point, _)| point);
    assert_eq!(chosen, expected, "host {host:?}, path {path:?}, mounts {points:?}");
}

/// Target `forwarded`: line 1 is the trusted peers (comma-separated; `*` if they do not
/// parse), the others are request headers.
pub fn forwarded(data: &[u8]) {
    let mut parts = data.split(|&byte| byte == b'\n');
    let peers = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let entries: Vec<&str> = peers.split(',').collect();
    let trusted = TrustedPeers::parse(&entries).unwrap_or_else(|_| TrustedPeers::parse(&["*"]).unwrap_or_default());
    let headers = header_map(parts);
    let forwarded = proxy::read(&headers, &trusted);
    if let Some(scheme) = forwarded.scheme {
        assert!(scheme == "http" || scheme == "https", "scheme {scheme:?}");
    }
    for value in headers.get_all(http::header::FORWARDED).iter().filter_map(|value| value.to_str().ok()) {
        for separator in [',', ';'] {
            let parts = proxy::split_outside_quotes(value, separator);
            assert_eq!(parts.join(&separator.to_string()), value, "splitting {value:?} lost bytes");
        }
    }
}

/// A reader that hands out at most `step` bytes per read, as a slow balancer would.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let take = self.step.min(self.data.len()).min(buf.remaining());
        let (chunk, rest) = self.data.split_at(take);
        buf.put_slice(chunk);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

thread_local! {
    static RUNTIME: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().enable_time().build().ok();
}

/// Target `proxy_protocol`: the first byte is how many bytes each read gets (1 to 256), the
/// rest is what the balancer sends. A header that is read must leave every byte after it to
/// the HTTP side, in order.
pub fn proxy_protocol(data: &[u8]) {
    let Some((&step, sent)) = data.split_first() else {
        return;
    };
    if let Some((length, _)) = proxy_protocol::header_addresses(ppp::HeaderResult::parse(sent)) {
        assert!(length <= sent.len(), "a {length}-byte header in {} bytes", sent.len());
    }
    let stream = Trickle { data: sent, step: usize::from(step) + 1 };
    let read = async {
        let (mut prefixed, _) = proxy_protocol::read_header(stream, Duration::from_secs(5)).await.ok()?;
        let mut after = Vec::new();
        prefixed.read_to_end(&mut after).await.ok()?;
        Some(after)
    };
    let after = RUNTIME.with(|runtime| runtime.as_ref().and_then(|runtime| runtime.block_on(read)));
    if let Some(after) = after {
        assert!(sent.ends_with(&after), "the bytes after the header were changed");
        assert!(after.len() < sent.len(), "nothing was taken as the header");
    }
}

/// Target `wsgi_status`: a WSGI app's status string.
pub fn wsgi_status(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((code, reason)) = crate::wsgi::start_response::parse_status_line(text) else {
        return;
    };
    assert!(text.starts_with(code.as_str()), "{text:?} gave {code}");
    if let Some(reason) = reason {
        let bytes = reason.as_bytes();
        assert!(!bytes.iter().any(|&byte| matches!(byte, b'\r' | b'\n' | 0)), "{text:?} gave reason {bytes:?}");
    }
}

/// The first byte is the name's length, the rest the name then the value.
fn name_and_value(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&length, rest) = data.split_first()?;
    rest.split_at_checked(usize::from(length))
}

fn assert_safe_header(name: &HeaderName, value: &HeaderValue) {
    assert!(!name.as_str().is_empty(), "an empty header name");
    let bytes = value.as_bytes();
    assert!(!bytes.iter().any(|&byte| matches!(byte, b'\r' | b'\n' | 0)), "{name}: {bytes:?} would split");
}

/// Target `wsgi_headers`: one `(name, value)` pair of str from a WSGI app.
pub fn wsgi_headers(data: &[u8]) {
    let Some((name, value)) = name_and_value(data) else {
        return;
    };
    let (name, value) = (String::from_utf8_lossy(name), String::from_utf8_lossy(value));
    if let Ok((header_name, header_value)) = crate::wsgi::start_response::header(&name, &value) {
        assert_safe_header(&header_name, &header_value);
        assert_eq!(header_value.len(), value.chars().count(), "{value:?} is not latin-1 one byte per character");
    }
}

/// Target `asgi_headers`: one `[name, value]` byte pair from an ASGI app.
pub fn asgi_headers(data: &[u8]) {
    let Some((name, value)) = name_and_value(data) else {
        return;
    };
    if let Ok((header_name, header_value)) = crate::asgi::send::header(name, value) {
        assert_safe_header(&header_name, &header_value);
        assert_eq!(header_value.as_bytes(), value, "the value was changed");
    }
}

/// Target `access_log_format`: an `--access-log-format` (first byte: with `--log-format
/// json` if odd).
pub fn access_log_format(data: &[u8]) {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    if let Ok(format) = Format::parse(&text, flags & 1 == 1) {
        let _ = format.wanted_headers();
    }
}

/// Target `settings`: the settings Rust reads itself, after Python's converters: 8 bytes of a
/// number of seconds (any `f64`, NaN and infinities included), then `--forwarded-allow-ips`
/// entries, comma-separated.
pub fn settings(data: &[u8]) {
    let Some((number, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let value = f64::from_le_bytes(*number);
    if let Ok(duration) = crate::server::mounts::seconds(value, "timeout") {
        assert!(value >= 0.0 && duration.as_secs_f64().is_finite(), "{value} seconds accepted");
    }
    let entries = String::from_utf8_lossy(rest);
    let entries: Vec<&str> = entries.split(',').collect();
    if let Ok(trusted) = TrustedPeers::parse(&entries) {
        let everyone = entries.iter().any(|entry| entry.trim() == "*");
        let anyone = std::net::IpAddr::from([192, 0, 2, 1]);
        assert!(!everyone || trusted.contains(anyone), "* does not trust everyone");
    }
}

/// Target `text`: the request path and `Host` helpers.
pub fn text(data: &[u8]) {
    let latin1 = text::latin1(data);
    assert_eq!(latin1.chars().count(), data.len(), "latin-1 is one character per byte");
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = text::percent_decoded(input);
    assert!(decoded.len() <= input.len(), "decoding {input:?} grew it");
    let (name, port) = text::split_host(input);
    assert!(input.contains(name), "{input:?} split into name {name:?}");
    if let Some(port) = port {
        assert!(!port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()), "{input:?}: port {port:?}");
        assert!(input.ends_with(port), "{input:?}: port {port:?}");
    }
}

/// The 431 status line hyper writes, as `request_line.rs` looks for it.
const HEAD_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n";

/// The head size limit the `request_line` target runs with: small, for lines to outgrow it.
const REQUEST_LINE_LIMIT: usize = 64;

/// Target `request_line`: a connection's reads as records (a flags byte: bit 0 a request is
/// in flight, bit 1 a request began before this read; a length byte; the bytes), then
/// hyper's 431. A request line an LF ended in the current head within the limit must never
/// become 414.
pub fn request_line(data: &[u8]) {
    let mut state = LineState::new(REQUEST_LINE_LIMIT);
    // `head_begun`: the requests begun when the current head began, as `on_read` counts;
    // `line`: the bytes of the head up to its first LF (all of them while there is none).
    let (mut rest, mut begun, mut head_begun) = (data, 0u64, 0u64);
    let (mut newline_in_head, mut line) = (false, 0usize);
    while let [flags, length, tail @ ..] = rest {
        let (read, next) = tail.split_at(usize::from(*length).min(tail.len()));
        let busy = flags & 1 == 1;
        if flags & 2 == 2 {
            begun += 1;
        }
        if !read.is_empty() && !busy && begun != head_begun {
            head_begun = begun;
            (newline_in_head, line) = (false, 0);
        }
        state.on_read(read, busy, begun);
        if !newline_in_head {
            line += read.iter().position(|&byte| byte == b'\n').map_or(read.len(), |end| end + 1);
        }
        newline_in_head |= read.contains(&b'\n');
        rest = next;
    }
    let written = [HEAD_TOO_LARGE, b"connection: close\r\n\r\n"].concat();
    match state.replacement(&written) {
        Some(replaced) => {
            assert!(
                !newline_in_head || line > REQUEST_LINE_LIMIT,
                "414 for a head whose request line had ended within the limit ({line} bytes)"
            );
            assert!(replaced.starts_with(b"HTTP/1.1 414 URI Too Long\r\n"), "replaced with {replaced:?}");
            assert!(replaced.ends_with(b"connection: close\r\n\r\n"), "the rest of the head was lost");
        }
        None => assert!(state.replacement(b"HTTP/1.1 200 OK\r\n\r\n").is_none(), "a 200 replaced"),
    }
    assert!(state.replacement(b"HTTP/1.1 200 OK\r\n\r\n").is_none(), "a 200 replaced");
}

/// Target `request_framing`: the first byte says how many of the next bytes are read
/// lengths (its low 4 bits), each 1 + the byte; the rest is what a client sends, read in
/// pieces of those lengths in turn until it ends (one piece if there are none). Read so, it
/// must reach hyper exactly as when read in one piece; and at most one byte is changed: a CR
/// after whitespace, to LF. The same pieces read through the socket wrapper
/// (`FramingWatch`, which holds unfinished heads back), into buffers of the size the first
/// byte's high 4 bits pick, must reach hyper as the same bytes, all of them by the end.
pub fn request_framing(data: &[u8]) {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let Some((lengths, sent)) = rest.split_at_checked(usize::from(count & 0x0f)) else {
        return;
    };
    let mut whole = sent.to_vec();
    RequestFraming::new().on_read(&mut whole);
    let mut pieces = sent.to_vec();
    let mut framing = RequestFraming::new();
    let (mut start, mut turn, mut reads) = (0, 0, Vec::new());
    while start < pieces.len() {
        let length = lengths.get(turn % lengths.len().max(1)).map_or(pieces.len(), |&length| usize::from(length) + 1);
        let end = (start + length).min(pieces.len());
        reads.push(start..end);
        framing.on_read(&mut pieces[start..end]);
        (start, turn) = (end, turn + 1);
    }
    assert_eq!(pieces, whole, "read in pieces of {lengths:?}, other bytes reach hyper than read whole");
    let room = [8192, 1, 7, 100, 4096, 16384][usize::from(count >> 4) % 6];
    let mut script: Vec<&[u8]> = reads.into_iter().map(|range| &sent[range]).collect();
    script.push(b"");
    let watched = framing_watch::handed_over(&script, room);
    assert_eq!(watched.last().map(Vec::len), Some(0), "the end of the connection did not reach hyper");
    assert_eq!(watched.concat(), whole, "through the socket wrapper, in buffers of {room}, other bytes reach hyper");
    let changed: Vec<usize> = (0..sent.len()).filter(|&index| sent[index] != whole[index]).collect();
    if let [index] = changed[..] {
        let before = index.checked_sub(1).map(|before| sent[before]);
        assert_eq!((sent[index], whole[index]), (b'\r', b'\n'), "byte {index} changed");
        assert!(matches!(before, Some(b' ' | b'\t')), "a CR after {before:?} refused");
    } else {
        assert!(changed.is_empty(), "bytes {changed:?} changed");
    }
}

/// Target `certificate`: a client certificate's DER bytes, its subject and its PEM form.
pub fn certificate(data: &[u8]) {
    // Nothing to encode: the PEM encoder writes an empty line its decoder refuses, and rustls
    // never hands over an empty certificate.
    if data.is_empty() {
        return;
    }
    let certificate = CertificateDer::from(data);
    let _ = connection_tls::subject(&certificate);
    let pem = connection_tls::to_pem(&certificate);
    assert!(pem.lines().all(|line| line.len() <= 64), "a PEM line over 64 characters");
    let Ok((label, der)) = pkcs8::der::pem::decode_vec(pem.as_bytes()) else {
        panic!("{pem:?} does not decode");
    };
    assert_eq!((label, der.as_slice()), ("CERTIFICATE", data), "PEM round trip");
}
