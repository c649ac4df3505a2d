//! One request through the edge:
//!
//! ```text
//! request::check ─▶ normalize ─▶ RouteTable::find ─▶ pick (split)
//!   ─▶ headers::prepare_request ─▶ dispatch::Call (breaker, fallback, retries)
//!   ─▶ response hygiene ─▶ client          (errors: error::ProxyError, one place)
//! ```
//!
//! `handle` is the outer shell (request id, snapshot, metrics, access log,
//! error mapping); `forward` the inner part that returns a typed error.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;

use crate::body::{empty, BoxError, FromClient, Guarded, ProxyBody};
use crate::dispatch::{buffer, Call, CallBody, Outgoing, Served, MAX_REPLAY_BODY};
use crate::error::{ErrorContext, ProxyError};
use crate::headers::{self, Origin, X_REQUEST_ID};
use crate::metrics::{Metrics, Name, RequestLabels, RouteUpstream};
use crate::normalize::normalize;
use crate::retry::idempotent;
use crate::routing::Target;
use crate::shadow::log::ShadowLog;
use crate::shadow::mirror::{self, Captured, Copy, Tee};
use crate::shadow::pipelined;
use crate::shadow::plan::{self, ShadowPlan};
use crate::shadow::record::PrimarySide;
use crate::snapshot::Snapshot;
use strangler_wire::Handled;
use tokio::sync::Semaphore;

/// State shared by every connection.
pub struct ProxyState {
    pub snapshot: ArcSwap<Snapshot>,
    pub metrics: Arc<Metrics>,
    pub shadow_log: Arc<ShadowLog>,
    /// `shadow.max_inflight` copies at most (a new semaphore when a reload changes it).
    pub shadow_slots: ArcSwap<Semaphore>,
}

impl ProxyState {
    pub fn new(first: Snapshot, metrics: Arc<Metrics>, shadow_log: Arc<ShadowLog>) -> Self {
        metrics.config_version.set(first.version as i64);
        let shadow_slots = ArcSwap::from_pointee(Semaphore::new(first.config.shadow.max_inflight));
        ProxyState {
            snapshot: ArcSwap::from_pointee(first),
            metrics,
            shadow_log,
            shadow_slots,
        }
    }

    /// Swap in a new snapshot; requests in flight keep the one they loaded.
    pub fn install(&self, next: Snapshot) {
        self.metrics.config_version.set(next.version as i64);
        self.shadow_log.set_path(&next.config.shadow.log);
        if next.config.shadow.max_inflight != self.snapshot.load().config.shadow.max_inflight {
            // A new cap: copies in flight finish on the old semaphore.
            self.shadow_slots
                .store(Arc::new(Semaphore::new(next.config.shadow.max_inflight)));
        }
        self.snapshot.store(Arc::new(next));
    }
}

/// What is known about the client connection.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub peer: SocketAddr,
    pub https: bool,
}

/// The label for "no route" / "no upstream".
static NONE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));
/// The upstream label of a composed answer.
static AGGREGATE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("(aggregate)"));

/// One request, answered with its `X-Request-Id` (for HTTP/2: hyper writes
/// the map).
pub async fn handle<B>(req: Request<B>, state: Arc<ProxyState>, conn: Conn) -> Response<ProxyBody>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let mut slot = Some(req);
    let Handled {
        mut response,
        request_id,
    } = answer(&mut slot, &state, conn).await;
    response.headers_mut().insert(&X_REQUEST_ID, request_id);
    response
}

/// One request: the response, and the request id it must carry as
/// `X-Request-Id` (an HTTP/1.1 writer adds it as it writes the head).
///
/// The request is taken out of `slot` when the future first runs: its
/// arguments are then all references, and the caller's box can be built in
/// place (see `strangler_wire::server`'s `boxed_with`). An empty slot is a
/// caller's bug, answered 400.
pub async fn answer<B>(
    slot: &mut Option<Request<B>>,
    state: &Arc<ProxyState>,
    conn: Conn,
) -> Handled
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let Some(r) = slot.as_ref() else {
        return Handled {
            response: ProxyError::BadRequest("no request to answer").into_response(ErrorContext {
                route: None,
                upstream: None,
                request_id: "",
            }),
            request_id: HeaderValue::from_static(""),
        };
    };
    let snapshot = state.snapshot.load_full();
    let mut record = Record {
        state,
        started,
        request_id: headers::request_id(r.headers()),
        method: r.method().clone(),
        uri: r.uri().clone(),
        peer: conn.peer,
        served: Served::default(),
        written: false,
    };
    let served = &mut record.served;
    let resp = match forward(slot, state, &snapshot, conn, &record.request_id, served).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(ErrorContext {
            route: served.route.as_deref(),
            upstream: served.upstream.as_deref(),
            request_id: record.request_id.to_str().unwrap_or(""),
        }),
    };
    record.write(resp.status().as_u16(), resp.body().size_hint().exact());
    let request_id = std::mem::replace(&mut record.request_id, HeaderValue::from_static(""));
    Handled {
        response: resp,
        request_id,
    }
}

/// What the access log and the metrics say of one request, written once:
/// when it is answered or, when the client goes away first (its future is
/// dropped: an HTTP/2 reset, a closed connection), on drop, as 499.
struct Record<'a> {
    state: &'a ProxyState,
    started: Instant,
    request_id: HeaderValue,
    method: http::Method,
    uri: http::Uri,
    peer: SocketAddr,
    served: Served,
    written: bool,
}

impl Record<'_> {
    fn write(&mut self, status: u16, bytes: Option<u64>) {
        if std::mem::replace(&mut self.written, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        let served = std::mem::take(&mut self.served);
        let route = Name(served.route.unwrap_or_else(|| Arc::clone(&NONE)));
        let upstream = Name(served.upstream.unwrap_or_else(|| Arc::clone(&NONE)));
        tracing::info!(
            target: "strangler::access",
            request_id = self.request_id.to_str().unwrap_or(""),
            method = %self.method,
            path = self.uri.path(),
            route = &*route.0,
            upstream = &*upstream.0,
            status,
            bytes,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            peer = %self.peer,
            "request"
        );
        let m = &self.state.metrics;
        match &served.metrics {
            Some(rm) => rm.record(m, &route, &upstream, status, elapsed.as_secs_f64()),
            None => {
                m.duration
                    .get_or_create(&RouteUpstream {
                        route: route.clone(),
                        upstream: upstream.clone(),
                    })
                    .observe(elapsed.as_secs_f64());
                m.requests
                    .get_or_create(&RequestLabels {
                        route,
                        upstream,
                        code: status,
                    })
                    .inc();
            }
        }
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        self.write(crate::error::CLIENT_CLOSED, None);
    }
}

/// `slot`: as for [`answer`] (taken here, for the same reason).
async fn forward<B>(
    slot: &mut Option<Request<B>>,
    state: &ProxyState,
    snap: &Snapshot,
    conn: Conn,
    request_id: &HeaderValue,
    served: &mut Served,
) -> Result<Response<ProxyBody>, ProxyError>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = (slot.take())
        .ok_or(ProxyError::BadRequest("no request to answer"))?
        .into_parts();
    // From here on, the body's failures are typed as the client's.
    let body = FromClient::new(body);
    let authority = crate::request::check(&parts)?;
    if parts.uri.path() == "*" {
        return Ok(options_star());
    }
    let path = normalize(parts.uri.path()).map_err(|e| ProxyError::BadRequest(e.message()))?;
    let (route, captures) = snap
        .table
        .find(&parts.method, &path, &parts.headers)
        .ok_or(ProxyError::NoRoute)?;
    served.route = Some(Arc::clone(&route.name));
    served.metrics = Some(Arc::clone(&route.metrics));
    let limits = &snap.config.limits;
    let declared = content_length(&parts.headers);
    if declared.is_some_and(|n| n > limits.max_request_body) {
        return Err(ProxyError::BodyTooLarge);
    }
    let picked = match &route.target {
        Target::Split(..) => route.target.pick(rand::random()),
        target => target.pick(0),
    };
    let trusted = snap
        .config
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&conn.peer.ip()));
    let mut out_headers = parts.headers;
    let mut added = headers::prepare_request(
        &mut out_headers,
        &Origin {
            peer: conn.peer.ip(),
            trusted,
            https: conn.https,
            host: &authority,
        },
    );
    // Forward by the authority the request was routed by (absolute form, or
    // HTTP/2 `:authority`); an origin-form Host is already that value.
    if out_headers
        .get(header::HOST)
        .is_none_or(|h| h.as_bytes() != authority.as_bytes())
    {
        out_headers.insert(header::HOST, authority.clone());
    }
    added.set(&X_REQUEST_ID, request_id.clone());
    let Some(picked) = picked else {
        let Target::Aggregate(parts) = &route.target else {
            return Err(ProxyError::NoRoute);
        };
        served.upstream = Some(Arc::clone(&AGGREGATE));
        added.insert_into(&mut out_headers);
        // Boxed, like the other rare paths: the common request's future stays small.
        return Box::pin(crate::aggregate::compose(
            snap,
            parts,
            &captures,
            &out_headers,
            route.timeout,
        ))
        .await;
    };

    // A sampled request whose method the route shadows.
    let shadow = route.shadow.as_ref().filter(|s| {
        s.config.methods.iter().any(|m| m.0 == parts.method)
            && (s.config.sample.0 >= 1.0 || rand::random::<f64>() < s.config.sample.0)
    });
    let max_shadow = snap.config.shadow.max_body;
    let shadow_fits = body.is_end_stream() || declared.is_some_and(|n| n <= max_shadow);
    // Buffer only what may be sent twice: small bodies of requests that can
    // be retried, fall back, or be shadowed. Everything else streams.
    let may_replay =
        route.fallback.is_some() || (route.retry.is_some() && idempotent(&parts.method));
    let body = if body.is_end_stream() {
        CallBody::Buffered(bytes::Bytes::new())
    } else if (may_replay && declared.is_some_and(|n| n <= MAX_REPLAY_BODY))
        || (shadow.is_some() && shadow_fits)
    {
        CallBody::Buffered(
            Box::pin(buffer(
                body,
                limits.max_request_body,
                limits.body_idle_timeout,
            ))
            .await?,
        )
    } else {
        CallBody::Stream(Some(
            Guarded::new(body, limits.max_request_body, limits.body_idle_timeout).boxed(),
        ))
    };
    let plan = match shadow {
        None => ShadowPlan::None,
        Some(target) => {
            let body_len = match &body {
                CallBody::Buffered(b) => b.len(),
                CallBody::Stream(_) => 0,
            };
            let pipelinable = pipelined::fits(&parts.method, body_len);
            // A pipelined copy's head is written now, from the fields that
            // go to the primary: no copy of the map.
            let copy = |pipelined: bool| Copy {
                head: if pipelined {
                    pipelined::request_head(
                        &snap.upstreams[target.upstream],
                        &parts.method,
                        &path,
                        parts.uri.query(),
                        &out_headers,
                        &added,
                    )
                } else {
                    Vec::new()
                },
                meta: mirror::meta(
                    request_id.to_str().unwrap_or(""),
                    &route.name,
                    &parts.method,
                    &path,
                ),
                upstream: Arc::clone(&snap.upstreams[target.upstream]),
                target: Arc::clone(target),
                method: parts.method.clone(),
                uri_path: if pipelined {
                    String::new()
                } else {
                    path.to_string()
                },
                query: parts.uri.query().filter(|_| !pipelined).map(str::to_owned),
                headers: if pipelined {
                    HeaderMap::new()
                } else {
                    let mut h = out_headers.clone();
                    added.insert_into(&mut h);
                    h
                },
                body: match &body {
                    CallBody::Buffered(b) => b.clone(),
                    CallBody::Stream(_) => bytes::Bytes::new(),
                },
                max_body: max_shadow,
                idle: limits.body_idle_timeout,
            };
            plan::start(state, snap, target, shadow_fits, pipelinable, copy)
        }
    };
    let original = match &path {
        std::borrow::Cow::Borrowed(_) => parts.uri.path_and_query().cloned(),
        std::borrow::Cow::Owned(_) => None,
    };
    let outgoing = Outgoing {
        original,
        method: parts.method.clone(),
        path: &path,
        query: parts.uri.query(),
        headers: out_headers,
        added,
    };
    // Only a shadow comparison needs the primary's own latency.
    let started = (!matches!(plan, ShadowPlan::None)).then(Instant::now);
    let result = Call {
        snap,
        route,
        metrics: &state.metrics,
        outgoing,
        body,
    }
    .run(picked, served)
    .await;
    match (plan, result) {
        (ShadowPlan::None, result) => result,
        (ShadowPlan::Skip(shadow_up, why), Ok(resp)) => {
            let primary = PrimarySide {
                upstream: served.upstream.clone().unwrap_or_default(),
                status: resp.status().as_u16(),
                latency_ms: started.map_or(0.0, |t| mirror::millis(t.elapsed())),
            };
            let meta = mirror::meta(
                request_id.to_str().unwrap_or(""),
                &route.name,
                &parts.method,
                &path,
            );
            mirror::record_skip(&state.shadow_log, meta, primary, &shadow_up, why);
            Ok(resp)
        }
        (ShadowPlan::Go(tx, spec), Ok(resp)) => {
            let (resp_parts, resp_body) = resp.into_parts();
            let head = Captured {
                status: resp_parts.status.as_u16(),
                headers: mirror::header_pairs(&resp_parts.headers, &spec.spec),
                latency_ms: started.map_or(0.0, |t| mirror::millis(t.elapsed())),
                upstream: served.upstream.clone().unwrap_or_default(),
                body: None,
            };
            Ok(Response::from_parts(
                resp_parts,
                Tee::new(resp_body, max_shadow, head, tx).boxed(),
            ))
        }
        // The primary failed: the client gets the proxy's error; no comparison.
        (_, Err(e)) => Err(e),
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn options_star() -> Response<ProxyBody> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"),
    );
    resp
}
