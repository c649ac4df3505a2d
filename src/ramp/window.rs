//! What each side of a ramp served during the current step: requests,
//! errors (5xx, including the proxy's 502/503/504 for connect errors and
//! timeouts) and a latency histogram for the p99. Lock-free: a request
//! records with a few relaxed atomic adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket `i` holds latencies up to `BASE_US * GROWTH^i`.
const BUCKETS: usize = 64;
const BASE_US: f64 = 100.0;
const GROWTH: f64 = 1.25;

#[derive(Debug)]
pub struct Side {
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Default for Side {
    fn default() -> Self {
        Side {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A side's raw counts (what a replica publishes for the fleet's leader
/// to add up: see `ramp::fleet`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    /// Latency histogram buckets (see [`BUCKETS`]).
    pub latency: Vec<u64>,
}

impl Counts {
    /// `self` plus `other`.
    pub fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (a, b) in self.latency.iter_mut().zip(&other.latency) {
            *a += b;
        }
    }

    pub fn view(&self) -> SideView {
        let total: u64 = self.latency.iter().sum();
        let p99 = (total > 0).then(|| {
            let want = (total as f64 * 0.99).ceil() as u64;
            let mut seen = 0;
            for (i, c) in self.latency.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return upper_secs(i);
                }
            }
            upper_secs(BUCKETS - 1)
        });
        SideView {
            requests: self.requests,
            errors: self.errors,
            p99,
        }
    }
}

/// A side's counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SideView {
    pub requests: u64,
    pub errors: u64,
    /// Seconds; `None` with no request.
    pub p99: Option<f64>,
}

impl SideView {
    /// Errors per request, in percent.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            100.0 * self.errors as f64 / self.requests as f64
        }
    }
}

fn bucket(d: Duration) -> usize {
    let us = d.as_micros() as f64;
    if us <= BASE_US {
        return 0;
    }
    ((us / BASE_US).ln() / GROWTH.ln())
        .ceil()
        .min((BUCKETS - 1) as f64) as usize
}

fn upper_secs(i: usize) -> f64 {
    BASE_US * GROWTH.powi(i as i32) / 1e6
}

impl Side {
    pub fn record(&self, error: bool, latency: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency[bucket(latency)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: self
                .latency
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
        }
    }

    pub fn view(&self) -> SideView {
        self.counts().view()
    }

    fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        for c in &self.latency {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Both sides of a ramp, over the current step.
#[derive(Debug, Default)]
pub struct Window {
    pub from: Side,
    pub to: Side,
}

impl Window {
    pub fn reset(&self) {
        self.from.reset();
        self.to.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_p99_is_the_bucket_bound_of_the_99th_percentile() {
        let s = Side::default();
        for _ in 0..99 {
            s.record(false, Duration::from_millis(1));
        }
        s.record(true, Duration::from_millis(500));
        let v = s.view();
        assert_eq!((v.requests, v.errors), (100, 1));
        let p99 = v.p99.unwrap();
        assert!((0.001..0.00126).contains(&p99), "{p99}");
        s.record(true, Duration::from_millis(500));
        let p99 = s.view().p99.unwrap();
        assert!((0.5..0.63).contains(&p99), "{p99}");
        assert!((s.view().error_rate() - 100.0 * 2.0 / 101.0).abs() < 1e-9);
        s.reset();
        assert_eq!(s.view(), SideView::default());
    }
}
