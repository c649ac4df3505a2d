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
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{empty, Guarded, ProxyBody};
use crate::dispatch::{buffer, Call, CallBody, Outgoing, Served, MAX_REPLAY_BODY};
use crate::error::{ErrorContext, ProxyError};
use crate::headers::{self, Origin, X_REQUEST_ID};
use crate::metrics::{Metrics, Name, RequestLabels, RouteUpstream};
use crate::normalize::normalize;
use crate::retry::idempotent;
use crate::snapshot::Snapshot;

/// State shared by every connection.
pub struct ProxyState {
    pub snapshot: ArcSwap<Snapshot>,
    pub metrics: Arc<Metrics>,
}

impl ProxyState {
    pub fn new(first: Snapshot, metrics: Arc<Metrics>) -> Self {
        metrics.config_version.set(first.version as i64);
        ProxyState {
            snapshot: ArcSwap::from_pointee(first),
            metrics,
        }
    }

    /// Swap in a new snapshot; requests in flight keep the one they loaded.
    pub fn install(&self, next: Snapshot) {
        self.metrics.config_version.set(next.version as i64);
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

pub async fn handle(
    req: Request<Incoming>,
    state: Arc<ProxyState>,
    conn: Conn,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let request_id = headers::request_id(req.headers());
    let snapshot = state.snapshot.load_full();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut served = Served::default();
    let mut resp = match forward(
        req,
        &snapshot,
        &state.metrics,
        conn,
        &request_id,
        &mut served,
    )
    .await
    {
        Ok(resp) => resp,
        Err(e) => e.into_response(ErrorContext {
            route: served.route.as_deref(),
            upstream: served.upstream.as_deref(),
            request_id: request_id.to_str().unwrap_or(""),
        }),
    };
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let route = Name(served.route.unwrap_or_else(|| Arc::clone(&NONE)));
    let upstream = Name(served.upstream.unwrap_or_else(|| Arc::clone(&NONE)));
    tracing::info!(
        target: "strangler::access",
        request_id = request_id.to_str().unwrap_or(""),
        method = %method,
        path = uri.path(),
        route = &*route.0,
        upstream = &*upstream.0,
        status,
        bytes = resp.body().size_hint().exact(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        peer = %conn.peer,
        "request"
    );
    let m = &state.metrics;
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
    resp.headers_mut().insert(&X_REQUEST_ID, request_id);
    resp
}

async fn forward(
    req: Request<Incoming>,
    snap: &Snapshot,
    metrics: &Metrics,
    conn: Conn,
    request_id: &HeaderValue,
    served: &mut Served,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (parts, body) = req.into_parts();
    let authority = crate::request::check(&parts)?;
    if parts.uri.path() == "*" {
        return Ok(options_star());
    }
    let path = normalize(parts.uri.path()).map_err(|e| ProxyError::BadRequest(e.message()))?;
    let (route, _captures) = snap
        .table
        .find(&parts.method, &path, &parts.headers)
        .ok_or(ProxyError::NoRoute)?;
    served.route = Some(Arc::clone(&route.name));
    let limits = &snap.config.limits;
    let declared = content_length(&parts.headers);
    if declared.is_some_and(|n| n > limits.max_request_body) {
        return Err(ProxyError::BodyTooLarge);
    }
    let Some(picked) = route.target.pick(rand::random()) else {
        return Err(ProxyError::UpstreamError(
            "aggregate routes are not served yet".into(),
        ));
    };
    let trusted = snap
        .config
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&conn.peer.ip()));
    let mut out_headers = parts.headers;
    headers::prepare_request(
        &mut out_headers,
        &Origin {
            peer: conn.peer.ip(),
            trusted,
            https: conn.https,
            host: &authority,
        },
    );
    if let Ok(v) = HeaderValue::from_str(&authority) {
        out_headers.insert(header::HOST, v);
    }
    out_headers.insert(&X_REQUEST_ID, request_id.clone());

    // Buffer only what may be sent twice: small bodies of requests that
    // can be retried or fall back. Everything else streams.
    let may_replay =
        route.fallback.is_some() || (route.retry.is_some() && idempotent(&parts.method));
    let body = if body.is_end_stream() {
        CallBody::Buffered(bytes::Bytes::new())
    } else if may_replay && declared.is_some_and(|n| n <= MAX_REPLAY_BODY) {
        CallBody::Buffered(buffer(body, limits.max_request_body, limits.body_idle_timeout).await?)
    } else {
        CallBody::Stream(Some(
            Guarded::new(body, limits.max_request_body, limits.body_idle_timeout).boxed(),
        ))
    };
    let outgoing = Outgoing {
        method: parts.method,
        path: &path,
        query: parts.uri.query(),
        headers: out_headers,
    };
    Call {
        snap,
        route,
        metrics,
        outgoing,
        body,
    }
    .run(picked, served)
    .await
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
