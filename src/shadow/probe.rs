//! The noise probe (`shadow.noise: { sample }`; not the breaker's `probe:
//! shadow`): for a sampled copy of a safe request (GET or HEAD, never a
//! write), the primary is asked the same request a second time once its
//! first answer is in. The two primary
//! answers are compared under the route's rules and logged as a `noise_probe`
//! record, from which the report learns the route's noise (`shadow::noise`).
//!
//! A probe is extra load on the primary, so it is bounded like a copy: it
//! takes a `shadow.max_inflight` slot (none free: no probe) and goes through
//! the primary upstream's breaker (open: no probe). A probe that fails is
//! dropped, not logged: it teaches nothing.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Version};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;

use super::diff::{compare, header_pairs, millis, Fields, Observed};
use super::log::ShadowLog;
use super::record::{format_ts, PrimarySide, RequestMeta, ShadowRecord, ShadowSide};
use crate::body::{full, Guarded};
use crate::routing::{Route, ShadowTarget};
use crate::snapshot::Snapshot;
use crate::upstream::Upstream;

/// A second request to the primary, ready to go once the first answered.
pub struct Probe {
    /// The upstreams that may have answered (the route's, and its fallback).
    upstreams: Vec<Arc<Upstream>>,
    slots: Arc<Semaphore>,
    method: Method,
    path: String,
    query: Option<String>,
    /// As sent to the primary, the proxy's fields included.
    headers: HeaderMap,
    max_body: u64,
    idle: Duration,
}

/// The primary's first answer, as the probe compares it.
pub struct FirstAnswer {
    pub upstream: Arc<str>,
    pub status: u16,
    pub headers: Fields,
    pub body: Bytes,
    pub latency_ms: f64,
}

/// What a request is, for [`Probe::sampled`].
pub struct Asked<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The fields sent to the primary, the proxy's added ones included.
    pub headers: &'a dyn Fn() -> HeaderMap,
}

impl Probe {
    /// A probe for this request when the route learns noise, the method is
    /// safe, and the sample says so.
    pub fn sampled(snap: &Snapshot, route: &Route, asked: &Asked<'_>) -> Option<Box<Probe>> {
        let noise = route.shadow.as_ref()?.config.noise?;
        let safe = *asked.method == Method::GET || *asked.method == Method::HEAD;
        if !safe || !(noise.sample.0 >= 1.0 || rand::random::<f64>() < noise.sample.0) {
            return None;
        }
        let mut ids = route.target.upstreams();
        ids.extend(route.fallback);
        Some(Box::new(Probe {
            upstreams: (ids.into_iter())
                .filter_map(|i| snap.upstreams.get(i).cloned())
                .collect(),
            slots: Arc::clone(&snap.shadow_slots),
            method: asked.method.clone(),
            path: asked.path.to_string(),
            query: asked.query.map(str::to_owned),
            headers: (asked.headers)(),
            max_body: snap.config.shadow.max_body,
            idle: snap.config.limits.body_idle_timeout,
        }))
    }

    /// Sends the probe in a task of its own; logs what differs.
    pub fn start(
        self: Box<Self>,
        meta: RequestMeta,
        first: FirstAnswer,
        target: Arc<ShadowTarget>,
        log: Arc<ShadowLog>,
    ) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let id = meta.request_id.clone();
            if let Err(why) = self.run(meta, first, &target, &log).await {
                tracing::debug!(request_id = %id, why, "noise probe not made");
            }
        });
    }

    async fn run(
        self,
        mut meta: RequestMeta,
        first: FirstAnswer,
        target: &ShadowTarget,
        log: &ShadowLog,
    ) -> Result<(), &'static str> {
        let _slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| "no slot")?;
        let up = (self.upstreams.iter())
            .find(|u| u.name == first.upstream)
            .ok_or("the primary is not the route's")?;
        let permit = up.breaker.acquire().map_err(|_| "breaker open")?;
        let mut headers = self.headers;
        headers.insert(http::header::HOST, up.host.clone());
        let mut req = Request::new(full(Bytes::new()));
        *req.method_mut() = self.method;
        *req.uri_mut() = (up.uri_for(&self.path, self.query.as_deref())).map_err(|_| "bad uri")?;
        *req.version_mut() = Version::HTTP_11;
        *req.headers_mut() = headers;
        let started = Instant::now();
        let answer = up
            .send(req, &Default::default(), up.config.timeout.0, false)
            .await;
        let latency_ms = millis(started.elapsed());
        crate::blame::Outcome::of(&answer).settle(permit, None, &up.name);
        let (parts, body) = answer.map_err(|_| "no answer")?.into_parts();
        let read = Guarded::new(body, self.max_body, self.idle).collect();
        let body = tokio::time::timeout(up.config.timeout.0, read)
            .await
            .map_err(|_| "body timed out")?
            .map_err(|_| "body unread")?
            .to_bytes();
        let status = parts.status.as_u16();
        let fields = header_pairs(&parts.headers, &target.spec);
        let c = compare(
            &Observed {
                status: first.status,
                headers: &first.headers,
                body: &first.body,
            },
            &Observed {
                status,
                headers: &fields,
                body: &body,
            },
            &target.spec,
        );
        meta.ts = format_ts(SystemTime::now());
        let first_side = PrimarySide {
            upstream: first.upstream,
            status: first.status,
            latency_ms: first.latency_ms,
        };
        let second = ShadowSide {
            upstream: Arc::clone(&up.name),
            status: Some(status),
            latency_ms: Some(latency_ms),
            error: None,
        };
        let record = ShadowRecord::probe(meta, first_side, second, c);
        log.record_judged(record, Some(target.ready));
        Ok(())
    }
}
