//! Calling a route's upstream: through its circuit breaker, falling back
//! when the breaker is open (or the connection failed before a byte was
//! sent), retrying idempotent requests with backoff within the upstream's
//! retry budget. Every try is recorded on the breaker and in the metrics.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Version};
use http_body_util::BodyExt;

use crate::blame::{Failure, Outcome};
use crate::body::{full, Guarded, ProxyBody};
use crate::breaker::State;
use crate::config::upstream::Probe;
use crate::error::ProxyError;
use crate::headers;
use crate::metrics::{Metrics, Name, RouteLabel};
use crate::retry::{backoff, idempotent};
use crate::routing::Route;
use crate::snapshot::Snapshot;
use crate::upstream::{Upstream, UpstreamBody};

/// The request as it will leave, minus the body and the upstream.
pub struct Outgoing<'a> {
    /// The client's path and query, when forwarding them unchanged is right.
    pub original: Option<http::uri::PathAndQuery>,
    pub method: Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The request's own map, made ready in place (`admit::headers`); the
    /// last try swaps it into the request that leaves.
    pub headers: &'a mut HeaderMap,
    /// The fields the proxy sets (X-Forwarded-*, X-Request-Id).
    pub added: crate::headers::Added,
}

impl<'a> Outgoing<'a> {
    /// The request as it leaves: `path` is the normalized form of
    /// `parts.uri`'s; when normalizing changed nothing, the client's path
    /// and query go on as they are (no string built).
    #[inline(always)]
    pub fn new(
        method: &Method,
        uri: &'a http::Uri,
        path: &'a std::borrow::Cow<'a, str>,
        headers: &'a mut HeaderMap,
        added: crate::headers::Added,
    ) -> Self {
        let original = match path {
            std::borrow::Cow::Borrowed(_) => uri.path_and_query().cloned(),
            std::borrow::Cow::Owned(_) => None,
        };
        Outgoing {
            original,
            method: method.clone(),
            path,
            query: uri.query(),
            headers,
            added,
        }
    }

    /// `last`: no other try can follow, so the headers move instead of being copied.
    fn build(
        &mut self,
        up: &Upstream,
        body: ProxyBody,
        last: bool,
    ) -> Result<Request<ProxyBody>, ProxyError> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = match self.original.as_ref().and_then(|pq| up.uri_with(pq)) {
            Some(uri) => uri,
            None => up.uri_for(self.path, self.query)?,
        };
        *req.version_mut() = Version::HTTP_11;
        if last {
            // Swapped: the request's own empty map is the one left behind
            // (none made, none dropped here).
            std::mem::swap(req.headers_mut(), self.headers);
        } else {
            *req.headers_mut() = self.headers.clone();
        }
        Ok(req)
    }
}

/// A streamed body can be sent once; a buffered one can be replayed.
pub enum CallBody {
    Stream(Option<ProxyBody>),
    Buffered(Bytes),
}

impl CallBody {
    fn next(&mut self) -> Option<ProxyBody> {
        match self {
            CallBody::Stream(b) => b.take(),
            // An empty body boxes a zero-sized type: no allocation.
            CallBody::Buffered(b) if b.is_empty() => Some(crate::body::empty()),
            CallBody::Buffered(b) => Some(full(b.clone())),
        }
    }
    fn replayable(&self) -> bool {
        matches!(self, CallBody::Buffered(_))
    }
}

/// Which route and upstream served a request (for errors and the access log).
#[derive(Default)]
pub struct Served {
    pub route: Option<Arc<str>>,
    pub upstream: Option<Arc<str>>,
    /// The route's metrics, once a route matched.
    pub metrics: Option<Arc<crate::metrics::RouteMetrics>>,
    /// A gRPC call (`crate::grpc`): its deadline is honoured, errors are
    /// answered with a `grpc-status`.
    pub grpc: bool,
    /// The route's ramp, when it has one: the answer is counted on its side.
    pub ramp: Option<Arc<crate::ramp::Ramp>>,
    /// A ramp's sticky cookie, new for this client: set on the answer.
    pub set_cookie: Option<http::HeaderValue>,
    /// The answer's fields as the upstream sent them, passed on raw (its
    /// map then holds only what the proxy adds).
    pub raw: Option<strangler_wire::raw::RawFields>,
}

/// One try, awaited where it is written: over the upstream's own HTTP/1.1
/// pool directly, else through [`Upstream::send`]. A macro, not an `async
/// fn`: each future layer between the call and the pool is state built and
/// moved on every request (callgrind: ~130 instructions a layer).
macro_rules! send {
    ($call:ident, $up:expr, $body:expr, $last:expr) => {
        'send: {
            // Bound in a statement of its own: a `match` on the attempt
            // would keep the `Result`'s 256 bytes in the future's state
            // across the await below, for every request in flight.
            let (req, timeout) = match $call.attempt($up, $body, $last) {
                Ok(tried) => tried,
                Err(e) => break 'send Err(e),
            };
            match $up.own_pool() {
                Some(pool) => {
                    let added = $call.outgoing.added.as_slice();
                    // The first try counts from the request's arrival: one
                    // clock read serves the request; a later try reads its own.
                    let now = if std::mem::replace(&mut $call.tried, true) {
                        Instant::now()
                    } else {
                        $call.arrived
                    };
                    crate::upstream::h1(pool.send(req, added, timeout, $call.pass, now).await)
                }
                // Boxed: hyper's client (TLS, HTTP/2 upstreams) is ~2 KB of
                // state the common request's future need not carry.
                None => Box::pin($up.send(req, &$call.outgoing.added, timeout, $call.pass)).await,
            }
        }
    };
}

pub struct Call<'a> {
    pub snap: &'a Snapshot,
    pub route: &'a Route,
    pub metrics: &'a Metrics,
    pub outgoing: Outgoing<'a>,
    pub body: CallBody,
    /// The call's own deadline (`grpc-timeout`), over the route's timeout.
    deadline: Option<Duration>,
    /// The answer's fields may pass raw to the client (`strangler_wire::raw`):
    /// nothing on the way reads them.
    pub pass: bool,
    /// When the request arrived (read once, by `proxy::answer`): the retry
    /// budget's count and the first try's clock, instead of a read each.
    arrived: Instant,
    /// A try has been sent: the next one reads the clock.
    tried: bool,
}

impl<'a> Call<'a> {
    #[inline(always)]
    pub fn new(
        snap: &'a Snapshot,
        route: &'a Route,
        metrics: &'a Metrics,
        outgoing: Outgoing<'a>,
        body: CallBody,
        arrived: Instant,
    ) -> Self {
        Call {
            snap,
            route,
            metrics,
            outgoing,
            body,
            deadline: None,
            pass: false,
            arrived,
            tried: false,
        }
    }

    /// Send to `picked` (with retries), or to the fallback.
    pub async fn run(
        &mut self,
        picked: usize,
        served: &mut Served,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let up = &self.snap.upstreams[picked];
        // A split's or ramp's other side stands in for a sick target, as a
        // fallback would.
        let fallback = (self.route.fallback)
            .or_else(|| self.route.target.other_side(picked))
            .map(|f| &self.snap.upstreams[f]);
        let retry = self
            .route
            .retry
            .as_ref()
            .filter(|_| idempotent(&self.outgoing.method) && self.body.replayable());
        let attempts = retry.map_or(1, |r| r.attempts.0);
        if served.grpc {
            self.deadline = crate::grpc::timeout(self.outgoing.headers);
        }
        up.budget.record_request(self.arrived);
        let mut attempt = 1;
        if let (Probe::Shadow, Some(fb), true) =
            (up.config.breaker.probe, fallback, self.body.replayable())
        {
            // Rare: only upstreams set to probe by shadow look at the state.
            if up.breaker.status().state != State::Closed {
                if let Ok(trial) = up.breaker.acquire() {
                    self.probe(up, trial);
                }
                return Box::pin(self.fall_back(up, fb, served)).await;
            }
        }
        loop {
            served.upstream = Some(Arc::clone(&up.name));
            let permit = match up.breaker.acquire() {
                Ok(p) => p,
                Err(retry_after) => {
                    return match fallback {
                        Some(fb) => Box::pin(self.fall_back(up, fb, served)).await,
                        None => Err(ProxyError::CircuitOpen { retry_after }),
                    }
                }
            };
            let Some(body) = self.body.next() else {
                return Err(ProxyError::UpstreamError(
                    "the request body was already sent".into(),
                ));
            };
            // A streamed body, or the final try without a fallback: nothing can follow.
            let last = !self.body.replayable() || (attempt >= attempts && fallback.is_none());
            let result = send!(self, up, body, last);
            let outcome = Outcome::of(&result);
            outcome.settle(permit, Some(self.metrics), &up.name);
            // Success, or the client's failure: no retry, no fallback.
            let Some(failure) = outcome.failure() else {
                return result.map(|r| self.respond(r, served));
            };
            if let Some(policy) = retry {
                let wanted = failure.retry_on().is_some_and(|k| policy.on.contains(&k));
                if wanted && attempt < attempts && up.budget.try_retry(Instant::now()) {
                    self.metrics
                        .retries
                        .get_or_create(&RouteLabel {
                            route: Name(Arc::clone(&self.route.name)),
                        })
                        .inc();
                    drop(result);
                    tokio::time::sleep(backoff(
                        policy.backoff.base.0,
                        policy.backoff.max.0,
                        attempt,
                        rand::random::<f64>(),
                    ))
                    .await;
                    attempt += 1;
                    continue;
                }
            }
            if let (Failure::Connect, Some(fb), true) = (failure, fallback, self.body.replayable())
            {
                return Box::pin(self.fall_back(up, fb, served)).await;
            }
            return result.map(|r| self.respond(r, served));
        }
    }

    /// A sick upstream's trial, sent as a copy of this request (marked
    /// `X-Shadow-Request: 1`) while the client is answered by the other
    /// side: its outcome alone tells the breaker whether it recovered.
    fn probe(&mut self, up: &Arc<Upstream>, trial: crate::breaker::Permit) {
        let Some(body) = self.body.next() else { return };
        let Ok(mut req) = self.outgoing.build(up, body, false) else {
            return;
        };
        req.headers_mut().insert(
            http::HeaderName::from_static("x-shadow-request"),
            http::HeaderValue::from_static("1"),
        );
        let timeout = (self.route.timeout).unwrap_or(up.config.timeout.0);
        let (up, added) = (Arc::clone(up), self.outgoing.added.clone());
        tokio::spawn(async move {
            let result = up.send(req, &added, timeout, false).await;
            let outcome = Outcome::of(&result);
            tracing::debug!(upstream = %up.name, ?outcome, "breaker probe (a copy)");
            outcome.settle(trial, None, &up.name);
        });
    }

    /// One try's request and its timeout (sent by `send!`).
    fn attempt(
        &mut self,
        up: &Upstream,
        body: ProxyBody,
        last: bool,
    ) -> Result<(Request<ProxyBody>, Duration), ProxyError> {
        let req = self.outgoing.build(up, body, last)?;
        let timeout = (self.deadline)
            .or(self.route.timeout)
            .unwrap_or(up.config.timeout.0);
        Ok((req, timeout))
    }

    async fn fall_back(
        &mut self,
        from: &Upstream,
        to: &Arc<Upstream>,
        served: &mut Served,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        served.upstream = Some(Arc::clone(&to.name));
        let permit = to
            .breaker
            .acquire()
            .map_err(|retry_after| ProxyError::CircuitOpen { retry_after })?;
        let body = self
            .body
            .next()
            .ok_or_else(|| ProxyError::UpstreamError("the request body was already sent".into()))?;
        self.metrics
            .fell_back(&self.route.name, &from.name, &to.name);
        let result = send!(self, to, body, true);
        Outcome::of(&result).settle(permit, Some(self.metrics), &to.name);
        result.map(|r| self.respond(r, served))
    }

    /// The answer relayed; its fields, when they came raw, noted in `served`
    /// for the writer.
    fn respond(
        &self,
        mut resp: Response<UpstreamBody>,
        served: &mut Served,
    ) -> Response<ProxyBody> {
        if let UpstreamBody::H1(b) = resp.body_mut() {
            served.raw = b.take_raw();
        }
        relay(resp, self.route, self.snap)
    }
}

/// An upstream's answer as the client gets it: no hop-by-hop fields, the
/// body cut when it stalls past the route's (or the limits')
/// `body_idle_timeout`.
pub fn relay<B>(resp: Response<B>, route: &Route, snap: &Snapshot) -> Response<ProxyBody>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<crate::body::BoxError>,
{
    let idle = (route.body_idle_timeout).unwrap_or(snap.config.limits.body_idle_timeout);
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Guarded::new(body, u64::MAX, idle).boxed())
}

/// Largest body buffered so that a request can be retried or fall back.
pub const MAX_REPLAY_BODY: u64 = 64 * 1024;

/// Read a whole (small) body, within the request limits.
pub async fn buffer<B>(body: B, max: u64, idle: Duration) -> Result<Bytes, ProxyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    match Guarded::new(body, max, idle).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        // A client's body fails as a `BodyError` (see `body::FromClient`).
        Err(e) => Err(crate::body::find_body_error(&*e)
            .unwrap_or(crate::body::BodyError::Cut)
            .into()),
    }
}
