//! API composition (`aggregate` routes): the parts are fetched concurrently,
//! each through its upstream's breaker and timeout, with the route's
//! `{name}` captures substituted into their paths. The answer is one JSON
//! object keyed by part name plus `"errors": {part: KIND}` for the optional
//! parts that failed; a failed `required` part answers with its own error
//! (the proxy's JSON error for a transport failure, or the part's own
//! non-2xx answer).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use serde_json::{Map, Value};

use crate::body::{full, Guarded, ProxyBody};
use crate::error::ProxyError;
use crate::routing::{expand, AggregatePart, Captures};
use crate::snapshot::Snapshot;
use crate::upstream::Upstream;

/// Largest part body read for composition.
const MAX_PART_BODY: u64 = 10 << 20;

enum PartError {
    Proxy(ProxyError),
    /// The part answered, but not with a 2xx JSON body.
    Answer {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
        kind: String,
    },
}

impl PartError {
    fn kind(&self) -> String {
        match self {
            PartError::Proxy(e) => e.status_kind().1.to_string(),
            PartError::Answer { kind, .. } => kind.clone(),
        }
    }
}

async fn fetch(
    up: Arc<Upstream>,
    path: String,
    headers: HeaderMap,
    timeout: Option<Duration>,
    idle: Duration,
) -> Result<Value, PartError> {
    let permit = up
        .breaker
        .acquire()
        .map_err(|retry_after| PartError::Proxy(ProxyError::CircuitOpen { retry_after }))?;
    let mut req = Request::new(full(Bytes::new()));
    *req.method_mut() = Method::GET;
    *req.uri_mut() = up.uri_for(&path, None).map_err(PartError::Proxy)?;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    let timeout = timeout.unwrap_or(up.config.timeout.0);
    let result = up.send(req, &Default::default(), timeout, false).await;
    crate::blame::Outcome::of(&result).settle(permit, None, &up.name);
    let resp = result.map_err(PartError::Proxy)?;
    let (parts, body) = resp.into_parts();
    let bytes = Guarded::new(body, MAX_PART_BODY, idle)
        .collect()
        .await
        .map_err(|e| PartError::Proxy(ProxyError::UpstreamError(e.to_string())))?
        .to_bytes();
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    if !parts.status.is_success() {
        let kind = format!("http_{}", parts.status.as_u16());
        return Err(PartError::Answer {
            status: parts.status,
            content_type,
            body: bytes,
            kind,
        });
    }
    serde_json::from_slice(&bytes).map_err(|_| PartError::Answer {
        status: StatusCode::BAD_GATEWAY,
        content_type,
        body: bytes,
        kind: "invalid_json".into(),
    })
}

/// Compose the answer of an aggregate route.
pub async fn compose(
    snap: &Snapshot,
    parts: &[AggregatePart],
    captures: &Captures<'_>,
    headers: &HeaderMap,
    timeout: Option<Duration>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let idle = snap.config.limits.body_idle_timeout;
    let mut tasks = Vec::with_capacity(parts.len());
    for part in parts {
        let up = Arc::clone(&snap.upstreams[part.upstream]);
        let path = expand(&part.path, captures);
        let mut h = headers.clone();
        h.remove(header::CONTENT_LENGTH);
        h.remove(header::CONTENT_TYPE);
        tasks.push(tokio::spawn(fetch(up, path, h, timeout, idle)));
    }
    let mut out = Map::new();
    let mut errors = Map::new();
    for (part, task) in parts.iter().zip(tasks) {
        let result = task.await.unwrap_or_else(|e| {
            Err(PartError::Proxy(ProxyError::UpstreamError(format!(
                "part task failed: {e}"
            ))))
        });
        match result {
            Ok(v) => {
                out.insert(part.name.to_string(), v);
            }
            Err(e) if part.required => return Err(required_failure(e)),
            Err(e) => {
                errors.insert(part.name.to_string(), Value::String(e.kind()));
            }
        }
    }
    out.insert("errors".into(), Value::Object(errors));
    let mut resp = Response::new(full(Value::Object(out).to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// A required part failed: its answer becomes the route's.
fn required_failure(e: PartError) -> ProxyError {
    match e {
        PartError::Proxy(p) => p,
        PartError::Answer {
            status,
            content_type,
            body,
            ..
        } => ProxyError::PartAnswer {
            status,
            content_type,
            body,
        },
    }
}
