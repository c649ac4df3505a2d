//! A circuit breaker: in the proxy one per upstream, shared by every route
//! and shadow copy; in the order service one per peer.
//!
//! ```text
//!            failure_threshold consecutive failures
//!   Closed ────────────────────────────────────────▶ Open
//!     ▲                                               │ recovery_timeout passed
//!     │ success_threshold successes                   ▼
//!     └───────────────────────────────────────── HalfOpen ──(one failure)──▶ Open
//!                    (half_open_requests trials at once)
//! ```
//!
//! [`Core`] is the pure state machine (time passed in). [`Breaker`] wraps it
//! for concurrent use: while closed with no failures counted, admitting and
//! recording a success touch only atomics; the mutex is taken on failures and
//! transitions. A [`Permit`] that is dropped unused (the client went away)
//! frees its half-open slot, so the breaker cannot stick half-open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

// The runtime's clock: tests run the breaker on paused time.
use tokio::time::Instant;

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Consecutive failures that open it.
    pub failure_threshold: u32,
    /// Open → half-open after this.
    pub recovery_timeout: Duration,
    /// Half-open trial successes that close it.
    pub success_threshold: u32,
    /// Trial requests let through at once while half-open.
    pub half_open_requests: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
    /// The `breaker_state` gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> i64 {
        match self {
            State::Closed => 0,
            State::HalfOpen => 1,
            State::Open => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: &'static str,
}

/// The pure state machine.
#[derive(Debug, Clone)]
pub struct Core {
    cfg: Settings,
    state: State,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trials_inflight: u32,
    trial_successes: u32,
}

/// Admission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead; `trial` when this is a half-open probe.
    Yes { trial: bool },
    /// Fail fast; half-open in `retry_after` (zero when only the trial slots are full).
    No { retry_after: Duration },
}

impl Core {
    pub fn new(cfg: Settings) -> Self {
        Core {
            cfg,
            state: State::Closed,
            consecutive_failures: 0,
            opened_at: None,
            trials_inflight: 0,
            trial_successes: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
    pub fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// While open: how long until trial requests are let through.
    pub fn half_open_in(&self, now: Instant) -> Option<Duration> {
        match (self.state, self.opened_at) {
            (State::Open, Some(t)) => {
                Some((t + self.cfg.recovery_timeout).saturating_duration_since(now))
            }
            _ => None,
        }
    }

    pub fn admit(&mut self, now: Instant) -> (Admit, Option<Transition>) {
        let mut transition = None;
        if self.state == State::Open {
            let until = self
                .opened_at
                .map_or(now, |t| t + self.cfg.recovery_timeout);
            if now < until {
                return (
                    Admit::No {
                        retry_after: until - now,
                    },
                    None,
                );
            }
            transition = Some(self.go(State::HalfOpen, "recovery_timeout elapsed"));
        }
        match self.state {
            State::Closed => (Admit::Yes { trial: false }, transition),
            State::HalfOpen if self.trials_inflight < self.cfg.half_open_requests => {
                self.trials_inflight += 1;
                (Admit::Yes { trial: true }, transition)
            }
            _ => (
                Admit::No {
                    retry_after: Duration::from_secs(1),
                },
                transition,
            ),
        }
    }

    /// Record the outcome of an admitted request.
    pub fn record(&mut self, trial: bool, success: bool, now: Instant) -> Option<Transition> {
        if trial {
            self.trials_inflight = self.trials_inflight.saturating_sub(1);
        }
        match (self.state, success) {
            (State::Closed, true) => {
                self.consecutive_failures = 0;
                None
            }
            (State::Closed, false) => {
                self.consecutive_failures += 1;
                (self.consecutive_failures >= self.cfg.failure_threshold).then(|| {
                    self.opened_at = Some(now);
                    self.go(State::Open, "failure_threshold consecutive failures")
                })
            }
            (State::HalfOpen, true) if trial => {
                self.trial_successes += 1;
                (self.trial_successes >= self.cfg.success_threshold).then(|| {
                    self.consecutive_failures = 0;
                    self.go(State::Closed, "success_threshold trial successes")
                })
            }
            (State::HalfOpen, false) => {
                self.consecutive_failures += 1;
                self.opened_at = Some(now);
                Some(self.go(State::Open, "a half-open trial failed"))
            }
            // Late answers from before the breaker opened, or non-trial
            // successes while half-open: they do not move the state.
            (State::Open, false) => {
                self.consecutive_failures += 1;
                None
            }
            (State::Open, true) | (State::HalfOpen, true) => None,
        }
    }

    /// A trial that ended without an outcome (client gone): free its slot.
    pub fn abandon(&mut self, trial: bool) {
        if trial {
            self.trials_inflight = self.trials_inflight.saturating_sub(1);
        }
    }

    fn go(&mut self, to: State, reason: &'static str) -> Transition {
        let from = self.state;
        self.state = to;
        self.trials_inflight = 0;
        self.trial_successes = 0;
        if to == State::Closed {
            self.opened_at = None;
        }
        Transition { from, to, reason }
    }
}

/// Called on every transition (logging, metrics).
pub type OnTransition = Arc<dyn Fn(&str, Transition) + Send + Sync>;

/// A shareable breaker for one upstream.
pub struct Breaker {
    name: Arc<str>,
    core: Mutex<Core>,
    /// True while closed with zero consecutive failures: the lock-free path.
    healthy: AtomicBool,
    opened_wall: Mutex<Option<SystemTime>>,
    on_transition: OnTransition,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name)
            .field("state", &self.status().state)
            .finish()
    }
}

/// Snapshot for `GET /-/breakers`.
#[derive(Debug, Clone)]
pub struct BreakerStatus {
    pub state: State,
    pub consecutive_failures: u32,
    pub opened_at: Option<SystemTime>,
    /// While open: how long until trials are let through (zero: the next
    /// request is one).
    pub half_open_in: Option<Duration>,
}

impl Breaker {
    pub fn new(name: &str, cfg: Settings, on_transition: OnTransition) -> Arc<Self> {
        Arc::new(Breaker {
            name: Arc::from(name),
            core: Mutex::new(Core::new(cfg)),
            healthy: AtomicBool::new(true),
            opened_wall: Mutex::new(None),
            on_transition,
        })
    }

    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> (R, Option<Transition>)) -> R {
        let (r, t, healthy) = {
            let mut core = match self.core.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            let (r, t) = f(&mut core);
            let healthy = core.state() == State::Closed && core.consecutive_failures() == 0;
            (r, t, healthy)
        };
        self.healthy.store(healthy, Ordering::Release);
        if let Some(t) = t {
            if let Ok(mut w) = self.opened_wall.lock() {
                *w = (t.to == State::Open)
                    .then(SystemTime::now)
                    .or(if t.to == State::Closed { None } else { *w });
            }
            (self.on_transition)(&self.name, t);
        }
        r
    }

    /// Ask to send a request; `Err(retry_after)` when the breaker is open.
    pub fn acquire(self: &Arc<Self>) -> Result<Permit, Duration> {
        if self.healthy.load(Ordering::Acquire) {
            return Ok(Permit {
                breaker: Arc::clone(self),
                trial: false,
                done: false,
            });
        }
        match self.with_core(|c| c.admit(Instant::now())) {
            Admit::Yes { trial } => Ok(Permit {
                breaker: Arc::clone(self),
                trial,
                done: false,
            }),
            Admit::No { retry_after } => Err(retry_after),
        }
    }

    pub fn status(&self) -> BreakerStatus {
        let core = match self.core.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let opened_at = self.opened_wall.lock().ok().and_then(|w| *w);
        BreakerStatus {
            state: core.state(),
            consecutive_failures: core.consecutive_failures(),
            opened_at,
            half_open_in: core.half_open_in(Instant::now()),
        }
    }
}

/// Permission to send one request; record its outcome, or drop it to abandon.
pub struct Permit {
    breaker: Arc<Breaker>,
    trial: bool,
    done: bool,
}

impl Permit {
    pub fn record(mut self, success: bool) {
        self.done = true;
        if success && !self.trial && self.breaker.healthy.load(Ordering::Acquire) {
            return;
        }
        let trial = self.trial;
        self.breaker
            .with_core(|c| ((), c.record(trial, success, Instant::now())));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.trial {
            let trial = self.trial;
            self.breaker.with_core(|c| {
                c.abandon(trial);
                ((), None)
            });
        }
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
