//! A route's `shadow:` block: where copies go (`upstream`, `sample`,
//! `methods`), what is compared (`compare`: `headers`, `ignore`, `rules`),
//! when the route is ready (`ready`), and its noise floor (`noise`).
//!
//! ```yaml
//! shadow:
//!   upstream: payment
//!   ready: { min_match: 99.9%, min_compared: 100 }
//!   noise: { sample: 0.05 }
//!   compare:
//!     ignore: [/transaction_id, "@header/date"]
//!     rules:
//!       - { at: /amount, numeric: { abs: 0.01 } }
//!       - { at: /items, unordered: { key: /sku } }
//!       - { at: /id, format: uuid }
//! ```
//!
//! Every value is checked as it is read (scalars through `scalar_deserialize!`,
//! rules through `try_from`), so `strangler check` reports a bad one at its
//! line and column.

use serde::Deserialize;

use super::super::matching::{HeaderMatchName, MethodName};
use super::super::refs::UpstreamRef;
use super::super::units::{scalar_deserialize, scalar_schema};
pub use super::compare::{CompareRule, Format, RuleKind, Tolerance, Unordered};
use super::Sample;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRoute {
    pub upstream: UpstreamRef,
    #[serde(default = "default_sample")]
    pub sample: Sample,
    #[serde(default = "default_shadow_methods")]
    pub methods: Vec<MethodName>,
    #[serde(default)]
    pub compare: Compare,
    /// When the route is `ready`: the lower bound of its match rate's 95%
    /// interval at or above `min_match`, over at least `min_compared`
    /// comparisons.
    #[serde(default)]
    pub ready: ReadyConfig,
    /// Ask the primary a second time, for a sample of safe (GET, HEAD)
    /// copies, to learn where it disagrees with itself.
    pub noise: Option<NoiseConfig>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// JSON pointers (`*` any one segment) or `@header/NAME`s not compared.
    #[serde(default)]
    pub ignore: Vec<IgnorePointer>,
    #[serde(default = "default_compare_headers")]
    pub headers: Vec<HeaderMatchName>,
    /// How values at some pointers are compared.
    #[serde(default)]
    pub rules: Vec<CompareRule>,
}
impl Default for Compare {
    fn default() -> Self {
        Compare {
            ignore: Vec::new(),
            headers: default_compare_headers(),
            rules: Vec::new(),
        }
    }
}
fn default_compare_headers() -> Vec<HeaderMatchName> {
    vec![HeaderMatchName(http::header::CONTENT_TYPE)]
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyConfig {
    #[serde(default = "default_min_match")]
    pub min_match: MinMatch,
    #[serde(default = "default_min_compared")]
    pub min_compared: MinCompared,
}
impl Default for ReadyConfig {
    fn default() -> Self {
        ReadyConfig {
            min_match: default_min_match(),
            min_compared: default_min_compared(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    /// The fraction of shadowed GET and HEAD requests asked twice of the primary.
    pub sample: Sample,
}

/// A match-rate threshold, kept as a fraction (`99.9%` is 0.999).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinMatch(pub f64);
fn parse_min_match(s: &str) -> Result<MinMatch, String> {
    let n = s.trim().trim_end_matches('%').trim();
    match n.parse::<f64>() {
        Ok(v) if v >= 100.0 => Err(format!(
            "`min_match: {s}` can never be reached: the lower bound of a match rate's interval stays below 100%; write one like `99.9%`"
        )),
        Ok(v) if v > 0.0 => Ok(MinMatch(v / 100.0)),
        _ => Err(format!(
            "`min_match: {s}` is not a percentage above 0 and below 100; write one like `99.9%`"
        )),
    }
}
scalar_deserialize!(MinMatch, "a percentage like `99.9%`", parse_min_match);
scalar_schema!(MinMatch, "MinMatch", {"type": ["string", "number"], "description": "the threshold of the match rate's 95% lower bound: 99.9% (a percentage above 0, below 100)"});
fn default_min_match() -> MinMatch {
    MinMatch(0.999)
}

/// Comparisons needed at least before a route can be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinCompared(pub u64);
fn parse_min_compared(s: &str) -> Result<MinCompared, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(MinCompared(n)),
        _ => Err(format!(
            "`min_compared: {s}` must be a whole number of comparisons, 1 or more, like `100`"
        )),
    }
}
scalar_deserialize!(
    MinCompared,
    "a number of comparisons, 1 or more",
    parse_min_compared
);
scalar_schema!(MinCompared, "MinCompared", {"type": "integer", "minimum": 1, "description": "comparisons needed at least (100)"});
fn default_min_compared() -> MinCompared {
    MinCompared(100)
}

/// A JSON Pointer to skip in comparisons (`*` matches any one segment), or
/// `@header/NAME` for a header.
#[derive(Debug, Clone)]
pub struct IgnorePointer(pub String);
fn parse_ignore(s: &str) -> Result<IgnorePointer, String> {
    super::compare::parse_at(s).map(IgnorePointer)
}
scalar_deserialize!(
    IgnorePointer,
    "a JSON Pointer like `/created_at`, or `@header/NAME`",
    parse_ignore
);
scalar_schema!(IgnorePointer, "JsonPointer", {"type": "string", "description": "a JSON Pointer like /created_at; * matches any one segment; or @header/NAME"});

fn default_sample() -> Sample {
    Sample(1.0)
}
fn default_shadow_methods() -> Vec<MethodName> {
    vec![
        MethodName(http::Method::GET),
        MethodName(http::Method::HEAD),
    ]
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, Config, ConfigError};
    use std::path::Path;

    fn parse_shadow(block: &str) -> Result<Config, ConfigError> {
        let yaml = format!(
            "upstreams:\n  legacy: {{ url: http://127.0.0.1:9000 }}\n  new: {{ url: http://127.0.0.1:9001 }}\nroutes:\n  - name: r\n    match: {{ path_prefix: / }}\n    upstream: legacy\n    shadow:\n      upstream: new\n{block}listen: 127.0.0.1:8080\n"
        );
        parse(&yaml, Path::new("routes.yaml"))
    }

    /// Each bad value is reported at its own line (and the column where it starts).
    #[test]
    fn bad_values_name_their_line_and_column() {
        let cases = [
            ("      ready: { min_match: 100% }\n", 10, "can never be reached"),
            ("      ready: { min_compared: 0 }\n", 10, "1 or more"),
            ("      noise: { sample: 2 }\n", 10, "fraction"),
            ("      compare:\n        ignore: [\"@status\"]\n", 11, "only headers"),
            ("      compare:\n        rules:\n          - { at: /a, format: uuid }\n          - { at: /b, numeric: { abs: -1 } }\n", 13, "0 or more"),
            ("      compare:\n        rules:\n          - { at: /a, numeric: { abs: 1 }, format: uuid }\n", 12, "exactly one of"),
            ("      compare:\n        rules:\n          - { at: /a, unordered: false }\n", 12, "remove the rule"),
            ("      compare:\n        rules:\n          - at: /a\n            format: date\n", 13, "unknown variant"),
        ];
        for (block, line, says) in cases {
            let e = parse_shadow(block).expect_err(block);
            assert_eq!(e.line, Some(line), "{block}: {e}");
            assert!(e.column.is_some(), "{e}");
            assert!(e.to_string().contains(says), "{block}: {e}");
        }
    }

    #[test]
    fn ready_noise_and_rules_are_read() {
        let c = parse_shadow("      ready: { min_match: 99.5%, min_compared: 20 }\n      noise: { sample: 0.05 }\n      compare:\n        ignore: [/tx, \"@header/Date\"]\n        rules:\n          - { at: /amount, numeric: { abs: 0.01 } }\n          - { at: /items, unordered: { key: /sku } }\n          - { at: /id, format: uuid }\n").expect("valid");
        let s = c.routes[0].shadow.as_ref().expect("shadowed");
        assert_eq!((s.ready.min_match.0, s.ready.min_compared.0), (0.995, 20));
        assert_eq!(s.noise.map(|n| n.sample.0), Some(0.05));
        assert_eq!(s.compare.ignore[1].0, "@header/date");
        assert_eq!(s.compare.rules.len(), 3);
        let d = parse_shadow("").expect("valid");
        let s = d.routes[0].shadow.as_ref().expect("shadowed");
        assert_eq!((s.ready.min_match.0, s.ready.min_compared.0), (0.999, 100));
        assert!(s.noise.is_none());
    }
}
