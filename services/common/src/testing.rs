//! Test support: start a service on a `127.0.0.1:0` listener and talk to it over real
//! sockets. Panics with a clear message when the server cannot be reached — it is meant for
//! tests only.
//!
//! ```ignore
//! let server = TestServer::start(|listener, shutdown| serve(listener, Options::default(), shutdown)).await;
//! let reply = server.get("/orders/1").await;
//! assert_eq!(reply.status, 200);
//! ```
//!
//! [`TestServer::assert_refused`] checks a table of [`BadInput`]s. [`bus`] and [`nats`] help
//! test domain events against both buses; [`on_both_buses!`](crate::on_both_buses) runs a
//! test against each.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod bus;
pub mod nats;

/// What tests pass as the `shutdown` future of a crate's `serve`.
pub use crate::cli::Shutdown;

/// How long any one test request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A server running in the test's runtime; stopped on [`TestServer::stop`] or drop.
pub struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

/// A request a service must refuse, and how: `(method, path, body, status, error kind)`.
pub type BadInput<'a> = (&'a str, &'a str, &'a str, u16, &'a str);

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` kind of a JSON error body.
    pub fn error_kind(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

impl TestServer {
    /// Binds `127.0.0.1:0` and spawns `serve(listener, shutdown)`.
    pub async fn start<F, Fut>(serve: F) -> TestServer
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown: Shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(serve(listener, shutdown));
        TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], "").await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        self.send("POST", path, &[], body.to_owned()).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, &[], "").await
    }

    /// Any request; panics when the server cannot be reached.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        request(self.addr, method, path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Sends each of `cases` and asserts that it is refused with its status and a JSON error
    /// `{"error": KIND, "message": TEXT}` of its kind.
    pub async fn assert_refused(&self, cases: &[BadInput<'_>]) {
        for &(method, path, body, status, kind) in cases {
            let reply = self.send(method, path, &[], body.to_owned()).await;
            assert_eq!(
                reply.status,
                status,
                "{method} {path} {body}: {}",
                reply.text()
            );
            assert_eq!(reply.error_kind(), kind, "{method} {path} {body}");
            assert!(
                reply.json()["message"].is_string(),
                "{method} {path} {body}: {}",
                reply.text()
            );
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One request on a fresh HTTP/1.1 connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let body = body.into();
    let exchange = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        if !body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// Writes `bytes` as they are and reads the answer until the server closes; for requests a
/// well-behaved client cannot send.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Result<String, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.write_all(bytes).await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// Polls `probe` until it yields a value or `deadline` passes (then panics with `what`).
pub async fn eventually<T, Fut>(what: &str, deadline: Duration, mut probe: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if Instant::now() >= until {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `event` until the bus acknowledges it, within `deadline`: a
/// broker slow to acknowledge on a loaded machine is not a failed test, and
/// a retry carries the same message id (JetStream drops the duplicate).
pub async fn publish_acked(
    bus: &crate::events::Bus,
    event: &crate::events::Event,
    deadline: Duration,
) {
    let until = Instant::now() + deadline;
    loop {
        match bus.publish(event).await {
            Ok(()) => return,
            Err(e) if Instant::now() >= until => {
                panic!(
                    "publish {}: not acknowledged in {deadline:?}: {e}",
                    event.event_type
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// An address on which nothing listens: bound, then released.
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
}
