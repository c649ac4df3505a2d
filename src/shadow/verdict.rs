//! The verdict's statistics: how sure a match rate is, and when it is sure
//! enough.
//!
//! A match rate of 100 of 100 says little: with 95% confidence the true
//! rate is anywhere from 96.3% to 100%. So a route is `ready` when the
//! **lower bound of the 95% Wilson score interval** of its match rate is at
//! or above its threshold ([`ReadyRule::min_match`], 99.9% by default), and
//! at least [`ReadyRule::min_compared`] comparisons were made (100).
//!
//! - [`wilson`]: the interval for `k` successes of `n` (E. B. Wilson, 1927);
//! - [`more_needed`]: how many more comparisons, all matching, would make the
//!   lower bound reach the threshold — the report's "about N more";
//! - [`percent`]: a rate as the report prints it, floored to 0.01% (99.89%
//!   never shows as 99.90%).
//!
//! At 99.9% an all-matching route needs 3,838 comparisons: the lower bound of
//! `n` of `n` is `n / (n + z²)`.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// When a route is ready: `shadow.ready` of a route in routes.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadyRule {
    /// The lower bound of the match rate's 95% interval must reach this
    /// (a fraction: 0.999 is 99.9%).
    pub min_match: f64,
    /// And at least this many comparisons were made.
    pub min_compared: u64,
}

impl Default for ReadyRule {
    fn default() -> Self {
        ReadyRule {
            min_match: 0.999,
            min_compared: 100,
        }
    }
}

/// A 95% confidence interval of a rate, both ends fractions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval of `k` successes in `n` trials at `z`; `None`
/// when `n` is 0. Unlike the normal approximation it stays within [0, 1] and
/// is not degenerate at 0 or `n` successes.
pub fn wilson(k: u64, n: u64, z: f64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(Interval {
        low: (center - half).clamp(0.0, 1.0),
        high: (center + half).clamp(0.0, 1.0),
    })
}

/// Whether `matched` of `compared` satisfies `rule` (shadow errors aside).
pub fn sure_enough(matched: u64, compared: u64, rule: &ReadyRule) -> bool {
    compared >= rule.min_compared
        && wilson(matched, compared, Z95).is_some_and(|i| i.low >= rule.min_match)
}

/// The fewest further comparisons, all matching, after which `matched` of
/// `compared` satisfies `rule`: 0 when it already does; `None` when no
/// number would (a threshold of 100% or more, never reached by a bound).
pub fn more_needed(matched: u64, compared: u64, rule: &ReadyRule) -> Option<u64> {
    if rule.min_match >= 1.0 || rule.min_match.is_nan() {
        return None;
    }
    let ok = |k: u64| sure_enough(matched + k, compared + k, rule);
    if ok(0) {
        return Some(0);
    }
    // The bound grows with every matching comparison: double, then halve.
    const LIMIT: u64 = 1 << 50;
    let mut high = 1;
    while !ok(high) {
        high *= 2;
        if high > LIMIT {
            return None;
        }
    }
    let mut low = high / 2; // !ok(low), or low == 0 and !ok(0)
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if ok(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(high)
}

/// A fraction as a percentage with two decimals, floored: `99.89%`.
pub fn percent(rate: f64) -> String {
    let bp = (rate.clamp(0.0, 1.0) * 10_000.0 + 1e-9).floor() as u64;
    format!("{}.{:02}%", bp / 100, bp % 100)
}

/// A threshold as written in routes.yaml: `99.9%` (as many decimals as it has, up to 4).
pub fn threshold(rate: f64) -> String {
    let s = format!("{:.4}", rate * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    /// Values from the closed forms (`n` of `n`: low = n / (n + z²);
    /// 0 of `n`: high = z² / (n + z²)), and others computed apart from this
    /// code (Python, the textbook formula, z = 1.959964).
    #[test]
    fn wilson_matches_known_values() {
        let i = wilson(100, 100, Z95).unwrap();
        // n of n: the lower bound is n / (n + z²).
        assert!(close(i.low, 100.0 / (100.0 + Z95 * Z95)), "{i:?}");
        assert!(close(i.low, 0.96300), "{i:?}");
        assert_eq!(i.high, 1.0);
        let i = wilson(0, 10, Z95).unwrap();
        assert_eq!(i.low, 0.0);
        assert!(close(i.high, 0.27753), "{i:?}");
        let i = wilson(5, 10, Z95).unwrap();
        assert!(close(i.low, 0.23659) && close(i.high, 0.76341), "{i:?}");
        let i = wilson(81, 263, Z95).unwrap();
        assert!(close(i.low, 0.25529) && close(i.high, 0.36621), "{i:?}");
        let i = wilson(999, 1000, Z95).unwrap();
        assert!(close(i.low, 0.99435) && close(i.high, 0.99982), "{i:?}");
        assert!(wilson(0, 0, Z95).is_none());
    }

    #[test]
    fn one_hundred_of_one_hundred_is_not_enough_at_99_9() {
        let rule = ReadyRule::default();
        assert!(!sure_enough(100, 100, &rule));
        // n / (n + z²) >= 0.999 from n = 3838 on.
        assert_eq!(more_needed(100, 100, &rule), Some(3738));
        assert!(sure_enough(3838, 3838, &rule));
        assert!(!sure_enough(3837, 3837, &rule));
        assert_eq!(more_needed(3838, 3838, &rule), Some(0));
    }

    #[test]
    fn more_needed_counts_mismatches_and_the_minimum() {
        let rule = ReadyRule {
            min_match: 0.95,
            min_compared: 200,
        };
        // 100 of 100 clears 95% (96.3%) but not the minimum count.
        assert_eq!(more_needed(100, 100, &rule), Some(100));
        // Each mismatch costs matching comparisons.
        let any = ReadyRule {
            min_compared: 1,
            ..rule
        };
        assert_eq!(more_needed(100, 100, &any), Some(0));
        let one = more_needed(99, 100, &any).unwrap();
        let two = more_needed(98, 100, &any).unwrap();
        assert!(0 < one && one < two, "{one} {two}");
        let k = more_needed(90, 100, &rule).unwrap();
        assert!(sure_enough(90 + k, 100 + k, &rule));
        assert!(!sure_enough(90 + k - 1, 100 + k - 1, &rule));
        let never = ReadyRule {
            min_match: 1.0,
            min_compared: 1,
        };
        assert_eq!(more_needed(5, 5, &never), None);
    }

    #[test]
    fn rates_print_floored() {
        assert_eq!(percent(0.99899), "99.89%");
        assert_eq!(percent(1.0), "100.00%");
        assert_eq!(percent(0.963), "96.30%");
        assert_eq!(threshold(0.999), "99.9%");
        assert_eq!(threshold(0.95), "95%");
        assert_eq!(threshold(0.99995), "99.995%");
    }
}
