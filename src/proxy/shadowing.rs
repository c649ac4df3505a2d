//! Stages 3 and 5 for a shadowed route: plan the copy (sampled, within
//! `shadow.max_body` and the in-flight cap, through the shadow upstream's
//! breaker: see `shadow::plan`) and, for a sample of safe ones, a noise
//! probe (`shadow::probe`); once the primary answered, respond with a body
//! that tees what the comparison needs.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, Method, Response};
use http_body_util::BodyExt;

use crate::body::ProxyBody;
use crate::dispatch::{CallBody, Served};
use crate::error::ProxyError;
use crate::headers::Added;
use crate::routing::{Route, ShadowTarget};
use crate::shadow::log::ShadowLog;
use crate::shadow::mirror::{self, Captured, ShadowCopy, Tee};
use crate::shadow::pipelined;
use crate::shadow::plan::{self, ShadowPlan};
use crate::shadow::probe::{Asked, Probe};
use crate::shadow::record::{PrimarySide, RequestMeta};
use crate::snapshot::Snapshot;

/// The shadow target of a route, when this request is sampled and its
/// method is one the route shadows.
pub(super) fn sample<'s>(route: &'s Route, method: &Method) -> Option<&'s Arc<ShadowTarget>> {
    route.shadow.as_ref().filter(|s| {
        s.config.methods.iter().any(|m| m.0 == *method)
            && (s.config.sample.0 >= 1.0 || rand::random::<f64>() < s.config.sample.0)
    })
}

/// What names a request in the shadow log.
pub(super) struct Named<'a> {
    pub request_id: &'a HeaderValue,
    pub route: &'a Route,
    pub method: &'a Method,
    pub path: &'a str,
}

impl<'a> Named<'a> {
    pub fn new(
        request_id: &'a HeaderValue,
        route: &'a Route,
        method: &'a Method,
        path: &'a str,
    ) -> Self {
        Named {
            request_id,
            route,
            method,
            path,
        }
    }

    fn meta(&self) -> RequestMeta {
        mirror::meta(
            self.request_id.to_str().unwrap_or(""),
            &self.route.name,
            self.method,
            self.path,
        )
    }
}

/// The request as the primary gets it, for the copy to be made from.
pub(super) struct Original<'a> {
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub added: &'a Added,
    pub body: &'a CallBody,
    /// The body fits `shadow.max_body`.
    pub fits: bool,
}

impl<'a> Original<'a> {
    pub fn new(
        query: Option<&'a str>,
        headers: &'a HeaderMap,
        added: &'a Added,
        body: &'a CallBody,
        fits: bool,
    ) -> Self {
        Original {
            query,
            headers,
            added,
            body,
            fits,
        }
    }
}

/// Stage 3: decide whether the copy goes, and start it.
pub(super) fn plan(
    log: &Arc<ShadowLog>,
    snap: &Snapshot,
    target: &Arc<ShadowTarget>,
    named: &Named<'_>,
    original: &Original<'_>,
) -> ShadowPlan {
    let body = match original.body {
        CallBody::Buffered(b) => b.clone(),
        CallBody::Stream(_) => bytes::Bytes::new(),
    };
    let pipelinable = pipelined::fits(named.method, body.len());
    let up = &snap.upstreams[target.upstream];
    let (path, query) = (named.path, original.query);
    let fields = || {
        let mut h = original.headers.clone();
        original.added.insert_into(&mut h);
        h
    };
    let asked = Asked {
        method: named.method,
        path,
        query,
        headers: &fields,
    };
    // A pipelined copy's head is written now, from the fields that go to
    // the primary: no copy of the map.
    let copy = |pipelined: bool| ShadowCopy {
        head: if pipelined {
            let (h, a) = (original.headers, original.added);
            pipelined::request_head(up, named.method, path, query, h, a)
        } else {
            Vec::new()
        },
        meta: named.meta(),
        upstream: Arc::clone(up),
        target: Arc::clone(target),
        method: named.method.clone(),
        uri_path: if pipelined {
            String::new()
        } else {
            path.to_string()
        },
        query: query.filter(|_| !pipelined).map(str::to_owned),
        headers: if pipelined {
            HeaderMap::new()
        } else {
            fields()
        },
        body,
        max_body: snap.config.shadow.max_body,
        idle: snap.config.limits.body_idle_timeout,
        probe: Probe::sampled(snap, named.route, &asked),
    };
    plan::start(log, snap, target, original.fits, pipelinable, copy)
}

/// Stage 5: the primary's answer to the client; with a copy out, its body
/// tees what the comparison needs (a skipped copy is logged as such).
pub(super) fn respond(
    plan: ShadowPlan,
    result: Result<Response<ProxyBody>, ProxyError>,
    started: Option<Instant>,
    served: &Served,
    log: &Arc<ShadowLog>,
    named: &Named<'_>,
    max_body: u64,
) -> Result<Response<ProxyBody>, ProxyError> {
    let latency_ms = || started.map_or(0.0, |t| crate::shadow::diff::millis(t.elapsed()));
    match (plan, result) {
        (ShadowPlan::None, result) => result,
        (ShadowPlan::Skip(shadow_up, why, rule), Ok(resp)) => {
            let primary = PrimarySide {
                upstream: served.upstream.clone().unwrap_or_default(),
                status: resp.status().as_u16(),
                latency_ms: latency_ms(),
            };
            mirror::record_skip(log, named.meta(), primary, &shadow_up, (why, rule));
            Ok(resp)
        }
        (ShadowPlan::Go(tx, spec), Ok(resp)) => {
            let (parts, body) = resp.into_parts();
            let head = Captured {
                status: parts.status.as_u16(),
                headers: crate::shadow::diff::header_pairs(&parts.headers, &spec.spec),
                latency_ms: latency_ms(),
                upstream: served.upstream.clone().unwrap_or_default(),
                body: None,
            };
            let body = Tee::new(body, max_body, head, tx).boxed();
            Ok(Response::from_parts(parts, body))
        }
        // The primary failed: the client gets the proxy's error; no comparison.
        (_, Err(e)) => Err(e),
    }
}
