//! Graceful drain: the listener stops accepting, every connection learns it
//! (idle ones close at once, busy ones after their response, with
//! `Connection: close`), and the server waits until all are gone.
//!
//! Each connection holds a [`Watch`]: a flag to read between requests, a
//! notification to wait on while idle (registered once per connection, so
//! an idle wait costs no allocation or lock), and a token whose drop tells
//! [`Drain::start_and_wait`] that the connection ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::futures::OwnedNotified;
use tokio::sync::{watch, Notify};

struct Signal {
    draining: AtomicBool,
    notify: Arc<Notify>,
}

/// The server's side.
pub struct Drain {
    signal: Arc<Signal>,
    tokens: watch::Sender<()>,
}

/// A connection's side (a clone keeps the drain waiting as long as it lives:
/// an HTTP/2 tunnel's task holds one).
#[derive(Clone)]
pub struct Watch {
    signal: Arc<Signal>,
    _token: watch::Receiver<()>,
}

impl Drain {
    pub fn new() -> Self {
        Drain {
            signal: Arc::new(Signal {
                draining: AtomicBool::new(false),
                notify: Arc::new(Notify::new()),
            }),
            tokens: watch::channel(()).0,
        }
    }

    pub fn watch(&self) -> Watch {
        Watch {
            signal: Arc::clone(&self.signal),
            _token: self.tokens.subscribe(),
        }
    }

    /// Tell every connection, then wait up to `grace` for all of them to
    /// end; `false`: some were still open.
    pub async fn start_and_wait(self, grace: Duration) -> bool {
        self.signal.draining.store(true, Ordering::Release);
        self.signal.notify.notify_waiters();
        tokio::time::timeout(grace, self.tokens.closed())
            .await
            .is_ok()
    }
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Watch {
    pub fn draining(&self) -> bool {
        self.signal.draining.load(Ordering::Acquire)
    }

    /// Completes when the drain starts. Pin it, `enable` it, then check
    /// [`Watch::draining`]: a drain that starts in between is not missed.
    pub fn notified(&self) -> OwnedNotified {
        Arc::clone(&self.signal.notify).notified_owned()
    }
}
