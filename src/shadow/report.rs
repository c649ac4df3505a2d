//! The shadow-diff report: per route, is the new service ready to take over?
//!
//! A [`ReportBuilder`] is fed [`ShadowRecord`]s one by one, in time order, and keeps a
//! bounded [`RouteStats`] per route: the live proxy holds one in memory for `GET /-/shadow`
//! and `GET /-/ui`; `strangler report` fills one from log files, streamed and merged by
//! `ts` (`shadow::stream`). [`ReportBuilder::report`] snapshots it as a [`Report`]
//! (its types: `shadow::report_types`).
//!
//! Counts, per route:
//! - `compared` = `matched` + `noise` + `mismatched`: both sides answered and were
//!   compared; `noise` differed only where the primary differs from itself
//!   (`shadow::noise`, split when the report is built);
//! - `shadow_errors`: copies sent that produced nothing to compare (not in `compared`);
//! - `skipped`: copies never sent, by reason (not in `compared`);
//! - `noise_probes`: the primary asked twice to learn its noise (not in `compared`);
//! - `match_rate` = `(matched + noise) / compared` (null when nothing was compared),
//!   with its 95% Wilson interval `match_interval` (`shadow::verdict`).
//!
//! The verdict is `ready` when `compared` ≥ the route's `ready.min_compared` (100), the
//! interval's lower bound ≥ its `ready.min_match` (99.9%), and none of the last 100
//! attempts (match, noise, mismatch or shadow error, in feed order) was a shadow error;
//! otherwise `not_ready` with every failed condition in `reason`, and `more_needed`: about
//! how many more comparisons, all matching, a `ready` needs.
//!
//! Latency p50/p99 come from compared pairs only, so primary and shadow are measured on the
//! same requests, from log-bucketed histograms (8 buckets per doubling: within ~5%).
//! Differing pointers are counted once per record, with the first record's request id and
//! both values, for at most [`MAX_POINTERS`] distinct pointers per route; diffs at pointers
//! beyond that are counted in `other_pointer_diffs`. `trend` is comparisons per minute over
//! the last hour of records (`shadow::trend`); `window` the first and last record's `ts`.
//!
//! JSON shape (what `GET /-/shadow` returns): an object keyed by route name, like
//! `/-/breakers`: `{"payments": {"compared": 120, ..., "verdict": "ready", "reason": null}}`.

pub use super::latency::LatencyHistogram;
use super::noise::Noise;
use super::record::{format_ts, ts_key, Outcome, ShadowRecord};
pub use super::report_types::*;
use super::trend::Trend;
use super::verdict::{more_needed, percent, threshold, wilson, Z95};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How many recent attempts must be free of shadow errors.
pub const RECENT_WINDOW: usize = 100;
/// Distinct differing pointers tracked per route.
pub const MAX_POINTERS: usize = 2000;
/// Pointers listed in a report, most frequent first.
pub const TOP_POINTERS: usize = 10;
/// Routes tracked by one builder; records of further routes are only counted.
pub const MAX_ROUTES: usize = 1000;
const MAX_TEXT: usize = 256;

/// The first record that differed at a pointer.
#[derive(Debug, Clone)]
struct Example {
    count: u64,
    request_id: String,
    primary: Option<Value>,
    shadow: Option<Value>,
}

/// Everything kept about one route, in bounded memory.
#[derive(Debug, Clone, Default)]
pub struct RouteStats {
    rule: ReadyRule,
    matched: u64,
    /// Comparisons that differed, kept to be split into noise and mismatches.
    noise: Noise,
    shadow_errors: BTreeMap<String, u64>,
    skipped: BTreeMap<String, u64>,
    pointers: HashMap<String, Example>,
    other_pointer_diffs: u64,
    primary_latency: LatencyHistogram,
    shadow_latency: LatencyHistogram,
    /// The last [`RECENT_WINDOW`] attempts: true for a shadow error.
    recent: VecDeque<bool>,
    trend: Trend,
    /// The earliest and latest `ts` seen, as sort keys (no text kept per
    /// record: this runs for every copy).
    first: Option<(i64, u32)>,
    last: Option<(i64, u32)>,
}

impl RouteStats {
    /// A route judged by `rule`.
    pub fn with_rule(rule: ReadyRule) -> Self {
        RouteStats {
            rule,
            ..RouteStats::default()
        }
    }

    pub fn add(&mut self, r: &ShadowRecord) {
        self.window(r);
        let reason = || clip(r.reason.as_deref().unwrap_or("unknown"));
        match r.outcome {
            Outcome::Skipped => *self.skipped.entry(reason()).or_default() += 1,
            Outcome::ShadowError => *self.shadow_errors.entry(reason()).or_default() += 1,
            Outcome::Match => self.matched += 1,
            Outcome::Mismatch | Outcome::Noise => self.noise.differing(r),
            Outcome::Probe => return self.noise.probe(r),
        }
        if r.outcome == Outcome::Skipped {
            return;
        }
        if self.recent.len() == RECENT_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(r.outcome == Outcome::ShadowError);
        if r.outcome == Outcome::ShadowError {
            return;
        }
        self.primary_latency.record(r.primary.latency_ms);
        if let Some(ms) = r.shadow.latency_ms {
            self.shadow_latency.record(ms);
        }
        self.pointers(r);
    }

    fn window(&mut self, r: &ShadowRecord) {
        let Some(key) = ts_key(&r.ts) else { return };
        self.trend.add(key.0, r.outcome);
        if self.first.is_none_or(|k| key < k) {
            self.first = Some(key);
        }
        if self.last.is_none_or(|k| key > k) {
            self.last = Some(key);
        }
    }

    fn pointers(&mut self, r: &ShadowRecord) {
        let mut seen: Vec<&str> = Vec::new();
        for d in &r.diffs {
            if seen.contains(&d.pointer.as_str()) {
                continue;
            }
            seen.push(&d.pointer);
            let len = self.pointers.len();
            match self.pointers.get_mut(&clip(&d.pointer)) {
                Some(e) => e.count += 1,
                None if len >= MAX_POINTERS => self.other_pointer_diffs += 1,
                None => drop(self.pointers.insert(
                    clip(&d.pointer),
                    Example {
                        count: 1,
                        request_id: clip(&r.request_id),
                        primary: d.primary.clone(),
                        shadow: d.shadow.clone(),
                    },
                )),
            }
        }
    }

    /// Whether a differing record differs only where the primary is noisy.
    pub fn only_noise(&self, r: &ShadowRecord) -> bool {
        self.noise.only_noise(r)
    }

    pub fn report(&self) -> RouteReport {
        let (noise, mismatched) = self.noise.split();
        let compared = self.matched + noise + mismatched;
        let agreed = self.matched + noise;
        let interval = wilson(agreed, compared, Z95);
        let errors_recent = self.recent.iter().filter(|e| **e).count();
        let rule = self.rule;
        let mut why = Vec::new();
        if compared < rule.min_compared {
            why.push(format!(
                "only {compared} of {} comparisons",
                rule.min_compared
            ));
        }
        if let Some(i) = interval.filter(|i| i.low < rule.min_match) {
            why.push(format!(
                "match rate {} (95% interval {}–{}) is not surely ≥ {}",
                percent(agreed as f64 / compared as f64),
                percent(i.low),
                percent(i.high),
                threshold(rule.min_match)
            ));
        }
        if errors_recent > 0 {
            let s = if errors_recent == 1 { "" } else { "s" };
            why.push(format!(
                "{errors_recent} shadow error{s} in the last {}",
                self.recent.len()
            ));
        }
        let more = more_needed(agreed, compared, &rule);
        match more {
            Some(0) => {}
            Some(n) => why.push(format!("about {n} more matching comparisons needed")),
            None => why.push("no number of comparisons can reach the threshold".into()),
        }
        let summary = |h: &LatencyHistogram| LatencySummary {
            count: h.count(),
            p50: h.quantile(0.5).map(round_us),
            p99: h.quantile(0.99).map(round_us),
        };
        RouteReport {
            compared,
            matched: self.matched,
            mismatched,
            noise,
            noise_probes: self.noise.probes(),
            shadow_errors: self.shadow_errors.values().sum(),
            shadow_errors_by_reason: self.shadow_errors.clone(),
            skipped: self.skipped.clone(),
            match_rate: (compared > 0).then(|| agreed as f64 / compared as f64),
            match_interval: interval,
            ready_rule: rule,
            more_needed: more,
            top_pointers: self.top(),
            other_pointer_diffs: self.other_pointer_diffs,
            noisy_pointers: self.noise.top(),
            latency_ms: Latencies {
                primary: summary(&self.primary_latency),
                shadow: summary(&self.shadow_latency),
            },
            window: self.first.zip(self.last).map(|(f, l)| Window {
                from: ts_text(f),
                to: ts_text(l),
            }),
            trend: self.trend.minutes(),
            verdict: if why.is_empty() {
                Verdict::Ready
            } else {
                Verdict::NotReady
            },
            reason: (!why.is_empty()).then(|| why.join("; ")),
        }
    }

    fn top(&self) -> Vec<PointerCount> {
        let mut top: Vec<(&String, &Example)> = self.pointers.iter().collect();
        top.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        (top.into_iter().take(TOP_POINTERS))
            .map(|(p, e)| PointerCount {
                pointer: p.clone(),
                count: e.count,
                example_request_id: e.request_id.clone(),
                primary: e.primary.clone(),
                shadow: e.shadow.clone(),
                noise: self.noise.is_noisy(p),
            })
            .collect()
    }
}

/// A sort key back as RFC 3339 UTC, to the millisecond (as the proxy writes it).
fn ts_text((secs, nanos): (i64, u32)) -> String {
    let at = std::time::Duration::new(secs.max(0) as u64, nanos);
    format_ts(std::time::UNIX_EPOCH + at)
}

/// Milliseconds rounded to the microsecond: the histogram is not more precise than that.
fn round_us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Per-route statistics, fed record by record.
#[derive(Debug, Clone, Default)]
pub struct ReportBuilder {
    routes: BTreeMap<String, RouteStats>,
    /// Each route's rule, when known before its first record (`strangler
    /// report --config`); the default otherwise.
    rules: BTreeMap<String, ReadyRule>,
    untracked: u64,
}

impl ReportBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that judges each named route by its own rule.
    pub fn with_rules(rules: BTreeMap<String, ReadyRule>) -> Self {
        ReportBuilder {
            rules,
            ..Self::default()
        }
    }

    /// Adds one record; feed records in `ts` order (see `shadow::stream`).
    pub fn add(&mut self, record: &ShadowRecord) {
        if let Some(stats) = self.stats(&record.route) {
            stats.add(record);
        }
    }

    /// As [`Self::add`], the route now judged by `rule` (the live proxy's,
    /// from the configuration in use).
    pub fn add_judged(&mut self, record: &ShadowRecord, rule: ReadyRule) {
        if let Some(stats) = self.stats(&record.route) {
            stats.rule = rule;
            stats.add(record);
        }
    }

    /// The route's statistics, new if there is room.
    fn stats(&mut self, route: &str) -> Option<&mut RouteStats> {
        if !self.routes.contains_key(route) {
            if self.routes.len() >= MAX_ROUTES {
                self.untracked += 1;
                return None;
            }
            let rule = self.rules.get(route).copied().unwrap_or_default();
            self.routes
                .insert(route.to_string(), RouteStats::with_rule(rule));
        }
        self.routes.get_mut(route)
    }

    /// Whether a differing record of its route differs only at noise.
    pub fn only_noise(&self, record: &ShadowRecord) -> bool {
        (self.routes.get(&*record.route)).is_some_and(|s| s.only_noise(record))
    }

    /// Records of routes beyond [`MAX_ROUTES`], counted but not reported.
    pub fn untracked_records(&self) -> u64 {
        self.untracked
    }

    pub fn report(&self) -> Report {
        Report {
            routes: self
                .routes
                .iter()
                .map(|(k, v)| (k.clone(), v.report()))
                .collect(),
        }
    }
}

/// Feeds `records` (already in order) to a fresh builder.
pub fn build_report<'a>(records: impl IntoIterator<Item = &'a ShadowRecord>) -> Report {
    let mut b = ReportBuilder::new();
    records.into_iter().for_each(|r| b.add(r));
    b.report()
}

#[cfg(test)]
#[path = "report_tests.rs"]
pub(crate) mod tests;
