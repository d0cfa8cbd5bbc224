//! What apps learn of a TLS connection: its protocol version and cipher suite, our
//! certificate, and the client's certificate chain with its subject, as WSGI's mod_ssl
//! variables (`SSL_PROTOCOL`, `SSL_CIPHER`, `SSL_CLIENT_CERT`, `SSL_CLIENT_S_DN`,
//! `SSL_CLIENT_VERIFY`) and ASGI's `tls` scope extension (asgiref's TLS extension 0.2).
//!
//! `ConnectionTls` is made once per connection, on tokio right after the handshake
//! (`server::tls::handshake`): the certificates become PEM, the client's subject an RFC 4514
//! string (`x509-cert`, which shares `der` with the `pkcs8` key reading; `x509-parser` would
//! bring `nom` and a second DER stack for one `Display`). The Python objects are made by the
//! first request that needs them and shared by the later ones, as `connection_info`'s
//! address objects are.
//!
//! A client certificate that does not verify ends the handshake (rustls's verifier), so
//! every certificate an app sees here was verified: `SSL_CLIENT_VERIFY` is `SUCCESS` or
//! `NONE`, and `client_cert_error` is always `None`. Cipher names are IANA's (rustls's, with
//! its `TLS13_` spelled `TLS_`), which for TLS 1.3 are also OpenSSL's.
//! Left to others: the handshake and the server's certificate (`server::tls`), when a
//! request counts as TLS at all (`connection_info`, `server::service` with proxy headers).

use std::sync::Arc;

use pkcs8::der::pem::{self, LineEnding};
use pkcs8::der::Decode;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls::ServerConnection;
use x509_cert::Certificate;

/// One TLS connection as apps see it.
pub struct ConnectionTls {
    /// `0x0303` for TLS 1.2, `0x0304` for TLS 1.3.
    pub version: u16,
    /// The IANA number, `0x1301` for `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: u16,
    /// Our leaf certificate, PEM (shared by every connection of the process).
    pub server_cert: Option<Arc<str>>,
    /// The client's chain as it sent it, leaf first, PEM; empty without a client certificate.
    pub client_chain: Vec<String>,
    /// The client leaf's subject, RFC 4514 (`CN=alice,O=Example`).
    pub client_subject: Option<String>,
    python: PythonTls,
}

struct PythonTls {
    /// The mod_ssl variables, merged into each environ.
    wsgi: PyOnceLock<Py<PyDict>>,
    /// The `tls` extension's dict but `client_cert_chain`, and that chain's strings.
    asgi: PyOnceLock<(Py<PyDict>, Vec<Py<PyString>>)>,
}

impl ConnectionTls {
    /// Reads a finished handshake.
    pub fn new(connection: &ServerConnection, server_cert: Option<Arc<str>>) -> Self {
        let client_certs = connection.peer_certificates().unwrap_or_default();
        Self {
            version: connection.protocol_version().map_or(0, u16::from),
            cipher_suite: connection.negotiated_cipher_suite().map_or(0, |suite| u16::from(suite.suite())),
            server_cert,
            client_chain: client_certs.iter().map(to_pem).collect(),
            client_subject: client_certs.first().and_then(subject),
            python: PythonTls::default(),
        }
    }

    /// mod_ssl's name of the protocol: `TLSv1.2`, `TLSv1.3`.
    pub fn protocol(&self) -> String {
        match self.version {
            0x0303 => "TLSv1.2".to_owned(),
            0x0304 => "TLSv1.3".to_owned(),
            other => format!("0x{other:04x}"),
        }
    }

    /// The cipher suite's IANA name (`TLS_AES_256_GCM_SHA384`,
    /// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
    pub fn cipher(&self) -> String {
        let suite = tokio_rustls::rustls::CipherSuite::from(self.cipher_suite);
        match suite.as_str() {
            Some(name) => name.strip_prefix("TLS13_").map_or_else(|| name.to_owned(), |rest| format!("TLS_{rest}")),
            None => format!("0x{:04x}", self.cipher_suite),
        }
    }

    /// Adds the mod_ssl variables to a WSGI environ.
    pub fn set_wsgi(&self, environ: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = environ.py();
        let variables = self.python.wsgi.get_or_try_init(py, || {
            let variables = PyDict::new(py);
            variables.set_item("SSL_PROTOCOL", self.protocol())?;
            variables.set_item("SSL_CIPHER", self.cipher())?;
            let verified = if self.client_chain.is_empty() { "NONE" } else { "SUCCESS" };
            variables.set_item("SSL_CLIENT_VERIFY", verified)?;
            if let Some(leaf) = self.client_chain.first() {
                variables.set_item("SSL_CLIENT_CERT", leaf)?;
            }
            if let Some(subject) = &self.client_subject {
                variables.set_item("SSL_CLIENT_S_DN", subject)?;
            }
            Ok::<_, PyErr>(variables.unbind())
        })?;
        environ.update(variables.bind(py).as_mapping())
    }

    /// The ASGI `tls` extension's dict, a copy per scope (with its own list: an app that
    /// edits its scope must not edit the next request's).
    pub fn asgi_extension<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (shared, chain) = self.python.asgi.get_or_try_init(py, || {
            let extension = PyDict::new(py);
            extension.set_item("server_cert", self.server_cert.as_deref())?;
            extension.set_item("client_cert_name", self.client_subject.as_deref())?;
            extension.set_item("client_cert_error", py.None())?;
            extension.set_item("tls_version", self.version)?;
            extension.set_item("cipher_suite", self.cipher_suite)?;
            let chain = self.client_chain.iter().map(|pem| PyString::new(py, pem).unbind()).collect();
            Ok::<_, PyErr>((extension.unbind(), chain))
        })?;
        let extension = shared.bind(py).copy()?;
        extension.set_item("client_cert_chain", PyList::new(py, chain.iter().map(|pem| pem.bind(py)))?)?;
        Ok(extension)
    }
}

impl Default for PythonTls {
    fn default() -> Self {
        Self { wsgi: PyOnceLock::new(), asgi: PyOnceLock::new() }
    }
}

impl std::fmt::Debug for ConnectionTls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConnectionTls")
            .field("version", &self.version)
            .field("cipher_suite", &self.cipher_suite)
            .field("client_subject", &self.client_subject)
            .finish_non_exhaustive()
    }
}

/// A DER certificate as PEM (`-----BEGIN CERTIFICATE-----`, 64-character lines, `\n`).
pub fn to_pem(certificate: &CertificateDer<'_>) -> String {
    // Encoding a byte string as PEM fails only for an absurd length.
    pem::encode_string("CERTIFICATE", LineEnding::LF, certificate.as_ref()).unwrap_or_default()
}

/// The subject of a DER certificate as an RFC 4514 string, or None if it does not parse.
pub(crate) fn subject(certificate: &CertificateDer<'_>) -> Option<String> {
    let certificate = Certificate::from_der(certificate.as_ref()).ok()?;
    Some(certificate.tbs_certificate().subject().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(version: u16, cipher_suite: u16) -> ConnectionTls {
        ConnectionTls {
            version,
            cipher_suite,
            server_cert: None,
            client_chain: Vec::new(),
            client_subject: None,
            python: PythonTls::default(),
        }
    }

    #[test]
    fn protocols_have_mod_ssls_names() {
        assert_eq!(described(0x0304, 0x1301).protocol(), "TLSv1.3");
        assert_eq!(described(0x0303, 0xc02f).protocol(), "TLSv1.2");
        assert_eq!(described(0x0302, 0).protocol(), "0x0302");
    }

    #[test]
    fn ciphers_have_ianas_names() {
        assert_eq!(described(0x0304, 0x1301).cipher(), "TLS_AES_128_GCM_SHA256");
        assert_eq!(described(0x0304, 0x1303).cipher(), "TLS_CHACHA20_POLY1305_SHA256");
        assert_eq!(described(0x0303, 0xc02f).cipher(), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(described(0x0304, 0x1399).cipher(), "0x1399");
    }

    #[test]
    fn a_der_certificate_becomes_pem_in_64_character_lines() {
        let der = CertificateDer::from((0..=255u8).collect::<Vec<_>>());
        let text = to_pem(&der);
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"), "{text}");
        assert!(text.ends_with("-----END CERTIFICATE-----\n"), "{text}");
        assert!(text.lines().all(|line| line.len() <= 64), "{text}");
        let (label, back) = pem::decode_vec(text.as_bytes()).expect("PEM");
        assert_eq!((label, back.as_slice()), ("CERTIFICATE", der.as_ref()));
    }

    #[test]
    fn a_subject_is_written_as_rfc_4514_says() {
        use std::str::FromStr;
        // RFC 4514 reverses the RDN order of the encoding and escapes `,` `+` `"` `\` `<` `>` `;`.
        let name = x509_cert::name::Name::from_str("CN=Smith\\, Alice,OU=R\\+D,O=Example,C=GB").expect("name");
        assert_eq!(name.to_string(), "CN=Smith\\, Alice,OU=R\\+D,O=Example,C=GB");
        assert_eq!(subject(&CertificateDer::from(vec![0x30, 0x00])), None);
    }
}
