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
//!
//! `load.rs`: the phases' client side.

mod load;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

use load::{empty, Error, Kind, Phase, Proto, Tls};

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

/// The plain listener's phases, in order (name, protocol, path, what,
/// connections, requests per connection, streams per HTTP/2 connection).
/// The edge closes a connection after refusing a request: one each.
#[rustfmt::skip]
const PLAIN_PHASES: &[Phase] = &[
    phase("GET, 1 connection",     Proto::H1,  "/api/item",   Kind::Get,     1,   4000, 1),
    phase("GET, 50 connections",   Proto::H1,  "/api/item",   Kind::Get,     50,  600,  1),
    phase("GET, 500 connections",  Proto::H1,  "/api/item",   Kind::Get,     500, 60,   1),
    phase("POST 2 KB",             Proto::H1,  "/api/upload", Kind::Upload,  10,  300,  1),
    phase("POST chunked",          Proto::H1,  "/api/upload", Kind::Chunked, 10,  100,  1),
    phase("GET, shadowed",         Proto::H1,  "/orders",     Kind::Get,     20,  200,  1),
    phase("h2c, 10 x 10 streams",  Proto::H2c, "/api/item",   Kind::Get,     10,  2000, 10),
    phase("refused paths",         Proto::H1,  "/api",        Kind::Refused, 100, 1,    1),
];

/// The TLS listener's phases (HTTPS over HTTP/1.1 and h2; the last is
/// a fresh handshake per request).
#[rustfmt::skip]
const TLS_PHASES: &[Phase] = &[
    phase("HTTPS GET, 1 connection",   Proto::Https1, "/api/item", Kind::Get, 1,   2000, 1),
    phase("HTTPS GET, 50 connections", Proto::Https1, "/api/item", Kind::Get, 50,  200,  1),
    phase("HTTPS h2, 10 x 10 streams", Proto::Https2, "/api/item", Kind::Get, 10,  1000, 10),
    phase("HTTPS handshakes",          Proto::Https1, "/api/item", Kind::Get, 300, 1,    1),
];

const fn phase(
    name: &'static str,
    proto: Proto,
    path: &'static str,
    kind: Kind,
    conns: usize,
    per_conn: usize,
    streams: usize,
) -> Phase {
    Phase {
        name,
        proto,
        path,
        kind,
        conns,
        per_conn,
        streams,
    }
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

/// 500 connections through the proxy hold about 1,000 of this process's
/// files (its clients' sockets and the origin's side of the proxy's), at
/// a soft limit often of 1,024: raised to the hard limit, as the proxy does.
fn raise_open_files() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    if let Err(e) = setrlimit(Resource::Nofile, limit) {
        eprintln!("could not raise the open-files limit: {e}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    raise_open_files();
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
    let (origin, candidate) = (origin().await?, origin().await?);
    let dir = tempfile::tempdir()?;
    let plain = PLAIN
        .replace("ORIGIN", &origin)
        .replace("CANDIDATE", &candidate);

    println!("plain listener (HTTP/1.1 and h2c):");
    let proxy = Proxy::start(&bin, dir.path(), &plain).await?;
    for p in PLAIN_PHASES {
        p.run(proxy.port, None, scale).await?;
    }
    proxy.stop()?;

    println!("TLS listener (HTTP/1.1 and h2):");
    let client = tls_configs(dir.path())?;
    let tls = Arc::new(Tls {
        h1: with_alpn(&client, b"http/1.1"),
        h2: with_alpn(&client, b"h2"),
    });
    let config = format!("{plain}tls: {{ cert: edge.crt, key: edge.key }}\n");
    let proxy = Proxy::start(&bin, dir.path(), &config).await?;
    for p in TLS_PHASES {
        p.run(proxy.port, Some(tls.clone()), scale).await?;
    }
    proxy.stop()?;
    println!("done");
    Ok(())
}
