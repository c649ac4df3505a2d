//! A copy sent on its shadow upstream's pipelined lane
//! ([`strangler_wire::pipeline`]): the way bodyless idempotent copies to a
//! plain-`http` shadow go. No task per copy: the lane's driver writes it
//! with the others queued beside it, and concludes it (breaker, comparison,
//! log) when its answer is read.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::diff::millis;
use super::log::ShadowLog;
use super::mirror::{shadow_key, Captured, Pending, ShadowCopy};
use super::record::ShadowSide;
use crate::blame::Outcome;
use crate::breaker::Permit;
use crate::headers::Added;
use crate::upstream::Upstream;
use strangler_wire::client::SendError;
use strangler_wire::encode;
use strangler_wire::framing::Framing;
use strangler_wire::pipeline::{Answer, Job};

static X_SHADOW_REQUEST: HeaderName = HeaderName::from_static("x-shadow-request");
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
static HOST: HeaderName = header::HOST;

pub struct CopyJob {
    pub copy: ShadowCopy,
    pub permit: Permit,
    pub slot: OwnedSemaphorePermit,
    pub primary: oneshot::Receiver<Captured>,
    pub log: Arc<ShadowLog>,
}

/// Whether a copy may go on a pipelined lane: no body, and a method that
/// may be sent again if a connection breaks before its answer (RFC 9112 §9.3.2).
pub fn fits(method: &Method, body_len: usize) -> bool {
    body_len == 0 && crate::retry::idempotent(method)
}

/// A pipelined copy's request head (as `ShadowCopy::marked_headers` marks a
/// copy), written from the fields that go to the primary: `headers` and the
/// proxy's `added` ones.
pub fn request_head(
    upstream: &Upstream,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    added: &Added,
) -> Vec<u8> {
    let base = upstream.config.url.base_path.as_str();
    let target = match query {
        Some(q) => [base, path, "?", q],
        None => [base, path, "", ""],
    };
    let key = headers.get(&IDEMPOTENCY_KEY).and_then(shadow_key);
    let n = if key.is_some() { 3 } else { 2 };
    let marks = [
        (&HOST, upstream.host.clone()),
        (&X_SHADOW_REQUEST, HeaderValue::from_static("1")),
        (
            &IDEMPOTENCY_KEY,
            key.unwrap_or(HeaderValue::from_static("")),
        ),
    ];
    let mut out = Vec::with_capacity(512);
    let fields = [added.as_slice(), &marks[..n]];
    encode::write_request_head(&mut out, method, &target, headers, &fields, Framing::None);
    out
}

impl Job for CopyJob {
    fn method(&self) -> &Method {
        &self.copy.method
    }

    fn write(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.copy.head);
    }

    fn keeps(&self, name: &[u8]) -> bool {
        name.eq_ignore_ascii_case(b"content-encoding")
            || self
                .copy
                .target
                .spec
                .headers
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
    }

    fn timeout(&self) -> Duration {
        self.copy.upstream.config.timeout.0
    }

    fn max_body(&self) -> u64 {
        self.copy.max_body
    }

    fn finish(self: Box<Self>, answer: Result<Answer, SendError>, took: Duration) {
        let CopyJob {
            copy,
            permit,
            slot,
            primary,
            log,
        } = *self;
        let answer = answer.map_err(crate::upstream::classify_h1);
        let outcome = match &answer {
            Ok(a) => Outcome::of_status(a.status),
            Err(e) => Outcome::of_error(e),
        };
        outcome.settle(permit, None, &copy.upstream.name);
        let mut side = ShadowSide {
            upstream: Arc::clone(&copy.upstream.name),
            latency_ms: Some(millis(took)),
            ..ShadowSide::default()
        };
        let shadow = match answer {
            Ok(a) => {
                side.status = Some(a.status.as_u16());
                match a.body {
                    // Its fields are those `keeps` chose: the compared ones.
                    Some(body) => Ok((a.status.as_u16(), a.fields, body)),
                    None => Err(None),
                }
            }
            Err(e) => Err(Some(ShadowCopy::failure(e))),
        };
        // The slot is held until the copy's own exchange is over.
        drop(slot);
        Pending {
            meta: copy.meta,
            target: copy.target,
            side,
            shadow,
            log,
            probe: copy.probe,
        }
        .when_primary(primary);
    }
}
