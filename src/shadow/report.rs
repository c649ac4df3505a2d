//! The shadow-diff report: per route, is the new service ready to take over?
//!
//! A [`ReportBuilder`] is fed [`ShadowRecord`]s one by one, in time order, and keeps a
//! bounded [`RouteStats`] per route: the live proxy holds one in memory for `GET /-/shadow`;
//! `strangler report` fills one from log files, streamed and merged by `ts`
//! (`shadow::stream`). [`ReportBuilder::report`] snapshots it as a [`Report`].
//!
//! Counts, per route:
//! - `compared` = `matched` + `mismatched`: both sides answered and were compared;
//! - `shadow_errors`: copies sent that produced nothing to compare (not in `compared`);
//! - `skipped`: copies never sent, by reason (not in `compared`);
//! - `match_rate` = `matched / compared` (null when nothing was compared).
//!
//! The verdict is `ready` when `compared` ≥ 100, the match rate ≥ 99.9%, and none of the
//! last 100 attempts (match, mismatch or shadow error, in feed order) was a shadow error;
//! otherwise `not_ready` with every failed condition in `reason`.
//!
//! Latency p50/p99 come from compared pairs only, so primary and shadow are measured on the
//! same requests, from log-bucketed histograms (8 buckets per doubling: within ~5%).
//! Differing pointers are counted once per record, for at most [`MAX_POINTERS`] distinct
//! pointers per route; diffs at pointers beyond that are counted in `other_pointer_diffs`.
//!
//! JSON shape (what `GET /-/shadow` returns): an object keyed by route name, like
//! `/-/breakers`: `{"payments": {"compared": 120, ..., "verdict": "ready", "reason": null}}`.

pub use super::latency::LatencyHistogram;
use super::record::{Outcome, ShadowRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Comparisons needed before a route can be ready.
pub const MIN_COMPARED: u64 = 100;
/// How many recent attempts must be free of shadow errors.
pub const RECENT_WINDOW: usize = 100;
/// Distinct differing pointers tracked per route.
pub const MAX_POINTERS: usize = 2000;
/// Pointers listed in a report, most frequent first.
pub const TOP_POINTERS: usize = 10;
/// Routes tracked by one builder; records of further routes are only counted.
pub const MAX_ROUTES: usize = 1000;
const MAX_TEXT: usize = 256;
/// Everything kept about one route, in bounded memory.
#[derive(Debug, Clone, Default)]
pub struct RouteStats {
    matched: u64,
    mismatched: u64,
    shadow_errors: BTreeMap<String, u64>,
    skipped: BTreeMap<String, u64>,
    /// pointer -> (records with a diff there, one example request id).
    pointers: HashMap<String, (u64, String)>,
    other_pointer_diffs: u64,
    primary_latency: LatencyHistogram,
    shadow_latency: LatencyHistogram,
    /// The last [`RECENT_WINDOW`] attempts: true for a shadow error.
    recent: VecDeque<bool>,
}

impl RouteStats {
    pub fn add(&mut self, r: &ShadowRecord) {
        let reason = || clip(r.reason.as_deref().unwrap_or("unknown"));
        match r.outcome {
            Outcome::Skipped => *self.skipped.entry(reason()).or_default() += 1,
            Outcome::ShadowError => *self.shadow_errors.entry(reason()).or_default() += 1,
            Outcome::Match => self.matched += 1,
            Outcome::Mismatch => self.mismatched += 1,
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
        let mut seen: Vec<&str> = Vec::new();
        for d in &r.diffs {
            if seen.contains(&d.pointer.as_str()) {
                continue;
            }
            seen.push(&d.pointer);
            let len = self.pointers.len();
            match self.pointers.get_mut(&clip(&d.pointer)) {
                Some((n, _)) => *n += 1,
                None if len >= MAX_POINTERS => self.other_pointer_diffs += 1,
                None => drop(
                    self.pointers
                        .insert(clip(&d.pointer), (1, clip(&r.request_id))),
                ),
            }
        }
    }

    pub fn report(&self) -> RouteReport {
        let compared = self.matched + self.mismatched;
        let errors_recent = self.recent.iter().filter(|e| **e).count();
        let mut why = Vec::new();
        if compared < MIN_COMPARED {
            why.push(format!("only {compared} of {MIN_COMPARED} comparisons"));
        }
        if compared > 0 && self.matched * 1000 < compared * 999 {
            let bp = self.matched * 10_000 / compared; // floored, so 99.89% never shows as 99.90%
            why.push(format!("match rate {}.{:02}% < 99.9%", bp / 100, bp % 100));
        }
        if errors_recent > 0 {
            let s = if errors_recent == 1 { "" } else { "s" };
            why.push(format!(
                "{errors_recent} shadow error{s} in the last {}",
                self.recent.len()
            ));
        }
        let mut top: Vec<PointerCount> = (self.pointers.iter())
            .map(|(p, (n, id))| PointerCount {
                pointer: p.clone(),
                count: *n,
                example_request_id: id.clone(),
            })
            .collect();
        top.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.pointer.cmp(&b.pointer))
        });
        top.truncate(TOP_POINTERS);
        let summary = |h: &LatencyHistogram| LatencySummary {
            count: h.count(),
            p50: h.quantile(0.5).map(round_us),
            p99: h.quantile(0.99).map(round_us),
        };
        RouteReport {
            compared,
            matched: self.matched,
            mismatched: self.mismatched,
            shadow_errors: self.shadow_errors.values().sum(),
            shadow_errors_by_reason: self.shadow_errors.clone(),
            skipped: self.skipped.clone(),
            match_rate: (compared > 0).then(|| self.matched as f64 / compared as f64),
            top_pointers: top,
            other_pointer_diffs: self.other_pointer_diffs,
            latency_ms: Latencies {
                primary: summary(&self.primary_latency),
                shadow: summary(&self.shadow_latency),
            },
            verdict: if why.is_empty() {
                Verdict::Ready
            } else {
                Verdict::NotReady
            },
            reason: (!why.is_empty()).then(|| why.join("; ")),
        }
    }
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
    untracked: u64,
}

impl ReportBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one record; feed records in `ts` order (see `shadow::stream`).
    pub fn add(&mut self, record: &ShadowRecord) {
        if let Some(stats) = self.routes.get_mut(&*record.route) {
            stats.add(record);
        } else if self.routes.len() < MAX_ROUTES {
            self.routes
                .entry(record.route.to_string())
                .or_default()
                .add(record);
        } else {
            self.untracked += 1;
        }
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

/// The report: route name → [`RouteReport`]; serialises as a plain JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Report {
    pub routes: BTreeMap<String, RouteReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteReport {
    pub compared: u64,
    pub matched: u64,
    pub mismatched: u64,
    pub shadow_errors: u64,
    pub shadow_errors_by_reason: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, u64>,
    pub match_rate: Option<f64>,
    pub top_pointers: Vec<PointerCount>,
    pub other_pointer_diffs: u64,
    pub latency_ms: Latencies,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ready,
    NotReady,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointerCount {
    pub pointer: String,
    pub count: u64,
    pub example_request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    pub primary: LatencySummary,
    pub shadow: LatencySummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
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
