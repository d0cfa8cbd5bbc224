//! What a request knows about the connection it arrived on: its two ends, its scheme, what
//! its TLS handshake settled (`connection_tls`), and the Python objects the gateways make
//! from the addresses.
//!
//! `ConnectionInfo` is built once per accepted socket (`server::listen`), or again for a
//! trusted proxy's view of the client (`server::service`), and shared by every request on
//! the connection. The ends themselves (`Endpoint`) and whether the client is still there
//! (`RequestState`) are `http::connection`'s; this file is outside `http/` because of the
//! Python objects.
//!
//! The address objects are made on a Python thread by the first request that needs them,
//! and dropped with the last `Arc`, usually on tokio when the connection ends: pyo3 then
//! defers the reference-count decrements to the next thread that holds the GIL.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

use crate::connection_tls::ConnectionTls;
use crate::http::connection::Endpoint;
use crate::http::early_hints::{EarlyHints, HintSink, StreamHints};

/// The two ends of an accepted connection.
#[derive(Debug)]
pub struct ConnectionInfo {
    pub local: Endpoint,
    pub remote: Endpoint,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The addresses as the gateways give them to Python, made once per connection.
    pub python: AddressObjects,
    /// What the TLS handshake settled, on an `https` connection (set after it).
    pub tls: Option<Arc<ConnectionTls>>,
    /// The apps' `103 Early Hints` for the connection's HTTP/1.1 requests (set when it is
    /// served; see `http/early_hints.rs`).
    pub hints: Option<EarlyHints>,
}

impl ConnectionInfo {
    /// Where the early hints of the request with `head` go: its connection's queue on
    /// HTTP/1.1, its stream's on HTTP/2 (none on HTTP/1.0, or for a shadow).
    pub fn hints_for(&self, head: &http::request::Parts) -> Option<HintSink> {
        match head.version {
            http::Version::HTTP_11 => self.hints.clone().map(HintSink::Connection),
            http::Version::HTTP_2 => head.extensions.get::<StreamHints>().cloned().map(HintSink::Stream),
            _ => None,
        }
    }

    /// Whether the request with `head` can send early hints (`hints_for` gives where),
    /// without taking a handle to them: the connection's queue is shared, and its count is
    /// a cache line the scope need not touch.
    pub fn hints_reach(&self, head: &http::request::Parts) -> bool {
        match head.version {
            http::Version::HTTP_11 => self.hints.is_some(),
            http::Version::HTTP_2 => head.extensions.get::<StreamHints>().is_some(),
            _ => false,
        }
    }

    /// This connection as a request run apart from its client sees it (a shadow's): no
    /// early hints, which would reach the client's socket in the middle of its answer.
    pub fn without_hints(self: &Arc<Self>) -> Arc<Self> {
        if self.hints.is_none() {
            return self.clone();
        }
        let mut copy = Self::new(self.local.clone(), self.remote.clone(), self.scheme);
        copy.tls.clone_from(&self.tls);
        Arc::new(copy)
    }

    pub fn new(local: Endpoint, remote: Endpoint, scheme: &'static str) -> Self {
        Self { local, remote, scheme, python: AddressObjects::default(), tls: None, hints: None }
    }
}

/// Python objects made from a connection's addresses by the first request that needs them
/// and shared by the later ones: a keep-alive client's address is formatted once, not once
/// per request. (Fill them only after `local` and `remote` are final.)
pub struct AddressObjects {
    /// ASGI `client` and `server` (`asgi::scope`).
    pub asgi: PyOnceLock<(Py<PyAny>, Py<PyAny>)>,
    /// WSGI `REMOTE_ADDR`, and `REMOTE_PORT` when the client has one (`wsgi::environ`).
    pub wsgi_remote: PyOnceLock<(Py<PyString>, Option<Py<PyString>>)>,
}

impl Default for AddressObjects {
    fn default() -> Self {
        Self { asgi: PyOnceLock::new(), wsgi_remote: PyOnceLock::new() }
    }
}

impl std::fmt::Debug for AddressObjects {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("AddressObjects")
    }
}
