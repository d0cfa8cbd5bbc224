//! The server's certificate chain and key, replaceable while serving: the rustls
//! `ResolvesServerCert` every handshake asks, holding the pair most recently loaded.
//!
//! `Server.reload_tls()` (SIGHUP in a single process, `tls_reload.py`) puts a freshly read pair
//! here: handshakes that start afterwards use it, connections already open keep the keys
//! they agreed on. Under a supervisor, SIGHUP is a rolling restart instead and each new
//! worker reads the files anew (this resolver is then never replaced).
//!
//! Left to others: reading and checking the files (`tls.rs`, `tls_pem.rs`), the rest of the
//! rustls configuration (ALPN, versions, client certificates), which a reload keeps.

use std::sync::{Arc, PoisonError, RwLock};

use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::connection_tls::to_pem;

/// The pair new handshakes use.
pub struct ServerCert {
    current: RwLock<Current>,
}

#[derive(Clone)]
struct Current {
    key: Arc<CertifiedKey>,
    /// The leaf certificate as PEM, for the apps (ASGI `server_cert`).
    pem: Option<Arc<str>>,
}

impl Current {
    fn new(key: CertifiedKey) -> Self {
        let pem = key.cert.first().map(|leaf| Arc::from(to_pem(leaf)));
        Self { key: Arc::new(key), pem }
    }
}

impl ServerCert {
    pub fn new(key: CertifiedKey) -> Self {
        Self { current: RwLock::new(Current::new(key)) }
    }

    /// From now on, handshakes use `key`.
    pub fn replace(&self, key: CertifiedKey) {
        let fresh = Current::new(key);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// The current leaf certificate, PEM. (A connection whose handshake straddles a reload
    /// may be told of the new certificate while it got the old one.)
    pub fn pem(&self) -> Option<Arc<str>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).pem.clone()
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).key.clone())
    }
}

impl std::fmt::Debug for ServerCert {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ServerCert")
    }
}
