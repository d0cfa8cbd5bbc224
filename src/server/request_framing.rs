//! Follows the request framing of an HTTP/1.1 connection's reads, to refuse a chunk-size
//! line whose size is followed by whitespace and no extension.
//!
//! RFC 9112 §7.1: `chunk = chunk-size [ chunk-ext ] CRLF`, `chunk-ext = *( BWS ";" BWS
//! chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`: whitespace after the hex size is allowed
//! only before a `;`. hyper's chunked decoder also takes `5 \r\n` and `5\t\r\n`, and has no
//! setting to refuse them; a proxy in front that reads such a line otherwise (as an invalid
//! size, or the whitespace as part of it) disagrees with us about where the body ends,
//! which is how requests are smuggled. So `RequestFraming` is fed every read, in order, and
//! follows what hyper will parse: each request head, then its body by `Content-Length` or
//! chunked, then the next head. In a chunked body, when the size digits are followed by
//! whitespace and then CR, it rewrites that CR, in the bytes about to be handed to hyper,
//! to LF:
//!
//! ```text
//! 5 \r\nhello\r\n0\r\n\r\n   is handed over as   5 \n\nhello\r\n0\r\n\r\n
//! ```
//!
//! hyper, after the whitespace, takes only more whitespace, `;` or CR, so it fails the
//! body with "Invalid chunk size linear white space" and the client gets what any invalid
//! chunk size gets (`400`, connection closed, as for `zz\r\n`). The CR is the byte to
//! rewrite because the whitespace may have come in an earlier read, already handed over.
//! Nothing after a rewrite is followed: the connection ends there.
//!
//! What it costs: a body with a `Content-Length`, and chunk data, are skipped by count,
//! never looked at; chunk-size lines and trailers are read byte by byte (they are short).
//! A head is parsed once more, with httparse and hyper's own settings (its default
//! `ParserConfig` and 100 headers, which `listen.rs` leaves as they are), so that both agree
//! on where it ends and what its `Transfer-Encoding` and `Content-Length` say: a hand-made
//! line matcher would read every head byte too, and could disagree with hyper on an odd
//! head. A head that arrives whole in one read is parsed in place; one split across reads
//! is copied until its end arrives (hyper bounds how long that can be: it stops reading
//! past its own head limit).
//!
//! When it stops following, for good (passive): anything it does not understand (a head
//! httparse refuses, a `Transfer-Encoding` whose last coding is not `chunked`, differing
//! `Content-Length`s, a chunk size that overflows, a missing CR or LF): hyper refuses those
//! itself, and nothing here refuses anything on its own; a `CONNECT` request, after which
//! the bytes may be another protocol; and HTTP/2, whose preface httparse refuses. The
//! socket wrapper (`framing_watch.rs`) also stops once `Activity` knows the connection is
//! HTTP/2 or upgraded. An `Upgrade` header alone changes nothing: until the `101`, the
//! request is a request (its body framed as any other's), and a declined upgrade may be
//! followed by more requests, which a client could otherwise use to turn this off.
//!
//! Left to others: what the client gets (hyper's error, and `http::request_body`'s `400`),
//! the other framing checks (`http::framing`), and the socket (`framing_watch.rs`, which also holds back
//! the beginning of a head until it is whole, by `unfinished_head`).

use std::mem::{self, MaybeUninit};

/// The byte a refused line's CR becomes: hyper takes no LF after a chunk size's whitespace.
const REFUSED: u8 = b'\n';

/// The most headers hyper parses in a request head (its `DEFAULT_MAX_HEADERS`); a head with
/// more is refused by hyper, and makes this passive.
const MAX_HEADERS: usize = 100;

/// Where the next byte read falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a request head (or before one): `RequestFraming::head` holds what came in earlier
    /// reads.
    Head,
    /// In a body with a `Content-Length`: this many bytes (at least one) are still to come.
    Body(u64),
    /// In a chunked body, outside chunk data.
    Chunked(Line),
    /// In chunk data: this many bytes (at least one) are still to come.
    Data(u64),
    /// Not following any more.
    Passive,
}

/// Where a byte falls in a chunked body outside chunk data, as hyper's decoder names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// A chunk-size line begins: a hex digit must come.
    Start,
    /// In the size's digits (the size so far).
    Size(u64),
    /// Whitespace after the size: `;` or more whitespace may come; CR is refused.
    Whitespace(u64),
    /// In extensions, up to the CR.
    Extension(u64),
    /// After the CR of a chunk-size line: LF must come.
    SizeLf(u64),
    /// After chunk data: CR, then LF, must come.
    DataCr,
    DataLf,
    /// After the last chunk, at the start of a trailer line or of the empty line that ends
    /// the body.
    TrailerStart,
    /// In a trailer line, up to its CR, then its LF.
    Trailer,
    TrailerLf,
    /// After the CR of the empty line that ends the body: LF must come.
    EndLf,
}

/// What a byte of a chunked body outside chunk data leads to.
enum Next {
    Line(Line),
    Data(u64),
    /// The body ended: the next byte begins a head.
    Head,
    /// The byte is a CR to refuse.
    Refuse,
    /// Something hyper refuses itself.
    Passive,
}

/// Follows one connection's request framing; see the module notes.
#[derive(Debug)]
pub(crate) struct RequestFraming {
    state: State,
    /// The beginning of a head that spans reads (empty otherwise).
    head: Vec<u8>,
    /// Of the bytes in `head`: a line other than an empty one has begun (empty lines before
    /// a request line are skipped, as httparse does) ...
    head_has_content: bool,
    /// ... and the current line is empty so far (a CR aside).
    head_line_blank: bool,
}

impl RequestFraming {
    pub(crate) fn new() -> Self {
        Self { state: State::Head, head: Vec::new(), head_has_content: false, head_line_blank: true }
    }

    /// True once nothing more is followed.
    pub(crate) fn is_passive(&self) -> bool {
        self.state == State::Passive
    }

    /// How many bytes of a head that goes on in the next read it holds (0 outside a head,
    /// or when the last read ended where a head begins).
    pub(crate) fn unfinished_head(&self) -> usize {
        if self.state == State::Head {
            self.head.len()
        } else {
            0
        }
    }

    /// Stops following (the connection speaks another protocol).
    pub(crate) fn stop(&mut self) {
        self.state = State::Passive;
        self.head = Vec::new();
    }

    /// Follows `data`, the next bytes read on the connection, and rewrites the CR of a
    /// chunk-size line with whitespace after its size (see the module notes).
    pub(crate) fn on_read(&mut self, data: &mut [u8]) {
        let mut at = 0;
        while at < data.len() {
            match self.state {
                State::Passive => return,
                State::Head => at = self.head_bytes(data, at),
                State::Body(left) => at = self.skip(data, at, left, State::Body, State::Head),
                State::Data(left) => at = self.skip(data, at, left, State::Data, State::Chunked(Line::DataCr)),
                State::Chunked(line) => {
                    self.state = match chunked_byte(line, data[at]) {
                        Next::Line(line) => State::Chunked(line),
                        Next::Data(size) => State::Data(size),
                        Next::Head => State::Head,
                        Next::Refuse => {
                            data[at] = REFUSED;
                            State::Passive
                        }
                        Next::Passive => State::Passive,
                    };
                    at += 1;
                }
            }
        }
    }

    /// Skips up to `left` bytes of `data` from `at`, by count; `more` is the state while
    /// some remain, `after` the one once none do. Returns where the skip ended.
    fn skip(&mut self, data: &[u8], at: usize, left: u64, more: fn(u64) -> State, after: State) -> usize {
        let available = (data.len() - at) as u64;
        if available < left {
            self.state = more(left - available);
            data.len()
        } else {
            self.state = after;
            // `left` is at most `available` here, which came from a `usize`.
            at + left as usize
        }
    }

    /// Follows head bytes of `data` from `at`; returns where the head ended (and what
    /// follows it is set), or `data.len()` if it goes on in the next read.
    fn head_bytes(&mut self, data: &[u8], at: usize) -> usize {
        if self.head.is_empty() {
            // The usual case: the whole head is in this read, and parsed where it is.
            match parse_head(&data[at..]) {
                Ok(Some((length, next))) => {
                    self.state = next;
                    return at + length;
                }
                Ok(None) => {}
                Err(()) => {
                    self.state = State::Passive;
                    return data.len();
                }
            }
        }
        let Some(end) = self.head_end(&data[at..]) else {
            self.head.extend_from_slice(&data[at..]);
            return data.len();
        };
        self.head.extend_from_slice(&data[at..at + end]);
        let head = mem::take(&mut self.head);
        (self.head_has_content, self.head_line_blank) = (false, true);
        self.state = match parse_head(&head) {
            Ok(Some((length, next))) if length == head.len() => next,
            // The end of the head was misjudged: better not follow than follow wrongly.
            _ => State::Passive,
        };
        at + end
    }

    /// Where in `data` the head whose beginning is in `head` ends (just after the LF of
    /// its empty line), if it does. Only for heads that span reads: byte by byte.
    fn head_end(&mut self, data: &[u8]) -> Option<usize> {
        for (index, &byte) in data.iter().enumerate() {
            match byte {
                b'\n' if self.head_line_blank && self.head_has_content => return Some(index + 1),
                b'\n' => self.head_line_blank = true,
                b'\r' => {}
                _ => (self.head_has_content, self.head_line_blank) = (true, false),
            }
        }
        None
    }
}

/// Parses the request head at the start of `bytes`: its length and what follows it, None if
/// it goes on past `bytes`, an error if hyper refuses it.
fn parse_head(bytes: &[u8]) -> Result<Option<(usize, State)>, ()> {
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, bytes, &mut headers);
    match parsed {
        Ok(httparse::Status::Complete(length)) => Ok(Some((length, body_framing(&request)))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(()),
    }
}

/// What follows a parsed head, as hyper decides it (`proto::h1::role`, RFC 9112 §6.3):
/// `Transfer-Encoding` wins over `Content-Length`, and its last value must end in
/// `chunked`; `Content-Length` is digits only, repeated only with the same value.
fn body_framing(request: &httparse::Request<'_, '_>) -> State {
    let http11 = request.version == Some(1);
    if request.method == Some("CONNECT") {
        return State::Passive;
    }
    let (mut transfer_encoding, mut chunked, mut length) = (false, false, None);
    for header in request.headers.iter() {
        let name = header.name.as_bytes();
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if !http11 {
                return State::Passive; // hyper refuses it on HTTP/1.0.
            }
            transfer_encoding = true;
            chunked = ends_in_chunked(header.value);
        } else if name.eq_ignore_ascii_case(b"content-length") && !transfer_encoding {
            let Some(value) = digits(header.value) else {
                return State::Passive;
            };
            if length.is_some_and(|length| length != value) {
                return State::Passive;
            }
            length = Some(value);
        }
    }
    match (transfer_encoding, chunked, length) {
        (true, true, _) => State::Chunked(Line::Start),
        (true, false, _) => State::Passive,
        (false, _, Some(length)) if length > 0 => State::Body(length),
        (false, _, _) => State::Head,
    }
}

/// The last coding of a `Transfer-Encoding` value is `chunked` (hyper's `is_chunked_`: the
/// value must be visible ASCII, as `HeaderValue::to_str` wants).
fn ends_in_chunked(value: &[u8]) -> bool {
    if !value.iter().all(|&byte| byte == b'\t' || (b' '..0x7f).contains(&byte)) {
        return false;
    }
    let last = value.rsplit(|&byte| byte == b',').next().unwrap_or_default();
    last.trim_ascii().eq_ignore_ascii_case(b"chunked")
}

/// A `Content-Length` value: decimal digits only, at least one, no overflow.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |total, &byte| {
        let digit = char::from(byte).to_digit(10)?;
        total.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The value of a hex digit.
fn hex(byte: u8) -> Option<u64> {
    char::from(byte).to_digit(16).map(u64::from)
}

/// One byte of a chunked body outside chunk data, as hyper's decoder takes it
/// (`proto::h1::decode::ChunkedState`), except a CR after a size's whitespace.
fn chunked_byte(line: Line, byte: u8) -> Next {
    match (line, byte) {
        (Line::Start, _) => match hex(byte) {
            Some(digit) => Next::Line(Line::Size(digit)),
            None => Next::Passive,
        },
        (Line::Size(size), b' ' | b'\t') => Next::Line(Line::Whitespace(size)),
        (Line::Size(size) | Line::Whitespace(size), b';') => Next::Line(Line::Extension(size)),
        (Line::Size(size) | Line::Extension(size), b'\r') => Next::Line(Line::SizeLf(size)),
        (Line::Size(size), _) => {
            match hex(byte).and_then(|digit| size.checked_mul(16)?.checked_add(digit)) {
                Some(size) => Next::Line(Line::Size(size)),
                None => Next::Passive, // Not a digit, or an overflow.
            }
        }
        (Line::Whitespace(size), b' ' | b'\t') => Next::Line(Line::Whitespace(size)),
        (Line::Whitespace(_), b'\r') => Next::Refuse,
        (Line::Extension(_), b'\n') => Next::Passive,
        (Line::Extension(size), _) => Next::Line(Line::Extension(size)),
        (Line::SizeLf(0), b'\n') => Next::Line(Line::TrailerStart),
        (Line::SizeLf(size), b'\n') => Next::Data(size),
        (Line::DataCr, b'\r') => Next::Line(Line::DataLf),
        (Line::DataLf, b'\n') => Next::Line(Line::Start),
        (Line::TrailerStart, b'\r') => Next::Line(Line::EndLf),
        (Line::TrailerStart | Line::Trailer, b'\n') => Next::Passive,
        (Line::Trailer, b'\r') => Next::Line(Line::TrailerLf),
        (Line::TrailerStart | Line::Trailer, _) => Next::Line(Line::Trailer),
        (Line::TrailerLf, b'\n') => Next::Line(Line::TrailerStart),
        (Line::EndLf, b'\n') => Next::Head,
        (Line::Whitespace(_) | Line::SizeLf(_) | Line::DataCr | Line::DataLf | Line::TrailerLf | Line::EndLf, _) => {
            Next::Passive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNKED: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

    /// `stream` as hyper gets it when read in one piece; also checks that reading it split
    /// at every offset, and at every pair of offsets, gives the same.
    fn handed_over(stream: &[u8]) -> Vec<u8> {
        let whole = read_in(stream, &[]);
        for first in 0..=stream.len() {
            assert_eq!(read_in(stream, &[first]), whole, "split at {first}");
            for second in first..=stream.len() {
                assert_eq!(read_in(stream, &[first, second]), whole, "split at {first} and {second}");
            }
        }
        whole
    }

    /// `stream` as hyper gets it when read in pieces cut at `cuts` (ascending).
    fn read_in(stream: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut framing = RequestFraming::new();
        let mut data = stream.to_vec();
        let mut start = 0;
        for &cut in cuts.iter().chain([stream.len()].iter()) {
            framing.on_read(&mut data[start..cut]);
            start = cut;
        }
        data
    }

    fn chunked(body: &[u8]) -> Vec<u8> {
        [CHUNKED, body].concat()
    }

    /// `stream` with its byte at `index` (a CR) refused.
    fn refused_at(stream: &[u8], index: usize) -> Vec<u8> {
        assert_eq!(stream[index], b'\r');
        let mut refused = stream.to_vec();
        refused[index] = REFUSED;
        refused
    }

    #[test]
    fn whitespace_then_cr_after_a_chunk_size_is_refused() {
        for line in [&b"5 \r\n"[..], b"5\t\r\n", b"5 \t \r\n"] {
            let stream = chunked(&[line, b"hello\r\n0\r\n\r\n"].concat());
            let cr = CHUNKED.len() + line.len() - 2;
            assert_eq!(handed_over(&stream), refused_at(&stream, cr), "{line:?}");
        }
    }

    #[test]
    fn the_last_chunk_with_whitespace_is_refused_too() {
        let stream = chunked(b"5\r\nhello\r\n0 \r\n\r\n");
        let cr = stream.len() - 4;
        assert_eq!(handed_over(&stream), refused_at(&stream, cr));
    }

    #[test]
    fn valid_chunk_size_lines_are_left_alone() {
        for body in [
            &b"5 ;a=b\r\nhello\r\n0\r\n\r\n"[..],
            b"5\t; a = b\r\nhello\r\n0 ;x\r\n\r\n",
            b"5;a=\"b c\"\r\nhello\r\n0\r\n\r\n",
            b"A\r\n0123456789\r\nf\r\n0123456789abcde\r\n00\r\n\r\n",
            b"a\r\n0123456789\r\n0\r\n\r\n",
        ] {
            let stream = chunked(body);
            assert_eq!(handed_over(&stream), stream, "{body:?}");
        }
    }

    #[test]
    fn chunk_data_and_content_length_bodies_are_skipped_by_count() {
        // What looks like a bad chunk-size line inside chunk data is data.
        let stream = chunked(b"6\r\n5 \r\nab\r\n0\r\n\r\n");
        assert_eq!(handed_over(&stream), stream);
        // And inside a Content-Length body, followed by a chunked request that has one.
        let first = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n5 \r\nhello\r\n0\r\n";
        let stream = [&first[..], &chunked(b"5 \r\nhello\r\n0\r\n\r\n")].concat();
        let cr = first.len() + CHUNKED.len() + 2;
        assert_eq!(handed_over(&stream), refused_at(&stream, cr));
    }

    #[test]
    fn pipelined_requests_are_followed_head_after_body() {
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let valid = chunked(b"3\r\nabc\r\n0\r\n\r\n");
        let stream = [&get[..], &valid, get, &valid, &chunked(b"3 \r\nabc\r\n0\r\n\r\n")].concat();
        let cr = 2 * get.len() + 2 * valid.len() + CHUNKED.len() + 2;
        assert_eq!(handed_over(&stream), refused_at(&stream, cr));
        // Empty lines before a request line are skipped, as hyper does.
        let stream = [&valid[..], b"\r\n\r\n", &chunked(b"1 \r\na\r\n0\r\n\r\n")].concat();
        let cr = valid.len() + 4 + CHUNKED.len() + 2;
        assert_eq!(handed_over(&stream), refused_at(&stream, cr));
    }

    #[test]
    fn trailers_end_the_body_before_the_next_head() {
        let valid = chunked(b"2\r\nab\r\n0\r\nX-A: 1 \r\nX-B: 5 \r\n\r\n");
        let stream = [&valid[..], &chunked(b"2 \r\nab\r\n0\r\n\r\n")].concat();
        let cr = valid.len() + CHUNKED.len() + 2;
        assert_eq!(handed_over(&stream), refused_at(&stream, cr));
    }

    #[test]
    fn transfer_encoding_decides_as_hyper_does() {
        let body = b"5 \r\nhello\r\n0\r\n\r\n";
        let refused = |head: &[u8]| {
            let stream = [head, body].concat();
            handed_over(&stream) != stream
        };
        assert!(refused(b"POST / HTTP/1.1\r\ntransfer-encoding: gzip, CHUNKED \r\n\r\n"));
        // Transfer-Encoding wins over Content-Length, before or after it.
        assert!(refused(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert!(refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"));
        // The last header decides; hyper refuses a last coding other than chunked.
        assert!(!refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"));
        assert!(!refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"));
        // On HTTP/1.0 hyper refuses Transfer-Encoding.
        assert!(!refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"));
    }

    #[test]
    fn what_hyper_refuses_itself_makes_it_passive() {
        for stream in [
            &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            b"GET / HTTP/1.1\r\nX A: b\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            &chunked(b" 5\r\n"),
            &chunked(b"5\r\nhello\r\r"),
            &chunked(b"5;a\nb\r\n"),
            &chunked(b"fffffffffffffffff\r\n"),
            &chunked(b"0\r\n\n"),
        ] {
            let mut framing = RequestFraming::new();
            framing.on_read(&mut stream.to_vec());
            assert!(framing.is_passive(), "{stream:?}");
        }
    }

    #[test]
    fn connect_makes_it_passive_and_an_upgrade_request_does_not() {
        let after = chunked(b"5 \r\nhello\r\n0\r\n\r\n");
        let connect = b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n";
        let stream = [&connect[..], &after].concat();
        assert_eq!(handed_over(&stream), stream);
        // Until the server answers `101` (the socket wrapper then stops this), an upgrade
        // request is a request: a declined one may be followed by more, and its own body
        // is framed as any other's.
        let upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
        let stream = [&upgrade[..], &after].concat();
        assert_eq!(handed_over(&stream), refused_at(&stream, upgrade.len() + CHUNKED.len() + 2));
        let chunked_upgrade = chunked(b"5 \r\nhello\r\n0\r\n\r\n");
        let head_end = CHUNKED.len() - 2;
        let stream = [&CHUNKED[..head_end], b"Upgrade: h2c\r\n\r\n", &chunked_upgrade[CHUNKED.len()..]].concat();
        assert_eq!(handed_over(&stream), refused_at(&stream, head_end + b"Upgrade: h2c\r\n\r\n".len() + 2));
        // WebSocket frames after an accepted upgrade never parse as a head: nothing changes.
        let frames = [&upgrade[..], &[0x81, 0x85, 1, 2, 3, 4, b'5', b' ', b'\r', b'\n', 0]].concat();
        assert_eq!(handed_over(&frames), frames);
    }

    #[test]
    fn a_stopped_follower_changes_nothing() {
        let mut framing = RequestFraming::new();
        framing.on_read(&mut CHUNKED.to_vec());
        framing.stop();
        let mut data = b"5 \r\nhello\r\n0\r\n\r\n".to_vec();
        framing.on_read(&mut data);
        assert_eq!(data, b"5 \r\nhello\r\n0\r\n\r\n");
    }

    #[test]
    fn a_head_split_across_reads_is_kept_only_until_it_ends() {
        let mut framing = RequestFraming::new();
        framing.on_read(&mut b"POST / HTTP/1.1\r\nTransfer-Enc".to_vec());
        let mut data = b"oding: chunked\r\n\r\n5 \r\nhello".to_vec();
        framing.on_read(&mut data);
        assert_eq!(data, b"oding: chunked\r\n\r\n5 \n\nhello");
        assert!(framing.head.is_empty() && framing.head.capacity() == 0);
    }
}
