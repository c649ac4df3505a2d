//! A route's comparison rules (`compare.rules`, validated by
//! `config::route::compare`) as the comparison applies them: which rule
//! holds at a pointer, numbers within a tolerance, strings of a format.
//! Unordered arrays are paired in `structure`.

use serde_json::Value;

pub use crate::config::route::compare::{CompareRule, Format, RuleKind, Tolerance, Unordered};
use crate::pointer::{parse_pointer_pattern, PointerPattern};

/// A body rule, its pointer parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub at: PointerPattern,
    pub kind: RuleKind,
}

/// The rules of one route, split by what they apply to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// JSON body rules, first match wins.
    pub body: Vec<Rule>,
    /// Lower-case header names whose values need only be of a format.
    pub header_formats: Vec<(String, Format)>,
}

impl Rules {
    /// Splits validated rules into body and header rules.
    pub fn new(rules: &[CompareRule]) -> Result<Rules, String> {
        let mut out = Rules::default();
        for r in rules {
            match (r.at.strip_prefix("@header/"), &r.kind) {
                (Some(name), RuleKind::Format(f)) => {
                    out.header_formats.push((name.to_ascii_lowercase(), *f))
                }
                (Some(_), _) => {
                    return Err(format!(
                        "the rule at `{}`: a header takes only `format`",
                        r.at
                    ))
                }
                (None, kind) => out.body.push(Rule {
                    at: parse_pointer_pattern(&r.at)?,
                    kind: kind.clone(),
                }),
            }
        }
        Ok(out)
    }

    /// The rule at `pointer` (escaped RFC 6901), if any.
    pub fn at(&self, pointer: &str) -> Option<&RuleKind> {
        if self.body.is_empty() {
            return None;
        }
        self.body
            .iter()
            .find(|r| r.at.matches(pointer))
            .map(|r| &r.kind)
    }

    /// The format a header's values need only be of, if any.
    pub fn header_format(&self, name: &str) -> Option<Format> {
        (self.header_formats.iter())
            .find(|(n, _)| n == name)
            .map(|(_, f)| *f)
    }
}

/// Two numbers within `t`: `|a − b| ≤ abs`, or `≤ rel × max(|a|, |b|)`.
pub fn close(a: f64, b: f64, t: &Tolerance) -> bool {
    let d = (a - b).abs();
    d <= t.abs || d <= t.rel * a.abs().max(b.abs())
}

/// Whether `v` is a string of format `f`.
pub fn holds(f: Format, v: &Value) -> bool {
    match v {
        Value::String(s) => text_holds(f, s),
        _ => false,
    }
}

/// Whether `s` is text of format `f`.
pub fn text_holds(f: Format, s: &str) -> bool {
    match f {
        Format::String => true,
        Format::Uuid => is_uuid(s),
        Format::Rfc3339 => super::ts::ts_key(s).is_some(),
    }
}

/// `8-4-4-4-12` hexadecimal digits, any case, any version.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_uuid("3f2b8c1e-0d4a-4b7e-9c2f-1a2b3c4d5e6f"));
        assert!(is_uuid("3F2B8C1E-0D4A-4B7E-9C2F-1A2B3C4D5E6F"));
        assert!(!is_uuid("3f2b8c1e0d4a4b7e9c2f1a2b3c4d5e6f"));
        assert!(!is_uuid("3f2b8c1e-0d4a-4b7e-9c2f-1a2b3c4d5e6g"));
        let rfc = |s: &str| text_holds(Format::Rfc3339, s);
        assert!(rfc("2025-01-02T03:04:05Z") && rfc("2025-01-02T03:04:05.123456+02:00"));
        assert!(!rfc("2025-01-02") && !rfc("Thu, 02 Jan 2025 03:04:05 GMT"));
        assert!(holds(Format::String, &Value::from("")));
        assert!(!holds(Format::String, &Value::from(1)));
    }

    #[test]
    fn tolerances() {
        let abs = Tolerance {
            abs: 0.01,
            rel: 0.0,
        };
        assert!(close(10.0, 10.01, &abs) && close(10.0, 9.995, &abs));
        assert!(!close(10.0, 10.02, &abs));
        let rel = Tolerance {
            abs: 0.0,
            rel: 1e-6,
        };
        assert!(close(1e9, 1e9 + 999.0, &rel) && !close(1e9, 1e9 + 1001.0, &rel));
        assert!(close(0.0, 0.0, &rel) && !close(0.0, 1e-300, &rel));
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod comparison_tests;
