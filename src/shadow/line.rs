//! A [`ShadowRecord`] written as its log line by hand: the same JSON that
//! its `Serialize` derive gives (same field order, numbers formatted by
//! serde_json), without serde's per-byte escaping of strings that need
//! none — a record a request at `sample: 1.0`.

use super::record::{PrimarySide, ShadowRecord, ShadowSide};

impl ShadowRecord {
    /// Appends the record as one log line, with the trailing `\n`, to `out`
    /// (a buffer the log writer reuses).
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        let texts = [
            ("{\"ts\":", &self.ts),
            (",\"request_id\":", &self.request_id),
            (",\"route\":", &self.route),
            (",\"method\":", &self.method),
            (",\"path\":", &self.path),
        ];
        for (key, value) in texts {
            out.extend_from_slice(key.as_bytes());
            string(out, value);
        }
        out.extend_from_slice(b",\"primary\":");
        primary(out, &self.primary);
        out.extend_from_slice(b",\"shadow\":");
        shadow(out, &self.shadow);
        out.extend_from_slice(b",\"outcome\":\"");
        out.extend_from_slice(self.outcome.as_str().as_bytes());
        out.extend_from_slice(b"\",\"reason\":");
        nullable(out, self.reason.as_deref());
        out.extend_from_slice(b",\"diffs\":");
        if self.diffs.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            serde(out, &self.diffs);
        }
        out.extend_from_slice(b"}\n");
    }

    /// The record as one log line, with the trailing `\n`.
    pub fn to_json_line(&self) -> String {
        let mut line = Vec::new();
        self.write_json_line(&mut line);
        String::from_utf8(line).unwrap_or_default()
    }
}

fn primary(out: &mut Vec<u8>, p: &PrimarySide) {
    side(out, &p.upstream, &p.status, &p.latency_ms, None);
}

fn shadow(out: &mut Vec<u8>, s: &ShadowSide) {
    side(
        out,
        &s.upstream,
        &s.status,
        &s.latency_ms,
        Some(s.error.as_deref()),
    );
}

/// `{"upstream","status","latency_ms"}`, and `"error"` when given.
fn side(
    out: &mut Vec<u8>,
    upstream: &str,
    status: &impl serde::Serialize,
    latency: &impl serde::Serialize,
    error: Option<Option<&str>>,
) {
    out.extend_from_slice(b"{\"upstream\":");
    string(out, upstream);
    out.extend_from_slice(b",\"status\":");
    serde(out, status);
    out.extend_from_slice(b",\"latency_ms\":");
    serde(out, latency);
    if let Some(e) = error {
        out.extend_from_slice(b",\"error\":");
        nullable(out, e);
    }
    out.push(b'}');
}

fn nullable(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string: as is between quotes when nothing in it needs escaping.
fn string(out: &mut Vec<u8>, s: &str) {
    // A fold without an early exit: the compiler checks 32 bytes at a time.
    let plain = !s.bytes().fold(false, |esc, b| {
        esc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde(out, s);
    }
}

/// Numbers, `null`s and diffs as serde_json writes them. Writing plain
/// numbers, strings and `Value`s into a `Vec` cannot fail.
fn serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::super::diff::{Diff, DiffKind};
    use super::super::record::{Outcome, ShadowRecord};
    use super::*;

    fn record() -> ShadowRecord {
        ShadowRecord {
            ts: "2025-01-02T03:04:05.678Z".into(),
            request_id: "id-1".into(),
            route: "orders".into(),
            method: "GET".into(),
            path: "/orders/1".into(),
            primary: PrimarySide {
                upstream: "legacy".into(),
                status: 200,
                latency_ms: 0.379,
            },
            shadow: ShadowSide {
                upstream: "order".into(),
                status: Some(200),
                latency_ms: Some(12.5),
                error: None,
            },
            outcome: Outcome::Match,
            reason: None,
            diffs: Vec::new(),
        }
    }

    fn serde_line(r: &ShadowRecord) -> String {
        serde_json::to_string(r).expect("serializable") + "\n"
    }

    #[test]
    fn the_line_is_what_serde_writes() {
        let mut r = record();
        assert_eq!(r.to_json_line(), serde_line(&r));
        // Strings that need escaping, nulls, odd numbers, diffs.
        r.path = "/a\"b\\c\u{1}é".into();
        r.shadow = ShadowSide {
            upstream: "order".into(),
            status: None,
            latency_ms: None,
            error: Some("line\nbreak".into()),
        };
        r.primary.latency_ms = f64::NAN;
        r.outcome = Outcome::Mismatch;
        r.reason = Some("diffs_truncated".into());
        r.diffs = vec![Diff {
            pointer: "/total".into(),
            kind: DiffKind::Changed,
            primary: Some(serde_json::json!(1.5)),
            shadow: Some(serde_json::json!("x\ty")),
        }];
        assert_eq!(r.to_json_line(), serde_line(&r));
        r.primary.latency_ms = 1e21;
        assert_eq!(r.to_json_line(), serde_line(&r));
    }
}
