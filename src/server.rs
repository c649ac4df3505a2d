//! The proxy listener: accept connections, serve HTTP/1.1 on the edge's own
//! wire (`strangler_wire::server`, handing each request to [`Edge`]) and
//! HTTP/2 (ALPN `h2`, or prior knowledge on a plain listener) through
//! hyper, and drain gracefully on shutdown.
//!
//! ```text
//! accept ─▶ TLS? handshake ─▶ ALPN h2 ──────────────▶ hyper http2
//!        └▶ plain: first bytes "PRI * HTTP/2.0" ─────▶ hyper http2 (rewound)
//!                  anything else ───────────────────▶ strangler_wire::server
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, Request, Response};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use strangler_wire::bridge::RequestBody;
use strangler_wire::server::{self as h1, Ended};
use strangler_wire::{Handled, Handler, Refusal};

use crate::body::ProxyBody;
use crate::drain::{Drain, Watch};
use crate::error::{ErrorContext, ProxyError};
use crate::proxy::{self, Conn, ProxyState};

mod coalesce;
mod rewind;
use coalesce::Coalesce;
use rewind::Rewind;

/// The proxy as the HTTP/1.1 wire's handler: one per connection, owning
/// the state's `Arc` (a plain connection that turns out to be HTTP/2 takes
/// it back for hyper).
pub struct Edge {
    pub state: Arc<ProxyState>,
    pub conn: Conn,
}

impl Handler for Edge {
    fn call<'a>(
        &'a self,
        slot: &'a mut Option<Request<RequestBody>>,
    ) -> impl Future<Output = Handled> + Send + 'a {
        proxy::answer(slot, &self.state, &self.conn)
    }

    /// `proxy::answer`'s ~4 KB future built straight in its box: called
    /// directly here (through `call`, it was built on the stack and copied
    /// into the box: callgrind, ~430 instructions a request).
    fn call_boxed<'a>(
        &'a self,
        slot: &'a mut Option<Request<RequestBody>>,
    ) -> Pin<Box<impl Future<Output = Handled> + Send + 'a>> {
        strangler_wire::boxed_with(|| proxy::answer(slot, &self.state, &self.conn))
    }

    fn refuse(&self, why: Refusal) -> Response<ProxyBody> {
        let id = crate::request_id::request_id(&HeaderMap::new());
        ProxyError::from(why).into_response(ErrorContext {
            route: None,
            upstream: None,
            request_id: id.to_str().unwrap_or(""),
            grpc: false,
        })
    }

    #[inline]
    /// Asked once per connection, for its first request; each answer then
    /// carries the timeout of the snapshot its request loaded (one load a
    /// request).
    fn header_read_timeout(&self) -> Duration {
        self.state.snapshot.load().config.limits.header_read_timeout
    }

    fn ended_mid_response(&self, error: &io::Error) {
        tracing::debug!(%error, peer = %self.conn.peer, "client connection ended mid-response");
    }
}

fn http2() -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_concurrent_streams(100)
        // RFC 8441: WebSocket over HTTP/2 (extended CONNECT, `crate::tunnel`).
        .enable_connect_protocol()
        .max_header_list_size(crate::request::MAX_HEADER_BYTES as u32)
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(100)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    b
}

/// One HTTP/2 stream's answer, boxed. hyper spawns a task per stream and
/// tokio moves a task's future whole: into the task, and over it again when
/// it ends. Unboxed, that was `proxy::handle`'s ~5 KB several times a request
/// (callgrind over h2c: ~7,000 instructions of `memcpy` a request, a fifth of
/// the proxy's); boxed, it is a pointer.
struct Stream<F>(Pin<Box<F>>);

impl<F: Future> Future for Stream<F> {
    type Output = Result<F::Output, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

/// Serve one HTTP/2 connection; on drain, GOAWAY and finish its streams.
async fn serve_h2<I>(io: I, state: Arc<ProxyState>, conn: Conn, drain: Watch)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tunnels = drain.clone();
    let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let state = Arc::clone(&state);
        if req.method() == http::Method::CONNECT {
            // A tunnel's task watches the drain too.
            req.extensions_mut().insert(tunnels.clone());
        }
        let req = Box::new(req);
        Stream(strangler_wire::boxed_with(|| {
            proxy::handle(req, state, conn)
        }))
    });
    // The answers of the streams that finish in one turn leave together.
    let c = http2().serve_connection(TokioIo::new(Coalesce::new(io)), service);
    tokio::pin!(c);
    let mut on_drain = std::pin::pin!(drain.notified());
    on_drain.as_mut().enable();
    let ended = if drain.draining() {
        None
    } else {
        tokio::select! {
            r = c.as_mut() => Some(r),
            () = on_drain => None,
        }
    };
    let ended = match ended {
        Some(r) => r,
        None => {
            c.as_mut().graceful_shutdown();
            c.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, peer = %conn.peer, "HTTP/2 connection ended with an error");
    }
}

/// A plain connection: HTTP/1.1, or HTTP/2 when it opens with the preface
/// (prior knowledge). The halves borrow the stream: no allocation for them.
async fn serve_plain(mut stream: TcpStream, state: Arc<ProxyState>, conn: Conn, drain: Watch) {
    let (rd, wr) = stream.split();
    let edge = Edge { state, conn };
    if let Ended::Http2(pre) = h1::serve(rd, wr, &edge, &drain, true).await {
        let io = Rewind {
            pre: pre.freeze(),
            inner: stream,
        };
        Box::pin(serve_h2(io, edge.state, conn, drain)).await;
    }
}

/// A TLS connection: HTTP/2 when ALPN chose it, else HTTP/1.1.
async fn serve_tls(
    stream: TcpStream,
    tls: Arc<crate::tls::Tls>,
    handshake_timeout: Duration,
    state: Arc<ProxyState>,
    peer: std::net::SocketAddr,
    drain: Watch,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config));
    let s = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return tracing::debug!(error = %e, %peer, "TLS handshake failed"),
        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
    };
    let conn = Conn { peer, https: true };
    if s.get_ref().1.alpn_protocol() == Some(b"h2") {
        Box::pin(serve_h2(s, state, conn, drain)).await;
    } else {
        let (rd, wr) = tokio::io::split(s);
        let edge = Edge { state, conn };
        Box::pin(h1::serve(rd, wr, &edge, &drain, false)).await;
    }
}

/// Serve the proxy on `listener` until `shutdown` completes, then stop
/// accepting and let in-flight requests finish for up to `drain`.
pub async fn serve_proxy(
    listener: TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) {
    let drainer = Drain::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let snap = state.snapshot.load();
        let tls = snap.tls.clone();
        let handshake_timeout = snap.config.limits.header_read_timeout;
        drop(snap);
        let (state, drain) = (Arc::clone(&state), drainer.watch());
        // One task per connection, of the exact kind: a plain connection's
        // task carries no TLS state, and no wrapper around its future.
        match tls {
            None => {
                tokio::spawn(serve_plain(
                    stream,
                    state,
                    Conn { peer, https: false },
                    drain,
                ));
            }
            Some(tls) => {
                tokio::spawn(serve_tls(
                    stream,
                    tls,
                    handshake_timeout,
                    state,
                    peer,
                    drain,
                ));
            }
        }
    }
    drop(listener);
    let grace = state.snapshot.load().config.limits.drain_timeout;
    tracing::info!(drain_timeout = ?grace, "draining in-flight requests");
    if !drainer.start_and_wait(grace).await {
        tracing::warn!("drain timeout reached; closing remaining connections");
    }
}

/// A connected TCP pair on 127.0.0.1 for the I/O wrappers' tests: (the
/// proxy's side, the client's).
#[cfg(test)]
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (accepted.unwrap().0, client.unwrap())
}
