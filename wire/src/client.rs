//! Pooled HTTP/1.1 connections to one plain-`http` upstream, driven from
//! the request's own task (no connection task, no channel between them).
//!
//! ```text
//! checkout (LIFO idle list; a connection the upstream closed is seen by
//!   its readiness, without a syscall), else once more after the tasks
//!   already woken have run (answers put connections back), else connect
//!   ─▶ write head (+ small body in the same write) ─┬─ read the response head
//!      the rest of the body keeps going ────────────┘  (1xx skipped)
//!   ─▶ ResponseBody reads and decodes the body, then puts the connection
//!      back when the response was complete and reusable
//! ```
//!
//! Here: [`Pool`] (checkout, connect, the exchange) and [`SendError`];
//! in `response`: the [`ResponseBody`].

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{sleep_until, Instant, Sleep};

use super::codec::ResponseHead;
use super::conn::{dial, read_head, readable_alive};
use super::encode;
use super::framing::Framing;
use crate::body::{BoxError, BoxedBody};

mod response;

pub use response::ResponseBody;

/// Idle pooled connections are closed before a typical upstream keep-alive
/// (NGINX: 75 s) would close them under us.
pub(super) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// A request body up to this size goes out in the same write as the head.
const COALESCE: u64 = 64 * 1024;

#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: nothing was sent.
    Connect(io::Error),
    /// The request body failed (the client's side).
    Body(BoxError),
    /// The upstream broke the exchange or answered something malformed.
    Upstream(String),
    /// The connection closed before any byte of a response.
    Closed,
    /// No response head before the deadline.
    Timeout,
}

struct Connection {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: BytesMut,
    /// Bounds each exchange's wait for a response head; reused, not re-made.
    timer: Pin<Box<Sleep>>,
}

impl Connection {
    /// Close it: one `close`. Dropped as it is, its write half would first
    /// `shutdown` (tokio's `OwnedWriteHalf`): a syscall more for every
    /// connection a pool lets go, and the FIN goes out on close anyway.
    fn close(self) {
        self.wr.forget();
    }
}

pub struct Pool {
    authority: String,
    connect_timeout: Duration,
    max_idle: usize,
    /// Oldest first, each with the instant it expires (compared, not
    /// subtracted, on every checkout): checkout takes the newest, expiry
    /// drops the oldest.
    idle: Mutex<VecDeque<(Connection, Instant)>>,
}

type Upload = Pin<Box<dyn Future<Output = (OwnedWriteHalf, Result<(), SendError>)> + Send + Sync>>;

impl Pool {
    pub fn new(authority: &str, connect_timeout: Duration, max_idle: usize) -> Arc<Pool> {
        Arc::new(Pool {
            authority: authority.to_owned(),
            connect_timeout,
            max_idle,
            idle: Mutex::new(VecDeque::new()),
        })
    }

    fn checkout(&self, now: Instant) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((conn, expires)) = idle.pop_back() {
            if now < expires && alive(&conn) {
                return Some(conn);
            }
            conn.close();
        }
        None
    }

    fn put_back(&self, conn: Connection, since: Instant) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Checkout takes the newest; the oldest, at the front, would wait
        // there for ever (holding a socket the upstream may have closed).
        while idle.front().is_some_and(|(_, expires)| *expires <= since) {
            if let Some((old, _)) = idle.pop_front() {
                old.close();
            }
        }
        if idle.len() < self.max_idle {
            let expires = since.checked_add(POOL_IDLE_TIMEOUT).unwrap_or(since);
            idle.push_back((conn, expires));
        } else {
            conn.close();
        }
    }

    /// No idle connection at checkout: look again once the tasks already
    /// woken have run (answers among them put their connections back), and
    /// connect only if none came back. Under load, requests and answers
    /// arrive in the same wake-up; taken in arrival order, the requests
    /// first would each open a connection that the answers behind them
    /// then find the pool too full to keep. Returns the connection and
    /// whether it came from the pool. Without `look_again` (a retry, which
    /// wants a new connection), or for a pool that keeps none (`max_idle`
    /// 0), it connects at once.
    async fn reuse_or_connect(
        &self,
        now: Instant,
        deadline: Instant,
        look_again: bool,
    ) -> Result<(Connection, bool), SendError> {
        if look_again && self.max_idle > 0 {
            tokio::task::yield_now().await;
            if let Some(c) = self.checkout(now) {
                return Ok((c, true));
            }
        }
        Ok((self.connect(now, deadline).await?, false))
    }

    /// A new connection, within `connect_timeout` and the request's deadline.
    async fn connect(&self, now: Instant, deadline: Instant) -> Result<Connection, SendError> {
        let until = deadline.min(now + self.connect_timeout);
        let (rd, wr) = match dial(&self.authority, until).await {
            Err(SendError::Connect(e))
                if e.kind() == io::ErrorKind::TimedOut && until == deadline =>
            {
                return Err(SendError::Timeout)
            }
            r => r?,
        };
        Ok(Connection {
            rd,
            wr,
            buf: BytesMut::new(),
            timer: Box::pin(sleep_until(deadline)),
        })
    }

    /// Send `req` (its URI's path and query as the target) and return once
    /// the response head is in, within `timeout`; the body streams from the
    /// connection. `pass`: the answer's fields may be passed raw (its map
    /// then empty, its body holding them: [`ResponseBody::take_raw`]).
    /// `now`: the instant the exchange counts from (`timeout`, pooled
    /// connections' expiry), the caller's clock read: a proxy passes its
    /// request's arrival, so that one read serves the whole request.
    pub async fn send(
        self: &Arc<Self>,
        req: Request<BoxedBody>,
        added: &[(&HeaderName, HeaderValue)],
        timeout: Duration,
        pass: bool,
        now: Instant,
    ) -> Result<Response<ResponseBody>, SendError> {
        let deadline = now + timeout;
        let (parts, body) = req.into_parts();
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let framing = match body.size_hint().exact() {
            Some(0) if !matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) => {
                Framing::None
            }
            Some(n) => Framing::Length(n),
            None => Framing::Chunked,
        };
        let mut head = Vec::with_capacity(512);
        encode::write_request_head(
            &mut head,
            &parts.method,
            &[target],
            &parts.headers,
            &[added],
            framing,
        );
        let at = Stamp {
            now,
            deadline,
            timeout,
            pass,
        };
        // Nothing to stream: a stale pooled connection can be retried.
        let retriable = body.is_end_stream() && crate::idempotent(&parts.method);
        let mut body = (!body.is_end_stream()).then_some((body, framing));
        let mut pooled = self.checkout(now);
        let mut retrying = false;
        loop {
            // Boxed: a new connection is rare next to a pooled one, and
            // its dial is ~400 bytes of state every exchange would carry.
            let (conn, reused) = match pooled.take() {
                Some(c) => (c, true),
                None => Box::pin(self.reuse_or_connect(now, deadline, !retrying)).await?,
            };
            // The exchange: the head (and the body, if any) written, the
            // answer's head read. Written out here rather than called: an
            // async fn awaited is built, then moved into this future's
            // state, on every request (callgrind: ~150 instructions).
            let done: Result<Response<ResponseBody>, SendError> = 'exchange: {
                let Connection {
                    mut rd,
                    wr,
                    mut buf,
                    mut timer,
                } = conn;
                // The connection's own timer, moved forward: no timer registration.
                // With a body to upload it is not polled until the upload is done:
                // `timeout` measures the upstream, not a slow client's upload.
                // Moved only when it would fire early or too late (requests may
                // have different timeouts: routes, gRPC deadlines), and then a
                // little late ([`late_by`]): the requests that follow on this
                // connection find it in range and leave it (a comparison, not a
                // timer update).
                let late = (at.deadline.checked_add(late_by(at.timeout))).unwrap_or(at.deadline);
                if !(at.deadline..=late).contains(&timer.deadline()) {
                    timer.as_mut().reset(late);
                }
                let mut upload: Option<Upload> = None;
                let mut wr = match body.take() {
                    None => {
                        let mut wr = wr;
                        let sent = tokio::select! {
                            biased;
                            r = wr.write_all(&head) => r,
                            () = timer.as_mut() => break 'exchange Err(SendError::Timeout),
                        };
                        if sent.is_err() {
                            break 'exchange Err(SendError::Closed);
                        }
                        Some(wr)
                    }
                    Some((body, framing)) => {
                        let up = upload_body(wr, head.clone(), body, framing, at.timeout);
                        upload = Some(Box::pin(up));
                        None
                    }
                };
                // Read the head while the body (if any) goes out. An upstream
                // may answer early and stop reading (a 413, say): the upload
                // then fails, and its answer is still read.
                let mut upload_failed: Option<SendError> = None;
                let resp_head = loop {
                    let r = match upload.as_mut() {
                        None => tokio::select! {
                            biased;
                            r = read_head(&mut rd, &mut buf, at.pass) => r,
                            () = timer.as_mut() => break 'exchange Err(SendError::Timeout),
                        },
                        Some(up) => tokio::select! {
                            biased;
                            (w, r) = up => {
                                upload = None;
                                match r {
                                    Ok(()) => wr = Some(w),
                                    // The client's body failed: that is the error.
                                    Err(e @ SendError::Body(_)) => break 'exchange Err(e),
                                    // The upstream stopped reading it.
                                    Err(SendError::Timeout) => break 'exchange Err(SendError::Timeout),
                                    Err(e) => upload_failed = Some(e),
                                }
                                // The request is all out: the answer is due.
                                timer.as_mut().reset(Instant::now() + at.timeout);
                                continue;
                            }
                            r = read_head(&mut rd, &mut buf, at.pass) => r,
                        },
                    };
                    match final_head(r, upload_failed.take()) {
                        Ok(Some(r)) => break r,
                        Ok(None) => {}
                        Err(e) => break 'exchange Err(e),
                    }
                };
                ResponseBody::respond(
                    self,
                    &parts.method,
                    resp_head,
                    (rd, buf, timer),
                    wr,
                    upload,
                    at.now,
                )
            };
            match done {
                // Closed before a byte of an answer: the upstream may have
                // dropped it while idle. Once more, on a new one.
                Err(SendError::Closed) if reused && retriable => retrying = true,
                done => return done,
            }
        }
    }
}

/// The response head read (`None`: an interim 1xx, skipped), or the
/// exchange's error: a failed upload's, when one failed before the head.
#[inline]
fn final_head(
    read: Result<ResponseHead, SendError>,
    upload_failed: Option<SendError>,
) -> Result<Option<ResponseHead>, SendError> {
    let r = match (read, upload_failed) {
        (Ok(r), _) => r,
        (Err(_), Some(upload_error)) => return Err(upload_error),
        (Err(e), None) => return Err(e),
    };
    if r.status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(SendError::Upstream(
            "unexpected 101 Switching Protocols".into(),
        ));
    }
    Ok((!r.status.is_informational()).then_some(r))
}

/// When a request started (the clock read once), when the head of its
/// answer is due if it has no body to upload, and the upstream's timeout.
#[derive(Clone, Copy)]
struct Stamp {
    now: Instant,
    deadline: Instant,
    timeout: Duration,
    /// The answer's fields may pass raw.
    pass: bool,
}

/// How late an upstream's timeout may fire, so that a connection's timer
/// is moved once in a while rather than for every request: 1/32 of it,
/// at most a second.
fn late_by(timeout: Duration) -> Duration {
    (timeout / 32).min(Duration::from_secs(1))
}

/// Whether an idle pooled connection is still usable.
fn alive(c: &Connection) -> bool {
    readable_alive(&c.rd)
}

/// Write the head and the body. A write the upstream does not take for
/// `stall` (it stopped reading) is its timeout; a body that waits on the
/// client is judged by the body's own idle limit, not here.
async fn upload_body(
    wr: OwnedWriteHalf,
    mut out: Vec<u8>,
    body: BoxedBody,
    framing: Framing,
    stall: Duration,
) -> (OwnedWriteHalf, Result<(), SendError>) {
    let mut wr = super::conn::StallLimit::new(wr, stall);
    let r = match super::write::body(&mut wr, &mut out, body, framing, COALESCE as usize).await {
        Ok(()) => Ok(()),
        Err(super::write::WriteError::Body(e)) => Err(SendError::Body(e)),
        Err(super::write::WriteError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
            Err(SendError::Timeout)
        }
        Err(super::write::WriteError::Io(e)) => Err(SendError::Upstream(e.to_string())),
    };
    (wr.into_inner(), r)
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
