//! TLS for TCP connections: loading the certificate chain and private key (`--ssl-certfile`,
//! `--ssl-keyfile`) into a rustls server configuration, the handshake of each accepted
//! connection, bounded in time, and re-reading the pair while serving (`reload`).
//!
//! The files are PEM: a certificate chain (end-entity first) and an RSA or ECDSA key in
//! PKCS#1, PKCS#8 or SEC1, or encrypted PKCS#8 with `--ssl-keyfile-password` (`tls_pem.rs`).
//! Only TLS 1.2 and 1.3 are offered, with ring's cipher suites; ALPN offers what `--http`
//! allows (`h2` and `http/1.1` by default, `protocol.rs`).
//! Client certificates, when asked for, are `tls_clients.rs`'s; the pair in use,
//! replaceable, is `tls_cert.rs`'s. `check_tls` is what Python's config validation calls
//! before anything binds, so a bad file exits 2 naming it; each server process (every
//! worker too) then loads the files again into its own acceptor.
//!
//! Left to others: what comes before the handshake (a PROXY protocol header, `listen.rs`),
//! what comes after (HTTP, `listen.rs`), the `https` scheme apps see (`ConnectionInfo`) and
//! the rest of what they learn of the connection (`connection_tls.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{version, Error as TlsError, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::protocol::Versions;
use super::tls_cert::ServerCert;
use super::tls_clients::{client_verifier, ClientCerts};
use super::tls_pem::{read_certificates, KeyFile};
use crate::connection_tls::ConnectionTls;
use crate::errors::Error;

/// What `--ssl-certfile` and `--ssl-keyfile` name. (No `Debug`: it holds the password.)
#[derive(Clone)]
pub struct TlsFiles {
    pub certfile: String,
    pub keyfile: String,
    /// `--ssl-keyfile-password`, for an encrypted key.
    pub password: Option<String>,
    /// `--ssl-ca-certs`: the CAs client certificates are verified against.
    pub ca_certs: Option<String>,
    /// `--ssl-cert-reqs`.
    pub client_certs: ClientCerts,
}

impl TlsFiles {
    fn cert_error(&self, why: impl fmt::Display) -> Error {
        Error::setting_value("ssl_certfile", &self.certfile, why)
    }

    fn key_error(&self, why: impl fmt::Display) -> Error {
        Error::setting_value("ssl_keyfile", &self.keyfile, why)
    }

    /// Reads both files and checks that the key belongs to the chain's first certificate.
    fn certified_key(&self, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
        let chain = read_certificates(&self.certfile).map_err(|why| self.cert_error(why))?;
        let key = KeyFile { path: &self.keyfile, password: self.password.as_deref() }.load()?;
        CertifiedKey::from_der(chain, key, provider).map_err(|error| match error {
            TlsError::InconsistentKeys(_) => {
                self.key_error(format!("the key does not match the certificate of ssl_certfile '{}'", self.certfile))
            }
            TlsError::InvalidCertificate(_) | TlsError::NoCertificatesPresented => {
                self.cert_error(format!("not a usable certificate ({error})"))
            }
            other => self.key_error(format!("not a usable RSA or ECDSA private key ({other})")),
        })
    }

    /// Reads the files into a configuration for the handshakes, which offer `versions` by ALPN.
    pub fn load(&self, versions: Versions) -> Result<ServerTls, Error> {
        // ring has no post-quantum key exchange (hence the deprecation); aws-lc-rs has, but
        // needs cmake and minutes more to build. X25519 and the NIST curves remain.
        #[allow(deprecated)]
        let provider = Arc::new(ring::default_provider());
        let certificate = Arc::new(ServerCert::new(self.certified_key(&provider)?));
        let verifier = client_verifier(self.client_certs, self.ca_certs.as_deref(), provider.clone())?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])
            .map_err(|error| self.cert_error(error))?;
        let builder = match verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(certificate.clone());
        config.alpn_protocols = versions.alpn();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Ok(ServerTls { acceptor, certificate, files: self.clone(), provider })
    }
}

/// A loaded TLS configuration: what each handshake uses, and where it came from. Clones
/// share the certificate in use: a reload through one is seen by all.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    certificate: Arc<ServerCert>,
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
}

impl ServerTls {
    /// Reads the certificate chain and key files again; handshakes from now on use them.
    /// If they cannot serve, the error names the file and the pair in use stays.
    pub fn reload(&self) -> Result<(), Error> {
        self.certificate.replace(self.files.certified_key(&self.provider)?);
        Ok(())
    }

    /// The certificate file reloads read.
    pub fn certfile(&self) -> &str {
        &self.files.certfile
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ServerTls")
    }
}

/// The TLS handshake of one accepted connection, with what it settled for the apps; None
/// if it fails or does not finish within `timeout` (a client that connects and sends
/// nothing is cut).
pub async fn handshake<S>(tls: &ServerTls, stream: S, timeout: Duration) -> Option<(TlsStream<S>, ConnectionTls)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stream = tokio::time::timeout(timeout, tls.acceptor.accept(stream)).await.ok()?.ok()?;
    let described = ConnectionTls::new(stream.get_ref().1, tls.certificate.pem());
    Some((stream, described))
}

/// Checks that `certfile` and `keyfile` can serve TLS: both PEM, the key matching the
/// certificate. Raises ValueError naming the setting and the file.
#[pyfunction]
#[pyo3(signature = (certfile, keyfile, *, password = None, ca_certs = None, cert_reqs = "none"))]
pub fn check_tls(
    certfile: String,
    keyfile: String,
    password: Option<String>,
    ca_certs: Option<String>,
    cert_reqs: &str,
) -> PyResult<()> {
    let client_certs = ClientCerts::parse_setting(cert_reqs)?;
    TlsFiles { certfile, keyfile, password, ca_certs, client_certs }.load(Versions::Auto)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn files(certfile: &Path, keyfile: &Path) -> TlsFiles {
        TlsFiles {
            certfile: certfile.display().to_string(),
            keyfile: keyfile.display().to_string(),
            password: None,
            ca_certs: None,
            client_certs: ClientCerts::None,
        }
    }

    #[test]
    fn a_missing_certificate_file_is_named() {
        let error = files(Path::new("/nonexistent/cert.pem"), Path::new("/nonexistent/key.pem")).load(Versions::Auto);
        let Err(error) = error else { panic!("loaded a missing file") };
        let message = error.to_string();
        assert!(message.starts_with("ssl_certfile '/nonexistent/cert.pem': cannot be read"), "{message}");
    }

    #[test]
    fn a_file_without_a_certificate_is_named() {
        let directory = std::env::temp_dir().join(format!("amphicorn-tls-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        let empty = directory.join("empty.pem");
        std::fs::write(&empty, "just text\n").expect("write");
        let Err(error) = files(&empty, &empty).load(Versions::Auto) else { panic!("loaded an empty file") };
        let message = error.to_string();
        assert!(message.contains("no PEM certificate"), "{message}");
        assert!(message.starts_with("ssl_certfile"), "{message}");
    }
}
