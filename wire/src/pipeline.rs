//! Pipelined HTTP/1.1 to one plain-`http` upstream, for exchanges no client
//! waits on (shadow copies). Bodyless idempotent requests queue on a
//! [`Lane`]; a driver task per connection takes what has queued, writes it
//! in one `send`, and reads the answers back in order — a request costs a
//! share of two syscalls instead of two.
//!
//! ```text
//! submit ─▶ queue ─▶ driver (one per connection; parked when idle, up to
//!                     the upstream's `max_idle`, and gone after 20 s)
//!                     write the batch (one syscall) ─▶ read answers 1..n in order
//!                     a broken connection: the unanswered rest queued again
//! ```
//!
//! One slow answer holds those behind it (head-of-line), so:
//! - a batch holds at most [`BUDGET`] of the upstream's recent time per
//!   answer: a slow upstream gets one request per connection (no
//!   pipelining) and more connections, as without a lane;
//! - an answer's timeout counts from the end of the answer before it, and
//!   its time is what a request sent alone would have seen (see `batch::took`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::sync::Notify;

mod batch;

use super::client::{SendError, POOL_IDLE_TIMEOUT};
use super::conn::readable_alive;

/// Service time a batch may hold (the head-of-line wait of its last request).
/// (It also absorbs the proxy's own scheduling delays, which every answer's
/// time includes: a busy proxy must not take a fast upstream for a slow one.)
pub const BUDGET: Duration = Duration::from_millis(10);
const MAX_BATCH: usize = 32;
/// Connections (drivers) per lane; the shadow's `max_inflight` bounds them first.
const MAX_DRIVERS: usize = 512;

/// One exchange on a lane.
pub trait Job: Send + Sync + 'static {
    fn method(&self) -> &Method;
    /// The request (head; bodyless) appended to `out`.
    fn write(&mut self, out: &mut Vec<u8>);
    /// How long the upstream may take on it.
    fn timeout(&self) -> Duration;
    /// A longer body is not kept ([`Answer::body`] is `None`).
    fn max_body(&self) -> u64;
    /// Which answer fields it reads ([`Answer::fields`]; by default none).
    fn keeps(&self, _name: &[u8]) -> bool {
        false
    }
    /// The answer or why there is none, and the upstream's time on it.
    fn finish(self: Box<Self>, answer: Result<Answer, SendError>, took: Duration);
}

pub struct Answer {
    pub status: StatusCode,
    /// The fields the job [`Job::keeps`].
    pub fields: super::kept::Fields,
    /// `None`: longer than the job's `max_body`.
    pub body: Option<Bytes>,
}

pub(super) struct Queued {
    pub(super) job: Box<dyn Job>,
    /// Sent once already as the first request of a new connection that
    /// closed before answering it.
    pub(super) resent: bool,
}

struct State {
    queue: VecDeque<Queued>,
    /// Idle drivers, each waiting on its own notification.
    parked: Vec<Arc<Notify>>,
    drivers: usize,
    /// Drivers woken or started that have not taken their batch yet.
    coming: usize,
    /// [`BUDGET`], µs.
    budget_us: f64,
    /// Moving average of the time a batch took per answer, µs.
    service_us: f64,
    /// Moving average of a batch's first answer time, µs.
    first_us: Option<f64>,
}

impl State {
    fn batch(&self) -> usize {
        ((self.budget_us / self.service_us.max(1.0)) as usize).clamp(1, MAX_BATCH)
    }
}

pub struct Lane {
    authority: String,
    connect_timeout: Duration,
    /// Idle connections kept at most (the upstream's `max_idle`).
    max_idle: usize,
    state: Mutex<State>,
}

impl Lane {
    pub fn new(authority: &str, connect_timeout: Duration, max_idle: usize) -> Arc<Lane> {
        Lane::with_budget(authority, connect_timeout, max_idle, BUDGET)
    }

    /// As [`Lane::new`], with another head-of-line budget than [`BUDGET`].
    pub fn with_budget(
        authority: &str,
        connect_timeout: Duration,
        max_idle: usize,
        budget: Duration,
    ) -> Arc<Lane> {
        Arc::new(Lane {
            authority: authority.to_owned(),
            connect_timeout,
            max_idle,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                parked: Vec::new(),
                drivers: 0,
                coming: 0,
                // Until answers say otherwise, one request per connection.
                budget_us: budget.as_micros() as f64,
                service_us: budget.as_micros() as f64,
                first_us: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `job`; it is finished (answered or failed) later, on a driver.
    pub fn submit(self: &Arc<Self>, job: Box<dyn Job>) {
        let start = {
            let mut st = self.lock();
            st.queue.push_back(Queued { job, resent: false });
            wake(&mut st)
        };
        if start {
            start_driver(Arc::clone(self));
        }
    }

    /// The baseline for the answers after a batch's first, which took
    /// `first`: the smaller of it and the usual first-answer time (so that
    /// a slow first answer does not make those behind it look slow).
    pub(super) fn baseline(&self, first: Duration) -> Duration {
        let mut st = self.lock();
        let usual = st
            .first_us
            .map_or(first, |us| Duration::from_micros(us as u64));
        let us = first.as_micros() as f64;
        st.first_us = Some(st.first_us.map_or(us, |old| old * 0.8 + us * 0.2));
        first.min(usual)
    }

    /// `n` answers took `took` in all, from the write.
    pub(super) fn observe(&self, took: Duration, n: usize) {
        let each = took.as_micros() as f64 / n.max(1) as f64;
        let mut st = self.lock();
        st.service_us = st.service_us * 0.8 + each * 0.2;
    }

    /// Queue again, in order, what a broken connection left unanswered
    /// (RFC 9112 §9.3.2). `charged`: the first of them was the first request
    /// of a new connection that closed before answering it — it may be what
    /// broke it, and is sent once more at most. The others were not started
    /// by a sequential server, or met a close that was not theirs (an idle
    /// connection closed under it, a server ending a connection after some
    /// answers): they go again as they are. Each broken connection either
    /// answered something or charged a request, so this ends.
    pub(super) fn requeue(&self, rest: Vec<Queued>, charged: bool) {
        let mut rest = rest.into_iter();
        let mut failed = None;
        {
            let mut st = self.lock();
            let first = if charged { rest.next() } else { None };
            for q in rest.rev() {
                st.queue.push_front(q);
            }
            match first {
                Some(q) if q.resent => failed = Some(q),
                Some(q) => st.queue.push_front(Queued {
                    job: q.job,
                    resent: true,
                }),
                None => {}
            }
        }
        if let Some(q) = failed {
            q.job.finish(Err(SendError::Closed), Duration::ZERO);
        }
    }
}

/// Whether more drivers are needed for what is queued: a parked one is
/// woken, or (`true`) a new one should be started.
fn wake(st: &mut State) -> bool {
    if st.queue.len() <= st.coming * st.batch() {
        return false;
    }
    st.coming += 1;
    if let Some(n) = st.parked.pop() {
        n.notify_one();
        return false;
    }
    if st.drivers < MAX_DRIVERS {
        st.drivers += 1;
        return true;
    }
    st.coming -= 1;
    false
}

/// What a driver does after looking at the queue.
enum Next {
    /// Send what it took (`true`: and start another driver for the rest).
    Run(bool),
    /// Wait for work, idle.
    Park,
    /// Close its connection and end.
    Retire,
}

fn start_driver(lane: Arc<Lane>) {
    tokio::spawn(drive(lane));
}

/// One connection's loop: take a batch, send it, read its answers.
async fn drive(lane: Arc<Lane>) {
    let me = Arc::new(Notify::new());
    let mut claimed = true;
    let mut conn: Option<batch::Conn> = None;
    let mut batch: Vec<Queued> = Vec::new();
    let mut out = Vec::new();
    loop {
        let start = {
            let mut st = lane.lock();
            if claimed {
                st.coming = st.coming.saturating_sub(1);
                claimed = false;
            }
            let n = st.batch().min(st.queue.len());
            batch.extend(st.queue.drain(..n));
            if !batch.is_empty() {
                Next::Run(wake(&mut st))
            } else if st.parked.len() >= lane.max_idle {
                // As many idle connections as the upstream's `max_idle` already.
                st.drivers -= 1;
                Next::Retire
            } else {
                st.parked.push(Arc::clone(&me));
                Next::Park
            }
        };
        match start {
            Next::Retire => return,
            Next::Run(true) => start_driver(Arc::clone(&lane)),
            Next::Run(false) | Next::Park => {}
        }
        if batch.is_empty() {
            if tokio::time::timeout(POOL_IDLE_TIMEOUT, me.notified())
                .await
                .is_err()
            {
                let retired = {
                    let mut st = lane.lock();
                    let at = st.parked.iter().position(|n| Arc::ptr_eq(n, &me));
                    if let Some(i) = at {
                        st.parked.swap_remove(i);
                        st.drivers -= 1;
                    }
                    at.is_some()
                };
                if retired {
                    return;
                }
                // Woken just as the idle time ran out: the wake-up is stored.
                me.notified().await;
            }
            claimed = true;
            continue;
        }
        conn = batch::run(
            &lane,
            conn.filter(|c| readable_alive(&c.rd)),
            &mut batch,
            &mut out,
        )
        .await;
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
