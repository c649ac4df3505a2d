//! The response comparison: primary vs shadow, the heart of the shadow report.
//!
//! [`compare`] takes both responses as [`Observed`] (status, headers, raw body) and a
//! [`CompareSpec`] (from `shadow.compare` in routes.yaml) and returns a [`Comparison`]: a
//! list of [`Diff`]s, empty when the responses match.
//!
//! Every difference lives in one list, told apart by its `pointer`:
//!
//! | pointer | what differs |
//! |---|---|
//! | `@status` | the status code (`primary`/`shadow` are numbers) |
//! | `@header/NAME` | a header in `compare.headers`, NAME lower-case; several values joined with `, `; missing on one side is `added`/`removed` |
//! | `@body` | a body that is not JSON on both sides, or could not be un-gzipped; `primary`/`shadow` are short previews |
//! | `""`, `/items/0/id`, ... | a JSON body difference, an RFC 6901 pointer (`""` is the root) |
//!
//! Bodies: when both sides' content-encodings agree and the raw bytes are equal, they match.
//! Otherwise `Content-Encoding: gzip` is undone on either side; if both bodies then parse as
//! JSON they are compared structurally (key order ignored, numbers by value, `10` == `10.0`,
//! integers exactly, arrays by position), skipping every pointer that matches a pattern of
//! `compare.ignore` together with its subtree; else they are compared byte for byte.
//!
//! Hostile bodies are bounded: at most [`MAX_DIFFS`] diffs are kept (then `truncated`), the
//! walk is iterative and descends at most [`MAX_DEPTH`] levels (deeper subtrees are compared
//! whole, also iteratively), values copied into a diff are summarised when large, and gzip
//! output is capped at [`MAX_DECODED_BODY`].

pub use super::pointer::{escape_segment, parse_pointer_pattern, PointerPattern};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::io::Read;

/// At most this many differences are reported per comparison.
pub const MAX_DIFFS: usize = 50;
/// JSON nesting below this depth is compared as a whole, not walked.
pub const MAX_DEPTH: usize = 128;
/// A gzip body that inflates past this is treated as undecodable (a gzip bomb).
pub const MAX_DECODED_BODY: u64 = 16 * 1024 * 1024;
/// Bytes of a non-JSON body shown in an `@body` diff, per side.
pub const PREVIEW_BYTES: usize = 200;
/// Strings copied into a diff are cut to this many characters.
const MAX_VALUE_CHARS: usize = 200;
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
    fn push(&mut self, diff: Diff) -> bool {
        if self.diffs.len() >= MAX_DIFFS {
            self.truncated = true;
            return false;
        }
        self.diffs.push(diff);
        true
    }
}

/// One response as seen by the proxy. Header names may be in any case.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub status: u16,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// What to compare besides the status: from `shadow.compare` in routes.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareSpec {
    pub ignore: Vec<PointerPattern>,
    /// Lower-case header names.
    pub headers: Vec<String>,
}

impl Default for CompareSpec {
    fn default() -> Self {
        CompareSpec {
            ignore: Vec::new(),
            headers: vec!["content-type".to_string()],
        }
    }
}

impl CompareSpec {
    /// Builds a spec from config strings; `headers: None` means the default
    /// `[content-type]`. Names are lower-cased; the first invalid pointer is the error.
    pub fn new(ignore: &[String], headers: Option<&[String]>) -> Result<CompareSpec, String> {
        let ignore = ignore
            .iter()
            .map(|p| parse_pointer_pattern(p))
            .collect::<Result<_, _>>()?;
        let headers = match headers {
            Some(h) => h.iter().map(|n| n.to_ascii_lowercase()).collect(),
            None => CompareSpec::default().headers,
        };
        Ok(CompareSpec { ignore, headers })
    }

    fn ignored(&self, pointer: &str) -> bool {
        self.ignore.iter().any(|p| p.matches(pointer))
    }
}

/// Compares the primary and the shadow response.
pub fn compare(primary: &Observed<'_>, shadow: &Observed<'_>, spec: &CompareSpec) -> Comparison {
    let mut out = Comparison::default();
    if primary.status != shadow.status {
        let (p, s) = (Value::from(primary.status), Value::from(shadow.status));
        out.push(Diff::new(
            "@status".into(),
            DiffKind::Changed,
            Some(&p),
            Some(&s),
        ));
    }
    for name in &spec.headers {
        let (p, s) = (header(primary.headers, name), header(shadow.headers, name));
        let kind = match (&p, &s) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => continue,
            (Some(_), Some(_)) => DiffKind::Changed,
            (None, Some(_)) => DiffKind::Added,
            (Some(_), None) => DiffKind::Removed,
        };
        let pointer = format!("@header/{}", name.to_ascii_lowercase());
        if !out.push(Diff::new(pointer, kind, p.as_ref(), s.as_ref())) {
            return out;
        }
    }
    compare_bodies(primary, shadow, spec, &mut out);
    out
}

/// All values of a header (case-insensitive name), joined with `, `; `None` when absent.
fn header(headers: &[(String, String)], name: &str) -> Option<Value> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect();
    (!values.is_empty()).then(|| Value::String(values.join(", ")))
}

fn compare_bodies(p: &Observed<'_>, s: &Observed<'_>, spec: &CompareSpec, out: &mut Comparison) {
    let (p_enc, s_enc) = (
        header(p.headers, "content-encoding"),
        header(s.headers, "content-encoding"),
    );
    if p.body == s.body && p_enc == s_enc {
        return;
    }
    let decoded = (
        decode(p.body, p_enc.as_ref()),
        decode(s.body, s_enc.as_ref()),
    );
    let (p_body, s_body) = match decoded {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let show =
                |r: Result<Vec<u8>, String>| r.map_or_else(|e| e, |bytes| preview(&bytes, 0));
            out.push(body_diff(show(a), show(b)));
            return;
        }
    };
    let parsed = (
        serde_json::from_slice::<Value>(&p_body),
        serde_json::from_slice::<Value>(&s_body),
    );
    if let (Ok(a), Ok(b)) = parsed {
        diff_values(&a, &b, spec, out);
    } else if p_body != s_body {
        // Show both sides from a little before the first differing byte.
        let at = p_body
            .iter()
            .zip(s_body.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let from = if at > PREVIEW_BYTES / 2 {
            at - PREVIEW_BYTES / 4
        } else {
            0
        };
        out.push(body_diff(preview(&p_body, from), preview(&s_body, from)));
    }
}

fn body_diff(primary: String, shadow: String) -> Diff {
    let (primary, shadow) = (Some(Value::String(primary)), Some(Value::String(shadow)));
    Diff {
        pointer: "@body".to_string(),
        kind: DiffKind::Changed,
        primary,
        shadow,
    }
}

/// Undoes `Content-Encoding: gzip` (or `x-gzip`); other encodings are compared as they are.
fn decode(body: &[u8], encoding: Option<&Value>) -> Result<Vec<u8>, String> {
    let gzip = encoding.and_then(Value::as_str).is_some_and(|e| {
        e.split(',').any(|t| {
            t.trim().eq_ignore_ascii_case("gzip") || t.trim().eq_ignore_ascii_case("x-gzip")
        })
    });
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut decoded = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(body).take(MAX_DECODED_BODY + 1);
    match reader.read_to_end(&mut decoded) {
        Err(e) => Err(format!("<undecodable gzip body: {e}>")),
        Ok(_) if decoded.len() as u64 > MAX_DECODED_BODY => Err(format!(
            "<gzip body inflates past {MAX_DECODED_BODY} bytes>"
        )),
        Ok(_) => Ok(decoded),
    }
}

/// At most [`PREVIEW_BYTES`] of `body` from `from`, lossy UTF-8, with `…` marking cuts.
fn preview(body: &[u8], from: usize) -> String {
    let from = from.min(body.len());
    let end = (from + PREVIEW_BYTES).min(body.len());
    let mut s = String::new();
    if from > 0 {
        s.push_str(&format!("…(+{from} bytes)"));
    }
    s.push_str(&String::from_utf8_lossy(&body[from..end]));
    if end < body.len() {
        s.push_str(&format!("…(+{} bytes)", body.len() - end));
    }
    s
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Walks two JSON values and appends their differences to `out` (iteratively: no
/// recursion, whatever the nesting).
pub fn diff_values(primary: &Value, shadow: &Value, spec: &CompareSpec, out: &mut Comparison) {
    let mut walk = Walk {
        spec,
        out,
        stack: vec![(String::new(), primary, shadow, 0)],
    };
    while let Some((pointer, a, b, depth)) = walk.stack.pop() {
        if walk.out.truncated || spec.ignored(&pointer) {
            continue;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) if depth < MAX_DEPTH => {
                walk.object(&pointer, x, y, depth)
            }
            (Value::Array(x), Value::Array(y)) if depth < MAX_DEPTH => {
                walk.array(&pointer, x, y, depth)
            }
            _ if type_name(a) != type_name(b) => {
                walk.out
                    .push(Diff::new(pointer, DiffKind::Type, Some(a), Some(b)));
            }
            _ if !deep_equal(a, b) => {
                walk.out
                    .push(Diff::new(pointer, DiffKind::Changed, Some(a), Some(b)));
            }
            _ => {}
        }
    }
}

/// The walk's state: pairs still to visit, as (pointer, primary, shadow, depth).
struct Walk<'v, 'o> {
    spec: &'o CompareSpec,
    out: &'o mut Comparison,
    stack: Vec<(String, &'v Value, &'v Value, usize)>,
}

impl<'v> Walk<'v, '_> {
    /// Reports a key or index present on one side only, unless ignored.
    fn one_sided(&mut self, pointer: String, kind: DiffKind, v: &Value) -> bool {
        if self.spec.ignored(&pointer) {
            return true;
        }
        let (p, s) = if kind == DiffKind::Removed {
            (Some(v), None)
        } else {
            (None, Some(v))
        };
        self.out.push(Diff::new(pointer, kind, p, s))
    }

    fn object(
        &mut self,
        at: &str,
        x: &'v Map<String, Value>,
        y: &'v Map<String, Value>,
        depth: usize,
    ) {
        let mut children = Vec::new();
        for (k, va) in x {
            let child = format!("{at}/{}", escape_segment(k));
            match y.get(k) {
                Some(vb) => children.push((child, va, vb, depth + 1)),
                None if !self.one_sided(child, DiffKind::Removed, va) => return,
                None => {}
            }
        }
        for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
            if !self.one_sided(format!("{at}/{}", escape_segment(k)), DiffKind::Added, vb) {
                return;
            }
        }
        self.stack.extend(children.into_iter().rev());
    }

    fn array(&mut self, at: &str, x: &'v [Value], y: &'v [Value], depth: usize) {
        let common = x.len().min(y.len());
        for (i, v) in x.iter().enumerate().skip(common) {
            if !self.one_sided(format!("{at}/{i}"), DiffKind::Removed, v) {
                return;
            }
        }
        for (i, v) in y.iter().enumerate().skip(common) {
            if !self.one_sided(format!("{at}/{i}"), DiffKind::Added, v) {
                return;
            }
        }
        for i in (0..common).rev() {
            self.stack
                .push((format!("{at}/{i}"), &x[i], &y[i], depth + 1));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Numbers by value: integers (and integral floats) exactly as i128, others as f64.
pub fn numbers_equal(a: &Number, b: &Number) -> bool {
    fn int(n: &Number) -> Option<i128> {
        if let Some(i) = n.as_i64() {
            return Some(i128::from(i));
        }
        if let Some(u) = n.as_u64() {
            return Some(i128::from(u));
        }
        let f = n.as_f64()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38).then_some(f as i128)
    }
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.as_f64() == b.as_f64(),
        _ => false,
    }
}

/// Structural equality (numbers by value, key order ignored), without recursion.
fn deep_equal(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if !numbers_equal(x, y) => return false,
            (Value::Number(_), Value::Number(_)) => {}
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                stack.extend(x.iter().zip(y))
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (k, v) in x {
                    match y.get(k) {
                        Some(w) => stack.push((v, w)),
                        None => return false,
                    }
                }
            }
            (Value::Array(_) | Value::Object(_), _) => return false,
            _ if a != b => return false,
            _ => {}
        }
    }
    true
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

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
