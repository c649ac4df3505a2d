//! Upgraded connections (RFC 9110 §7.8: WebSocket and the like), joined
//! byte for byte:
//!
//! ```text
//! handler answers 101 with a [`Upgrade`] extension (the upstream's side)
//!   ─▶ server writes the 101 head ─▶ [`join`]: client ⇄ upstream
//!        until both sides closed (half-close passed on), an error, the
//!        idle timeout, or the drain's grace ─▶ [`Upgrade::on_end`]
//! ```
//!
//! [`join`] is generic over the two sides, so the same loop serves an
//! HTTP/1.1 client (this crate's server) and an HTTP/2 stream (RFC 8441,
//! the caller's).

use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::drain::Watch;

/// One side of a tunnel.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// How long a tunnel may be silent, and how long it outlives a drain.
#[derive(Debug, Clone, Copy)]
pub struct TunnelLimits {
    pub idle_timeout: Duration,
    pub drain_grace: Duration,
}

/// Why a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Both sides closed their writing halves.
    Closed,
    /// A side failed (reset, say).
    Error,
    /// Nothing crossed for [`TunnelLimits::idle_timeout`].
    Idle,
    /// The server drained, and the grace passed.
    Drained,
}

/// What crossed a tunnel, and why it ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub to_upstream: u64,
    pub to_client: u64,
    pub reason: EndReason,
}

/// The upstream side of an accepted upgrade, handed from the handler to
/// the server in the 101 response's extensions (cloneable, as extensions
/// must be: the first taker gets it).
#[derive(Clone)]
pub struct Upgrade(Arc<Mutex<Option<Tunnel>>>);

/// What [`Upgrade`] carries.
pub struct Tunnel {
    pub upstream: Box<dyn Io>,
    pub limits: TunnelLimits,
    /// Told once, when the tunnel ends.
    pub on_end: Box<dyn FnOnce(Ended) + Send>,
}

impl Upgrade {
    pub fn new(t: Tunnel) -> Self {
        Upgrade(Arc::new(Mutex::new(Some(t))))
    }

    /// The tunnel, once.
    pub fn take(&self) -> Option<Tunnel> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// Copy `r` to `w` until `r` ends (then shut `w` down: the half-close
/// travels) or fails; each read counted in `n` and noted in `last`.
async fn pipe<R, W>(
    mut r: R,
    mut w: W,
    n: &AtomicU64,
    last: &AtomicU64,
    epoch: Instant,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let got = r.read(&mut buf).await?;
        if got == 0 {
            return w.shutdown().await;
        }
        last.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        w.write_all(&buf[..got]).await?;
        w.flush().await?;
        n.fetch_add(got as u64, Ordering::Relaxed);
    }
}

/// Join a client (`cr`, `cw`) to an upstream (`ur`, `uw`) until the
/// tunnel ends; `early`: bytes the client sent after its request head,
/// which the upstream gets first.
pub async fn join<CR, CW, UR, UW>(
    (cr, cw): (CR, CW),
    (ur, mut uw): (UR, UW),
    early: &[u8],
    limits: TunnelLimits,
    drain: &Watch,
) -> Ended
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    let (up, down, last) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let epoch = Instant::now();
    let ended = |reason| Ended {
        to_upstream: up.load(Ordering::Relaxed) + early.len() as u64,
        to_client: down.load(Ordering::Relaxed),
        reason,
    };
    if !early.is_empty() && uw.write_all(early).await.is_err() {
        return ended(EndReason::Error);
    }
    let both = async {
        tokio::try_join!(
            pipe(cr, uw, &up, &last, epoch),
            pipe(ur, cw, &down, &last, epoch)
        )
    };
    let idle = async {
        loop {
            let quiet_since = epoch + Duration::from_millis(last.load(Ordering::Relaxed));
            let due = quiet_since + limits.idle_timeout;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    };
    let mut on_drain = pin!(drain.notified());
    on_drain.as_mut().enable();
    let drained = async {
        if !drain.draining() {
            on_drain.await;
        }
        tokio::time::sleep(limits.drain_grace).await;
    };
    let reason = tokio::select! {
        r = both => if r.is_ok() { EndReason::Closed } else { EndReason::Error },
        () = idle => EndReason::Idle,
        () = drained => EndReason::Drained,
    };
    ended(reason)
}

/// A 101: write its head, then join the client to the upstream the
/// handler's [`Upgrade`] carries until the tunnel ends. A 101 without one
/// is a handler's bug: the connection closes unanswered.
pub(crate) async fn switch<R, W>(
    rd: &mut R,
    wr: &mut W,
    buf: &mut BytesMut,
    resp: http::Response<crate::body::BoxedBody>,
    request_id: http::HeaderValue,
    drain: &Watch,
) -> bool
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let Some(t) = resp.extensions().get::<Upgrade>().and_then(Upgrade::take) else {
        tracing::error!("a 101 answer without its tunnel");
        return false;
    };
    let id = [(&crate::server::X_REQUEST_ID, request_id)];
    let added: [&[_]; 1] = [&id];
    if crate::write::switching(wr, &resp, &added).await.is_err() {
        (t.on_end)(Ended {
            to_upstream: 0,
            to_client: 0,
            reason: EndReason::Error,
        });
        return false;
    }
    // What the client sent after its head belongs to the tunnel.
    let early = buf.split();
    let upstream = tokio::io::split(t.upstream);
    let ended = join((&mut *rd, &mut *wr), upstream, &early, t.limits, drain).await;
    (t.on_end)(ended);
    false
}
