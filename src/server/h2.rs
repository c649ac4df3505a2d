//! One HTTP/2 connection, served by hyper:
//!
//! ```text
//! service_fn ─▶ Stream (the answer's future, boxed; counted open)
//!            ─▶ Counted (the answer's body, still counted until dropped)
//! serve: the connection ─┬─ ends by itself
//!                        ├─ drain ─────────────────────▶ GOAWAY, streams finish
//!                        └─ no stream open for `limits.keepalive_timeout`
//!                           (checked every timeout) ───▶ GOAWAY, close
//! ```
//!
//! The answers of the streams that finish in one turn leave in one write
//! (`Coalesce`, below hyper). hyper's keep-alive PINGs stay: they find a
//! client that vanished while a stream was open; the idle timeout closes
//! a connection that is alive but unused, which the PINGs kept for ever.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::coalesce::Coalesce;
use super::Edge;
use crate::body::{BoxError, ProxyBody};
use crate::drain::Watch;
use crate::proxy;

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

/// The streams of one connection: how many are open, how many started.
#[derive(Default)]
struct Activity {
    open: AtomicUsize,
    started: AtomicUsize,
}

/// A stream's place in [`Activity::open`], given back when dropped.
struct Open(Arc<Activity>);

impl Open {
    fn new(activity: &Arc<Activity>) -> Open {
        activity.started.fetch_add(1, Relaxed);
        activity.open.fetch_add(1, Relaxed);
        Open(Arc::clone(activity))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// One HTTP/2 stream's answer, boxed. hyper spawns a task per stream and
/// tokio moves a task's future whole: into the task, and over it again when
/// it ends. Unboxed, that was `proxy::handle`'s ~5 KB several times a request
/// (callgrind over h2c: ~7,000 instructions of `memcpy` a request, a fifth of
/// the proxy's); boxed, it is a pointer. Its place among the open streams
/// passes to the answer's body.
struct Stream<F> {
    answer: Pin<Box<F>>,
    open: Option<Open>,
}

impl<F: Future<Output = Response<ProxyBody>>> Future for Stream<F> {
    type Output = Result<Response<Counted>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.answer.as_mut().poll(cx).map(|resp| {
            let open = this.open.take();
            Ok(resp.map(|body| Counted { body, _open: open }))
        })
    }
}

/// An answer's body, its stream counted open until it is sent (or reset).
struct Counted {
    body: ProxyBody,
    _open: Option<Open>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How a connection's serving ended.
enum End {
    Closed(hyper::Result<()>),
    /// Drained, or idle: close it gracefully.
    Close,
}

/// Serve one HTTP/2 connection; on drain, or once no stream has been open
/// for the edge's keep-alive idle time (between one and two of them),
/// GOAWAY and finish its streams.
pub(super) async fn serve<I>(io: I, edge: Edge, drain: Watch)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Edge {
        state,
        conn,
        limits,
    } = edge;
    let idle = limits.keepalive_idle;
    let tunnels = drain.clone();
    let activity = Arc::new(Activity::default());
    let counted = Arc::clone(&activity);
    let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let state = Arc::clone(&state);
        if req.method() == http::Method::CONNECT {
            // A tunnel's task watches the drain too.
            req.extensions_mut().insert(tunnels.clone());
        }
        let req = Box::new(req);
        Stream {
            answer: strangler_wire::boxed_with(|| proxy::handle(req, state, conn)),
            open: Some(Open::new(&counted)),
        }
    });
    // The answers of the streams that finish in one turn leave together.
    let c = http2().serve_connection(TokioIo::new(Coalesce::new(io)), service);
    let mut c = pin!(c);
    let mut on_drain = pin!(drain.notified());
    on_drain.as_mut().enable();
    let mut timer = pin!(tokio::time::sleep(idle));
    // How many streams had started at the last check. Checks run only while
    // no stream is open, so the same count at the next one means none was
    // open in between. A new connection is idle from its start: one that
    // never opens a stream is closed after one timeout, not two.
    let mut seen = 0;
    let end = if drain.draining() {
        End::Close
    } else {
        poll_fn(|cx| {
            if let Poll::Ready(r) = c.as_mut().poll(cx) {
                return Poll::Ready(End::Closed(r));
            }
            if on_drain.as_mut().poll(cx).is_ready() {
                return Poll::Ready(End::Close);
            }
            // The timer matters only while no stream is open: a busy
            // connection does not look at it (it is checked when it is next
            // quiet, and stays due until then).
            // (Streams start only inside `c.poll`, on this task.)
            while activity.open.load(Relaxed) == 0 && timer.as_mut().poll(cx).is_ready() {
                let started = activity.started.load(Relaxed);
                // No stream started since the last check: idle for at
                // least a whole `idle`.
                if started == seen {
                    return Poll::Ready(End::Close);
                }
                seen = started;
                timer.as_mut().reset(Instant::now() + idle);
            }
            Poll::Pending
        })
        .await
    };
    let ended = match end {
        End::Closed(r) => r,
        End::Close => {
            c.as_mut().graceful_shutdown();
            c.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, peer = %conn.peer, "HTTP/2 connection ended with an error");
    }
}
