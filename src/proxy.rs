//! One request through the edge, in named stages, each a short function:
//!
//! ```text
//! answer      the shell: request id, the snapshot (loaded once), the access
//!             log and metrics (record), errors to responses (error.rs)
//! forward     the stages:
//!   1 admit     admit::check (request line, Host, path normalized)
//!               ─▶ admit::route (RouteTable, body limit) ─▶ admit::pick (split)
//!               ─▶ admit::headers (hop-by-hop, X-Forwarded-*, X-Request-Id)
//!               (an upgrade — WebSocket — leaves here for tunnel.rs)
//!               (an aggregate route composes its parts here: aggregate.rs)
//!   2 prepare   the body: buffered when it may be sent twice, else streamed
//!   3 plan      shadowing::plan: the copy, when sampled (shadow::plan)
//!   4 dispatch  dispatch::Call: breaker, retries, fallback (blame.rs decides
//!               who failed)
//!   5 respond   shadowing::respond: the answer, teed for the comparison
//! ```

mod admit;
mod record;
mod shadowing;

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::BodyExt;
use strangler_wire::Handled;

use crate::body::{empty, BoxError, FromClient, Guarded, ProxyBody};
use crate::config::Limits;
use crate::dispatch::{buffer, Call, CallBody, Outgoing, Served, MAX_REPLAY_BODY};
use crate::error::{ErrorContext, ProxyError};
use crate::headers::X_REQUEST_ID;
use crate::retry::idempotent;
use crate::routing::{Route, Target};
use crate::shadow::plan::ShadowPlan;
use crate::snapshot::Snapshot;
use record::Record;
use shadowing::{Named, Original};

pub use crate::snapshot::ProxyState;

/// What is known about the client connection.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub peer: SocketAddr,
    pub https: bool,
}

/// The upstream label of a composed answer.
static AGGREGATE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("(aggregate)"));

/// One request, answered with its `X-Request-Id` (for HTTP/2: hyper writes
/// the map). The request comes boxed: with only a pointer and small values
/// as arguments, the caller's `boxed_with` builds this ~5 KB future in its
/// box, not on the stack first (callgrind over h2c: ~480 instructions a
/// request of `memcpy` less, for one small allocation).
pub async fn handle<B>(
    req: Box<Request<B>>,
    state: Arc<ProxyState>,
    conn: Conn,
) -> Response<ProxyBody>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let mut slot = Some(*req);
    let Handled {
        mut response,
        mut request_id,
        raw,
        ..
    } = answer(&mut slot, &state, &conn).await;
    if let Some(raw) = raw {
        // Not asked for over HTTP/2 (see `forward`); hyper writes maps only.
        raw.append_to(response.headers_mut());
    }
    // Unique to each answer: HPACK would insert every one in the
    // connection's dynamic table, evicting the fields that do repeat
    // (`server`, `content-type`…) and re-adding them after. Never indexed,
    // it is sent as a literal and the table keeps what is worth keeping.
    request_id.set_sensitive(true);
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
    conn: &Conn,
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
                grpc: false,
            }),
            request_id: HeaderValue::from_static(""),
            raw: None,
            header_read_timeout: None,
            finished: None,
        };
    };
    let snapshot = state.snapshot.load_full();
    let mut record = Record {
        state,
        started,
        request_id: crate::request_id::request_id(r.headers()),
        line: Record::line(r.method(), r.uri()),
        peer: conn.peer,
        served: Served::default(),
        written: false,
    };
    let served = &mut record.served;
    let (mut resp, status, raw) = match forward(
        slot,
        state,
        &snapshot,
        *conn,
        &record.request_id,
        served,
        started,
    )
    .await
    {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (resp, status, served.raw.take())
        }
        Err(e) => {
            // Logged and counted by the status the error stands for,
            // even when a gRPC call is answered 200 with a grpc-status.
            let status = e.status_kind().0.as_u16();
            let resp = e.into_response(ErrorContext {
                route: served.route.as_deref(),
                upstream: served.upstream.as_deref(),
                request_id: record.request_id.to_str().unwrap_or(""),
                grpc: served.grpc,
            });
            (resp, status, None)
        }
    };
    if served.set_cookie.is_some() || snapshot.config.debug_headers {
        // Rare: a ramp's new sticky cookie, or which side answered.
        say_who(&mut resp, served, snapshot.config.debug_headers);
    }
    let finished = record.write(status, resp.body().size_hint().exact());
    let request_id = std::mem::replace(&mut record.request_id, HeaderValue::from_static(""));
    Handled {
        response: resp,
        request_id,
        raw,
        // The one snapshot of this request says it: no second load.
        header_read_timeout: Some(snapshot.config.limits.header_read_timeout),
        finished,
    }
}

/// A ramp's new sticky cookie and, with `admin.debug_headers`, the route
/// and upstream that answered.
fn say_who(resp: &mut Response<ProxyBody>, served: &mut Served, debug: bool) {
    let h = resp.headers_mut();
    if let Some(c) = served.set_cookie.take() {
        h.append(header::SET_COOKIE, c);
    }
    if debug {
        for (name, v) in [
            ("x-strangler-route", &served.route),
            ("x-strangler-upstream", &served.upstream),
        ] {
            if let Some(v) = v.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                h.insert(name, v);
            }
        }
    }
}

/// The stages. `slot`: as for [`answer`] (taken here, for the same reason).
async fn forward<B>(
    slot: &mut Option<Request<B>>,
    state: &ProxyState,
    snap: &Snapshot,
    conn: Conn,
    request_id: &HeaderValue,
    served: &mut Served,
    arrived: Instant,
) -> Result<Response<ProxyBody>, ProxyError>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = (slot.take())
        .ok_or(ProxyError::BadRequest("no request to answer"))?
        .into_parts();
    // From here on, the body's failures are typed as the client's.
    let body = FromClient::new(body);

    // 1. admit
    let Some(authority) = admit::check(&parts)? else {
        return Ok(options_star());
    };
    let normalized = admit::path(&parts.uri)?;
    let (route, captures, declared) = admit::route(snap, &parts, &normalized, served)?;
    // Only a POST can be a gRPC call: other requests pay no header lookup.
    served.grpc = parts.method == Method::POST && crate::grpc::is_grpc(&parts.headers);
    let picked = admit::pick(route, &parts, conn, served);
    let mut token = None;
    let from_target = parts.uri.authority().is_some();
    // In place: the request's own map is the one that leaves (see `Outgoing`).
    let added = admit::headers(
        &mut parts.headers,
        snap,
        conn,
        &authority,
        request_id,
        &mut token,
        from_target,
    );
    let upgrade = crate::tunnel::asked(&parts.method, token, &mut parts.extensions);
    if let (Some(asked), Some(picked)) = (upgrade, picked) {
        // An HTTP/1.1 upgrade carrying a body is answered as a plain request.
        if matches!(asked, crate::tunnel::Asked::Http2(..)) || body.is_end_stream() {
            let open = crate::tunnel::Open {
                snap,
                metrics: &state.metrics,
                route,
                method: &parts.method,
                path: &normalized,
                query: parts.uri.query(),
                headers: std::mem::take(&mut parts.headers),
                added,
            };
            // Boxed, like the other rare paths.
            return Box::pin(crate::tunnel::open(open, picked, asked, served)).await;
        }
    }
    let Some(picked) = picked else {
        added.insert_into(&mut parts.headers);
        // Boxed, like the other rare paths: the common request's future stays small.
        return Box::pin(compose(snap, route, &captures, &parts.headers, served)).await;
    };

    // 2. prepare the body
    let shadow = shadowing::sample(route, &parts.method);
    let max_shadow = snap.config.shadow.max_body;
    let fits = body.is_end_stream() || declared.is_some_and(|n| n <= max_shadow);
    let limits = &snap.config.limits;
    let copied = shadow.is_some() && fits;
    let body = match prepare(body, route, &parts.method, declared, copied, limits) {
        Prepared::Ready(body) => body,
        // Boxed, like the other rare paths: the common request's future stays small.
        Prepared::Buffer(body) => {
            let (max, idle) = (limits.max_request_body, limits.body_idle_timeout);
            CallBody::Buffered(Box::pin(buffer(body, max, idle)).await?)
        }
    };

    // 3. plan the shadow copy
    let named = Named::new(request_id, route, &parts.method, &normalized);
    let plan = shadow.map_or(ShadowPlan::None, |target| {
        let original = Original::new(parts.uri.query(), &parts.headers, &added, &body, fits);
        shadowing::plan(&state.shadow_log, snap, target, &named, &original)
    });

    // 4. dispatch
    let outgoing = Outgoing::new(
        &parts.method,
        &parts.uri,
        &normalized,
        &mut parts.headers,
        added,
    );
    // Only a shadow comparison needs the primary's own latency.
    let started = (!matches!(plan, ShadowPlan::None)).then(Instant::now);
    let metrics = &state.metrics;
    let arrived = tokio::time::Instant::from_std(arrived);
    let mut call = Call::new(snap, route, metrics, outgoing, body, arrived);
    // The answer's fields pass raw to an HTTP/1.x client when nothing on
    // the way reads or rewrites them: no comparison, no gRPC, no debug
    // fields (hyper, for HTTP/2, writes maps only).
    call.pass = parts.version != Version::HTTP_2
        && matches!(plan, ShadowPlan::None)
        && !served.grpc
        && !snap.config.debug_headers;
    let result = call.run(picked, served).await;

    // 5. respond (and tee)
    let log = &state.shadow_log;
    shadowing::respond(plan, result, started, served, log, &named, max_shadow)
}

/// An aggregate route's answer, composed from its parts (aggregate.rs).
async fn compose(
    snap: &Snapshot,
    route: &Route,
    captures: &crate::routing::Captures<'_>,
    headers: &http::HeaderMap,
    served: &mut Served,
) -> Result<Response<ProxyBody>, ProxyError> {
    let Target::Aggregate(parts) = &route.target else {
        return Err(ProxyError::NoRoute);
    };
    served.upstream = Some(Arc::clone(&AGGREGATE));
    crate::aggregate::compose(snap, parts, captures, headers, route.timeout).await
}

/// Stage 2: the body as it will be sent, or to be buffered first. Only
/// what may be sent twice is buffered — a small body of a request that can
/// be retried or fall back, or one that is copied to a shadow; everything
/// else streams. Not async: the one wait (buffering) is boxed by the
/// caller, so the common request's future carries no state for it.
fn prepare<B>(
    body: FromClient<B>,
    route: &Route,
    method: &Method,
    declared: Option<u64>,
    copied: bool,
    limits: &Limits,
) -> Prepared<B>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    if body.is_end_stream() {
        return Prepared::Ready(CallBody::Buffered(Bytes::new()));
    }
    let may_replay = route.fallback.is_some() || (route.retry.is_some() && idempotent(method));
    if (may_replay && declared.is_some_and(|n| n <= MAX_REPLAY_BODY)) || copied {
        return Prepared::Buffer(body);
    }
    let (max, idle) = (limits.max_request_body, limits.body_idle_timeout);
    Prepared::Ready(CallBody::Stream(Some(
        Guarded::new(body, max, idle).boxed(),
    )))
}

/// What stage 2 decided.
enum Prepared<B> {
    Ready(CallBody),
    /// Read the whole body first (within the limits).
    Buffer(FromClient<B>),
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
