//! How a route's match rate moved: comparisons per minute over the last
//! hour of its records (by their `ts`), in a ring of at most [`MINUTES`].
//! Each comparison counts as it was recorded (`match` and `noise` agree,
//! `mismatch` does not): the noise learned later does not move past minutes.

use std::collections::VecDeque;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::record::{format_ts, Outcome};

/// Minutes kept.
pub const MINUTES: usize = 60;

/// One minute of one route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minute {
    /// The minute's start, RFC 3339.
    pub at: String,
    /// Comparisons made (match, noise or mismatch).
    pub compared: u64,
    /// Of which agreed (match or noise).
    pub agreed: u64,
    /// Shadow errors.
    pub errors: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    minute: i64,
    compared: u64,
    agreed: u64,
    errors: u64,
}

/// The ring, oldest minute first.
#[derive(Debug, Clone, Default)]
pub struct Trend {
    buckets: VecDeque<Bucket>,
}

impl Trend {
    /// Counts a record made at `secs` since the epoch.
    pub fn add(&mut self, secs: i64, outcome: Outcome) {
        let minute = secs.div_euclid(60);
        let newest = self.buckets.back().map(|b| b.minute);
        if newest.is_some_and(|n| minute <= n - MINUTES as i64) {
            return; // older than the hour kept
        }
        let at = match self.buckets.iter().rposition(|b| b.minute <= minute) {
            Some(i) if self.buckets[i].minute == minute => i,
            found => {
                let i = found.map_or(0, |i| i + 1);
                let fresh = Bucket {
                    minute,
                    ..Bucket::default()
                };
                self.buckets.insert(i, fresh);
                i
            }
        };
        let b = &mut self.buckets[at];
        match outcome {
            Outcome::Match | Outcome::Noise => {
                b.compared += 1;
                b.agreed += 1;
            }
            Outcome::Mismatch => b.compared += 1,
            Outcome::ShadowError => b.errors += 1,
            Outcome::Skipped | Outcome::Probe => {}
        }
        let newest = self.buckets.back().map_or(minute, |b| b.minute);
        while (self.buckets.front()).is_some_and(|b| b.minute <= newest - MINUTES as i64) {
            self.buckets.pop_front();
        }
    }

    /// The minutes with records, oldest first.
    pub fn minutes(&self) -> Vec<Minute> {
        (self.buckets.iter())
            .map(|b| Minute {
                at: format_ts(UNIX_EPOCH + Duration::from_secs((b.minute.max(0) * 60) as u64)),
                compared: b.compared,
                agreed: b.agreed,
                errors: b.errors,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_hour_by_minute() {
        let mut t = Trend::default();
        t.add(120, Outcome::Match);
        t.add(150, Outcome::Mismatch);
        t.add(61, Outcome::Noise); // a little out of order
        t.add(180, Outcome::ShadowError);
        t.add(181, Outcome::Skipped);
        let m = t.minutes();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].at, "1970-01-01T00:01:00.000Z");
        assert_eq!((m[1].compared, m[1].agreed), (2, 1));
        assert_eq!((m[2].compared, m[2].errors), (0, 1));
        // An hour later, the first minutes are gone; older records are ignored.
        t.add(3 * 60 + 3600, Outcome::Match);
        t.add(0, Outcome::Match);
        let m = t.minutes();
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].at, "1970-01-01T01:03:00.000Z");
        for s in 0..200 {
            t.add(10_000 + s * 60, Outcome::Match);
        }
        assert_eq!(t.minutes().len(), MINUTES);
    }
}
