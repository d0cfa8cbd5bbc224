//! The PEM files of TLS: lists of certificates (`--ssl-certfile`'s chain, `--ssl-ca-certs`),
//! and the private key of `--ssl-keyfile`, decrypted with `--ssl-keyfile-password` when it is
//! an encrypted PKCS#8 key (`BEGIN ENCRYPTED PRIVATE KEY`, PBES2: PBKDF2 or scrypt with AES,
//! which is what `openssl pkcs8 -topk8` and Python's `cryptography` write).
//!
//! OpenSSL's legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED` inside an `RSA`/`EC PRIVATE KEY`
//! block: MD5-derived keys, no well-kept Rust crate reads it) is refused with the command
//! that converts it. A password given for a key that is not encrypted is refused too: it is
//! a sign that the wrong file is named.
//!
//! The password never appears in an error message. Left to others: whether the key matches
//! the certificate, and what the certificates are used for (`tls.rs`, `tls_clients.rs`).

use pkcs8::der::pem::PemLabel;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::errors::Error;

/// Every certificate (`BEGIN CERTIFICATE`) of the PEM file at `path`, in order, or why not
/// (for a message that names the setting and the file).
pub fn read_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(std::path::Path::new(path))
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| match error {
            pem::Error::Io(error) => format!("cannot be read ({error})"),
            other => format!("not valid PEM ({other})"),
        })?;
    if certificates.is_empty() {
        return Err("no PEM certificate (BEGIN CERTIFICATE) in the file".to_owned());
    }
    Ok(certificates)
}

/// The `ssl_keyfile` and its password, if any.
pub struct KeyFile<'a> {
    pub path: &'a str,
    pub password: Option<&'a str>,
}

impl KeyFile<'_> {
    fn error(&self, why: impl std::fmt::Display) -> Error {
        Error::setting_value("ssl_keyfile", self.path, why)
    }

    /// Reads and, if it is encrypted, decrypts the key.
    pub fn load(&self) -> Result<PrivateKeyDer<'static>, Error> {
        let bytes = std::fs::read(self.path).map_err(|error| self.error(format!("cannot be read ({error})")))?;
        let text = String::from_utf8_lossy(&bytes);
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(self.error(
                "the key is encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED), which is not \
                 supported; convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -in OLD -out NEW`",
            ));
        }
        if let Some(block) = pem_block(&text, EncryptedPrivateKeyInfoRef::PEM_LABEL) {
            return self.decrypt(block);
        }
        if self.password.is_some() {
            return Err(self.error("the key is not encrypted, but ssl_keyfile_password is given"));
        }
        PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
            pem::Error::NoItemsFound => self.error(
                "no PEM private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY) \
                 in the file",
            ),
            other => self.error(format!("not valid PEM ({other})")),
        })
    }

    fn decrypt(&self, block: &str) -> Result<PrivateKeyDer<'static>, Error> {
        let Some(password) = self.password else {
            return Err(self.error("the key is encrypted: give its password with ssl_keyfile_password"));
        };
        let (_, der) =
            pkcs8::der::Document::from_pem(block).map_err(|error| self.error(format!("not valid PEM ({error})")))?;
        let encrypted = EncryptedPrivateKeyInfoRef::try_from(der.as_bytes()).map_err(|error| {
            self.error(format!("not a readable encrypted PKCS#8 key ({error}); PBES2 with AES is supported"))
        })?;
        // A wrong password almost always breaks the padding; if it does not, what comes out
        // is not a PrivateKeyInfo.
        let decrypted = encrypted
            .decrypt(password)
            .ok()
            .filter(|document| PrivateKeyInfoRef::try_from(document.as_bytes()).is_ok())
            .ok_or_else(|| self.error("cannot decrypt the key with ssl_keyfile_password (wrong password?)"))?;
        Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(decrypted.as_bytes().to_vec())))
    }
}

/// The first `-----BEGIN {label}-----` … `-----END {label}-----` block of `text`, with its
/// boundaries (a file may hold a certificate before the key).
fn pem_block<'t>(text: &'t str, label: &str) -> Option<&'t str> {
    let begin = text.find(&format!("-----BEGIN {label}-----"))?;
    let end_line = format!("-----END {label}-----");
    let end = text[begin..].find(&end_line)? + begin + end_line.len();
    Some(&text[begin..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_block_is_found_among_others_with_its_boundaries() {
        let text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN ENCRYPTED PRIVATE KEY-----\nBBBB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            pem_block(text, "ENCRYPTED PRIVATE KEY"),
            Some("-----BEGIN ENCRYPTED PRIVATE KEY-----\nBBBB\n-----END ENCRYPTED PRIVATE KEY-----")
        );
        assert_eq!(pem_block(text, "PRIVATE KEY"), None);
        assert_eq!(pem_block("-----BEGIN ENCRYPTED PRIVATE KEY-----\nBBBB\n", "ENCRYPTED PRIVATE KEY"), None);
    }
}
