//! Parsing `--access-log-format`: gunicorn's `%(name)s` atoms and literal text, once at
//! start-up, into the segments a text line is made of, and the fields a JSON line has.
//!
//! What one request's values are is `entry.rs`'s business; this file only knows names.

use http::header::{REFERER, USER_AGENT};
use http::HeaderName;

pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s"#;

/// One `%(...)s` of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    /// `h`: client address.
    Client,
    /// `l`, `u`: always `-` (identd and user, as gunicorn).
    Dash,
    /// `t`: time the request started, `[23/Nov/2026:22:40:48 +0000]` (RFC 3339 in JSON).
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
    /// `mount`: the prefix of the mount that answered (`-` when none did, `null` in JSON).
    Mount,
    /// `variant`: `stable` or `canary` when the mount has a weighted canary (`-` else, `null` in JSON).
    Variant,
    /// `{name}i`: a request header.
    RequestHeader(HeaderName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Seconds,
    Millis,
    Micros,
    DecimalSeconds,
    /// Milliseconds with three decimals: only the default JSON line's `duration_ms`.
    DecimalMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Atom(Atom),
}

/// A parsed `--access-log-format`.
#[derive(Debug, Clone)]
pub struct Format {
    pub segments: Vec<Segment>,
    /// With `--log-format json`: each line is an object of these fields, in this order.
    pub json: Option<Vec<(String, Atom)>>,
}

impl Format {
    /// Parses a format; the error names the atom it does not know. With `json`, the atoms
    /// become the fields of a JSON object (see `json_fields`).
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
        let json = json.then(|| if text == DEFAULT_FORMAT { default_json_fields() } else { json_fields(&segments) });
        Ok(Self { segments, json })
    }

    /// Request headers the format needs kept until the line is written.
    pub fn wanted_headers(&self) -> Vec<HeaderName> {
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
        "variant" => Atom::Variant,
        _ => {
            let header = name.strip_prefix('{').and_then(|rest| rest.strip_suffix("}i"));
            match header.map(|header| HeaderName::from_bytes(header.to_ascii_lowercase().as_bytes())) {
                Some(Ok(header)) => Atom::RequestHeader(header),
                _ => {
                    return Err(format!(
                    "unknown atom %({name})s (known: h l u t r m U q H s B b f a T M D L p mount variant {{header}}i)"
                ))
                }
            }
        }
    })
}

/// The JSON line of the default format: every field a log pipeline usually wants, whatever
/// the default text format leaves out (method, path and query apart, the mount).
fn default_json_fields() -> Vec<(String, Atom)> {
    let fields = [
        ("time", Atom::Time),
        ("client", Atom::Client),
        ("method", Atom::Method),
        ("path", Atom::Path),
        ("query", Atom::Query),
        ("protocol", Atom::Protocol),
        ("status", Atom::Status),
        ("bytes", Atom::Bytes { dash_for_zero: false }),
        ("duration_ms", Atom::Duration(DurationUnit::DecimalMillis)),
        ("referer", Atom::Referer),
        ("user_agent", Atom::UserAgent),
        ("mount", Atom::Mount),
    ];
    fields.into_iter().map(|(key, atom)| (key.to_owned(), atom)).collect()
}

/// The JSON fields of a format of the user's: one per atom, in the format's order, named
/// for what it holds (`%(s)s` → `status`, `%({X-Request-Id}i)s` → `request_header.x-request-id`);
/// `%(l)s`/`%(u)s` (always `-`) and repeated names are left out.
fn json_fields(segments: &[Segment]) -> Vec<(String, Atom)> {
    let mut fields: Vec<(String, Atom)> = Vec::new();
    for segment in segments {
        let Segment::Atom(atom) = segment else { continue };
        let key = match atom {
            Atom::Dash => continue,
            Atom::Client => "client".to_owned(),
            Atom::Time => "time".to_owned(),
            Atom::RequestLine => "request".to_owned(),
            Atom::Method => "method".to_owned(),
            Atom::Path => "path".to_owned(),
            Atom::Query => "query".to_owned(),
            Atom::Protocol => "protocol".to_owned(),
            Atom::Status => "status".to_owned(),
            Atom::Bytes { .. } => "bytes".to_owned(),
            Atom::Referer => "referer".to_owned(),
            Atom::UserAgent => "user_agent".to_owned(),
            Atom::Duration(DurationUnit::Seconds) => "duration_s".to_owned(),
            Atom::Duration(DurationUnit::Millis) => "duration_ms".to_owned(),
            Atom::Duration(DurationUnit::Micros) => "duration_us".to_owned(),
            Atom::Duration(DurationUnit::DecimalSeconds) => "duration".to_owned(),
            Atom::Duration(DurationUnit::DecimalMillis) => "duration_ms".to_owned(),
            Atom::Pid => "pid".to_owned(),
            Atom::Mount => "mount".to_owned(),
            Atom::Variant => "variant".to_owned(),
            Atom::RequestHeader(name) => format!("request_header.{name}"),
        };
        if !fields.iter().any(|(existing, _)| *existing == key) {
            fields.push((key, atom.clone()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, json: bool) -> Format {
        Format::parse(text, json).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn formats_parse_and_reject_unknown_atoms() {
        assert_eq!(parse(DEFAULT_FORMAT, false).segments.first(), Some(&Segment::Atom(Atom::Client)));
        assert!(Format::parse("%(h)s %(mount)s %({X-Request-Id}i)s", false).is_ok());
        assert!(Format::parse("%(zz)s", false).is_err_and(|error| error.contains("%(zz)s")));
        assert!(Format::parse("%(h", false).is_err());
        assert_eq!(parse("plain text", false).segments, vec![Segment::Text("plain text".into())]);
        assert!(parse(DEFAULT_FORMAT, false).json.is_none());
    }

    #[test]
    fn json_fields_follow_the_atoms_asked_for() {
        let keys =
            |format: &Format| -> Vec<String> { format.json.iter().flatten().map(|(key, _)| key.clone()).collect() };
        let custom = parse("%(h)s %(l)s %(s)s %(b)s %(B)s %({X-Request-Id}i)s %(M)s", true);
        assert_eq!(keys(&custom), ["client", "status", "bytes", "request_header.x-request-id", "duration_ms"]);
        let default = parse(DEFAULT_FORMAT, true);
        assert_eq!(keys(&default).len(), 12);
        assert_eq!(keys(&default)[..3], ["time", "client", "method"]);
    }
}
