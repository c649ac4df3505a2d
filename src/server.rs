//! The proxy listener: accept connections, serve HTTP/1.1 on the edge's own
//! wire (`strangler_wire::server`, handing each request to [`Edge`]) and
//! HTTP/2 (ALPN `h2`, or prior knowledge on a plain listener) through
//! hyper (`h2`), and drain gracefully on shutdown. Either kind of
//! connection closes after `limits.keepalive_timeout` with no request.
//!
//! ```text
//! accept ─▶ TLS? handshake ─▶ ALPN h2 ──────────────▶ h2: hyper http2
//!        └▶ plain: first bytes "PRI * HTTP/2.0" ─────▶ h2: hyper http2 (rewound)
//!                  anything else ───────────────────▶ strangler_wire::server
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, Response};
use tokio::net::{TcpListener, TcpStream};

use strangler_wire::bridge::RequestBody;
use strangler_wire::server::{self as h1, Ended};
use strangler_wire::{Handled, Handler, Limits, Refusal};

use crate::body::ProxyBody;
use crate::drain::{Drain, Watch};
use crate::error::{ErrorContext, ProxyError};
use crate::proxy::{self, Conn, ProxyState};

mod coalesce;
mod h2;
mod rewind;
use rewind::Rewind;

/// The proxy as the HTTP/1.1 wire's handler: one per connection, owning
/// the state's `Arc` (a plain connection that turns out to be HTTP/2 takes
/// it back for hyper).
pub struct Edge {
    pub state: Arc<ProxyState>,
    pub conn: Conn,
    /// The connection's limits; its keep-alive idle time is the
    /// configuration's `limits.keepalive_timeout` when it was accepted.
    pub limits: Limits,
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

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn ended_mid_response(&self, error: &io::Error) {
        tracing::debug!(%error, peer = %self.conn.peer, "client connection ended mid-response");
    }
}

/// A plain connection: HTTP/1.1, or HTTP/2 when it opens with the preface
/// (prior knowledge). The halves borrow the stream: no allocation for them.
async fn serve_plain(mut stream: TcpStream, edge: Edge, drain: Watch) {
    let (rd, wr) = stream.split();
    if let Ended::Http2(pre) = h1::serve(rd, wr, &edge, &drain, true).await {
        let io = Rewind {
            pre: pre.freeze(),
            inner: stream,
        };
        Box::pin(h2::serve(io, edge, drain)).await;
    }
}

/// A TLS connection: HTTP/2 when ALPN chose it, else HTTP/1.1.
async fn serve_tls(
    stream: TcpStream,
    tls: Arc<crate::tls::Tls>,
    handshake_timeout: Duration,
    edge: Edge,
    drain: Watch,
) {
    let peer = edge.conn.peer;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config));
    let s = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return tracing::debug!(error = %e, %peer, "TLS handshake failed"),
        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
    };
    if s.get_ref().1.alpn_protocol() == Some(b"h2") {
        Box::pin(h2::serve(s, edge, drain)).await;
    } else {
        let (rd, wr) = tokio::io::split(s);
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
        let limits = Limits {
            keepalive_idle: snap.config.limits.keepalive_timeout,
            ..Limits::DEFAULT
        };
        drop(snap);
        let edge = Edge {
            state: Arc::clone(&state),
            conn: Conn {
                peer,
                https: tls.is_some(),
            },
            limits,
        };
        let drain = drainer.watch();
        // One task per connection, of the exact kind: a plain connection's
        // task carries no TLS state, and no wrapper around its future.
        match tls {
            None => {
                tokio::spawn(serve_plain(stream, edge, drain));
            }
            Some(tls) => {
                tokio::spawn(serve_tls(stream, tls, handshake_timeout, edge, drain));
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
