//! A [`ShadowRecord`] written as its log line by hand: the same JSON that
//! its `Serialize` derive gives (same field order, numbers formatted by
//! serde_json), without serde's per-byte escaping of strings that need
//! none. At `sample: 1.0` every shadowed request writes one.

use super::record::{PrimarySide, ShadowRecord, ShadowSide};

impl ShadowRecord {
    /// Appends the record as one log line, with the trailing `\n`, to `out`
    /// (a buffer the log writer reuses).
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        let texts: [(&str, &str); 5] = [
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
    if !needs_escape(s.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde(out, s);
    }
}

/// Whether `s` holds a byte JSON escapes in a string: a control byte, `"`
/// or `\\`. Eight bytes at a time (the strings are short: ids, names,
/// paths; a byte at a time cost ~100 instructions a string).
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether a byte of `x` is below `n` (n <= 0x80); a flag may also be
    // set in a byte after a flagged one, which does not change the answer.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let special = |x: u64| {
        below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
    };
    let mut chunks = s.chunks_exact(8);
    let mut found = 0;
    for c in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(c);
        found |= special(u64::from_ne_bytes(word));
    }
    // The tail, padded with a byte that needs nothing.
    let mut word = [b'a'; 8];
    word[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    found |= special(u64::from_ne_bytes(word));
    found != 0
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

    /// Every byte value, at every place of a string of every length up
    /// to 20: escaped exactly when serde_json escapes it.
    #[test]
    fn strings_are_escaped_as_serde_escapes_them() {
        for len in 1..20 {
            for at in 0..len {
                for b in 0..=0x7f_u8 {
                    let mut text = vec![b'x'; len];
                    text[at] = b;
                    let text = String::from_utf8(text).expect("ascii");
                    let mut out = Vec::new();
                    string(&mut out, &text);
                    let want = serde_json::to_string(&text).expect("a string");
                    assert_eq!(String::from_utf8_lossy(&out), want, "{text:?}");
                }
            }
        }
        let mut out = Vec::new();
        string(&mut out, "é\u{7f}ü/ok");
        assert_eq!(String::from_utf8_lossy(&out), "\"é\u{7f}ü/ok\"");
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
