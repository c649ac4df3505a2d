//! A circuit breaker per peer: a pure state machine, time passed in.
//!
//! ```text
//!            failures >= threshold              recovery elapsed
//!  Closed ───────────────────────────> Open ──────────────────────> HalfOpen (one probe)
//!    ^                                  ^                              │      │
//!    │                                  └────────── probe fails ───────┘      │
//!    └──────────────────────────────── probe succeeds ─────────────────────────┘
//! ```
//!
//! A failure is no answer at all or a 5xx; a 4xx is the peer working as intended. A probe
//! whose outcome is never reported (its caller went away) does not wedge the breaker: after
//! another recovery period a new probe is let through.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { consecutive_failures: u32 },
    Open { since: Instant },
    HalfOpen { probe_sent: Instant },
}

/// The breaker of one peer.
#[derive(Debug, Clone)]
pub struct Breaker {
    /// Consecutive failures that open the circuit.
    threshold: u32,
    /// How long the circuit stays open before a probe is let through.
    recovery: Duration,
    state: State,
}

impl Breaker {
    pub fn new(threshold: u32, recovery: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            recovery,
            state: State::Closed {
                consecutive_failures: 0,
            },
        }
    }

    /// Whether a call may go out now; in half-open, only one probe per recovery period.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            State::Closed { .. } => true,
            State::Open { since } | State::HalfOpen { probe_sent: since } => {
                if now.saturating_duration_since(since) >= self.recovery {
                    self.state = State::HalfOpen { probe_sent: now };
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The peer answered.
    pub fn on_success(&mut self) {
        self.state = State::Closed {
            consecutive_failures: 0,
        };
    }

    /// The peer did not answer, or answered 5xx.
    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed {
                consecutive_failures,
            } if consecutive_failures + 1 < self.threshold => State::Closed {
                consecutive_failures: consecutive_failures + 1,
            },
            State::Closed { .. } | State::HalfOpen { .. } => State::Open { since: now },
            State::Open { since } => State::Open { since },
        };
    }

    /// `closed`, `open` or `half_open`, for `/health`.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECOVERY: Duration = Duration::from_secs(5);

    #[test]
    fn opens_after_consecutive_failures_only() {
        let t = Instant::now();
        let mut b = Breaker::new(3, RECOVERY);
        b.on_failure(t);
        b.on_failure(t);
        b.on_success();
        b.on_failure(t);
        b.on_failure(t);
        assert!(b.allow(t));
        b.on_failure(t);
        assert_eq!(b.state_name(), "open");
        assert!(!b.allow(t + Duration::from_secs(1)));
    }

    #[test]
    fn half_open_lets_one_probe_through() {
        let t = Instant::now();
        let mut b = Breaker::new(1, RECOVERY);
        b.on_failure(t);
        let later = t + RECOVERY;
        assert!(b.allow(later));
        assert_eq!(b.state_name(), "half_open");
        assert!(!b.allow(later), "a second call waits for the probe");
        b.on_success();
        assert_eq!(b.state_name(), "closed");
        assert!(b.allow(later));
    }

    #[test]
    fn a_failed_probe_reopens() {
        let t = Instant::now();
        let mut b = Breaker::new(1, RECOVERY);
        b.on_failure(t);
        assert!(b.allow(t + RECOVERY));
        b.on_failure(t + RECOVERY);
        assert_eq!(b.state_name(), "open");
        assert!(!b.allow(t + RECOVERY + Duration::from_secs(1)));
        assert!(b.allow(t + RECOVERY * 2));
    }

    #[test]
    fn a_lost_probe_does_not_wedge_the_breaker() {
        let t = Instant::now();
        let mut b = Breaker::new(1, RECOVERY);
        b.on_failure(t);
        assert!(b.allow(t + RECOVERY));
        assert!(!b.allow(t + RECOVERY + Duration::from_secs(1)));
        assert!(
            b.allow(t + RECOVERY * 2),
            "a new probe after another period"
        );
    }
}
