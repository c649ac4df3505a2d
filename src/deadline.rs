//! When an upstream's answer is due, for exchanges hyper drives (https
//! upstreams; the plain-`http` pool has its own, see `strangler_wire::client`).
//!
//! The upstream's `timeout` measures the upstream, never a client's upload:
//!
//! ```text
//! connecting, handshaking ─┐
//! a frame handed to hyper, ├─ the upstream's time: due within `timeout`
//!   not yet taken          │
//! the whole request sent ──┘  (then the answer's head is due)
//! waiting for the client's next frame ── nobody's deadline here: the
//!   body's own idle limit (`limits.body_idle_timeout`) judges the client
//! ```
//!
//! [`Uploading`] wraps the request body and moves the [`Clock`] as hyper
//! polls it; [`Clock::expired`] resolves once the upstream has had the
//! turn for longer than `timeout`.

use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::body::BoxError;

/// Whose turn it is, and since when.
#[derive(Debug, Clone, Copy)]
enum Turn {
    /// The body waits for the client.
    Client,
    /// hyper has what it needs and the upstream must take it.
    Upstream(Instant),
}

/// The turn, and how many times it changed (a deadline is kept only if
/// nothing moved since it was set).
pub struct Clock {
    turn: Mutex<(Turn, u64)>,
    changed: Notify,
}

impl Clock {
    /// Starting now, on the upstream's turn (connect and handshake are its).
    pub fn start() -> Arc<Clock> {
        Arc::new(Clock {
            turn: Mutex::new((Turn::Upstream(Instant::now()), 0)),
            changed: Notify::new(),
        })
    }

    fn set(&self, to: Turn) {
        let mut t = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        if matches!((t.0, to), (Turn::Client, Turn::Client)) {
            return;
        }
        t.0 = to;
        t.1 += 1;
        drop(t);
        self.changed.notify_one();
    }

    fn now(&self) -> (Turn, u64) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves when the upstream has held the turn for `timeout` in one go.
    pub async fn expired(&self, timeout: Duration) {
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let (turn, seen) = self.now();
            match turn {
                Turn::Client => changed.await,
                Turn::Upstream(since) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(since + timeout) => {
                            if self.now().1 == seen {
                                return;
                            }
                        }
                        () = changed => {}
                    }
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A request body that tells its [`Clock`] whose turn it is.
    pub struct Uploading<B> {
        #[pin]
        inner: B,
        clock: Arc<Clock>,
    }
}

impl<B> Uploading<B> {
    pub fn new(inner: B, clock: Arc<Clock>) -> Self {
        Uploading { inner, clock }
    }
}

impl<B> Body for Uploading<B>
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        this.clock.set(match &polled {
            // A frame to write, or the end: the upstream's turn.
            Poll::Ready(Some(Ok(_))) | Poll::Ready(None) => Turn::Upstream(Instant::now()),
            // The client's (its failure ends the exchange anyway).
            Poll::Ready(Some(Err(_))) | Poll::Pending => Turn::Client,
        });
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_clients_turn_never_expires_the_upstreams_does() {
        let clock = Clock::start();
        clock.set(Turn::Client);
        let t = Duration::from_secs(5);
        let waited = tokio::time::timeout(Duration::from_secs(60), clock.expired(t)).await;
        assert!(
            waited.is_err(),
            "a slow client must not expire the upstream's deadline"
        );
        let c = Arc::clone(&clock);
        let start = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            c.set(Turn::Upstream(Instant::now()));
        });
        clock.expired(t).await;
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn progress_moves_the_deadline() {
        let clock = Clock::start();
        let c = Arc::clone(&clock);
        let start = Instant::now();
        tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                c.set(Turn::Upstream(Instant::now()));
            }
        });
        clock.expired(Duration::from_secs(3)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(11));
    }
}
