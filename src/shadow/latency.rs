//! Latency histogram of the shadow report: log-spaced buckets, fixed
//! memory, p50/p99 within one bucket's width (~9%).

const PER_OCTAVE: f64 = 8.0;
const BUCKETS: usize = 8 * 28;
const MIN_MS: f64 = 0.01;

/// Latencies in log-spaced buckets from 0.01 ms to ~45 min: fixed memory, mergeable.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: [u64; BUCKETS],
    total: u64,
    min: f64,
    max: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: [0; BUCKETS],
            total: 0,
            min: f64::INFINITY,
            max: 0.0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        let i = if ms <= MIN_MS {
            0
        } else {
            ((ms / MIN_MS).log2() * PER_OCTAVE) as usize + 1
        };
        self.counts[i.min(BUCKETS - 1)] += 1;
        self.total += 1;
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
    }

    /// The `q` quantile (0..=1), from the bucket's geometric middle; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        let i = self.counts.iter().position(|&c| {
            seen += c;
            seen >= rank
        })?;
        let mid = MIN_MS * ((i as f64 - 0.5) / PER_OCTAVE).exp2();
        Some(mid.clamp(self.min, self.max))
    }

    pub fn count(&self) -> u64 {
        self.total
    }
}
