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
//! - `noise`: compared, and differed only where the primary differs from itself
//!   (`shadow::noise`); counted with the matches.
//! - `noise_probe`: not a copy: the primary asked a second time (`shadow.noise`); its
//!   `shadow` side is the primary's second answer and its diffs are noise.
//!
//! Reading is tolerant (nullable fields, `reason` and `diffs` may be missing; unknown fields
//! and unknown reasons are kept or ignored) but strict where it matters: a line without a
//! valid RFC 3339 `ts`, a `route`, an `outcome` and the primary's status and latency is
//! rejected by [`ShadowRecord::from_json_line`].

use super::diff::{Comparison, Diff};
pub use super::ts::{format_ts, ts_key};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;

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
    /// Differed only at pointers where the primary disagrees with itself.
    Noise,
    /// The primary asked twice, to learn its noise (`noise_probe`).
    #[serde(rename = "noise_probe")]
    Probe,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Mismatch => "mismatch",
            Outcome::ShadowError => "shadow_error",
            Outcome::Skipped => "skipped",
            Outcome::Noise => "noise",
            Outcome::Probe => "noise_probe",
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

    /// The primary asked a second time (`second`): where the two differ is noise.
    pub fn probe(meta: RequestMeta, first: PrimarySide, second: ShadowSide, c: Comparison) -> Self {
        let mut r = Self::base(meta, first, second, Outcome::Probe);
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

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
