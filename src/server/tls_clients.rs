//! Client certificates (mutual TLS): `--ssl-cert-reqs none|optional|required` (or uvicorn's
//! `0|1|2`) and the CA certificates of `--ssl-ca-certs` they are verified against.
//!
//! `required` refuses a handshake without a certificate chaining to one of the CAs;
//! `optional` asks for one and accepts a client that sends none, but still refuses one whose
//! certificate does not verify; `none` (the default) does not ask. Verification is rustls's
//! WebPKI verifier (chain, validity period, client-auth key usage). Python's config checks
//! that `optional` and `required` come with a CA file; `client_verifier` checks it again.
//!
//! Left to others: the server's own certificate and key (`tls.rs`, `tls_pem.rs`), and what
//! apps learn of the client's certificate (`connection_tls.rs`).

use std::sync::Arc;

use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::danger::ClientCertVerifier;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::RootCertStore;

use super::tls_pem::read_certificates;
use crate::errors::Error;

/// Whether clients must, may or need not present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientCerts {
    #[default]
    None,
    Optional,
    Required,
}

impl ClientCerts {
    /// `none`, `optional` or `required`, or uvicorn's (Python `ssl`'s) `0`, `1`, `2`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "0" => Some(Self::None),
            "optional" | "1" => Some(Self::Optional),
            "required" | "2" => Some(Self::Required),
            _ => None,
        }
    }

    /// `parse`, or the error naming `ssl_cert_reqs` and the text.
    pub fn parse_setting(text: &str) -> Result<Self, Error> {
        Self::parse(text).ok_or_else(|| {
            Error::setting_value("ssl_cert_reqs", text, "expected none, optional or required (or 0, 1, 2)")
        })
    }
}

/// The verifier for `wanted` client certificates against the CAs of `ca_certs`, or None
/// when clients are not asked for one.
pub fn client_verifier(
    wanted: ClientCerts,
    ca_certs: Option<&str>,
    provider: Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, Error> {
    if wanted == ClientCerts::None {
        return Ok(None);
    }
    let Some(ca_certs) = ca_certs else {
        return Err(Error::setting_value(
            "ssl_cert_reqs",
            if wanted == ClientCerts::Required { "required" } else { "optional" },
            "client certificates need ssl_ca_certs, the CA certificates to verify them against",
        ));
    };
    let error = |why: String| Error::setting_value("ssl_ca_certs", ca_certs, why);
    let certificates = read_certificates(ca_certs).map_err(error)?;
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|problem| error(format!("not a usable CA certificate ({problem})")))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if wanted == ClientCerts::Optional { builder.allow_unauthenticated() } else { builder };
    let verifier = builder.build().map_err(|problem| error(format!("cannot verify clients with it ({problem})")))?;
    Ok(Some(verifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_and_uvicorns_numbers_parse() {
        for (text, wanted) in [
            ("none", ClientCerts::None),
            ("0", ClientCerts::None),
            ("optional", ClientCerts::Optional),
            ("1", ClientCerts::Optional),
            ("Required", ClientCerts::Required),
            (" 2 ", ClientCerts::Required),
        ] {
            assert_eq!(ClientCerts::parse(text), Some(wanted), "{text}");
        }
        for text in ["", "3", "yes", "CERT_REQUIRED"] {
            assert_eq!(ClientCerts::parse(text), None, "{text}");
        }
    }

    #[test]
    fn certificates_without_a_ca_file_are_refused_naming_the_setting() {
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let Err(error) = client_verifier(ClientCerts::Required, None, provider.clone()) else {
            panic!("verified clients without CAs")
        };
        assert!(error.to_string().starts_with("ssl_cert_reqs 'required': "), "{error}");
        assert!(matches!(client_verifier(ClientCerts::None, None, provider), Ok(None)));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let Err(error) = client_verifier(ClientCerts::Optional, Some("/no/such/ca.pem"), provider) else {
            panic!("read a missing file")
        };
        assert!(error.to_string().starts_with("ssl_ca_certs '/no/such/ca.pem': cannot be read"), "{error}");
    }
}
