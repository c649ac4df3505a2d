//! The training run of the profile-guided build (`deploy/pgo.sh`): drives an
//! instrumented `strangler` binary through the traffic an edge carries, so
//! that the compiler lays out and inlines the request path by what runs.
//!
//! ```text
//! origin (in-process, hyper: GET ~1 KB JSON, POST echo) + a shadow origin
//!   ◀── strangler (the binary under training, `run --config`)
//!         ◀── this driver: HTTP/1.1 at 1, 50 and 500 connections, uploads
//!             (length and chunked), h2c, a shadowed route, refused requests;
//!             then a second process on HTTPS: HTTP/1.1, h2, fresh handshakes
//! ```
//!
//! Bounded by request counts, everything on 127.0.0.1. Every phase checks
//! its answers: a training run whose requests fail would teach the error
//! paths, so any failure ends it with a non-zero exit.
//!
//! `cargo run --release --example pgo_train -- path/to/strangler [--quick]`

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;
type BoxBody = http_body_util::combinators::BoxBody<Bytes, Error>;

/// The origin's GET answer: a JSON document of about a kilobyte.
fn document() -> Bytes {
    let items: Vec<String> = (0..12)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{i:04}","qty":{i},"price":"{}.99"}}"#,
                10 + i
            )
        })
        .collect();
    Bytes::from(format!(
        r#"{{"id":1,"status":"shipped","customer":"c-1001","items":[{}]}}"#,
        items.join(",")
    ))
}

async fn origin_answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Error> {
    let is_post = req.method() == Method::POST;
    let body = req.into_body().collect().await?.to_bytes();
    let out = if is_post {
        Bytes::from(format!(r#"{{"received":{}}}"#, body.len()))
    } else {
        document()
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(out))?)
}

/// An origin (HTTP/1.1 and h2c) on a free port; its address.
async fn origin() -> Result<String, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(origin_answer);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running proxy under training.
struct Proxy {
    child: Child,
    port: u16,
}

impl Proxy {
    async fn start(bin: &str, dir: &std::path::Path, config: &str) -> Result<Proxy, Error> {
        let (port, admin) = (free_port()?, free_port()?);
        let config = config
            .replace("{port}", &port.to_string())
            .replace("{admin}", &admin.to_string());
        let path = dir.join("routes.yaml");
        std::fs::write(&path, config)?;
        let mut child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Err(format!("strangler exited at start: {status}").into());
            }
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", admin)).await {
                let (mut send, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                let req = Request::get("/-/ready")
                    .header("host", "admin")
                    .body(empty())?;
                if send.send_request(req).await?.status() == StatusCode::OK {
                    return Ok(Proxy { child, port });
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("strangler not ready within 60 s".into())
    }

    /// SIGINT, then wait: the profile is written as the process exits.
    fn stop(mut self) -> Result<(), Error> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT)?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("strangler exited with {status}").into());
        }
        Ok(())
    }
}

fn empty() -> BoxBody {
    Full::new(Bytes::new()).map_err(Into::into).boxed()
}

fn full(b: Bytes) -> BoxBody {
    Full::new(b).map_err(Into::into).boxed()
}

/// A body with no length: sent chunked over HTTP/1.1.
fn chunked(parts: usize, size: usize) -> BoxBody {
    let chunks =
        (0..parts).map(move |_| Ok::<_, Error>(Frame::data(Bytes::from(vec![b'x'; size]))));
    StreamBody::new(futures_util::stream::iter(chunks)).boxed()
}

/// What one request of a phase is.
#[derive(Clone, Copy)]
enum Kind {
    Get,
    Upload,
    Chunked,
    Refused,
}

/// `absolute`: HTTP/2 (its URI carries scheme and authority); HTTP/1.1
/// sends the path, with the authority as `Host`.
fn request(
    kind: Kind,
    authority: &str,
    absolute: bool,
    path: &str,
    i: usize,
) -> Result<Request<BoxBody>, Error> {
    let (prefix, host) = match authority.split_once("://") {
        Some((_, host)) if !absolute => ("", host),
        Some((_, host)) => (authority, host),
        None => ("", authority),
    };
    let b = Request::builder()
        .uri(format!("{prefix}{path}/{}", i % 97))
        .header("user-agent", "strangler-pgo-train")
        .header("accept", "application/json");
    let b = if absolute { b } else { b.header("host", host) };
    Ok(match kind {
        Kind::Get => b.body(empty())?,
        Kind::Upload => b
            .method(Method::POST)
            .header("content-type", "application/json")
            .body(full(Bytes::from(vec![b'y'; 2048])))?,
        Kind::Chunked => b.method(Method::POST).body(chunked(4, 512))?,
        // A path the edge refuses (an encoded slash): answered 400 by it.
        Kind::Refused => Request::builder()
            .uri(format!("{prefix}{path}/a%00b"))
            .header("host", host)
            .body(empty())?,
    })
}

/// How a connection is made: plain HTTP/1.1, h2c, or TLS with ALPN.
#[derive(Clone)]
enum Wire {
    H1,
    H2c,
    Tls(Arc<rustls::ClientConfig>, bool),
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<BoxBody>),
    H2(hyper::client::conn::http2::SendRequest<BoxBody>),
}

async fn connect(wire: &Wire, port: u16) -> Result<Sender, Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    match wire {
        Wire::H1 => {
            let (s, c) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(c);
            Ok(Sender::H1(s))
        }
        Wire::H2c => {
            let (s, c) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await?;
            tokio::spawn(c);
            Ok(Sender::H2(s))
        }
        Wire::Tls(config, h2) => {
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await?;
            let io = TokioIo::new(tls);
            if *h2 {
                let (s, c) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(c);
                Ok(Sender::H2(s))
            } else {
                let (s, c) = hyper::client::conn::http1::handshake(io).await?;
                tokio::spawn(c);
                Ok(Sender::H1(s))
            }
        }
    }
}

/// `conns` connections, each sending `per_conn` requests one after another
/// (`streams` at once on an HTTP/2 connection); every answer read to its end.
#[allow(clippy::too_many_arguments)]
async fn phase(
    name: &str,
    wire: Wire,
    port: u16,
    path: &'static str,
    kind: Kind,
    conns: usize,
    per_conn: usize,
    streams: usize,
) -> Result<(), Error> {
    let started = Instant::now();
    let scheme = if matches!(wire, Wire::Tls(..)) {
        "https"
    } else {
        "http"
    };
    let authority: Arc<str> = Arc::from(format!("{scheme}://localhost:{port}"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (wire, authority) = (wire.clone(), authority.clone());
        tasks.spawn(async move {
            let sender = connect(&wire, port).await?;
            let want = if matches!(kind, Kind::Refused) {
                400
            } else {
                200
            };
            let one = move |mut s: Sender, i: usize| {
                let authority = authority.clone();
                async move {
                    let absolute = matches!(s, Sender::H2(_));
                    let req = request(kind, &authority, absolute, path, i)?;
                    let resp = match &mut s {
                        Sender::H1(s) => {
                            s.ready().await?;
                            s.send_request(req).await?
                        }
                        Sender::H2(s) => s.send_request(req).await?,
                    };
                    let status = resp.status().as_u16();
                    resp.into_body().collect().await?;
                    if status != want {
                        return Err(Error::from(format!("{path}: {status}, not {want}")));
                    }
                    Ok::<_, Error>(s)
                }
            };
            match sender {
                Sender::H1(_) => {
                    let mut s = sender;
                    for i in 0..per_conn {
                        s = one(s, i).await?;
                    }
                }
                Sender::H2(h2) => {
                    let mut lanes = tokio::task::JoinSet::new();
                    for lane in 0..streams {
                        let (h2, one) = (h2.clone(), one.clone());
                        lanes.spawn(async move {
                            let mut s = Sender::H2(h2);
                            for i in (lane..per_conn).step_by(streams) {
                                s = one(s, i).await?;
                            }
                            Ok::<_, Error>(())
                        });
                    }
                    while let Some(r) = lanes.join_next().await {
                        r??;
                    }
                }
            }
            Ok::<_, Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    println!(
        "  {name}: {} requests in {:.1} s",
        conns * per_conn,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

const PLAIN: &str = "listen: 127.0.0.1:{port}
admin: { listen: 127.0.0.1:{admin} }
shadow: { log: shadow-diffs.jsonl }
upstreams:
  origin: { url: ORIGIN }
  candidate: { url: CANDIDATE }
routes:
  - name: shadowed
    match: { path_prefix: /orders }
    upstream: origin
    shadow: { upstream: candidate, sample: 1.0 }
  - name: api
    match: { path_prefix: /api }
    upstream: origin
  - name: rest
    match: { path_prefix: / }
    upstream: origin
";

fn tls_configs(dir: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, Error> {
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    std::fs::write(dir.join("edge.crt"), cert.pem())?;
    std::fs::write(dir.join("edge.key"), key.serialize_pem())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(client))
}

fn with_alpn(base: &Arc<rustls::ClientConfig>, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut c = (**base).clone();
    c.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(c)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .ok_or("usage: pgo_train path/to/strangler [--quick]")?;
    // --quick: a tenth of the requests (a smoke test of the driver itself).
    let scale = if args.next().as_deref() == Some("--quick") {
        10
    } else {
        1
    };
    let n = |x: usize| (x / scale).max(1);
    let (origin, candidate) = (origin().await?, origin().await?);
    let dir = tempfile::tempdir()?;
    let plain = PLAIN
        .replace("ORIGIN", &origin)
        .replace("CANDIDATE", &candidate);

    println!("plain listener (HTTP/1.1 and h2c):");
    let proxy = Proxy::start(&bin, dir.path(), &plain).await?;
    let p = proxy.port;
    phase(
        "GET, 1 connection",
        Wire::H1,
        p,
        "/api/item",
        Kind::Get,
        1,
        n(4000),
        1,
    )
    .await?;
    phase(
        "GET, 50 connections",
        Wire::H1,
        p,
        "/api/item",
        Kind::Get,
        50,
        n(600),
        1,
    )
    .await?;
    phase(
        "GET, 500 connections",
        Wire::H1,
        p,
        "/api/item",
        Kind::Get,
        500,
        n(60),
        1,
    )
    .await?;
    phase(
        "POST 2 KB",
        Wire::H1,
        p,
        "/api/upload",
        Kind::Upload,
        10,
        n(300),
        1,
    )
    .await?;
    phase(
        "POST chunked",
        Wire::H1,
        p,
        "/api/upload",
        Kind::Chunked,
        10,
        n(100),
        1,
    )
    .await?;
    phase(
        "GET, shadowed",
        Wire::H1,
        p,
        "/orders",
        Kind::Get,
        20,
        n(200),
        1,
    )
    .await?;
    phase(
        "h2c, 10 x 10 streams",
        Wire::H2c,
        p,
        "/api/item",
        Kind::Get,
        10,
        n(2000),
        10,
    )
    .await?;
    // The edge closes the connection after a refusal: one connection each.
    phase(
        "refused paths",
        Wire::H1,
        p,
        "/api",
        Kind::Refused,
        n(100),
        1,
        1,
    )
    .await?;
    proxy.stop()?;

    println!("TLS listener (HTTP/1.1 and h2):");
    let client = tls_configs(dir.path())?;
    let tls = format!("{plain}tls: {{ cert: edge.crt, key: edge.key }}\n");
    let proxy = Proxy::start(&bin, dir.path(), &tls).await?;
    let p = proxy.port;
    let (h1, h2) = (with_alpn(&client, b"http/1.1"), with_alpn(&client, b"h2"));
    phase(
        "HTTPS GET, 1 connection",
        Wire::Tls(h1.clone(), false),
        p,
        "/api/item",
        Kind::Get,
        1,
        n(2000),
        1,
    )
    .await?;
    phase(
        "HTTPS GET, 50 connections",
        Wire::Tls(h1.clone(), false),
        p,
        "/api/item",
        Kind::Get,
        50,
        n(200),
        1,
    )
    .await?;
    phase(
        "HTTPS h2, 10 x 10 streams",
        Wire::Tls(h2, true),
        p,
        "/api/item",
        Kind::Get,
        10,
        n(1000),
        10,
    )
    .await?;
    phase(
        "HTTPS handshakes",
        Wire::Tls(h1, false),
        p,
        "/api/item",
        Kind::Get,
        n(300),
        1,
        1,
    )
    .await?;
    proxy.stop()?;
    println!("done");
    Ok(())
}
