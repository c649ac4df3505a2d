//! The training's client side: a [`Phase`] is `conns` connections of one
//! protocol, each sending its requests one after another (`streams` at once
//! on an HTTP/2 connection), every answer read to its end and its status
//! checked.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, Error>;

/// What each request of a phase is.
#[derive(Clone, Copy)]
pub enum Kind {
    Get,
    /// POST with a 2 KB body and a Content-Length.
    Upload,
    /// POST with a body of no stated length: chunked over HTTP/1.1.
    Chunked,
    /// A path the edge refuses (a NUL, encoded): 400, and it closes.
    Refused,
}

/// How a phase's connections are made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H1,
    /// HTTP/2 with prior knowledge, no TLS.
    H2c,
    /// TLS, ALPN `http/1.1`.
    Https1,
    /// TLS, ALPN `h2`.
    Https2,
}

pub struct Phase {
    pub name: &'static str,
    pub proto: Proto,
    pub path: &'static str,
    pub kind: Kind,
    pub conns: usize,
    pub per_conn: usize,
    /// Requests in flight at once on one HTTP/2 connection.
    pub streams: usize,
}

/// The client TLS configs offering each ALPN, trusting the edge's certificate.
pub struct Tls {
    pub h1: Arc<rustls::ClientConfig>,
    pub h2: Arc<rustls::ClientConfig>,
}

pub fn empty() -> BoxBody {
    Full::new(Bytes::new()).map_err(Into::into).boxed()
}

fn full(b: Bytes) -> BoxBody {
    Full::new(b).map_err(Into::into).boxed()
}

fn chunked(parts: usize, size: usize) -> BoxBody {
    let chunks =
        (0..parts).map(move |_| Ok::<_, Error>(Frame::data(Bytes::from(vec![b'x'; size]))));
    StreamBody::new(futures_util::stream::iter(chunks)).boxed()
}

/// Request `i` of a phase. HTTP/2's URI carries scheme and authority
/// (`absolute`); HTTP/1.1 sends the path, with the authority as `Host`.
fn request(
    kind: Kind,
    scheme: &str,
    host: &str,
    absolute: bool,
    path: &str,
    i: usize,
) -> Result<Request<BoxBody>, Error> {
    let prefix = if absolute {
        format!("{scheme}://{host}")
    } else {
        String::new()
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
        Kind::Refused => Request::builder()
            .uri(format!("{prefix}{path}/a%00b"))
            .header("host", host)
            .body(empty())?,
    })
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<BoxBody>),
    H2(hyper::client::conn::http2::SendRequest<BoxBody>),
}

async fn connect(proto: Proto, port: u16, tls: Option<&Tls>) -> Result<Sender, Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let config = match (proto, tls) {
        (Proto::H1, _) => {
            let (s, c) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(c);
            return Ok(Sender::H1(s));
        }
        (Proto::H2c, _) => {
            let io = TokioIo::new(tcp);
            let (s, c) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(c);
            return Ok(Sender::H2(s));
        }
        (Proto::Https1, Some(t)) => t.h1.clone(),
        (Proto::Https2, Some(t)) => t.h2.clone(),
        (_, None) => return Err("an HTTPS phase on a plain listener".into()),
    };
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let io = TokioIo::new(
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?,
    );
    if proto == Proto::Https2 {
        let (s, c) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(c);
        Ok(Sender::H2(s))
    } else {
        let (s, c) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(c);
        Ok(Sender::H1(s))
    }
}

/// One request on `s` and its whole answer; the sender back, for the next.
async fn exchange(
    mut s: Sender,
    p: &Phase,
    scheme: &str,
    host: &str,
    i: usize,
) -> Result<Sender, Error> {
    let req = request(p.kind, scheme, host, matches!(s, Sender::H2(_)), p.path, i)?;
    let resp = match &mut s {
        Sender::H1(h1) => {
            h1.ready().await?;
            h1.send_request(req).await?
        }
        Sender::H2(h2) => h2.send_request(req).await?,
    };
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    let want = if matches!(p.kind, Kind::Refused) {
        400
    } else {
        200
    };
    if status != want {
        return Err(format!("{}: {} answered {status}, not {want}", p.name, p.path).into());
    }
    Ok(s)
}

impl Phase {
    /// Runs the phase against the edge on `port`; `tls` for HTTPS phases.
    /// `scale`: requests per connection divided by it (`--quick`).
    pub async fn run(
        &'static self,
        port: u16,
        tls: Option<Arc<Tls>>,
        scale: usize,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let per_conn = (self.per_conn / scale).max(1);
        let scheme = match self.proto {
            Proto::Https1 | Proto::Https2 => "https",
            Proto::H1 | Proto::H2c => "http",
        };
        let host: Arc<str> = Arc::from(format!("localhost:{port}"));
        let mut conns = tokio::task::JoinSet::new();
        for _ in 0..self.conns {
            let (host, tls) = (host.clone(), tls.clone());
            conns.spawn(async move {
                match connect(self.proto, port, tls.as_deref()).await? {
                    s @ Sender::H1(_) => {
                        let mut s = s;
                        for i in 0..per_conn {
                            s = exchange(s, self, scheme, &host, i).await?;
                        }
                    }
                    Sender::H2(h2) => {
                        let mut lanes = tokio::task::JoinSet::new();
                        for lane in 0..self.streams {
                            let (h2, host) = (h2.clone(), host.clone());
                            lanes.spawn(async move {
                                let mut s = Sender::H2(h2);
                                for i in (lane..per_conn).step_by(self.streams) {
                                    s = exchange(s, self, scheme, &host, i).await?;
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
        while let Some(r) = conns.join_next().await {
            r??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  {}: {} requests in {secs:.1} s",
            self.name,
            self.conns * per_conn
        );
        Ok(())
    }
}
