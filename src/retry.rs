//! Retry policy pieces: which methods may be retried, exponential backoff
//! with full jitter, and the per-upstream retry budget.
//!
//! The budget (as in Finagle and linkerd): over a sliding 10 s window,
//! retries may add at most 20% to the upstream's requests, plus a floor of
//! 10 retries per second so quiet upstreams can still retry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use resilience::backoff::Backoff;

// The runtime's clock: tests run the budget on paused time.
use tokio::time::Instant;

use http::Method;

pub const WINDOW_SECS: u64 = 10;
pub const RETRY_RATIO: f64 = 0.2;
pub const MIN_RETRIES_PER_SEC: u64 = 10;

/// The wire's judgement ([`strangler_wire::idempotent`]), one for both.
pub fn idempotent(m: &Method) -> bool {
    strangler_wire::idempotent(m)
}

/// Backoff before retry number `retry` (1-based): uniform in
/// `[0, min(max, base·2^(retry-1))]` (the shared [`Backoff::jittered`]).
pub fn backoff(base: Duration, max: Duration, retry: u32, unit: f64) -> Duration {
    Backoff {
        attempts: retry.saturating_add(1),
        first_delay: base,
        max_delay: max,
    }
    .jittered(retry, unit)
}

/// Sliding-window counts of requests and retries, one bucket per second.
pub struct RetryBudget {
    epoch: Instant,
    /// Per bucket: the second it holds, requests, retries.
    buckets: [[AtomicU64; 3]; WINDOW_SECS as usize],
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl RetryBudget {
    pub fn new(epoch: Instant) -> Self {
        RetryBudget {
            epoch,
            buckets: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(u64::MAX))),
        }
    }

    fn bucket(&self, now: Instant) -> (&[AtomicU64; 3], u64) {
        let sec = now.saturating_duration_since(self.epoch).as_secs();
        let b = &self.buckets[(sec % WINDOW_SECS) as usize];
        let held = b[0].load(Ordering::Acquire);
        if held != sec
            && b[0]
                .compare_exchange(held, sec, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            b[1].store(0, Ordering::Release);
            b[2].store(0, Ordering::Release);
        }
        (b, sec)
    }

    fn totals(&self, now: Instant) -> (u64, u64) {
        let sec = now.saturating_duration_since(self.epoch).as_secs();
        let mut req = 0;
        let mut ret = 0;
        for b in &self.buckets {
            let held = b[0].load(Ordering::Acquire);
            if held != u64::MAX && held + WINDOW_SECS > sec && held <= sec {
                req += b[1].load(Ordering::Acquire);
                ret += b[2].load(Ordering::Acquire);
            }
        }
        (req, ret)
    }

    /// Count a first try.
    pub fn record_request(&self, now: Instant) {
        self.bucket(now).0[1].fetch_add(1, Ordering::AcqRel);
    }

    /// Take permission for one retry; `false` when the budget is spent.
    pub fn try_retry(&self, now: Instant) -> bool {
        let (req, ret) = self.totals(now);
        let allowed = (req as f64 * RETRY_RATIO) as u64 + MIN_RETRIES_PER_SEC * WINDOW_SECS;
        if ret >= allowed {
            return false;
        }
        self.bucket(now).0[2].fetch_add(1, Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let (b, m) = (Duration::from_millis(50), Duration::from_secs(1));
        assert_eq!(backoff(b, m, 1, 1.0), Duration::from_millis(50));
        assert_eq!(backoff(b, m, 3, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(b, m, 10, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(b, m, 3, 0.0), Duration::ZERO);
        assert_eq!(backoff(b, m, 3, 0.5), Duration::from_millis(100));
    }

    #[test]
    fn budget_has_a_floor_and_a_ratio() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(t0);
        let granted = (0..500).filter(|_| budget.try_retry(t0)).count();
        assert_eq!(granted, 100, "the floor: 10 per second over 10 s");
        for _ in 0..1000 {
            budget.record_request(t0);
        }
        let more = (0..500).filter(|_| budget.try_retry(t0)).count();
        assert_eq!(more, 200, "20% of 1000 requests on top of the floor");
        let later = t0 + Duration::from_secs(WINDOW_SECS + 1);
        assert!(budget.try_retry(later), "the window slides");
    }

    /// The window slides with the runtime's clock (paused: no sleeping).
    #[tokio::test(start_paused = true)]
    async fn the_budget_refills_as_time_passes() {
        let budget = RetryBudget::default();
        let spent = (0..500)
            .filter(|_| budget.try_retry(Instant::now()))
            .count();
        assert_eq!(spent, 100);
        assert!(!budget.try_retry(Instant::now()), "spent");
        tokio::time::advance(Duration::from_secs(WINDOW_SECS + 1)).await;
        assert!(budget.try_retry(Instant::now()), "a new window");
    }

    #[test]
    fn idempotent_methods() {
        assert!(
            idempotent(&Method::GET) && idempotent(&Method::PUT) && idempotent(&Method::DELETE)
        );
        assert!(!idempotent(&Method::POST) && !idempotent(&Method::PATCH));
    }
}
