//! Upgraded exchanges: an HTTP/1.1 `Upgrade` (WebSocket, or any protocol
//! but `h2c`) and RFC 8441's extended CONNECT over HTTP/2, both sent to the
//! upstream as an HTTP/1.1 Upgrade on a fresh connection, never pooled:
//!
//! ```text
//! asked ─▶ breaker ─▶ dial ─▶ GET + Connection: upgrade, Upgrade: <token>
//!   ├─ 101 ─▶ HTTP/1.1 client: 101 + a strangler_wire Upgrade (the wire joins)
//!   │         HTTP/2 client:   200, and a task joins the stream to the upstream
//!   └─ any other answer ─▶ relayed as usual
//! ```
//!
//! The breaker hears of the handshake only, never of the tunnel's life;
//! `fallback` takes the handshake when the upstream's breaker is open or it
//! cannot be reached; upgrades are never shadowed or retried.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use strangler_wire::drain::{Drain, Watch};
use strangler_wire::tunnel::{join, EndReason, Ended, Tunnel, TunnelLimits, Upgrade};

use crate::blame::Outcome;
use crate::body::{empty, ProxyBody};
use crate::dispatch::Served;
use crate::error::{root_cause, ProxyError};
use crate::headers::{strip_hop_by_hop, Added};
use crate::metrics::{Direction, Metrics, Name, RouteLabel};
use crate::routing::Route;
use crate::snapshot::Snapshot;
use crate::upstream::Upstream;

static SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
static SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");
static SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");

/// An upgrade a request asks for.
pub enum Asked {
    /// HTTP/1.1: the `Upgrade` field's value.
    Http1(HeaderValue),
    /// HTTP/2 extended CONNECT, `:protocol websocket`: the stream, once
    /// answered, and the connection's drain.
    Http2(OnUpgrade, Option<Watch>),
}

/// The upgrade a request asks for, if the proxy carries it: `token`, the
/// `Upgrade` value of a request whose `Connection` lists `upgrade` (noted
/// by `headers::prepare_request`), naming anything but `h2c` (which stays
/// refused: the request is then answered as a plain one); or an extended
/// CONNECT for a WebSocket.
pub fn asked(
    method: &Method,
    token: Option<HeaderValue>,
    extensions: &mut http::Extensions,
) -> Option<Asked> {
    if *method == Method::CONNECT {
        let websocket = extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
        let on = extensions.remove::<OnUpgrade>().filter(|_| websocket)?;
        return Some(Asked::Http2(on, extensions.remove::<Watch>()));
    }
    let token = token?;
    (!crate::headers::lists(&token, b"h2c")).then_some(Asked::Http1(token))
}

/// The request as admitted, for the handshake.
pub struct Open<'a> {
    pub snap: &'a Snapshot,
    pub metrics: &'a Arc<Metrics>,
    pub route: &'a Route,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: HeaderMap,
    pub added: Added,
}

/// Handshake with `picked` (or the fallback); on 101, the tunnel.
pub async fn open(
    o: Open<'_>,
    picked: usize,
    asked: Asked,
    served: &mut Served,
) -> Result<Response<ProxyBody>, ProxyError> {
    let up = &o.snap.upstreams[picked];
    served.upstream = Some(Arc::clone(&up.name));
    let mut result = o.attempt(up, &asked).await;
    let before_sending = matches!(
        result,
        Err(ProxyError::CircuitOpen { .. } | ProxyError::UpstreamUnreachable(_))
    );
    if let (true, Some(fb)) = (before_sending, o.route.fallback) {
        let fb = &o.snap.upstreams[fb];
        o.metrics.fell_back(&o.route.name, &up.name, &fb.name);
        served.upstream = Some(Arc::clone(&fb.name));
        result = o.attempt(fb, &asked).await;
    }
    let mut resp = result?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(crate::dispatch::relay(resp, o.route, o.snap));
    }
    let upstream = hyper::upgrade::on(&mut resp)
        .await
        .map_err(|e| ProxyError::UpstreamError(format!("upgrade: {}", root_cause(&e))))?;
    let upstream = Box::new(TokioIo::new(upstream));
    let mut headers = std::mem::take(resp.headers_mut());
    let token = headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut headers);
    let limits = TunnelLimits {
        idle_timeout: o.snap.config.limits.tunnel_idle_timeout,
        drain_grace: o.snap.config.limits.drain_timeout,
    };
    let on_end = opened(o.metrics, &o.route.name);
    match asked {
        Asked::Http1(asked_for) => {
            headers.insert(header::UPGRADE, token.unwrap_or(asked_for));
            let mut resp = Response::new(empty());
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            *resp.headers_mut() = headers;
            resp.extensions_mut().insert(Upgrade::new(Tunnel {
                upstream,
                limits,
                on_end,
            }));
            Ok(resp)
        }
        Asked::Http2(client, drain) => {
            headers.remove(&SEC_WEBSOCKET_ACCEPT);
            tokio::spawn(carry_h2(client, upstream, limits, drain, on_end));
            let mut resp = Response::new(empty());
            *resp.headers_mut() = headers;
            Ok(resp)
        }
    }
}

impl Open<'_> {
    /// One handshake with `up`, through its breaker.
    async fn attempt(
        &self,
        up: &Upstream,
        asked: &Asked,
    ) -> Result<Response<hyper::body::Incoming>, ProxyError> {
        let permit = up
            .breaker
            .acquire()
            .map_err(|retry_after| ProxyError::CircuitOpen { retry_after })?;
        let timeout = self.route.timeout.unwrap_or(up.config.timeout.0);
        let result = match self.request(up, asked) {
            Ok(req) => handshake(up, req, timeout).await,
            Err(e) => Err(e),
        };
        Outcome::of(&result).settle(permit, Some(self.metrics), &up.name);
        result
    }

    /// The handshake as it leaves: origin form, the admitted fields, and
    /// the upgrade's own (an HTTP/2 client's WebSocket gets a key here).
    fn request(&self, up: &Upstream, asked: &Asked) -> Result<Request<ProxyBody>, ProxyError> {
        let uri = up.uri_for(self.path, self.query)?;
        let target = uri.path_and_query().cloned().ok_or(ProxyError::BadRequest(
            "the request target cannot be forwarded",
        ))?;
        let mut req = Request::new(empty());
        *req.uri_mut() = http::Uri::from(target);
        let mut h = self.headers.clone();
        self.added.insert_into(&mut h);
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        match asked {
            Asked::Http1(token) => {
                *req.method_mut() = self.method.clone();
                h.insert(header::UPGRADE, token.clone());
            }
            Asked::Http2(..) => {
                *req.method_mut() = Method::GET;
                h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                h.insert(&SEC_WEBSOCKET_KEY, websocket_key());
                if !h.contains_key(&SEC_WEBSOCKET_VERSION) {
                    h.insert(&SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                }
            }
        }
        *req.headers_mut() = h;
        Ok(req)
    }
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1).
fn websocket_key() -> HeaderValue {
    let key: [u8; 16] = rand::random();
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    HeaderValue::try_from(text)
        .unwrap_or_else(|_| HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="))
}

/// Send `req` on a fresh connection to `up`; the answer's head must come
/// within `timeout`. The connection is driven with upgrades on.
async fn handshake(
    up: &Upstream,
    req: Request<ProxyBody>,
    timeout: Duration,
) -> Result<Response<hyper::body::Incoming>, ProxyError> {
    let io = up.dial().await?;
    let (mut send, conn) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, ProxyBody>(TokioIo::new(io))
        .await
        .map_err(|e| ProxyError::UpstreamUnreachable(root_cause(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upgrade handshake connection ended");
        }
    });
    match tokio::time::timeout(timeout, send.send_request(req)).await {
        Err(_) => Err(ProxyError::UpstreamTimeout),
        Ok(Err(e)) => Err(ProxyError::UpstreamError(root_cause(&e))),
        Ok(Ok(r)) => Ok(r),
    }
}

/// Count an opened tunnel; the returned hook counts its end.
fn opened(metrics: &Arc<Metrics>, route: &Arc<str>) -> Box<dyn FnOnce(Ended) + Send> {
    let route = Name(Arc::clone(route));
    metrics
        .tunnels
        .get_or_create(&RouteLabel {
            route: route.clone(),
        })
        .inc();
    metrics.tunnels_open.inc();
    let metrics = Arc::clone(metrics);
    Box::new(move |e: Ended| {
        metrics.tunnels_open.dec();
        for (direction, n) in [("to_upstream", e.to_upstream), ("to_client", e.to_client)] {
            metrics
                .tunnel_bytes
                .get_or_create(&Direction { direction })
                .inc_by(n);
        }
        tracing::debug!(route = %route.0, reason = ?e.reason, to_upstream = e.to_upstream, to_client = e.to_client, "tunnel closed");
    })
}

/// An HTTP/2 client's tunnel: once hyper hands over the stream (after the
/// 200 went out), join it to the upstream.
async fn carry_h2(
    client: OnUpgrade,
    upstream: Box<TokioIo<hyper::upgrade::Upgraded>>,
    limits: TunnelLimits,
    drain: Option<Watch>,
    on_end: Box<dyn FnOnce(Ended) + Send>,
) {
    let client = match client.await {
        Ok(c) => TokioIo::new(c),
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/2 client stream not upgraded");
            return on_end(Ended {
                to_upstream: 0,
                to_client: 0,
                reason: EndReason::Error,
            });
        }
    };
    // Without the connection's drain (not expected): one that never starts.
    let drain = drain.unwrap_or_else(|| Drain::new().watch());
    let ended = join(
        tokio::io::split(client),
        tokio::io::split(*upstream),
        &[],
        limits,
        &drain,
    )
    .await;
    on_end(ended);
}
