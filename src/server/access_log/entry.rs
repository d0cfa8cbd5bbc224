//! One request's access-log line: what it captured at the start (method, target, client,
//! the headers the format names), what the response added (status, mount, bytes), and the
//! line itself, written as text or as a JSON object when the entry is dropped.
//!
//! Dates come from the `time` crate and JSON escaping from `serde_json`; the format's
//! parsing is `format.rs`'s, the hand-off to the writer thread `writer.rs`'s.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{REFERER, USER_AGENT};
use http::{HeaderMap, HeaderName, Method, Request, StatusCode, Version};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use super::format::{Atom, DurationUnit, Segment};
use super::writer::AccessLog;
use crate::http::connection::Endpoint;

/// nginx's status for a request whose client closed the connection before the response.
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// The Common Log Format's time, `23/Nov/2026:22:40:48 +0000` (always UTC).
const CLF_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
/// RFC 3339 with milliseconds, `2026-11-23T22:40:48.123Z`.
const RFC3339_MILLIS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// One request on its way through: what its line will say.
pub struct Entry {
    log: Arc<AccessLog>,
    started: Instant,
    wall: SystemTime,
    method: Method,
    target: String,
    version: Version,
    client: Endpoint,
    headers: HeaderMap,
    /// None until the response head is out: a request whose client left first is logged
    /// as `499`, as nginx does.
    status: Option<StatusCode>,
    mount: Option<Arc<str>>,
    variant: Option<&'static str>,
    bytes: u64,
}

/// What the service learned about a request: the mount that answered, the client as a
/// trusted proxy described it, and the variant a weighted canary picked (`stable` or
/// `canary`; None without one). Travels in the response's extensions.
#[derive(Debug, Clone)]
pub struct Note {
    pub mount: Option<Arc<str>>,
    pub client: Endpoint,
    pub variant: Option<&'static str>,
}

impl Entry {
    pub fn start<B>(log: &Arc<AccessLog>, request: &Request<B>, client: Endpoint) -> Self {
        let mut headers = HeaderMap::new();
        for name in &log.wanted {
            for value in request.headers().get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        Self {
            log: log.clone(),
            started: Instant::now(),
            wall: SystemTime::now(),
            method: request.method().clone(),
            target: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().to_string(), |target| target.to_string()),
            version: request.version(),
            client,
            headers,
            status: None,
            mount: None,
            variant: None,
            bytes: 0,
        }
    }

    /// The response head is out: its status, and what the service noted.
    pub fn respond(&mut self, status: StatusCode, note: Option<&Note>) {
        self.status = Some(status);
        if let Some(note) = note {
            self.mount = note.mount.clone();
            self.variant = note.variant;
            self.client = note.client.clone();
        }
    }

    pub fn add_bytes(&mut self, count: usize) {
        self.bytes += count as u64;
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let line = match &self.log.format.json {
            Some(fields) => self.json_line(fields),
            None => self.text_line(),
        };
        self.log.emit(line);
    }
}

impl Entry {
    fn text_line(&self) -> Vec<u8> {
        let elapsed = self.started.elapsed();
        let mut line = String::with_capacity(160);
        for segment in &self.log.format.segments {
            match segment {
                Segment::Text(text) => line.push_str(text),
                Segment::Atom(atom) => self.write_atom(&mut line, atom, elapsed),
            }
        }
        line.push('\n');
        line.into_bytes()
    }

    fn json_line(&self, fields: &[(String, Atom)]) -> Vec<u8> {
        let elapsed = self.started.elapsed();
        let mut line = Vec::with_capacity(320);
        let mut value = String::with_capacity(64);
        line.push(b'{');
        for (index, (key, atom)) in fields.iter().enumerate() {
            if index > 0 {
                line.push(b',');
            }
            json_string(&mut line, key);
            line.push(b':');
            value.clear();
            match atom {
                Atom::Time => json_string(&mut line, &format_time(self.wall, RFC3339_MILLIS)),
                Atom::Mount if self.mount.is_none() => line.extend_from_slice(b"null"),
                Atom::Variant if self.variant.is_none() => line.extend_from_slice(b"null"),
                // Numbers stay numbers: `bytes` is 0 rather than `-` for an empty body.
                Atom::Bytes { .. } => line.extend_from_slice(self.bytes.to_string().as_bytes()),
                Atom::Status | Atom::Pid | Atom::Duration(_) => {
                    self.write_atom(&mut value, atom, elapsed);
                    line.extend_from_slice(value.as_bytes());
                }
                _ => {
                    self.write_atom(&mut value, atom, elapsed);
                    json_string(&mut line, &value);
                }
            }
        }
        line.extend_from_slice(b"}\n");
        line
    }

    fn write_atom(&self, line: &mut String, atom: &Atom, elapsed: Duration) {
        let _ = match atom {
            Atom::Client => write!(line, "{}", self.client_text()),
            Atom::Dash => write!(line, "-"),
            Atom::Time => write!(line, "[{}]", format_time(self.wall, CLF_TIME)),
            Atom::RequestLine => write!(line, "{} {} {}", self.method, self.target, protocol(self.version)),
            Atom::Method => write!(line, "{}", self.method),
            Atom::Path => write!(line, "{}", self.path()),
            Atom::Query => write!(line, "{}", self.query()),
            Atom::Protocol => write!(line, "{}", protocol(self.version)),
            Atom::Status => write!(line, "{}", self.status_code()),
            Atom::Bytes { dash_for_zero: true } if self.bytes == 0 => write!(line, "-"),
            Atom::Bytes { .. } => write!(line, "{}", self.bytes),
            Atom::Referer => write!(line, "{}", self.header(&REFERER)),
            Atom::UserAgent => write!(line, "{}", self.header(&USER_AGENT)),
            Atom::Duration(DurationUnit::Seconds) => write!(line, "{}", elapsed.as_secs()),
            Atom::Duration(DurationUnit::Millis) => write!(line, "{}", elapsed.as_millis()),
            Atom::Duration(DurationUnit::Micros) => write!(line, "{}", elapsed.as_micros()),
            Atom::Duration(DurationUnit::DecimalSeconds) => write!(line, "{:.6}", elapsed.as_secs_f64()),
            Atom::Duration(DurationUnit::DecimalMillis) => write!(line, "{:.3}", elapsed.as_secs_f64() * 1000.0),
            Atom::Pid => write!(line, "{}", std::process::id()),
            Atom::Mount => write!(line, "{}", self.mount.as_deref().unwrap_or("-")),
            Atom::Variant => write!(line, "{}", self.variant.unwrap_or("-")),
            Atom::RequestHeader(name) => write!(line, "{}", self.header(name)),
        };
    }

    /// The client's address; `-` for the unnamed peer of a Unix socket.
    fn client_text(&self) -> String {
        let host = self.client.host();
        if host.is_empty() {
            "-".to_owned()
        } else {
            host
        }
    }

    fn status_code(&self) -> u16 {
        self.status.map_or(CLIENT_CLOSED_REQUEST, |status| status.as_u16())
    }

    fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(path, _)| path)
    }

    fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// A request header's value, `-` when absent (lossy for non-UTF-8 bytes).
    fn header(&self, name: &HeaderName) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("-")
    }
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// `value` as a JSON string literal.
fn json_string(line: &mut Vec<u8>, value: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, value);
}

/// `time` in UTC by `format`; `-` for a time the format cannot show (before year 1).
fn format_time(time: SystemTime, format: &[BorrowedFormatItem<'_>]) -> String {
    OffsetDateTime::from(time).format(format).unwrap_or_else(|_| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn times() {
        let time = UNIX_EPOCH + Duration::from_millis(1_795_473_648_123); // 2026-11-23 22:40:48.123 UTC
        assert_eq!(format_time(time, CLF_TIME), "23/Nov/2026:22:40:48 +0000");
        assert_eq!(format_time(time, RFC3339_MILLIS), "2026-11-23T22:40:48.123Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(format_time(leap_day, RFC3339_MILLIS), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_time(UNIX_EPOCH, CLF_TIME), "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut line = Vec::new();
        json_string(&mut line, "a\"b\\c\nd\u{1}é");
        assert_eq!(String::from_utf8_lossy(&line), r#""a\"b\\c\nd\u0001é""#);
    }
}
