//! What a shadow-diff report says, per route: the types [`Report`] is made
//! of, as `GET /-/shadow` serialises them (built by `shadow::report`).
//! Fields added since the first version default when missing, so a report
//! saved before them still reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::noise::NoisyPointer;
pub use super::trend::Minute;
pub use super::verdict::{Interval, ReadyRule};

/// The report: route name → [`RouteReport`]; serialises as a plain JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Report {
    pub routes: BTreeMap<String, RouteReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteReport {
    /// `matched` + `noise` + `mismatched`.
    pub compared: u64,
    pub matched: u64,
    pub mismatched: u64,
    /// Differed only where the primary differs from itself.
    #[serde(default)]
    pub noise: u64,
    /// The primary asked twice, to learn its noise.
    #[serde(default)]
    pub noise_probes: u64,
    pub shadow_errors: u64,
    pub shadow_errors_by_reason: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, u64>,
    /// `(matched + noise) / compared`.
    pub match_rate: Option<f64>,
    /// The match rate's 95% Wilson score interval.
    #[serde(default)]
    pub match_interval: Option<Interval>,
    /// What `ready` takes on this route.
    #[serde(default)]
    pub ready_rule: ReadyRule,
    /// About how many more comparisons, all matching, make the route ready
    /// (0 once the match rate is sure enough; null when none would).
    #[serde(default)]
    pub more_needed: Option<u64>,
    pub top_pointers: Vec<PointerCount>,
    pub other_pointer_diffs: u64,
    /// Where the primary differs from itself, most often first.
    #[serde(default)]
    pub noisy_pointers: Vec<NoisyPointer>,
    pub latency_ms: Latencies,
    /// The first and last record's `ts`.
    #[serde(default)]
    pub window: Option<Window>,
    /// Comparisons per minute, the last hour of records, oldest first.
    #[serde(default)]
    pub trend: Vec<Minute>,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ready,
    NotReady,
}

/// A pointer where answers differed: how often, and the first time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointerCount {
    pub pointer: String,
    pub count: u64,
    pub example_request_id: String,
    /// The example's primary value (summarised when large).
    #[serde(default)]
    pub primary: Option<Value>,
    /// The example's shadow value.
    #[serde(default)]
    pub shadow: Option<Value>,
    /// The primary differs from itself here (`shadow::noise`).
    #[serde(default)]
    pub noise: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub from: String,
    pub to: String,
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
