//! The access log: one line per request, formatted and written from Rust, so no Python runs
//! for it on the hot path.
//!
//! The format takes gunicorn's atoms (`%(h)s %(t)s "%(r)s" %(s)s %(b)s ...`, see `Atom`),
//! parsed once at start-up; `--log-format json` writes one JSON object per line with every
//! atom instead. A line is finished when hyper drops the response body (so it knows the
//! bytes sent and the full duration) and handed to a writer thread through a bounded
//! channel: a tokio thread never waits on the output. If the output falls far behind, lines
//! are dropped and counted rather than held in memory.
//!
//! What a request looked like is captured by `Entry::start` in the connection's handler
//! (`listen.rs`); the service adds the mount and the client as a proxy described it (`Note`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::header::{REFERER, USER_AGENT};
use http::{HeaderMap, HeaderName, Method, Request, StatusCode, Version};

use crate::http::connection::Endpoint;

/// nginx's status for a request whose client closed the connection before the response.
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Lines that may wait for the writer before new ones are dropped.
const BACKLOG_LINES: usize = 16 * 1024;

pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s"#;

/// One `%(...)s` of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    /// `h`: client address.
    Client,
    /// `l`, `u`: always `-` (identd and user, as gunicorn).
    Dash,
    /// `t`: time the request started, `[23/Nov/2026:22:40:48 +0000]`.
    Time,
    /// `r`: request line, `GET /a?b=1 HTTP/1.1`.
    RequestLine,
    /// `m`: method.
    Method,
    /// `U`: path without the query.
    Path,
    /// `q`: query string.
    Query,
    /// `H`: protocol.
    Protocol,
    /// `s`: status.
    Status,
    /// `B`: response body bytes; `b`: the same, or `-` for none.
    Bytes { dash_for_zero: bool },
    /// `f`: referer.
    Referer,
    /// `a`: user agent.
    UserAgent,
    /// `T` seconds, `M` milliseconds, `D` microseconds (whole), `L` seconds with decimals.
    Duration(DurationUnit),
    /// `p`: process id.
    Pid,
    /// `mount`: the prefix of the mount that answered (`-` when none did).
    Mount,
    /// `{name}i`: a request header.
    RequestHeader(HeaderName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurationUnit {
    Seconds,
    Millis,
    Micros,
    DecimalSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Atom(Atom),
}

/// A parsed `--access-log-format`.
#[derive(Debug, Clone)]
pub struct Format {
    segments: Vec<Segment>,
    json: bool,
}

impl Format {
    /// Parses a format; the error names the atom it does not know.
    pub fn parse(text: &str, json: bool) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("%(") {
            if start > 0 {
                segments.push(Segment::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find(")s") else {
                return Err(format!("unclosed atom at {:?}: write atoms as %(name)s", &rest[start..]));
            };
            segments.push(Segment::Atom(atom(&after[..end])?));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_owned()));
        }
        Ok(Self { segments, json })
    }

    /// Request headers the format needs kept until the line is written.
    fn wanted_headers(&self) -> Vec<HeaderName> {
        let mut names = vec![USER_AGENT, REFERER];
        for segment in &self.segments {
            if let Segment::Atom(Atom::RequestHeader(name)) = segment {
                names.push(name.clone());
            }
        }
        names
    }
}

fn atom(name: &str) -> Result<Atom, String> {
    Ok(match name {
        "h" => Atom::Client,
        "l" | "u" => Atom::Dash,
        "t" => Atom::Time,
        "r" => Atom::RequestLine,
        "m" => Atom::Method,
        "U" => Atom::Path,
        "q" => Atom::Query,
        "H" => Atom::Protocol,
        "s" => Atom::Status,
        "B" => Atom::Bytes { dash_for_zero: false },
        "b" => Atom::Bytes { dash_for_zero: true },
        "f" => Atom::Referer,
        "a" => Atom::UserAgent,
        "T" => Atom::Duration(DurationUnit::Seconds),
        "M" => Atom::Duration(DurationUnit::Millis),
        "D" => Atom::Duration(DurationUnit::Micros),
        "L" => Atom::Duration(DurationUnit::DecimalSeconds),
        "p" => Atom::Pid,
        "mount" => Atom::Mount,
        _ => {
            let header = name.strip_prefix('{').and_then(|rest| rest.strip_suffix("}i"));
            match header.map(|header| HeaderName::from_bytes(header.to_ascii_lowercase().as_bytes())) {
                Some(Ok(header)) => Atom::RequestHeader(header),
                _ => {
                    return Err(format!(
                        "unknown atom %({name})s (known: h l u t r m U q H s B b f a T M D L p mount {{header}}i)"
                    ))
                }
            }
        }
    })
}

/// What the service learned about a request: the mount that answered and the client as a
/// trusted proxy described it. Travels in the response's extensions.
#[derive(Debug, Clone)]
pub struct Note {
    pub mount: Option<Arc<str>>,
    pub client: Endpoint,
}

/// The log: its format and the channel to the writer thread.
#[derive(Debug)]
pub struct AccessLog {
    format: Format,
    wanted: Vec<HeaderName>,
    lines: SyncSender<String>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Starts the writer thread, which writes to stdout until every sender is gone.
    pub fn start(format: Format) -> std::io::Result<Arc<Self>> {
        let (lines, receiver) = sync_channel(BACKLOG_LINES);
        std::thread::Builder::new().name("amphicorn-access-log".into()).spawn(move || write_lines(receiver))?;
        let wanted = format.wanted_headers();
        Ok(Arc::new(Self { format, wanted, lines, dropped: AtomicU64::new(0) }))
    }

    fn emit(&self, line: String) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn write_lines(receiver: Receiver<String>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Ok(line) = receiver.recv() {
        let _ = out.write_all(line.as_bytes());
        // Flush when caught up, so a quiet server's lines show at once.
        while let Ok(line) = receiver.try_recv() {
            let _ = out.write_all(line.as_bytes());
        }
        let _ = out.flush();
    }
}

/// One request on its way through: what the line will say.
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
    bytes: u64,
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
            bytes: 0,
        }
    }

    /// The response head is out: its status, and what the service noted.
    pub fn respond(&mut self, status: StatusCode, note: Option<&Note>) {
        self.status = Some(status);
        if let Some(note) = note {
            self.mount = note.mount.clone();
            self.client = note.client.clone();
        }
    }

    pub fn add_bytes(&mut self, count: usize) {
        self.bytes += count as u64;
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let line = if self.log.format.json { self.json_line() } else { self.text_line() };
        self.log.emit(line);
    }
}

impl Entry {
    fn text_line(&self) -> String {
        let mut line = String::with_capacity(160);
        for segment in &self.log.format.segments {
            match segment {
                Segment::Text(text) => line.push_str(text),
                Segment::Atom(atom) => self.write_atom(&mut line, atom),
            }
        }
        line.push('\n');
        line
    }

    fn json_line(&self) -> String {
        let elapsed = self.started.elapsed();
        let mut line = String::with_capacity(256);
        line.push('{');
        let fields: [(&str, String); 11] = [
            ("time", rfc3339(self.wall)),
            ("client", self.client_text()),
            ("method", self.method.to_string()),
            ("path", self.path().to_owned()),
            ("query", self.query().to_owned()),
            ("protocol", protocol(self.version).to_owned()),
            ("status", self.status_code().to_string()),
            ("bytes", self.bytes.to_string()),
            ("duration_ms", format!("{:.3}", elapsed.as_secs_f64() * 1000.0)),
            ("referer", self.header(&REFERER).to_owned()),
            ("user_agent", self.header(&USER_AGENT).to_owned()),
        ];
        for (index, (key, value)) in fields.iter().enumerate() {
            if index > 0 {
                line.push(',');
            }
            let numeric = matches!(*key, "status" | "bytes" | "duration_ms");
            let _ = write!(line, "\"{key}\":");
            if numeric {
                line.push_str(value);
            } else {
                json_string(&mut line, value);
            }
        }
        line.push_str(",\"mount\":");
        match &self.mount {
            Some(mount) => json_string(&mut line, mount),
            None => line.push_str("null"),
        }
        line.push_str("}\n");
        line
    }

    fn write_atom(&self, line: &mut String, atom: &Atom) {
        let elapsed = self.started.elapsed();
        let _ = match atom {
            Atom::Client => write!(line, "{}", self.client_text()),
            Atom::Dash => write!(line, "-"),
            Atom::Time => write!(line, "[{}]", clf_time(self.wall)),
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
            Atom::Pid => write!(line, "{}", std::process::id()),
            Atom::Mount => write!(line, "{}", self.mount.as_deref().unwrap_or("-")),
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

fn json_string(line: &mut String, value: &str) {
    line.push('"');
    for character in value.chars() {
        match character {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            control if (control as u32) < 0x20 => {
                let _ = write!(line, "\\u{:04x}", control as u32);
            }
            other => line.push(other),
        }
    }
    line.push('"');
}

/// UTC civil date and time of `time`: (year, month, day, hour, minute, second, millis).
fn civil(time: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = (seconds / 86_400) as i64;
    // Days to a proleptic Gregorian date (Howard Hinnant's civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let in_day = seconds % 86_400;
    (year, month, day, in_day / 3600, in_day % 3600 / 60, in_day % 60, since.subsec_millis())
}

/// `23/Nov/2026:22:40:48 +0000`, the Common Log Format's time (in UTC).
fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (year, month, day, hour, minute, second, _) = civil(time);
    let name = MONTHS[(month as usize).saturating_sub(1).min(11)];
    format!("{day:02}/{name}/{year}:{hour:02}:{minute:02}:{second:02} +0000")
}

/// `2026-11-23T22:40:48.123Z`.
fn rfc3339(time: SystemTime) -> String {
    let (year, month, day, hour, minute, second, millis) = civil(time);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_parse_and_reject_unknown_atoms() {
        let format = Format::parse(DEFAULT_FORMAT, false).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(format.segments.first(), Some(&Segment::Atom(Atom::Client)));
        assert!(Format::parse("%(h)s %(mount)s %({X-Request-Id}i)s", false).is_ok());
        assert!(Format::parse("%(zz)s", false).is_err_and(|error| error.contains("%(zz)s")));
        assert!(Format::parse("%(h", false).is_err());
        let literal = Format::parse("plain text", false).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(literal.segments, vec![Segment::Text("plain text".into())]);
    }

    #[test]
    fn times() {
        let time = UNIX_EPOCH + Duration::from_millis(1_795_473_648_123); // 2026-11-23 22:40:48.123 UTC
        assert_eq!(clf_time(time), "23/Nov/2026:22:40:48 +0000");
        assert_eq!(rfc3339(time), "2026-11-23T22:40:48.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
        assert_eq!(clf_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut line = String::new();
        json_string(&mut line, "a\"b\\c\nd\u{1}é");
        assert_eq!(line, r#""a\"b\\c\nd\u0001é""#);
    }
}
