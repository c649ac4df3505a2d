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

/// Why a TLS setup (the listener's, or an upstream's trusted CA) could
/// not be built: each names the file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a PEM {what}: {source}", path.display())]
    Pem {
        what: &'static str,
        path: std::path::PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{}: holds no {what}; write a PEM file (BEGIN CERTIFICATE)", path.display())]
    Empty {
        what: &'static str,
        path: std::path::PathBuf,
    },
    #[error("{}: unusable CA certificate: {source}", path.display())]
    Ca {
        path: std::path::PathBuf,
        source: rustls::Error,
    },
    #[error("{cert} and {key} do not make a usable pair: {source}")]
    Pair {
        cert: String,
        key: String,
        source: rustls::Error,
    },
    #[error("TLS setup failed: {0}")]
    Setup(#[source] rustls::Error),
}

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

pub(crate) fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// The hash of the certificate and key files (to notice a rotation).
pub fn fingerprint(files: &TlsFiles) -> Result<String, TlsError> {
    let mut h = Sha256::new();
    h.update(read(&files.cert, "certificate")?);
    h.update(read(&files.key, "key")?);
    Ok(hex::encode(h.finalize()))
}

pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
    let cert_pem = read(&files.cert, "certificate")?;
    let key_pem = read(&files.key, "key")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Pem {
            what: "certificate chain",
            path: files.cert.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what: "certificate",
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| TlsError::Pem {
        what: "private key",
        path: files.key.clone(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::Pair {
            cert: files.cert.display().to_string(),
            key: files.key.display().to_string(),
            source,
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
