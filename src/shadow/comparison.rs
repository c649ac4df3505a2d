//! What a comparison is made of — its [`Diff`]s, their [`DiffKind`], the
//! [`Comparison`] that collects them (capped at [`MAX_DIFFS`]) and the
//! [`CompareSpec`] that says what to skip and which rules hold — shared by
//! the comparison (`diff`) and the JSON walk (`structure`), and importing
//! neither.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rules::{CompareRule, Rules};
use crate::pointer::{parse_pointer_pattern, PointerPattern};

/// At most this many differences are reported per comparison.
pub const MAX_DIFFS: usize = 50;
/// JSON nesting below this depth is compared as a whole, not walked.
pub const MAX_DEPTH: usize = 128;
/// Strings copied into a diff are cut to this many characters.
pub(crate) const MAX_VALUE_CHARS: usize = 200;
/// Arrays/objects with more nodes than this are summarised in a diff, not copied.
const MAX_VALUE_NODES: usize = 32;

/// What kind of difference a [`Diff`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// Same place, same type, different value.
    Changed,
    /// Present only in the shadow response.
    Added,
    /// Present only in the primary response.
    Removed,
    /// Same place, different JSON types (e.g. number vs string).
    Type,
}

/// One difference between the primary and the shadow response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// A JSON Pointer into the body, or `@status`, `@header/NAME`, `@body`.
    pub pointer: String,
    pub kind: DiffKind,
    /// The primary's value (absent when `added`); large values are summarised.
    #[serde(default)]
    pub primary: Option<Value>,
    /// The shadow's value (absent when `removed`); large values are summarised.
    #[serde(default)]
    pub shadow: Option<Value>,
}

impl Diff {
    /// A diff carrying (summaries of) both sides' values.
    pub fn new(
        pointer: String,
        kind: DiffKind,
        primary: Option<&Value>,
        shadow: Option<&Value>,
    ) -> Diff {
        Diff {
            pointer,
            kind,
            primary: primary.map(summary),
            shadow: shadow.map(summary),
        }
    }
}

/// The result of one comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    pub diffs: Vec<Diff>,
    /// More than [`MAX_DIFFS`] differences existed; the rest were not reported.
    pub truncated: bool,
}

impl Comparison {
    /// True when nothing differs.
    pub fn is_match(&self) -> bool {
        self.diffs.is_empty()
    }

    /// Records a diff; returns false once the cap is reached (the walk should stop).
    pub(crate) fn push(&mut self, diff: Diff) -> bool {
        if self.diffs.len() >= MAX_DIFFS {
            self.truncated = true;
            return false;
        }
        self.diffs.push(diff);
        true
    }
}

/// What to compare besides the status: from `shadow.compare` in routes.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareSpec {
    pub ignore: Vec<PointerPattern>,
    /// Lower-case header names.
    pub headers: Vec<String>,
    /// Lower-case names of headers not compared (`ignore: ["@header/NAME"]`).
    pub ignore_headers: Vec<String>,
    /// `compare.rules`.
    pub rules: Rules,
}

impl Default for CompareSpec {
    fn default() -> Self {
        CompareSpec {
            ignore: Vec::new(),
            headers: vec!["content-type".to_string()],
            ignore_headers: Vec::new(),
            rules: Rules::default(),
        }
    }
}

impl CompareSpec {
    /// Builds a spec from config strings; `headers: None` means the default
    /// `[content-type]`. Names are lower-cased; the first invalid pointer is the error.
    /// An `ignore` entry `@header/NAME` skips that header.
    pub fn new(ignore: &[String], headers: Option<&[String]>) -> Result<CompareSpec, String> {
        let (skipped, pointers): (Vec<&String>, Vec<&String>) =
            ignore.iter().partition(|p| p.starts_with("@header/"));
        let ignore = pointers
            .into_iter()
            .map(|p| parse_pointer_pattern(p))
            .collect::<Result<_, _>>()?;
        let ignore_headers: Vec<String> = (skipped.iter())
            .map(|p| p["@header/".len()..].to_ascii_lowercase())
            .collect();
        let headers = match headers {
            Some(h) => h.iter().map(|n| n.to_ascii_lowercase()).collect(),
            None => CompareSpec::default().headers,
        };
        Ok(CompareSpec {
            ignore,
            headers: (headers.into_iter())
                .filter(|h: &String| !ignore_headers.contains(h))
                .collect(),
            ignore_headers,
            rules: Rules::default(),
        })
    }

    /// The spec with `compare.rules`.
    pub fn with_rules(mut self, rules: &[CompareRule]) -> Result<CompareSpec, String> {
        self.rules = Rules::new(rules)?;
        Ok(self)
    }

    pub(crate) fn ignored(&self, pointer: &str) -> bool {
        self.ignore.iter().any(|p| p.matches(pointer))
    }
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A copy of `v` small enough for a log line: long strings cut, big or deep containers
/// replaced by a description such as `"<array of 1200 items>"`.
fn summary(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(cut(s)),
        Value::Array(a) if !small(v) => Value::String(format!("<array of {} items>", a.len())),
        Value::Object(o) if !small(v) => Value::String(format!("<object with {} keys>", o.len())),
        _ => v.clone(),
    }
}

fn small(v: &Value) -> bool {
    let mut stack = vec![(v, 0usize)];
    let mut nodes = 0;
    while let Some((v, depth)) = stack.pop() {
        nodes += 1;
        if nodes > MAX_VALUE_NODES || depth > 8 {
            return false;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, depth + 1))),
            Value::String(s) if s.len() > MAX_VALUE_CHARS => return false,
            _ => {}
        }
    }
    true
}
