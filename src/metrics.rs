//! Prometheus metrics (all prefixed `strangler_`), registered once per
//! process and carried across reloads. Labels hold `Arc<str>` names, so
//! recording a request clones pointers, never strings.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A label value that is a shared name.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Name(pub Arc<str>);

impl EncodeLabelValue for Name {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Self {
        Name(Arc::from(s))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Name,
    pub upstream: Name,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteUpstream {
    pub route: Name,
    pub upstream: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamKind {
    pub upstream: Name,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabel {
    pub upstream: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamTo {
    pub upstream: Name,
    pub to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Fallback {
    pub route: Name,
    pub from: Name,
    pub to: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOutcome {
    pub route: Name,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteGate {
    pub route: Name,
    pub gate: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoutePhase {
    pub route: Name,
    pub to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RouteUpstream, Histogram, fn() -> Histogram>,
    pub upstream_errors: Family<UpstreamKind, Counter>,
    pub breaker_state: Family<UpstreamLabel, Gauge>,
    pub breaker_transitions: Family<UpstreamTo, Counter>,
    pub retries: Family<RouteLabel, Counter>,
    pub fallbacks: Family<Fallback, Counter>,
    pub shadow_comparisons: Family<RouteOutcome, Counter>,
    /// Shadow log lines dropped because the file did not keep up.
    pub shadow_log_dropped: Counter,
    pub config_reloads: Family<ResultLabel, Counter>,
    pub config_version: Gauge,
    /// Upgraded connections (WebSocket) open now.
    pub tunnels_open: Gauge,
    pub tunnels: Family<RouteLabel, Counter>,
    pub tunnel_bytes: Family<Direction, Counter>,
    /// Percent of clients a ramp sends to its `to` side.
    pub ramp_weight: Family<RouteLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub ramp_transitions: Family<RoutePhase, Counter>,
    /// 1 while a ramp's gate holds (or cannot be judged yet), 0 once failed.
    pub ramp_gate_ok: Family<RouteGate, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A request of `route` sent to `to` instead of `from`.
    pub fn fell_back(&self, route: &Arc<str>, from: &Arc<str>, to: &Arc<str>) {
        self.fallbacks
            .get_or_create(&Fallback {
                route: Name(Arc::clone(route)),
                from: Name(Arc::clone(from)),
                to: Name(Arc::clone(to)),
            })
            .inc();
    }

    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("strangler");
        let m = Metrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            upstream_errors: Family::default(),
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            retries: Family::default(),
            fallbacks: Family::default(),
            shadow_comparisons: Family::default(),
            shadow_log_dropped: Counter::default(),
            config_reloads: Family::default(),
            config_version: Gauge::default(),
            tunnels_open: Gauge::default(),
            tunnels: Family::default(),
            tunnel_bytes: Family::default(),
            ramp_weight: Family::default(),
            ramp_transitions: Family::default(),
            ramp_gate_ok: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests answered, by route, upstream and status code",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to response headers, by route and upstream",
            m.duration.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures by kind (connect, timeout, 5xx, protocol)",
            m.upstream_errors.clone(),
        );
        registry.register(
            "breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            m.breaker_state.clone(),
        );
        registry.register(
            "breaker_transitions",
            "Circuit breaker transitions, by target state",
            m.breaker_transitions.clone(),
        );
        registry.register("retries", "Retried tries, by route", m.retries.clone());
        registry.register(
            "ramp_weight",
            "Percent of clients a ramp sends to its new side, by route",
            m.ramp_weight.clone(),
        );
        registry.register(
            "ramp_transitions",
            "Ramp moves, by route and the state moved to",
            m.ramp_transitions.clone(),
        );
        registry.register(
            "ramp_gate_ok",
            "1 while a ramp's gate holds, 0 once it failed, by route and gate",
            m.ramp_gate_ok.clone(),
        );
        registry.register(
            "tunnels_open",
            "Upgraded connections (WebSocket) open now",
            m.tunnels_open.clone(),
        );
        registry.register(
            "tunnels",
            "Upgraded connections opened, by route",
            m.tunnels.clone(),
        );
        registry.register(
            "tunnel_bytes",
            "Bytes carried by upgraded connections, by direction",
            m.tunnel_bytes.clone(),
        );
        registry.register(
            "fallbacks",
            "Requests served by a fallback upstream",
            m.fallbacks.clone(),
        );
        registry.register(
            "shadow_comparisons",
            "Shadow comparisons by outcome",
            m.shadow_comparisons.clone(),
        );
        registry.register(
            "shadow_log_dropped",
            "Shadow log lines dropped because the log file did not keep up (a stalled disk)",
            m.shadow_log_dropped.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by result",
            m.config_reloads.clone(),
        );
        registry.register(
            "config_version",
            "Version of the configuration in use",
            m.config_version.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A route's request counters and latency histograms, looked up without
/// hashing: the handles of the families' series are kept per (upstream,
/// code) in a small copy-on-write list (written on the first request of a
/// pair, read lock-free after).
#[derive(Default)]
pub struct RouteMetrics {
    slots: arc_swap::ArcSwap<Vec<Slot>>,
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetrics")
            .field("series", &self.slots.load().len())
            .finish()
    }
}

struct Slot {
    upstream: Arc<str>,
    code: u16,
    requests: Counter,
    duration: Histogram,
}

/// More pairs than this go straight to the families.
const MAX_SLOTS: usize = 64;

impl RouteMetrics {
    pub fn record(&self, m: &Metrics, route: &Name, upstream: &Name, code: u16, secs: f64) {
        let slots = self.slots.load();
        if let Some(s) = slots
            .iter()
            .find(|s| s.code == code && Arc::ptr_eq(&s.upstream, &upstream.0))
        {
            s.requests.inc();
            s.duration.observe(secs);
            return;
        }
        let pair = RouteUpstream {
            route: route.clone(),
            upstream: upstream.clone(),
        };
        let duration = m.duration.get_or_create(&pair).clone();
        let requests = m
            .requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                upstream: upstream.clone(),
                code,
            })
            .clone();
        requests.inc();
        duration.observe(secs);
        if slots.len() < MAX_SLOTS {
            self.slots.rcu(|cur| {
                let mut next: Vec<Slot> = cur.iter().map(Slot::clone_handles).collect();
                if !next
                    .iter()
                    .any(|s| s.code == code && Arc::ptr_eq(&s.upstream, &upstream.0))
                {
                    next.push(Slot {
                        upstream: Arc::clone(&upstream.0),
                        code,
                        requests: requests.clone(),
                        duration: duration.clone(),
                    });
                }
                next
            });
        }
    }
}

impl Slot {
    fn clone_handles(&self) -> Slot {
        Slot {
            upstream: Arc::clone(&self.upstream),
            code: self.code,
            requests: self.requests.clone(),
            duration: self.duration.clone(),
        }
    }
}
