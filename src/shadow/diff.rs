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
//! | `@header/NAME` | a header in `compare.headers` (and not in `compare.ignore`), NAME lower-case; several values joined with `, `; missing on one side is `added`/`removed`; with a `format` rule, values of that format are equal |
//! | `@body` | a body that is not JSON on both sides, or could not be un-gzipped; `primary`/`shadow` are short previews |
//! | `""`, `/items/0/id`, ... | a JSON body difference, an RFC 6901 pointer (`""` is the root) |
//!
//! Bodies: when both sides' content-encodings agree and the raw bytes are equal, they match.
//! Otherwise `Content-Encoding: gzip` is undone on either side; if both bodies then parse as
//! JSON they are compared structurally (key order ignored, numbers by value, `10` == `10.0`,
//! integers exactly, arrays by position), skipping every pointer that matches a pattern of
//! `compare.ignore` together with its subtree, under `compare.rules` (`shadow::rules`:
//! numbers within a tolerance, arrays in any order, strings of a format); else they are
//! compared byte for byte.
//!
//! Hostile bodies are bounded: at most [`MAX_DIFFS`] diffs are kept (then `truncated`), the
//! walk is iterative and descends at most [`MAX_DEPTH`] levels (deeper subtrees are compared
//! whole, also iteratively), values copied into a diff are summarised when large, and gzip
//! output is capped at [`MAX_DECODED_BODY`].

pub use super::comparison::{CompareSpec, Comparison, Diff, DiffKind, MAX_DEPTH, MAX_DIFFS};
use super::rules::holds;
use super::structure::diff_values;
use http::{HeaderName, HeaderValue};
use serde_json::Value;
use std::borrow::Cow;
use std::io::Read;
/// The fields a comparison looks at (`compare.headers`, and
/// `Content-Encoding` to undo it).
pub use strangler_wire::kept::Fields;

/// A gzip body that inflates past this is treated as undecodable (a gzip bomb).
pub const MAX_DECODED_BODY: u64 = 16 * 1024 * 1024;
/// Bytes of a non-JSON body shown in an `@body` diff, per side.
pub const PREVIEW_BYTES: usize = 200;

/// One response as seen by the proxy.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub status: u16,
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub body: &'a [u8],
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
        // The usual case, equal values, decided without building any.
        if same_values(primary.headers, shadow.headers, name)
            || header_text(primary.headers, name) == header_text(shadow.headers, name)
        {
            continue;
        }
        let (p, s) = (header(primary.headers, name), header(shadow.headers, name));
        let format = spec.rules.header_format(name);
        let kind = match (&p, &s) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) if format.is_some_and(|f| holds(f, a) && holds(f, b)) => continue,
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
fn header(headers: &[(HeaderName, HeaderValue)], name: &str) -> Option<Value> {
    header_text(headers, name).map(|t| Value::String(t.into_owned()))
}

/// As [`header`], borrowed when there is one value.
/// Whether both sides have the same values of `name`, byte for byte (but
/// for surrounding whitespace): equal texts, found without making any.
fn same_values(
    p: &[(HeaderName, HeaderValue)],
    s: &[(HeaderName, HeaderValue)],
    name: &str,
) -> bool {
    fn values<'a>(
        h: &'a [(HeaderName, HeaderValue)],
        name: &'a str,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        h.iter()
            .filter(move |(n, _)| n.as_str() == name)
            .map(|(_, v)| v.as_bytes().trim_ascii())
    }
    values(p, name).eq(values(s, name))
}

/// `name` is lower-case (`CompareSpec` lower-cases its names), as field names are.
fn header_text<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<Cow<'a, str>> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| n.as_str() == name)
        .map(|(_, v)| trimmed(String::from_utf8_lossy(v.as_bytes())));
    let first = values.next()?;
    match values.next() {
        None => Some(first),
        Some(second) => {
            let mut all = [first, second].join(", ");
            for v in values {
                all.push_str(", ");
                all.push_str(&v);
            }
            Some(Cow::Owned(all))
        }
    }
}

/// A value as text without surrounding whitespace (invalid UTF-8 replaced).
fn trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(t.trim()),
        Cow::Owned(t) if t.trim().len() == t.len() => Cow::Owned(t),
        Cow::Owned(t) => Cow::Owned(t.trim().to_owned()),
    }
}

fn compare_bodies(p: &Observed<'_>, s: &Observed<'_>, spec: &CompareSpec, out: &mut Comparison) {
    let encoding = "content-encoding";
    if p.body == s.body
        && (same_values(p.headers, s.headers, encoding)
            || header_text(p.headers, encoding) == header_text(s.headers, encoding))
    {
        return;
    }
    let (p_enc, s_enc) = (
        header(p.headers, "content-encoding"),
        header(s.headers, "content-encoding"),
    );
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

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;

/// The headers a comparison looks at (`compare.headers`, and
/// `Content-Encoding` to undo it): shared with `h`, not copied.
pub fn header_pairs(h: &http::HeaderMap, spec: &CompareSpec) -> Fields {
    let wanted = |k: &http::HeaderName| {
        *k == http::header::CONTENT_ENCODING || spec.headers.iter().any(|n| n == k.as_str())
    };
    h.iter()
        .filter(|(k, _)| wanted(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Milliseconds, rounded to the microsecond (for the log).
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
