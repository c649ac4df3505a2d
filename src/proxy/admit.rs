//! Stage 1, admit: is the request acceptable, which route takes it, which
//! upstream it goes to, and the headers it leaves with. No I/O.

use std::borrow::Cow;
use std::sync::Arc;

use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Uri};

use super::Conn;
use crate::dispatch::Served;
use crate::error::ProxyError;
use crate::headers::{self, Added, Origin, X_REQUEST_ID};
use crate::normalize::normalize;
use crate::routing::{Captures, Route, Target};
use crate::snapshot::Snapshot;

/// Request line and Host checks: the authority the request is routed and
/// forwarded by (absolute form, `:authority` or Host); `None`: `OPTIONS *`,
/// which the proxy answers itself.
pub(super) fn check(parts: &Parts) -> Result<Option<HeaderValue>, ProxyError> {
    let authority = crate::request::check(parts)?;
    Ok((parts.uri.path() != "*").then_some(authority))
}

/// The normalized path: what is matched and forwarded.
pub(super) fn path(uri: &Uri) -> Result<Cow<'_, str>, ProxyError> {
    normalize(uri.path()).map_err(|e| ProxyError::BadRequest(e.message()))
}

/// The route that takes the request (noted in `served`), its captures, and
/// the body length it declared, within `limits.max_request_body`.
pub(super) fn route<'a>(
    snap: &'a Snapshot,
    parts: &Parts,
    path: &'a str,
    served: &mut Served,
) -> Result<(&'a Route, Captures<'a>, Option<u64>), ProxyError> {
    let (route, captures) = snap
        .table
        .find(&parts.method, path, &parts.headers)
        .ok_or(ProxyError::NoRoute)?;
    served.route = Some(Arc::clone(&route.name));
    served.metrics = Some(Arc::clone(&route.metrics));
    let declared = content_length(&parts.headers);
    if declared.is_some_and(|n| n > snap.config.limits.max_request_body) {
        return Err(ProxyError::BodyTooLarge);
    }
    Ok((route, captures, declared))
}

/// The upstream the route sends to: a split draws one by weight; a ramp
/// goes by the client's key (noted in `served`, with the cookie to set
/// when it made one); an aggregate has none (its parts have theirs).
pub(super) fn pick(route: &Route, parts: &Parts, conn: Conn, served: &mut Served) -> Option<usize> {
    match &route.target {
        Target::Split(..) => route.target.pick(rand::random()),
        Target::Ramp { from, to, ramp } => {
            let (key, set_cookie) =
                crate::ramp::sticky::key(&ramp.def.sticky, &parts.headers, conn.peer.ip());
            let point = crate::ramp::sticky::point(&ramp.route, &key);
            served.set_cookie = set_cookie;
            served.ramp = Some(Arc::clone(ramp));
            Some(if ramp.sends_to_new(point) { *to } else { *from })
        }
        target => target.pick(0),
    }
}

/// Make `h` the headers the request leaves with (hop-by-hop and spoofable
/// ones gone, Host the authority it was routed by), in place; returned: the
/// fields the proxy sets (`X-Forwarded-*`, `X-Request-Id`), kept apart
/// until written.
/// `upgrade`: the `Upgrade` value when `Connection` lists `upgrade`;
/// `from_target`: the authority is the target's (absolute form, HTTP/2
/// `:authority`), not the one Host field's.
pub(super) fn headers(
    h: &mut HeaderMap,
    snap: &Snapshot,
    conn: Conn,
    authority: &HeaderValue,
    request_id: &HeaderValue,
    upgrade: &mut Option<HeaderValue>,
    from_target: bool,
) -> Added {
    let trusted = snap
        .config
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&conn.peer.ip()));
    let mut added = headers::prepare_request(
        h,
        &Origin {
            peer: conn.peer.ip(),
            trusted,
            https: conn.https,
            host: authority,
        },
        upgrade,
    );
    // Forward by the authority the request was routed by (absolute form, or
    // HTTP/2 `:authority`); an origin-form Host is already that value.
    if from_target && headers::find(h, &header::HOST).one() != Some(authority) {
        h.insert(header::HOST, authority.clone());
    }
    added.set(&X_REQUEST_ID, request_id.clone());
    added
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    headers::find(h, &header::CONTENT_LENGTH)
        .one()?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
