//! The crate's one error type, and the exceptions amphicorn raises into Python.
//!
//! `Error` is opaque, as hyper's is: a private `Kind`, constructors for the modules that
//! fail, `is_*()` predicates for what callers branch on (the status a request gets, whether
//! the client is gone), and `Display` for logs and messages. Which status answers which
//! error is the callers' (`http::status`, the gateways); this file only says what failed.
//!
//! Python sees an `Error` through the one `From<Error> for PyErr` below: a client that went
//! away, or a request body that could not be read whole, is `ClientDisconnected`; a bad
//! setting or mount address is `ValueError`; the rest (a failed response, a closed pool) is
//! `RuntimeError`.
//!
//! `ClientDisconnected` subclasses `OSError`, as PEP 3333 servers conventionally signal a
//! vanished client (gunicorn raises `OSError`s, uvicorn's ASGI `ClientDisconnected` is an
//! `OSError` too), so existing `except OSError` handlers keep working.

use std::fmt;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    amphicorn,
    ClientDisconnected,
    PyOSError,
    "The client closed the connection: the request body cannot be read, or the response cannot be sent."
);

/// Something amphicorn could not do; see the module notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// The client closed the connection: a response cannot be sent.
    ClientGone,
    /// The client closed the connection before sending the whole request body.
    BodyCut,
    /// The request body's framing was invalid (a bad chunk size, for instance).
    MalformedBody(String),
    /// The request body is larger than the mount allows (the limit, in bytes).
    BodyTooLarge(u64),
    /// The client sent nothing for longer than the body timeout.
    BodyTimedOut,
    /// The app failed after the response started: the body cannot end normally.
    Aborted,
    /// The request head's framing cannot be trusted (the reason).
    Framing(&'static str),
    /// A WSGI pool's queue stayed full for the whole queue timeout.
    QueueTimeout,
    /// A WSGI pool is shutting down.
    PoolClosed,
    /// A mount address (or a mount table) that cannot be served.
    Mount(String),
    /// A setting whose value cannot be used: "name: why".
    Setting(String),
}

impl Error {
    fn new(kind: Kind) -> Self {
        Self { kind }
    }

    /// The client closed the connection; nothing more can be sent.
    pub fn client_gone() -> Self {
        Self::new(Kind::ClientGone)
    }

    /// The client closed the connection before the request body was complete.
    pub fn body_cut() -> Self {
        Self::new(Kind::BodyCut)
    }

    pub fn malformed_body(reason: impl fmt::Display) -> Self {
        Self::new(Kind::MalformedBody(reason.to_string()))
    }

    /// The request body is larger than `limit` bytes.
    pub fn body_too_large(limit: u64) -> Self {
        Self::new(Kind::BodyTooLarge(limit))
    }

    pub fn body_timed_out() -> Self {
        Self::new(Kind::BodyTimedOut)
    }

    pub fn aborted() -> Self {
        Self::new(Kind::Aborted)
    }

    /// The request head's framing cannot be trusted, for `reason`.
    pub fn framing(reason: &'static str) -> Self {
        Self::new(Kind::Framing(reason))
    }

    pub fn queue_timeout() -> Self {
        Self::new(Kind::QueueTimeout)
    }

    pub fn pool_closed() -> Self {
        Self::new(Kind::PoolClosed)
    }

    pub fn mount(message: impl Into<String>) -> Self {
        Self::new(Kind::Mount(message.into()))
    }

    /// The setting `name` has a value it cannot take, as `message` says (naming the value).
    pub fn setting(name: &str, message: impl fmt::Display) -> Self {
        Self::new(Kind::Setting(format!("{name}: {message}")))
    }

    /// The setting `name` cannot take the file or text `value`, for `why`, said as the
    /// Python side says a bad setting: `ssl_keyfile '/etc/key.pem': why`.
    pub fn setting_value(name: &str, value: &str, why: impl fmt::Display) -> Self {
        Self::new(Kind::Setting(format!("{name} '{value}': {why}")))
    }

    /// The same mount error, said of a mount: "fallback of mount /api: ...".
    pub fn in_context(self, context: impl fmt::Display) -> Self {
        match self.kind {
            Kind::Mount(message) => Self::mount(format!("{context}: {message}")),
            Kind::Setting(message) => Self::new(Kind::Setting(format!("{context}: {message}"))),
            kind => Self::new(kind),
        }
    }

    /// The client is gone: while the app sent a response, or before its request body was
    /// complete.
    pub fn is_disconnected(&self) -> bool {
        matches!(self.kind, Kind::ClientGone | Kind::BodyCut)
    }

    /// The request body broke the mount's size limit (`413`).
    pub fn is_body_too_large(&self) -> bool {
        matches!(self.kind, Kind::BodyTooLarge(_))
    }

    /// The client stopped sending the request body (`408`).
    pub fn is_body_timed_out(&self) -> bool {
        matches!(self.kind, Kind::BodyTimedOut)
    }

    /// The WSGI queue stayed full (`503` with `Retry-After`).
    pub fn is_queue_timeout(&self) -> bool {
        matches!(self.kind, Kind::QueueTimeout)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::ClientGone => f.write_str("the client closed the connection"),
            Kind::BodyCut => f.write_str("the client disconnected before the body was complete"),
            Kind::MalformedBody(reason) => write!(f, "malformed request body: {reason}"),
            Kind::BodyTooLarge(limit) => write!(f, "the request body is larger than {limit} bytes"),
            Kind::BodyTimedOut => f.write_str("the client stopped sending the request body"),
            Kind::Aborted => f.write_str("the application failed after the response started"),
            Kind::Framing(reason) => f.write_str(reason),
            Kind::QueueTimeout => f.write_str("no thread became free within the queue timeout"),
            Kind::PoolClosed => f.write_str("the thread pool is shutting down"),
            Kind::Mount(message) | Kind::Setting(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error.kind {
            Kind::ClientGone | Kind::BodyCut | Kind::MalformedBody(_) | Kind::BodyTooLarge(_) | Kind::BodyTimedOut => {
                ClientDisconnected::new_err(message)
            }
            Kind::Mount(_) | Kind::Setting(_) | Kind::Framing(_) => PyValueError::new_err(message),
            Kind::Aborted | Kind::QueueTimeout | Kind::PoolClosed => PyRuntimeError::new_err(message),
        }
    }
}

/// The name of `value`'s type, for error messages ("not int").
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "?".into())
}
