//! One line of `shadow.log`: what happened to one shadowed request.
//!
//! ```json
//! {"ts":"2025-01-02T03:04:05.678Z","request_id":"…","route":"payments","method":"GET",
//!  "path":"/payments/7","primary":{"upstream":"legacy","status":200,"latency_ms":12.5},
//!  "shadow":{"upstream":"payment","status":200,"latency_ms":9.1,"error":null},
//!  "outcome":"mismatch","reason":null,"diffs":[{"pointer":"/total","kind":"changed",…}]}
//! ```
//!
//! `outcome` and `reason`:
//! - `match` / `mismatch`: both answered and were compared; a mismatch whose diff list was
//!   cut at [`super::diff::MAX_DIFFS`] has reason `diffs_truncated`.
//! - `shadow_error`: the copy was sent but no comparable response came back; reason is a
//!   [`ShadowErrorKind`] (`timeout`, `connect`, `upstream_error`, ...).
//! - `skipped`: the copy was not sent; reason is a [`SkipReason`] (`body_too_large`, ...).
//!
//! Reading is tolerant (nullable fields, `reason` and `diffs` may be missing; unknown fields
//! and unknown reasons are kept or ignored) but strict where it matters: a line without a
//! valid RFC 3339 `ts`, a `route`, an `outcome` and the primary's status and latency is
//! rejected by [`ShadowRecord::from_json_line`].

use super::diff::{Comparison, Diff};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a shadow-log line is not a record.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not a shadow record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid ts {0:?}")]
    Ts(String),
    #[error("empty route")]
    EmptyRoute,
    #[error("invalid latency_ms")]
    Latency,
}

/// What became of one shadow copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Match,
    Mismatch,
    ShadowError,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Mismatch => "mismatch",
            Outcome::ShadowError => "shadow_error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Why a copy was not sent (`reason` of a `skipped` record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The request body exceeded `shadow.max_body`.
    BodyTooLarge,
    /// `shadow.max_inflight` copies were already out.
    InflightLimit,
    /// The shadow upstream's breaker was open.
    BreakerOpen,
    /// The method is not in `shadow.methods`.
    Method,
    /// A response body exceeded `shadow.max_body`, so the pair was not compared.
    ResponseTooLarge,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::BodyTooLarge => "body_too_large",
            SkipReason::InflightLimit => "inflight_limit",
            SkipReason::BreakerOpen => "breaker_open",
            SkipReason::Method => "method",
            SkipReason::ResponseTooLarge => "response_too_large",
        }
    }
}

/// Why a sent copy produced nothing to compare (`reason` of a `shadow_error` record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowErrorKind {
    Timeout,
    Connect,
    /// Any other failure talking to the shadow upstream (reset, bad response, ...).
    UpstreamError,
    /// The shadow's response body could not be read in full.
    Body,
}

impl ShadowErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ShadowErrorKind::Timeout => "timeout",
            ShadowErrorKind::Connect => "connect",
            ShadowErrorKind::UpstreamError => "upstream_error",
            ShadowErrorKind::Body => "body",
        }
    }
}

/// The primary's side: it always answered the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrimarySide {
    pub upstream: Arc<str>,
    pub status: u16,
    pub latency_ms: f64,
}

/// The shadow's side; status and latency are null when it never answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowSide {
    pub upstream: Arc<str>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// The error message when the copy failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Which request a record is about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMeta {
    /// RFC 3339, UTC, as produced by [`format_ts`].
    pub ts: String,
    pub request_id: String,
    pub route: Arc<str>,
    pub method: Cow<'static, str>,
    pub path: String,
}

/// One line of `shadow.log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRecord {
    pub ts: String,
    #[serde(default)]
    pub request_id: String,
    // Names and methods are shared with the config and `http`, not copied
    // per record.
    pub route: Arc<str>,
    #[serde(default)]
    pub method: Cow<'static, str>,
    #[serde(default)]
    pub path: String,
    pub primary: PrimarySide,
    pub shadow: ShadowSide,
    pub outcome: Outcome,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub diffs: Vec<Diff>,
}

impl ShadowRecord {
    fn base(meta: RequestMeta, primary: PrimarySide, shadow: ShadowSide, outcome: Outcome) -> Self {
        let RequestMeta {
            ts,
            request_id,
            route,
            method,
            path,
        } = meta;
        let (reason, diffs) = (None, Vec::new());
        ShadowRecord {
            ts,
            request_id,
            route,
            method,
            path,
            primary,
            shadow,
            outcome,
            reason,
            diffs,
        }
    }

    /// Both sides answered: `match` or `mismatch` with the comparison's diffs.
    pub fn compared(
        meta: RequestMeta,
        primary: PrimarySide,
        shadow: ShadowSide,
        c: Comparison,
    ) -> Self {
        let outcome = if c.is_match() {
            Outcome::Match
        } else {
            Outcome::Mismatch
        };
        let mut r = Self::base(meta, primary, shadow, outcome);
        r.reason = c.truncated.then(|| "diffs_truncated".to_string());
        r.diffs = c.diffs;
        r
    }

    /// The copy was sent but failed; `shadow.error` should carry the message.
    pub fn shadow_error(
        meta: RequestMeta,
        primary: PrimarySide,
        shadow: ShadowSide,
        kind: ShadowErrorKind,
    ) -> Self {
        let mut r = Self::base(meta, primary, shadow, Outcome::ShadowError);
        r.reason = Some(kind.as_str().to_string());
        r
    }

    /// The copy was not sent.
    pub fn skipped(
        meta: RequestMeta,
        primary: PrimarySide,
        shadow_upstream: &Arc<str>,
        why: SkipReason,
    ) -> Self {
        let shadow = ShadowSide {
            upstream: Arc::clone(shadow_upstream),
            ..ShadowSide::default()
        };
        let mut r = Self::base(meta, primary, shadow, Outcome::Skipped);
        r.reason = Some(why.as_str().to_string());
        r
    }

    /// Parses and checks one log line (without its newline).
    pub fn from_json_line(line: &str) -> Result<ShadowRecord, LineError> {
        let r: ShadowRecord = serde_json::from_str(line)?;
        if ts_key(&r.ts).is_none() {
            return Err(LineError::Ts(r.ts));
        }
        if r.route.is_empty() {
            return Err(LineError::EmptyRoute);
        }
        let bad = |l: f64| !l.is_finite() || l < 0.0;
        if bad(r.primary.latency_ms) || r.shadow.latency_ms.is_some_and(bad) {
            return Err(LineError::Latency);
        }
        Ok(r)
    }

    /// The sort key of `ts` (see [`ts_key`]); records that never validated sort first.
    pub fn ts_key(&self) -> (i64, u32) {
        ts_key(&self.ts).unwrap_or((i64::MIN, 0))
    }
}

/// Formats a time as RFC 3339 UTC with milliseconds, e.g. `2025-01-02T03:04:05.678Z`:
/// fixed width, so log timestamps also sort as strings.
pub fn format_ts(t: SystemTime) -> String {
    let (secs, millis) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
        Err(_) => (0, 0),
    };
    thread_local! {
        // The last second written: most records share it with the one before.
        static LAST: std::cell::Cell<(i64, [u8; 24])> = const { std::cell::Cell::new((-1, [0; 24])) };
    }
    let (last, mut out) = LAST.get();
    if last != secs {
        out = second(secs);
        LAST.set((secs, out));
    }
    let mut n = millis;
    for i in (20..23).rev() {
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` for `secs` since the epoch.
fn second(secs: i64) -> [u8; 24] {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Digits written by hand: `format!` costs ~3,000 instructions a record.
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, y.clamp(0, 9999));
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, hh);
    put(14, 2, mm);
    put(17, 2, ss);
    out
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) into
/// (seconds since the epoch, nanoseconds): a sort key that is right whatever the offset or
/// the number of fraction digits. `None` when it is not RFC 3339.
pub fn ts_key(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c))
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (k, c) in b[i + 1..i + 1 + digits].iter().take(9).enumerate() {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - k as u32);
        }
        i += 1 + digits;
    }
    let offset = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some((secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
