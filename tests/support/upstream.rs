//! Purpose-built upstreams: echo what was received, answer a status, be
//! slow, fail the first N, close at once, answer garbage, or send headers
//! and stall. Each counts its hits and keeps what it saw; dropped, it stops.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What an upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub version: http::Version,
    pub method: String,
    pub target: String,
    pub headers: HeaderMap,
    pub body_len: usize,
}

#[derive(Clone)]
enum Mode {
    /// Answer a JSON description of the request (or `body` when set).
    Describe,
    /// Stream the request body back.
    EchoBody,
    /// Accept, then close without a byte.
    Close,
    /// Read the head, write these bytes, close.
    Raw(Vec<u8>),
    /// Read the head, send headers and part of the body, then hang.
    StallAfterHeaders,
    /// Read the head and then nothing more: a request body is never read.
    StallReading,
}

#[derive(Clone)]
pub struct UpstreamBuilder {
    status: u16,
    delay: Duration,
    body: Option<Bytes>,
    headers: Vec<(String, String)>,
    fail_first: usize,
    mode: Mode,
    rules: Vec<(String, u16, Duration)>,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Wait this long after reading the whole request body, before answering.
    after_body: Duration,
}

/// A purpose-built upstream, by default describing each request as JSON.
pub fn upstream() -> UpstreamBuilder {
    UpstreamBuilder {
        status: 200,
        delay: Duration::ZERO,
        body: None,
        headers: Vec::new(),
        fail_first: 0,
        mode: Mode::Describe,
        rules: Vec::new(),
        tls: None,
        after_body: Duration::ZERO,
    }
}

impl UpstreamBuilder {
    pub fn status(mut self, s: u16) -> Self {
        self.status = s;
        self
    }
    /// Wait this long before answering.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn body(mut self, b: impl Into<Bytes>) -> Self {
        self.body = Some(b.into());
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    /// Answer 500 to the first `n` requests, then normally.
    pub fn fail_first(mut self, n: usize) -> Self {
        self.fail_first = n;
        self
    }
    /// Requests whose path starts with `prefix` get `status` after `delay`.
    pub fn on_path(mut self, prefix: &str, status: u16, delay: Duration) -> Self {
        self.rules.push((prefix.into(), status, delay));
        self
    }
    /// Serve HTTPS with this certificate chain and key (PEM).
    pub fn tls(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.tls = Some(Arc::new(super::tls::server_config(cert_pem, key_pem, &[])));
        self
    }
    /// With [`Self::tls`]: offer HTTP/2 by ALPN (and HTTP/1.1).
    pub fn alpn_h2(mut self) -> Self {
        if let Some(cfg) = self.tls.as_mut() {
            Arc::make_mut(cfg).alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        self
    }
    pub fn echo_body(mut self) -> Self {
        self.mode = Mode::EchoBody;
        self
    }
    pub fn close_immediately(mut self) -> Self {
        self.mode = Mode::Close;
        self
    }
    pub fn raw_response(mut self, bytes: &[u8]) -> Self {
        self.mode = Mode::Raw(bytes.to_vec());
        self
    }
    pub fn stall_after_headers(mut self) -> Self {
        self.mode = Mode::StallAfterHeaders;
        self
    }
    /// Read a request's head, then neither read its body nor answer.
    pub fn stall_reading(mut self) -> Self {
        self.mode = Mode::StallReading;
        self
    }
    /// Read the whole request body, then wait `d` before answering.
    pub fn delay_after_body(mut self, d: Duration) -> Self {
        self.after_body = d;
        self
    }

    pub async fn spawn(self) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            connections: AtomicUsize::new(0),
            hits: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            raw_heads: Mutex::new(Vec::new()),
            b: self,
        });
        let st = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = Arc::clone(&st);
                tokio::spawn(async move { serve_conn(stream, st).await });
            }
        });
        Upstream { addr, state, task }
    }
}

struct State {
    connections: AtomicUsize,
    hits: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// Raw mode: the request heads exactly as they arrived.
    raw_heads: Mutex<Vec<String>>,
    b: UpstreamBuilder,
}

pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub fn url(&self) -> String {
        let scheme = if self.state.b.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }
    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
    /// Requests (or raw connections) received so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }
    /// Raw mode: each request head as the bytes that arrived (before any
    /// parser could normalize them).
    pub fn raw_heads(&self) -> Vec<String> {
        self.state.raw_heads.lock().expect("lock").clone()
    }
    /// Requests recorded in full (their bodies read): what [`Self::last`]
    /// can return. `hits` counts a request as it arrives, before that: a
    /// test that waits for a request and then reads it waits on this.
    pub fn recorded(&self) -> usize {
        self.state.seen.lock().expect("lock").len()
    }
    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream saw no request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_head(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    buf
}

async fn serve_conn(mut stream: tokio::net::TcpStream, st: Arc<State>) {
    match st.b.mode.clone() {
        Mode::Close => {
            st.hits.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
        Mode::Raw(bytes) => {
            let head = read_head(&mut stream).await;
            st.raw_heads
                .lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&head).into_owned());
            st.hits.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Mode::StallAfterHeaders => {
            read_head(&mut stream).await;
            st.hits.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\npartial").await;
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        Mode::StallReading => {
            read_head(&mut stream).await;
            st.hits.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        Mode::Describe | Mode::EchoBody => match st.b.tls.clone() {
            None => serve_http(TokioIo::new(stream), st).await,
            Some(cfg) => {
                if let Ok(tls) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await {
                    serve_http(TokioIo::new(tls), st).await;
                }
            }
        },
    }
}

async fn serve_http<I>(io: I, st: Arc<State>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let st = Arc::clone(&st);
        async move { Ok::<_, Infallible>(answer(req, st).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

type Body = BoxBody<Bytes, hyper::Error>;

async fn answer(req: Request<Incoming>, st: Arc<State>) -> Response<Body> {
    let n = st.hits.fetch_add(1, Ordering::SeqCst);
    let b = &st.b;
    let rule = b
        .rules
        .iter()
        .find(|(p, _, _)| req.uri().path().starts_with(p.as_str()))
        .cloned();
    let delay = rule.as_ref().map_or(b.delay, |r| r.2);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    let mut seen = Seen {
        version: parts.version,
        method: parts.method.to_string(),
        target: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body_len: 0,
    };
    let status = if n < b.fail_first {
        500
    } else {
        rule.map_or(b.status, |r| r.1)
    };
    let mut resp = if matches!(b.mode, Mode::EchoBody) {
        st.seen.lock().expect("lock").push(seen);
        Response::new(body.boxed())
    } else {
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        seen.body_len = bytes.len();
        if !b.after_body.is_zero() {
            tokio::time::sleep(b.after_body).await;
        }
        let mut headers = serde_json::Map::new();
        for (k, v) in &parts.headers {
            let e = headers
                .entry(k.as_str())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(a) = e {
                a.push(String::from_utf8_lossy(v.as_bytes()).into());
            }
        }
        let description = serde_json::json!({
            "method": seen.method, "target": seen.target, "headers": headers,
            "body_len": bytes.len(), "body_sha256": hex::encode(Sha256::digest(&bytes)),
        });
        st.seen.lock().expect("lock").push(seen);
        let out = b
            .body
            .clone()
            .unwrap_or_else(|| Bytes::from(description.to_string()));
        let mut r = Response::new(Full::new(out).map_err(|never| match never {}).boxed());
        r.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        r
    };
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    for (k, v) in &b.headers {
        resp.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    resp
}

/// An address where nothing listens (connections are refused).
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}
