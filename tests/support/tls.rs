//! Test certificates (rcgen) and an HTTPS / HTTP/2 client trusting them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::client::Resp;

/// A self-signed certificate for `localhost` / 127.0.0.1 as (cert PEM, key PEM).
pub fn self_signed(name: &str) -> (String, String) {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

/// A server config for `cert_pem`/`key_pem` (ring), offering `alpn`.
pub fn server_config(cert_pem: &str, key_pem: &str, alpn: &[&[u8]]) -> rustls::ServerConfig {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("pair");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

pub fn write_pair(dir: &Path, cert: &str, key: &str) {
    std::fs::create_dir_all(dir.join("certs")).expect("certs dir");
    std::fs::write(dir.join("certs/edge.crt"), cert).expect("cert");
    std::fs::write(dir.join("certs/edge.key"), key).expect("key");
}

fn client_config(trusted_cert_pem: &str, alpn: &[&[u8]]) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(trusted_cert_pem.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

/// GET over HTTPS, trusting `cert_pem`; HTTP/2 when `h2`. Returns the
/// response and the HTTP version spoken.
/// An HTTPS client speaking HTTP/2 only, trusting `cert_pem`: concurrent
/// requests share one connection as streams.
pub fn https2_client(
    cert_pem: &str,
) -> Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(cert_pem, &[]))
        .https_only()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector)
}

pub async fn https_get(
    url: &str,
    cert_pem: &str,
    h2: bool,
) -> Result<(Resp, http::Version), String> {
    // hyper-rustls sets ALPN itself from enable_http1/enable_http2.
    let b = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(cert_pem, &[]))
        .https_only();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let connector = if h2 {
        b.enable_http2().wrap_connector(http)
    } else {
        b.enable_http1().wrap_connector(http)
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(h2)
        .pool_max_idle_per_host(0)
        .build(connector);
    fetch(&client, url).await
}

/// The common name of the certificate the server presents.
pub async fn presented_cn(addr: std::net::SocketAddr, cert_pem: &str) -> Result<String, String> {
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(cert_pem, &[b"http/1.1"])));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .ok_or("no certificate")?;
    let der = certs.first().ok_or("empty chain")?;
    // Find the CN bytes by their printable value rather than parsing X.509.
    Ok(String::from_utf8_lossy(der.as_ref()).into_owned())
}

/// HTTP/2 with prior knowledge (h2c) on a plain listener.
pub async fn h2c_get(url: &str) -> Result<(Resp, http::Version), String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    fetch(&client, url).await
}

/// GET `url` with `client`; the response and the HTTP version spoken.
async fn fetch<C>(
    client: &Client<C, Full<Bytes>>,
    url: &str,
) -> Result<(Resp, http::Version), String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let req = Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let version = resp.version();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        },
        version,
    ))
}
