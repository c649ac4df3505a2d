//! `compare.rules`: how the values at some pointers are compared.
//!
//! | rule | equal when |
//! |---|---|
//! | `numeric: { abs: 0.01 }` / `{ rel: 1e-6 }` | both numbers, `|a − b| ≤ abs` or `≤ rel × max(|a|, |b|)` |
//! | `unordered: true` | both arrays holding the same elements, in any order (multisets) |
//! | `unordered: { key: /id }` | both arrays, elements paired by the value at `key` within each |
//! | `format: uuid` \| `rfc3339` \| `string` | both strings of that kind, whatever their text |
//!
//! `at` is a JSON pointer (`*` for any one segment) or `@header/NAME`; a
//! header takes `format` only. Each rule is read into [`RawRule`] and
//! checked by `try_from`, so an error names the rule's line and column.

use serde::Deserialize;

use super::super::units::{scalar_deserialize, scalar_schema};

/// A comparison rule: where (`at`), and how: one of `numeric`, `unordered`, `format`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawRule")]
#[schemars(with = "RawRule")]
pub struct CompareRule {
    /// A JSON pointer pattern, or `@header/NAME` (lower-case).
    pub at: String,
    pub kind: RuleKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Numeric(Tolerance),
    Unordered(Unordered),
    Format(Format),
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CompareRule")]
pub struct RawRule {
    /// Where: a JSON pointer (`*` any one segment) or `@header/NAME`.
    at: At,
    /// Numbers equal within a tolerance: `{ abs: 0.01 }` or `{ rel: 1e-6 }`.
    numeric: Option<Tolerance>,
    /// Arrays in any order: `true` (as multisets) or `{ key: /id }`.
    unordered: Option<Unordered>,
    /// Only the kind of value must match: `uuid`, `rfc3339` or `string`.
    format: Option<Format>,
}

impl TryFrom<RawRule> for CompareRule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let at = raw.at.0;
        let kind = match (raw.numeric, raw.unordered, raw.format) {
            (Some(t), None, None) => RuleKind::Numeric(t),
            (None, Some(u), None) => RuleKind::Unordered(u),
            (None, None, Some(f)) => RuleKind::Format(f),
            _ => {
                return Err(format!(
                    "the rule at `{at}` needs exactly one of `numeric`, `unordered` or `format`; write one rule per kind"
                ))
            }
        };
        if at.starts_with("@header/") && !matches!(kind, RuleKind::Format(_)) {
            return Err(format!(
                "the rule at `{at}`: a header takes only `format` (`numeric` and `unordered` apply to JSON body values)"
            ));
        }
        Ok(CompareRule { at, kind })
    }
}

/// How far apart two numbers may be; a side not given is 0.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawTolerance")]
#[schemars(with = "RawTolerance")]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Tolerance")]
pub struct RawTolerance {
    /// `|a − b| ≤ abs`.
    abs: Option<f64>,
    /// `|a − b| ≤ rel × max(|a|, |b|)`.
    rel: Option<f64>,
}

impl TryFrom<RawTolerance> for Tolerance {
    type Error = String;

    fn try_from(raw: RawTolerance) -> Result<Self, String> {
        let bad = |v: Option<f64>| v.is_some_and(|v| !v.is_finite() || v < 0.0);
        if raw.abs.is_none() && raw.rel.is_none() {
            return Err("`numeric` needs `abs` or `rel`, like `{ abs: 0.01 }`".into());
        }
        if bad(raw.abs) || bad(raw.rel) {
            return Err("`numeric` tolerances must be numbers of 0 or more, like `{ abs: 0.01 }` or `{ rel: 1e-6 }`".into());
        }
        Ok(Tolerance {
            abs: raw.abs.unwrap_or(0.0),
            rel: raw.rel.unwrap_or(0.0),
        })
    }
}

/// `unordered: true`, or `unordered: { key: /id }`.
#[derive(Debug, Clone, PartialEq)]
pub enum Unordered {
    /// Arrays compared as multisets.
    Multiset,
    /// Elements paired by the value at this pointer (RFC 6901, escaped) within each.
    ByKey(String),
}
scalar_schema!(Unordered, "Unordered", {
    "oneOf": [
        {"const": true, "description": "arrays compared as multisets"},
        {"type": "object", "additionalProperties": false, "required": ["key"],
         "properties": {"key": {"type": "string", "description": "a JSON pointer within each element, like /id"}}}
    ]
});

impl<'de> Deserialize<'de> for Unordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Unordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`true` or `{ key: /id }`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Unordered, E> {
                if v {
                    Ok(Unordered::Multiset)
                } else {
                    Err(E::custom("`unordered: false` is how arrays are compared anyway; remove the rule, or write `unordered: true`"))
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Unordered, A::Error> {
                use serde::de::Error;
                let mut key = None;
                while let Some(k) = m.next_key::<String>()? {
                    if k != "key" {
                        return Err(A::Error::custom(format!(
                            "unknown field `{k}` of `unordered`; write `{{ key: /id }}`"
                        )));
                    }
                    let v: String = m.next_value()?;
                    key = Some(parse_key(&v).map_err(A::Error::custom)?);
                }
                key.map(Unordered::ByKey)
                    .ok_or_else(|| A::Error::custom("`unordered` needs `key`, like `{ key: /id }`"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A key pointer: a plain RFC 6901 pointer to a value within each element.
fn parse_key(s: &str) -> Result<String, String> {
    crate::pointer::parse_pointer_pattern(s)?;
    if s.is_empty() || s.split('/').any(|seg| seg == "*") {
        return Err(format!(
            "`key: {s}` must point at one value within each element, like `/id` (no `*`, not the whole element)"
        ));
    }
    Ok(s.to_string())
}

/// What kind of string a value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `8-4-4-4-12` hexadecimal digits.
    Uuid,
    /// An RFC 3339 date and time, like `2025-01-02T03:04:05Z`.
    Rfc3339,
    /// Any string.
    String,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Uuid => "uuid",
            Format::Rfc3339 => "rfc3339",
            Format::String => "string",
        }
    }
}

/// Where a rule applies.
#[derive(Debug)]
pub struct At(pub String);
scalar_deserialize!(
    At,
    "a JSON Pointer like `/amount`, or `@header/NAME`",
    parse_rule_at
);
scalar_schema!(At, "RulePointer", {"type": "string", "description": "a JSON Pointer like /amount (* matches any one segment), or @header/NAME"});

fn parse_rule_at(s: &str) -> Result<At, String> {
    parse_at(s).map(At)
}

/// A JSON pointer pattern, or `@header/NAME` (returned with NAME lower-cased).
pub fn parse_at(s: &str) -> Result<String, String> {
    if let Some(name) = s.strip_prefix("@header/") {
        return match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => Ok(format!("@header/{}", n.as_str())),
            Err(_) => Err(format!(
                "`{s}`: `{name}` is not a header name; write `@header/content-type`"
            )),
        };
    }
    if s.starts_with('@') {
        return Err(format!(
            "`{s}`: only headers can be named with `@`, as `@header/NAME`; the body is named by a JSON pointer like `/total`"
        ));
    }
    crate::pointer::parse_pointer_pattern(s).map(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_is_a_pointer_or_a_header() {
        assert_eq!(parse_at("/items/*/id").as_deref(), Ok("/items/*/id"));
        assert_eq!(parse_at("@header/Date").as_deref(), Ok("@header/date"));
        assert!(parse_at("@status").is_err());
        assert!(parse_at("@header/bad name").is_err());
        assert!(parse_at("amount").is_err());
        assert!(parse_key("/items/*").is_err() && parse_key("").is_err());
        assert_eq!(parse_key("/sku").as_deref(), Ok("/sku"));
    }
}
