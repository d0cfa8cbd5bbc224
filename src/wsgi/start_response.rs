//! `start_response` and `write()`: turns what the app says about its response into a hyper
//! response, and sends it when PEP 3333 says it must go out.
//!
//! The head waits until the first non-empty body chunk (or the end of the body), so an app
//! may call `start_response` lazily inside its generator, and may replace the head with
//! `exc_info` until then. After that, `exc_info` re-raises. A complete body (a list result,
//! a single chunk) goes out with `Content-Length`; a streamed one goes through a bounded
//! channel, and hyper frames it (chunked for HTTP/1.1, close-delimited for HTTP/1.0) unless
//! the app set `Content-Length`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, HeaderName, Response, StatusCode};
use hyper::ext::ReasonPhrase;
use pyo3::exceptions::{PyAssertionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use tokio::sync::oneshot;

use crate::errors::{type_name, Error};
use crate::http::connection::RequestState;
use crate::http::responder::{Head, Queued, Responder};
use crate::http::response_body::{ResponseBody, ResponseChunk};
use crate::http::text::latin1_bytes;

#[pyclass(module = "amphicorn._amphicorn")]
pub struct StartResponse {
    /// Set by `start_response`, taken when the head is sent.
    head: Option<Head>,
    called: bool,
    responder: Responder,
}

impl StartResponse {
    pub fn new(respond: oneshot::Sender<Response<ResponseBody>>, state: Arc<RequestState>, head_only: bool) -> Self {
        Self { head: None, called: false, responder: Responder::new(respond, state, head_only) }
    }

    pub fn headers_sent(&self) -> bool {
        self.responder.head_sent()
    }

    /// The `Content-Length` the app set, if any.
    pub fn declared_length(&self) -> Option<u64> {
        self.head.as_ref()?.declared_length()
    }

    /// The open stream's sender, for bulk senders that run with the GIL released.
    pub fn chunk_sender(&self) -> Option<async_channel::Sender<ResponseChunk>> {
        self.responder.chunk_sender().cloned()
    }

    fn take_head(&mut self) -> PyResult<Head> {
        self.head.take().ok_or_else(|| {
            PyAssertionError::new_err("the application sent a response body without calling start_response()")
        })
    }

    /// Sends a body known in full: with `Content-Length` if the head is still unsent.
    pub fn send_complete(&mut self, py: Python<'_>, data: Bytes) -> PyResult<()> {
        if self.headers_sent() {
            return self.send_chunk(py, data);
        }
        let head = self.take_head()?;
        Ok(self.responder.send_complete(head, data)?)
    }

    /// Opens a streamed body of `length` bytes (unknown when None).
    pub fn open_stream(&mut self, length: Option<u64>) -> PyResult<()> {
        let head = self.take_head()?;
        Ok(self.responder.open_stream(head, length)?)
    }

    /// Sends one chunk of a streamed body, opening the stream first if needed; waits for
    /// room with the GIL released.
    pub fn send_chunk(&mut self, py: Python<'_>, data: Bytes) -> PyResult<()> {
        if !self.headers_sent() {
            self.open_stream(None)?;
        }
        let Queued::Full(chunk) = self.responder.try_send(data)? else {
            return Ok(());
        };
        let Some(chunks) = self.responder.chunk_sender() else {
            return Ok(());
        };
        if py.detach(|| chunks.send_blocking(chunk)).is_ok() {
            return Ok(());
        }
        self.responder.state().mark_disconnected();
        Err(Error::client_gone().into())
    }

    /// Ends the response normally.
    pub fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        if !self.headers_sent() {
            if !self.called {
                return Err(PyAssertionError::new_err("the application returned without calling start_response()"));
            }
            self.send_complete(py, Bytes::new())?;
        }
        self.responder.finish();
        Ok(())
    }

    /// Ends the response after an app error: `500` if nothing was sent yet, otherwise the
    /// connection is aborted.
    pub fn fail(&mut self) {
        self.responder.fail();
    }

    fn start(
        &mut self,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        match exc_info.filter(|info| !info.is_none()) {
            Some(info) if self.headers_sent() => {
                // PEP 3333: too late to change the head, so the error propagates.
                return Err(PyErr::from_value(info.get_item(1)?));
            }
            Some(_) => {}
            None if self.called => {
                return Err(PyAssertionError::new_err("start_response() was called a second time without exc_info"));
            }
            None => {}
        }
        let (status, reason) = parse_status(status)?;
        self.head = Some(Head { status, reason, headers: parse_headers(headers)? });
        self.called = true;
        Ok(())
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.borrow_mut().start(status, headers, exc_info)?;
        slf.getattr(pyo3::intern!(slf.py(), "write"))
    }

    /// The PEP 3333 `write()` callable: sends `data` at once.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("write() takes bytes, not {}", type_name(data))))?;
        if !self.called {
            return Err(PyAssertionError::new_err("write() was called before start_response()"));
        }
        if data.as_bytes().is_empty() {
            return Ok(());
        }
        self.send_chunk(py, Bytes::copy_from_slice(data.as_bytes()))
    }
}

/// The app's status (a str) → code and phrase, or a `TypeError`/`ValueError` naming it.
fn parse_status(status: &Bound<'_, PyAny>) -> PyResult<(StatusCode, Option<ReasonPhrase>)> {
    let text = status
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("status must be a str, not {}", type_name(status))))?
        .to_str()?;
    parse_status_line(text)
        .ok_or_else(|| PyValueError::new_err(format!("invalid status {text:?}: expected e.g. '200 OK'")))
}

/// `"404 Not Found"` → 404 and, when the phrase is not the standard one, the phrase; None
/// if the text is no valid status.
///
/// The code is exactly three digits, 100 to 999, first in the text (`" 200 OK"` is invalid);
/// the phrase is what follows the first space, without the spaces around it, and may be
/// missing (`"204"`). The phrase goes out latin-1 encoded, as PEP 3333 says of every str in
/// the head (`"200 Caf\u{e9}"` → the byte 0xE9), so a character beyond U+00FF is invalid, and
/// so is a control character such as CR or LF anywhere in it (no response splitting).
pub(crate) fn parse_status_line(text: &str) -> Option<(StatusCode, Option<ReasonPhrase>)> {
    let (code, reason) = match text.split_once(' ') {
        Some((code, reason)) => (code, reason.trim_matches(' ')),
        None => (text, ""),
    };
    if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let code = StatusCode::from_bytes(code.as_bytes()).ok()?;
    if reason.is_empty() || code.canonical_reason() == Some(reason) {
        return Some((code, None));
    }
    let reason = ReasonPhrase::try_from(latin1_bytes(reason)?.into_owned()).ok()?;
    Some((code, Some(reason)))
}

/// A list of `(name, value)` str pairs → a header map; values are latin-1 as PEP 3333 says.
fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    for item in headers.try_iter()? {
        let item = item?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("headers must be (name, value) tuples, got {item}")))?;
        let (Ok(name), Ok(value)) = (name.cast::<PyString>(), value.cast::<PyString>()) else {
            return Err(PyTypeError::new_err(format!("header names and values must be str, got {item}")));
        };
        let (header_name, header_value) = header(name.to_str()?, value.to_str()?).map_err(PyValueError::new_err)?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// One `(name, value)` pair an app gave → a header, or the message that says why not: the
/// name must be a token, the value latin-1 with no CR, LF or NUL (no response splitting).
/// Pure, so the fuzz target `wsgi_headers` can call it without Python.
pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
    let header_value = latin1_bytes(value)
        .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
        .ok_or_else(|| format!("invalid value for header {name:?}: {value:?}"))?;
    Ok((header_name, header_value))
}

#[cfg(test)]
mod tests {
    use super::parse_status_line;

    /// The code and the phrase that goes out (None: the standard one), or None if invalid.
    fn parsed(text: &str) -> Option<(u16, Option<Vec<u8>>)> {
        parse_status_line(text).map(|(code, reason)| (code.as_u16(), reason.map(|reason| reason.as_bytes().to_vec())))
    }

    /// What `parsed` gives for a case.
    type Expected = Option<(u16, Option<&'static [u8]>)>;

    #[test]
    fn status_lines() {
        let cases: &[(&str, Expected)] = &[
            // The standard phrase is hyper's to write; any other is kept.
            ("200 OK", Some((200, None))),
            ("404 Not Found", Some((404, None))),
            ("200 Fine", Some((200, Some(b"Fine")))),
            ("404 not found", Some((404, Some(b"not found")))),
            // No phrase at all, or an empty one.
            ("204", Some((204, None))),
            ("204 ", Some((204, None))),
            // Any three digits from 100 up, known or not.
            ("999 X", Some((999, Some(b"X")))),
            ("299 Custom", Some((299, Some(b"Custom")))),
            ("100 Continue", Some((100, None))),
            ("099 Low", None),
            ("000", None),
            // Exactly three digits, first.
            ("20 OK", None),
            ("2000 OK", None),
            ("20x OK", None),
            ("OK 200", None),
            ("", None),
            (" 200 OK", None),
            ("\u{0662}00 OK", None),
            // Spaces around the phrase are not part of it; inside it they are.
            ("200 OK ", Some((200, None))),
            ("200  OK", Some((200, None))),
            ("500  Very  Bad ", Some((500, Some(b"Very  Bad")))),
            // Latin-1, as PEP 3333 says: one byte per character up to U+00FF, nothing beyond.
            ("200 Caf\u{e9}", Some((200, Some(b"Caf\xe9")))),
            ("200 \u{20ac}", None),
            // Control characters, CR and LF above all, are never sent.
            ("200 OK\r\nSet-Cookie: x=1", None),
            ("200 OK\r\n", None),
            ("200 OK\n", None),
            ("200 O\rK", None),
            ("200 \0", None),
            ("200\tOK", None),
        ];
        for (text, expected) in cases {
            let expected = expected.map(|(code, reason)| (code, reason.map(<[u8]>::to_vec)));
            assert_eq!(parsed(text), expected, "{text:?}");
        }
    }

    #[test]
    fn every_three_digit_code_from_100_parses() {
        for code in 0..1000u16 {
            let parsed = parse_status_line(&format!("{code:03} Phrase"));
            assert_eq!(parsed.is_some(), code >= 100, "{code:03}");
            if let Some((status, _)) = parsed {
                assert_eq!(status.as_u16(), code);
            }
        }
    }
}
