//! A route's `ramp:`: a gated, sticky move from one upstream to another.
//!
//! ```yaml
//! ramp:
//!   from: legacy
//!   to: order
//!   steps: [1, 5, 25, 50, 100]          # percent of clients sent to `to`
//!   interval: 10m                       # time at each step...
//!   min_requests: 200                   # ...and at least this many requests on `to`
//!   sticky: { cookie: strangler_orders } # or { header: x-user-id }, or client_ip
//!   gates:
//!     error_rate: { max_increase: 0.5% }
//!     p99: { max_ratio: 1.2 }
//!     shadow_verdict: ready
//! ```

use serde::Deserialize;

use super::refs::UpstreamRef;
use super::units::{scalar_deserialize, scalar_schema, Dur};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Ramp")]
pub struct RawRamp {
    from: UpstreamRef,
    to: UpstreamRef,
    /// Percent of clients sent to `to` at each step, increasing, each 1–100.
    steps: Vec<Percent>,
    /// Time at each step, at least.
    interval: Dur,
    /// Requests `to` must have served at a step before it advances (100).
    #[serde(default)]
    min_requests: Option<u64>,
    /// How a client is recognised, so that it stays on its side:
    /// `{ cookie: NAME }`, `{ header: NAME }` or `client_ip`.
    sticky: RawSticky,
    #[serde(default)]
    gates: Gates,
}

/// A validated ramp.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawRamp")]
#[schemars(with = "RawRamp")]
pub struct RampConfig {
    pub from: String,
    pub to: String,
    pub steps: Vec<f64>,
    pub interval: std::time::Duration,
    pub min_requests: u64,
    pub sticky: Sticky,
    pub gates: Gates,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(
    untagged,
    expecting = "`{ cookie: NAME }`, `{ header: NAME }` or `client_ip`"
)]
enum RawSticky {
    Keyed(StickyKeys),
    Word(StickyWord),
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StickyKeys {
    cookie: Option<String>,
    header: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum StickyWord {
    ClientIp,
}

/// The client's key: a cookie (set by the proxy when absent), a header, or
/// the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sticky {
    Cookie(String),
    Header(String),
    ClientIp,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// `to`'s error rate (5xx, connect errors, timeouts) may exceed
    /// `from`'s by at most this, over the same window.
    pub error_rate: Option<ErrorRateGate>,
    /// `to`'s p99 latency may be at most this multiple of `from`'s.
    pub p99: Option<P99Gate>,
    /// When the route also shadows: its verdict must be `ready` before step 1.
    pub shadow_verdict: Option<Verdict>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRateGate {
    pub max_increase: Percent,
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct P99Gate {
    pub max_ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ready,
}

/// A percentage: `0.5%`, `25` or `25%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(pub f64);
fn parse_percent(s: &str) -> Result<Percent, String> {
    let n = s.trim().trim_end_matches('%').trim();
    match n.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(Percent(v)),
        _ => Err(format!(
            "`{s}` is not a percentage; write one like `0.5%` or `25`"
        )),
    }
}
scalar_deserialize!(Percent, "a percentage like `0.5%` or `25`", parse_percent);
scalar_schema!(Percent, "Percent", {"type": ["string", "number"], "description": "a percentage: 0.5% or 25"});

impl TryFrom<RawRamp> for RampConfig {
    type Error = String;

    fn try_from(r: RawRamp) -> Result<Self, String> {
        if r.from == r.to {
            return Err(format!(
                "ramp: `from` and `to` are both `{}`; ramp from the monolith to the new service",
                r.from.0
            ));
        }
        if r.steps.is_empty() {
            return Err("ramp: `steps` is empty; write them like `[1, 5, 25, 50, 100]`".into());
        }
        let steps: Vec<f64> = r.steps.iter().map(|p| p.0).collect();
        if steps.iter().any(|s| *s <= 0.0) || steps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "ramp: `steps` must increase and be above 0 (got {steps:?}); write them like `[1, 5, 25, 50, 100]`"
            ));
        }
        let sticky = match r.sticky {
            RawSticky::Word(StickyWord::ClientIp) => Sticky::ClientIp,
            RawSticky::Keyed(StickyKeys {
                cookie: Some(c),
                header: None,
            }) => Sticky::Cookie(c),
            RawSticky::Keyed(StickyKeys {
                cookie: None,
                header: Some(h),
            }) => Sticky::Header(h.to_ascii_lowercase()),
            RawSticky::Keyed(_) => return Err(
                "ramp: `sticky` needs exactly one of `cookie` or `header` (or write `client_ip`)"
                    .into(),
            ),
        };
        if let Sticky::Header(h) | Sticky::Cookie(h) = &sticky {
            if h.is_empty() || http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(format!(
                    "ramp: `sticky` names `{h}`, which is not a valid name"
                ));
            }
        }
        if r.gates
            .p99
            .as_ref()
            .is_some_and(|g| g.max_ratio.is_nan() || g.max_ratio < 1.0)
        {
            return Err("ramp: `gates.p99.max_ratio` must be at least 1, like `1.2`".into());
        }
        Ok(RampConfig {
            from: r.from.0,
            to: r.to.0,
            steps,
            interval: r.interval.0,
            min_requests: r.min_requests.unwrap_or(100),
            sticky,
            gates: r.gates,
        })
    }
}
