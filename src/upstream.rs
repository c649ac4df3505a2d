//! One upstream: its pooled HTTP/1.1 client (`strangler_wire::client` for http, hyper
//! with rustls and the ring provider for https), its timeouts, and its circuit breaker. Built once per
//! configuration snapshot and carried over unchanged by reloads that do not
//! touch it, so its idle connections survive.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use crate::body::{find_body_error, BodyError, BoxError, ProxyBody};
use crate::breaker::Breaker;
use crate::config::{Protocol, UpstreamConfig};
use crate::deadline::{Clock, Uploading};
use crate::error::{io_cause, root_cause, ProxyError};
use crate::headers::Added;
use crate::retry::RetryBudget;
use crate::tls::TlsError;
use strangler_wire::client::{Pool, ResponseBody, SendError};
use strangler_wire::pipeline::Lane;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Upstream {
    pub name: Arc<str>,
    pub config: UpstreamConfig,
    pub breaker: Arc<Breaker>,
    pub budget: RetryBudget,
    /// Hash of the `ca` file this client trusts (a rotation rebuilds it).
    pub ca_fingerprint: Option<String>,
    /// Its authority as a `Host` value (shadow copies carry it).
    pub host: http::HeaderValue,
    /// TLS upstreams: hyper's pooled client.
    client: Client<Connector, ProxyBody>,
    /// Plain-`http` upstreams: the edge's own HTTP/1.1 pool (`strangler_wire::client`).
    pool: Option<Arc<Pool>>,
    /// Plain-`http` upstreams: pipelined exchanges for shadow copies.
    pub lane: Option<Arc<Lane>>,
    /// `https` upstreams: TLS for fresh, unpooled connections (tunnels),
    /// offering only HTTP/1.1.
    tunnel_tls: Option<Arc<rustls::ClientConfig>>,
}

/// A response body from either client.
pub enum UpstreamBody {
    H1(ResponseBody),
    Hyper(Incoming),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpstreamBody::H1(b) => Pin::new(b).poll_frame(cx),
            UpstreamBody::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::H1(b) => b.is_end_stream(),
            UpstreamBody::Hyper(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::H1(b) => b.size_hint(),
            UpstreamBody::Hyper(b) => b.size_hint(),
        }
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("url", &self.config.url.raw)
            .finish()
    }
}

/// Idle pooled connections are closed before a typical upstream keep-alive
/// (NGINX: 75 s, hyper: none) would close them under us (hyper#2136).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// `host:port` to connect to (port 80 when the URL names none).
fn connect_address(a: &http::uri::Authority) -> String {
    format!("{}:{}", a.host(), a.port_u16().unwrap_or(80))
}

/// The hash of a CA file, `None` when unreadable.
pub fn ca_fingerprint(path: &std::path::Path) -> Option<String> {
    use sha2::Digest;
    std::fs::read(path)
        .ok()
        .map(|b| hex::encode(sha2::Sha256::digest(&b)))
}

/// Whether the trusted CA file changed on disk since this client was built.
pub fn ca_changed(up: &Upstream) -> bool {
    up.config
        .ca
        .as_deref()
        .is_some_and(|p| ca_fingerprint(p) != up.ca_fingerprint)
}

/// Public roots, or only the CA certificates of `ca` (a private CA).
fn tls_config(ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, TlsError> {
    let roots = match ca {
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
        Some(path) => {
            use rustls::pki_types::{pem::PemObject, CertificateDer};
            let pem = crate::tls::read(path, "upstream CA")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|source| TlsError::Pem {
                    what: "certificate",
                    path: path.to_path_buf(),
                    source,
                })?;
                roots.add(cert).map_err(|source| TlsError::Ca {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError::Empty {
                    what: "CA certificate",
                    path: path.to_path_buf(),
                });
            }
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Why an upstream's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("upstream `{name}`: {source}")]
    Tls { name: String, source: Box<TlsError> },
    #[error("upstream `{name}`: the URL's authority is not a valid Host")]
    Host { name: String },
}

impl Upstream {
    pub fn new(
        name: &str,
        config: UpstreamConfig,
        breaker: Arc<Breaker>,
    ) -> Result<Self, SetupError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout.0));
        let tls = tls_config(config.ca.as_deref()).map_err(|source| SetupError::Tls {
            name: name.to_string(),
            source: Box::new(source),
        })?;
        let tunnel_tls = config.url.https.then(|| {
            let mut t = tls.clone();
            t.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(t)
        });
        let versions = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        // ALPN offers what `protocol` allows (`auto`: both).
        let https = match config.protocol {
            Protocol::Http1 => versions.enable_http1().wrap_connector(http),
            Protocol::H2 | Protocol::H2c => versions.enable_http2().wrap_connector(http),
            Protocol::Auto => versions.enable_all_versions().wrap_connector(http),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.max_idle)
            // As on the server side: one flattened write per request.
            .http1_writev(false)
            // h2 and h2c: prior knowledge, one multiplexed connection.
            .http2_only(config.protocol.http2_only())
            .http2_keep_alive_interval(Some(Duration::from_secs(30)))
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        // Plain HTTP/1.1: the edge's own pool and lane.
        let own = !config.url.https && !config.protocol.http2_only();
        let pool = own.then(|| {
            Pool::new(
                &connect_address(&config.url.authority),
                config.connect_timeout.0,
                config.max_idle,
            )
        });
        let lane = own.then(|| {
            Lane::new(
                &connect_address(&config.url.authority),
                config.connect_timeout.0,
                config.max_idle,
            )
        });
        let host = http::HeaderValue::from_str(config.url.authority.as_str()).map_err(|_| {
            SetupError::Host {
                name: name.to_string(),
            }
        })?;
        Ok(Upstream {
            host,
            pool,
            lane,
            tunnel_tls,
            name: Arc::from(name),
            ca_fingerprint: config.ca.as_deref().and_then(ca_fingerprint),
            config,
            breaker,
            budget: RetryBudget::default(),
            client,
        })
    }

    /// The absolute URI for a normalized path and raw query.
    pub fn uri_for(&self, path: &str, query: Option<&str>) -> Result<Uri, ProxyError> {
        let u = &self.config.url;
        let mut s = String::with_capacity(
            16 + u.authority.as_str().len()
                + u.base_path.len()
                + path.len()
                + query.map_or(0, |q| q.len() + 1),
        );
        s.push_str(if u.https { "https://" } else { "http://" });
        s.push_str(u.authority.as_str());
        s.push_str(&u.base_path);
        s.push_str(path);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        Uri::try_from(s)
            .map_err(|_| ProxyError::BadRequest("the request target cannot be forwarded"))
    }

    /// The absolute URI for a client's path-and-query used as is (already
    /// normalized, and no base path to prepend): no string is built or parsed.
    pub fn uri_with(&self, pq: &http::uri::PathAndQuery) -> Option<Uri> {
        if !self.config.url.base_path.is_empty() {
            return None;
        }
        if self.pool.is_some() {
            // The own HTTP/1.1 pool sends the path and query only (origin form).
            return Some(Uri::from(pq.clone()));
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(if self.config.url.https {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        });
        parts.authority = Some(self.config.url.authority.clone());
        parts.path_and_query = Some(pq.clone());
        Uri::from_parts(parts).ok()
    }

    /// A fresh connection (TLS for `https`), never pooled: an upgrade's,
    /// which may become a tunnel.
    pub async fn dial(&self) -> Result<Box<dyn strangler_wire::tunnel::Io>, ProxyError> {
        let addr = connect_address(&self.config.url.authority);
        let limit = self.config.connect_timeout.0;
        let unreachable = |why: String| ProxyError::UpstreamUnreachable(format!("{addr}: {why}"));
        let tcp = match tokio::time::timeout(limit, tokio::net::TcpStream::connect(&addr)).await {
            Err(_) => return Err(unreachable("connect timed out".into())),
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tunnel_tls else {
            return Ok(Box::new(tcp));
        };
        let host = self
            .config
            .url
            .host
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| unreachable(e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
        match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
            Err(_) => Err(unreachable("TLS handshake timed out".into())),
            Ok(Err(e)) => Err(unreachable(format!("TLS: {e}"))),
            Ok(Ok(s)) => Ok(Box::new(s)),
        }
    }

    /// The edge's own HTTP/1.1 pool, when this upstream is plain `http`.
    /// The request path awaits [`Pool::send`] itself and reads its answer
    /// with [`h1`]: one future layer less than through [`Upstream::send`].
    pub fn own_pool(&self) -> Option<&Arc<Pool>> {
        self.pool.as_ref()
    }

    /// Send one request; the response headers must arrive within `timeout`.
    /// `added`: fields to set on the request (see [`Added`]).
    pub async fn send(
        &self,
        mut req: Request<ProxyBody>,
        added: &Added,
        timeout: Duration,
        pass: bool,
    ) -> Result<Response<UpstreamBody>, ProxyError> {
        if let Some(pool) = &self.pool {
            return h1(pool
                .send(req, added.as_slice(), timeout, pass, Instant::now())
                .await);
        }
        added.insert_into(req.headers_mut());
        if crate::grpc::is_grpc(req.headers()) {
            // gRPC servers want it (hop-by-hop, stripped from the client's).
            req.headers_mut()
                .insert(http::header::TE, http::HeaderValue::from_static("trailers"));
        }
        if req.body().is_end_stream() {
            return match tokio::time::timeout(timeout, self.client.request(req)).await {
                Err(_) => Err(ProxyError::UpstreamTimeout),
                Ok(Ok(resp)) => Ok(resp.map(UpstreamBody::Hyper)),
                Ok(Err(e)) => Err(classify(e)),
            };
        }
        // An upload: the deadline runs only while it is the upstream's turn.
        let clock = Clock::start();
        let req = req.map(|b| Uploading::new(b, Arc::clone(&clock)).boxed());
        tokio::select! {
            biased;
            r = self.client.request(req) => match r {
                Ok(resp) => Ok(resp.map(UpstreamBody::Hyper)),
                Err(e) => Err(classify(e)),
            },
            () = clock.expired(timeout) => Err(ProxyError::UpstreamTimeout),
        }
    }
}

/// An answer of the own HTTP/1.1 pool ([`Upstream::own_pool`]), or its failure classified.
pub fn h1(
    r: Result<Response<ResponseBody>, SendError>,
) -> Result<Response<UpstreamBody>, ProxyError> {
    match r {
        Ok(resp) => Ok(resp.map(UpstreamBody::H1)),
        Err(e) => Err(classify_h1(e)),
    }
}

pub fn classify_h1(e: SendError) -> ProxyError {
    match e {
        SendError::Connect(e) if crate::blame::proxy_exhausted(&e) => {
            ProxyError::Overloaded(e.to_string())
        }
        SendError::Connect(e) => ProxyError::UpstreamUnreachable(e.to_string()),
        // The request body is the client's: however it failed, it is the
        // client's failure (see `blame`).
        SendError::Body(e) => find_body_error(&*e).unwrap_or(BodyError::Cut).into(),
        SendError::Upstream(why) => ProxyError::UpstreamError(why),
        SendError::Closed => {
            ProxyError::UpstreamError("connection closed before a response".into())
        }
        SendError::Timeout => ProxyError::UpstreamTimeout,
    }
}

fn classify(e: hyper_util::client::legacy::Error) -> ProxyError {
    if e.is_connect() {
        if io_cause(&e).is_some_and(crate::blame::proxy_exhausted) {
            return ProxyError::Overloaded(root_cause(&e));
        }
        return ProxyError::UpstreamUnreachable(root_cause(&e));
    }
    // The request body's own failure, typed by `body::FromClient`.
    match find_body_error(&e) {
        Some(b) => b.into(),
        None => ProxyError::UpstreamError(root_cause(&e)),
    }
}
