//! `routes:` entries: the match (`path` | `path_prefix` | `path_regex`, plus
//! `methods` and `headers`), the destination (`upstream` | `split` |
//! `aggregate`), and the per-route `fallback`, `timeout`, `retry`, `shadow`
//! (its block in [`shadow`], its comparison rules in [`compare`]).
//!
//! Each route deserializes into [`RawRoute`] (unknown keys rejected), then
//! `TryFrom` turns it into a validated [`RouteConfig`]; errors carry the
//! route's line and column.

use indexmap::IndexMap;
use serde::Deserialize;

pub use super::matching::{HeaderMatchName, MethodName, PathTemplate, Segment};
use super::matching::{PathPrefix, PathRegex};
use super::refs::{RouteName, UpstreamRef};
use super::units::{scalar_deserialize, scalar_schema, Dur};

pub mod compare;
pub mod shadow;
pub use shadow::{Compare, IgnorePointer, NoiseConfig, ReadyConfig, ShadowRoute};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Route")]
pub struct RawRoute {
    name: RouteName,
    #[serde(rename = "match")]
    matcher: RawMatch,
    upstream: Option<UpstreamRef>,
    split: Option<SplitWeights>,
    aggregate: Option<IndexMap<String, AggregatePart>>,
    /// A gated, sticky move from one upstream to another.
    ramp: Option<super::ramp::RampConfig>,
    fallback: Option<UpstreamRef>,
    timeout: Option<Dur>,
    /// How long this route's response bodies may be silent before they are
    /// cut (default: `limits.body_idle_timeout`): raise it for server-sent
    /// events and long polls that are quiet by design.
    body_idle_timeout: Option<Dur>,
    retry: Option<RetryConfig>,
    shadow: Option<ShadowRoute>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    path: Option<PathTemplate>,
    path_prefix: Option<PathPrefix>,
    path_regex: Option<PathRegex>,
    methods: Option<Vec<MethodName>>,
    #[serde(default)]
    headers: IndexMap<HeaderMatchName, String>,
}

/// A validated route.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawRoute")]
#[schemars(with = "RawRoute")]
pub struct RouteConfig {
    pub name: String,
    pub path: PathMatch,
    /// `None`: any method.
    pub methods: Option<Vec<http::Method>>,
    /// Lower-case header names and the exact values they must have.
    pub headers: Vec<(http::HeaderName, String)>,
    pub action: Action,
    pub fallback: Option<String>,
    pub timeout: Option<std::time::Duration>,
    /// Overrides `limits.body_idle_timeout` for this route's response bodies.
    pub body_idle_timeout: Option<std::time::Duration>,
    pub retry: Option<RetryConfig>,
    pub shadow: Option<ShadowRoute>,
}

#[derive(Debug, Clone)]
pub enum PathMatch {
    /// `path`: the whole path, `{name}` capturing one segment.
    Exact(PathTemplate),
    /// `path_prefix`: segment-aware; stored without a trailing `/` (`/` itself stays `/`).
    Prefix(String),
    /// `path_regex`: matched against the normalized path.
    Regex(regex::Regex),
}

#[derive(Debug, Clone)]
pub enum Action {
    Upstream(String),
    /// Weighted choice; weights sum to more than 0.
    Split(Vec<(String, u32)>),
    Aggregate(Vec<(String, AggregatePart)>),
    /// A gated, sticky move from one upstream to another.
    Ramp(super::ramp::RampConfig),
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregatePart {
    pub upstream: UpstreamRef,
    pub path: PathTemplate,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "default_attempts")]
    pub attempts: Attempts,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default = "default_retry_on")]
    pub on: Vec<RetryOn>,
}

#[derive(Debug, Clone, Copy)]
pub struct Attempts(pub u32);
fn parse_attempts(s: &str) -> Result<Attempts, String> {
    match s.parse::<u32>() {
        Ok(n @ 1..=10) => Ok(Attempts(n)),
        _ => Err(format!(
            "`attempts: {s}` must be a whole number from 1 to 10 (total tries, the first included)"
        )),
    }
}
scalar_deserialize!(Attempts, "a number of tries from 1 to 10", parse_attempts);
scalar_schema!(Attempts, "Attempts", {"type": "integer", "minimum": 1, "maximum": 10, "description": "total tries, the first included"});
fn default_attempts() -> Attempts {
    Attempts(3)
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub base: Dur,
    pub max: Dur,
}
impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Dur(std::time::Duration::from_millis(50)),
            max: Dur(std::time::Duration::from_secs(1)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum RetryOn {
    #[serde(rename = "connect")]
    Connect,
    #[serde(rename = "timeout")]
    Timeout,
    #[serde(rename = "5xx")]
    ServerError,
}
fn default_retry_on() -> Vec<RetryOn> {
    vec![RetryOn::Connect, RetryOn::Timeout, RetryOn::ServerError]
}

/// `split:` weights by upstream, summing to more than 0: checked as the
/// mapping is read, so that the error points at the `split` itself.
#[derive(Debug)]
pub struct SplitWeights(IndexMap<UpstreamRef, u32>);
scalar_schema!(SplitWeights, "SplitWeights", {
    "type": "object",
    "additionalProperties": {"type": "integer", "minimum": 0},
    "minProperties": 1,
    "description": "upstream names and weights, summing to more than 0: { inventory: 10, legacy: 90 }"
});

impl<'de> Deserialize<'de> for SplitWeights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Weights;
        impl<'de> serde::de::Visitor<'de> for Weights {
            type Value = SplitWeights;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("upstream names and weights, like `{ order: 10, legacy: 90 }`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                let mut sum = 0u64;
                while let Some((u, w)) = m.next_entry::<UpstreamRef, u32>()? {
                    sum += u64::from(w);
                    out.insert(u, w);
                }
                if sum == 0 {
                    return Err(serde::de::Error::custom(
                        "the `split` weights sum to 0; give at least one upstream a weight above 0",
                    ));
                }
                Ok(SplitWeights(out))
            }
        }
        d.deserialize_map(Weights)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Sample(pub f64);
fn parse_sample(s: &str) -> Result<Sample, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(Sample(f)),
        _ => Err(format!(
            "`sample: {s}` must be a fraction from 0.0 to 1.0, like `0.1` for 10%"
        )),
    }
}
scalar_deserialize!(Sample, "a fraction from 0.0 to 1.0", parse_sample);
scalar_schema!(Sample, "Sample", {"type": "number", "minimum": 0, "maximum": 1, "description": "the fraction of matching requests copied"});
impl TryFrom<RawRoute> for RouteConfig {
    type Error = String;

    fn try_from(raw: RawRoute) -> Result<Self, String> {
        let name = raw.name.0;
        let m = raw.matcher;
        let path = match (m.path, m.path_prefix, m.path_regex) {
            (Some(t), None, None) => PathMatch::Exact(t),
            (None, Some(p), None) => PathMatch::Prefix(p.0),
            (None, None, Some(r)) => PathMatch::Regex(r.0),
            _ => {
                return Err(format!(
                    "route `{name}`: `match` needs exactly one of `path`, `path_prefix` or `path_regex`"
                ))
            }
        };
        let action = match (raw.upstream, raw.split, raw.aggregate, raw.ramp) {
            (Some(u), None, None, None) => Action::Upstream(u.0),
            (None, Some(split), None, None) => {
                Action::Split(split.0.into_iter().map(|(u, w)| (u.0, w)).collect())
            }
            (None, None, Some(parts), None) => aggregate_action(&name, &path, parts)?,
            (None, None, None, Some(ramp)) => {
                if ramp.gates.shadow_verdict.is_some() && raw.shadow.is_none() {
                    return Err(format!("route `{name}`: the ramp's `gates.shadow_verdict` needs the route to `shadow:`; add it, or remove the gate"));
                }
                Action::Ramp(ramp)
            }
            _ => {
                return Err(format!(
                "route `{name}`: needs exactly one of `upstream`, `split`, `aggregate` or `ramp`"
            ))
            }
        };
        let fallback = raw.fallback.map(|f| f.0);
        if let (Some(f), Action::Upstream(u)) = (&fallback, &action) {
            if f == u {
                return Err(format!("route `{name}`: `fallback: {f}` is the route's own upstream; fall back to another one, such as the monolith"));
            }
        }
        if fallback.is_some() && matches!(action, Action::Aggregate(_)) {
            return Err(format!("route `{name}`: `fallback` does not apply to `aggregate`; mark parts `required: false` instead"));
        }
        if raw.shadow.is_some() && matches!(action, Action::Aggregate(_)) {
            return Err(format!(
                "route `{name}`: `shadow` does not apply to `aggregate` routes; remove it"
            ));
        }
        if let Some(r) = &raw.retry {
            if r.backoff.base.0 > r.backoff.max.0 {
                return Err(format!("route `{name}`: retry `backoff.base` is above `backoff.max`; make `max` at least `base`"));
            }
        }
        Ok(RouteConfig {
            name,
            path,
            methods: m.methods.map(|ms| ms.into_iter().map(|m| m.0).collect()),
            headers: m.headers.into_iter().map(|(k, v)| (k.0, v)).collect(),
            action,
            fallback,
            timeout: raw.timeout.map(|d| d.0),
            body_idle_timeout: raw.body_idle_timeout.map(|d| d.0),
            retry: raw.retry,
            shadow: raw.shadow,
        })
    }
}

fn aggregate_action(
    name: &str,
    path: &PathMatch,
    parts: IndexMap<String, AggregatePart>,
) -> Result<Action, String> {
    if parts.is_empty() {
        return Err(format!(
            "route `{name}`: `aggregate` needs at least one part"
        ));
    }
    let captures: Vec<&str> = match path {
        PathMatch::Exact(t) => t.captures().collect(),
        _ => Vec::new(),
    };
    for (part, p) in &parts {
        if part == "errors" {
            return Err(format!(
                "route `{name}`: the aggregate part name `errors` is reserved; rename it"
            ));
        }
        if let Some(missing) = p.path.captures().find(|c| !captures.contains(c)) {
            return Err(format!(
                "route `{name}`: part `{part}` uses `{{{missing}}}`, which the route's `match.path` does not capture; match with `path: \"/.../{{{missing}}}\"`"
            ));
        }
    }
    Ok(Action::Aggregate(parts.into_iter().collect()))
}
