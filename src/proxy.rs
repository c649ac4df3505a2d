//! One request through the edge:
//!
//! ```text
//! request::check ─▶ normalize ─▶ RouteTable::find ─▶ pick (split) ─▶ breaker
//!   (or fallback) ─▶ headers::prepare_request ─▶ Upstream::send ─▶ breaker.record
//!   ─▶ response hygiene ─▶ client          (errors: error::ProxyError, one place)
//! ```
//!
//! `handle` is the outer shell (request id, snapshot, access log, error
//! mapping); `forward` the inner part that returns a typed error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{empty, Guarded, ProxyBody};
use crate::error::{ErrorContext, ProxyError};
use crate::headers::{self, Origin, X_REQUEST_ID};
use crate::normalize::normalize;
use crate::routing::Route;
use crate::snapshot::Snapshot;
use crate::upstream::Upstream;

/// State shared by every connection.
pub struct ProxyState {
    pub snapshot: ArcSwap<Snapshot>,
}

/// What is known about the client connection.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub peer: SocketAddr,
    pub https: bool,
}

/// Which route and upstream served a request (for errors and the access log).
#[derive(Default)]
struct Served {
    route: Option<Arc<str>>,
    upstream: Option<Arc<str>>,
}

pub async fn handle(req: Request<Incoming>, state: Arc<ProxyState>, conn: Conn) -> Response<ProxyBody> {
    let started = Instant::now();
    let request_id = headers::request_id(req.headers());
    let snapshot = state.snapshot.load_full();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut served = Served::default();
    let mut resp = match forward(req, &snapshot, conn, &request_id, &mut served).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(ErrorContext {
            route: served.route.as_deref(),
            upstream: served.upstream.as_deref(),
            request_id: request_id.to_str().unwrap_or(""),
        }),
    };
    let status = resp.status().as_u16();
    tracing::info!(
        target: "strangler::access",
        request_id = request_id.to_str().unwrap_or(""),
        method = %method,
        path = uri.path(),
        route = served.route.as_deref().unwrap_or("-"),
        upstream = served.upstream.as_deref().unwrap_or("-"),
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        peer = %conn.peer,
        "request"
    );
    resp.headers_mut().insert(&X_REQUEST_ID, request_id);
    resp
}

async fn forward(
    req: Request<Incoming>,
    snap: &Snapshot,
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
    let (route, _captures) = snap.table.find(&parts.method, &path, &parts.headers).ok_or(ProxyError::NoRoute)?;
    served.route = Some(Arc::clone(&route.name));
    let limits = &snap.config.limits;
    if content_length(&parts.headers).is_some_and(|n| n > limits.max_request_body) {
        return Err(ProxyError::BodyTooLarge);
    }
    let Some(picked) = route.target.pick(rand::random()) else {
        return Err(ProxyError::UpstreamError("aggregate routes are not served yet".into()));
    };
    let replayable = body.is_end_stream();
    let trusted = snap.config.trusted_proxies.iter().any(|n| n.contains(&conn.peer.ip()));
    let mut out_headers = parts.headers;
    headers::prepare_request(
        &mut out_headers,
        &Origin { peer: conn.peer.ip(), trusted, https: conn.https, host: &authority },
    );
    if let Ok(v) = HeaderValue::from_str(&authority) {
        out_headers.insert(header::HOST, v);
    }
    out_headers.insert(&X_REQUEST_ID, request_id.clone());
    let outgoing = Outgoing { method: parts.method, path: &path, query: parts.uri.query(), headers: out_headers };
    let body: ProxyBody = Guarded::new(body, limits.max_request_body, limits.body_idle_timeout).boxed();

    let primary = &snap.upstreams[picked];
    let fallback = route.fallback.map(|f| &snap.upstreams[f]);
    let permit = match primary.breaker.acquire() {
        Ok(p) => p,
        Err(retry_after) => match fallback {
            Some(fb) => return send_to(fb, route, outgoing, body, snap, served).await,
            None => {
                served.upstream = Some(Arc::clone(&primary.name));
                return Err(ProxyError::CircuitOpen { retry_after });
            }
        },
    };
    served.upstream = Some(Arc::clone(&primary.name));
    let keep = (replayable && fallback.is_some()).then(|| outgoing.headers.clone());
    let req = outgoing.build(primary, body)?;
    let result = primary.send(req, route.timeout.unwrap_or(primary.config.timeout.0)).await;
    permit.record(matches!(&result, Ok(r) if r.status().as_u16() < 500));
    match (result, fallback, keep) {
        (Err(ProxyError::UpstreamUnreachable(_)), Some(fb), Some(headers)) => {
            let again = Outgoing { headers, ..outgoing };
            send_to(fb, route, again, empty(), snap, served).await
        }
        (result, _, _) => result.map(|r| respond(r, snap)),
    }
}

/// Send to a fallback upstream (through its own breaker).
async fn send_to(
    up: &Arc<Upstream>,
    route: &Route,
    outgoing: Outgoing<'_>,
    body: ProxyBody,
    snap: &Snapshot,
    served: &mut Served,
) -> Result<Response<ProxyBody>, ProxyError> {
    served.upstream = Some(Arc::clone(&up.name));
    let permit = up.breaker.acquire().map_err(|retry_after| ProxyError::CircuitOpen { retry_after })?;
    let req = outgoing.build(up, body)?;
    let result = up.send(req, route.timeout.unwrap_or(up.config.timeout.0)).await;
    permit.record(matches!(&result, Ok(r) if r.status().as_u16() < 500));
    result.map(|r| respond(r, snap))
}

/// The request as it will leave, minus the body and the upstream.
struct Outgoing<'a> {
    method: Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: HeaderMap,
}

impl Outgoing<'_> {
    fn build(&self, up: &Upstream, body: ProxyBody) -> Result<Request<ProxyBody>, ProxyError> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = up.uri_for(self.path, self.query)?;
        *req.version_mut() = Version::HTTP_11;
        *req.headers_mut() = self.headers.clone();
        Ok(req)
    }
}

fn respond(resp: Response<Incoming>, snap: &Snapshot) -> Response<ProxyBody> {
    let idle = snap.config.limits.body_idle_timeout;
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Guarded::new(body, u64::MAX, idle).boxed())
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn options_star() -> Response<ProxyBody> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"));
    resp
}
