//! TLS termination with rustls (ring provider): the server configuration
//! is built from PEM files with every config (re)load, so a certificate
//! rotation is a reload, and a bad pair fails the reload (the old one keeps
//! serving). ALPN offers `h2` and `http/1.1`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::TlsFiles;

/// A TLS setup and the hash of the files it came from.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
}

/// The hash of the certificate and key files (to notice a rotation).
pub fn fingerprint(files: &TlsFiles) -> Result<String, String> {
    let mut h = Sha256::new();
    h.update(read(&files.cert, "certificate")?);
    h.update(read(&files.key, "key")?);
    Ok(hex::encode(h.finalize()))
}

pub fn load(files: &TlsFiles) -> Result<Tls, String> {
    let cert_pem = read(&files.cert, "certificate")?;
    let key_pem = read(&files.key, "key")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: holds no certificate; write a PEM chain (BEGIN CERTIFICATE)",
            files.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("{}: not a PEM private key: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{} and {} do not make a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut h = Sha256::new();
    h.update(&cert_pem);
    h.update(&key_pem);
    Ok(Tls {
        config: Arc::new(config),
        fingerprint: hex::encode(h.finalize()),
    })
}
