//! Every response the proxy makes itself comes from here: one error type,
//! mapped to status, kind and JSON body in one exhaustive `match` (on a
//! gRPC call: `grpc-status` and `grpc-message`, by `crate::grpc`).
//!
//! `{"error": KIND, "message": TEXT, "route": NAME|null, "upstream": NAME|null, "request_id": ID}`

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{full, BodyError, ProxyBody};

/// NGINX's status for a client that went away before it was answered (the
/// wire's: an HTTP/1.1 connection writes nothing for it, and closes).
pub const CLIENT_CLOSED: u16 = strangler_wire::CLIENT_CLOSED;

fn client_closed() -> StatusCode {
    StatusCode::from_u16(CLIENT_CLOSED).unwrap_or(StatusCode::BAD_REQUEST)
}

#[derive(Debug)]
pub enum ProxyError {
    /// No route matches the request.
    NoRoute,
    /// The request is malformed (path, Host, request target...).
    BadRequest(&'static str),
    /// More than 64 KiB or 100 header fields.
    HeadersTooLarge,
    /// The URI is longer than 8 KiB.
    UriTooLong,
    /// The body is over `limits.max_request_body`.
    BodyTooLarge,
    /// The request body stalled for longer than `limits.body_idle_timeout`.
    BodyTimeout,
    /// The client went away (closed, or reset its stream) before its
    /// request was complete: nobody to answer; logged as 499.
    ClientClosed,
    /// Framing the proxy cannot pass on faithfully (a transfer coding
    /// before `chunked`).
    NotImplemented(&'static str),
    /// The upstream could not be connected to (no byte of the request was sent).
    UpstreamUnreachable(String),
    /// The upstream failed after the request was sent, or answered garbage.
    UpstreamError(String),
    /// No response headers within the route's or upstream's `timeout`.
    UpstreamTimeout,
    /// The upstream's circuit breaker is open.
    CircuitOpen { retry_after: Duration },
    /// The proxy itself is out of something an exchange needs (open files,
    /// socket memory): no upstream was tried, none is blamed.
    Overloaded(String),
    /// A method the proxy does not forward (CONNECT).
    MethodNotAllowed,
    /// A required aggregate part answered with an error: relayed as is.
    PartAnswer {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
}

/// What the error response says about where it happened.
#[derive(Debug, Default, Clone, Copy)]
pub struct ErrorContext<'a> {
    pub route: Option<&'a str>,
    pub upstream: Option<&'a str>,
    pub request_id: &'a str,
    /// A gRPC call: answered the gRPC way (`crate::grpc`).
    pub grpc: bool,
}

impl ProxyError {
    /// Status and machine-readable kind.
    pub fn status_kind(&self) -> (StatusCode, &'static str) {
        match self {
            ProxyError::NoRoute => (StatusCode::NOT_FOUND, "no_route"),
            ProxyError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ProxyError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            ProxyError::UriTooLong => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ProxyError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ProxyError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ProxyError::ClientClosed => (client_closed(), "client_closed"),
            ProxyError::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
            ProxyError::UpstreamUnreachable(_) => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
            ProxyError::UpstreamError(_) => (StatusCode::BAD_GATEWAY, "upstream_error"),
            ProxyError::UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            ProxyError::CircuitOpen { .. } => (StatusCode::SERVICE_UNAVAILABLE, "circuit_open"),
            ProxyError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "proxy_overloaded"),
            ProxyError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ProxyError::PartAnswer { status, .. } => (*status, "part_error"),
        }
    }

    /// The gRPC status of this error on a gRPC call (gRPC's HTTP-to-status
    /// mapping, made precise where the proxy knows more than a status).
    pub fn grpc_code(&self) -> u8 {
        use crate::grpc::*;
        match self {
            ProxyError::CircuitOpen { .. }
            | ProxyError::Overloaded(_)
            | ProxyError::UpstreamUnreachable(_)
            | ProxyError::UpstreamError(_) => UNAVAILABLE,
            ProxyError::UpstreamTimeout | ProxyError::BodyTimeout => DEADLINE_EXCEEDED,
            ProxyError::BodyTooLarge | ProxyError::HeadersTooLarge | ProxyError::UriTooLong => {
                RESOURCE_EXHAUSTED
            }
            ProxyError::NoRoute | ProxyError::MethodNotAllowed | ProxyError::NotImplemented(_) => {
                UNIMPLEMENTED
            }
            ProxyError::ClientClosed => CANCELLED,
            ProxyError::BadRequest(_) | ProxyError::PartAnswer { .. } => INTERNAL,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ProxyError::NoRoute => "no route matches this request".into(),
            ProxyError::BadRequest(why) => (*why).into(),
            ProxyError::HeadersTooLarge => "request headers exceed 64 KiB or 100 fields".into(),
            ProxyError::UriTooLong => "the request URI exceeds 8 KiB".into(),
            ProxyError::BodyTooLarge => "the request body exceeds limits.max_request_body".into(),
            ProxyError::BodyTimeout => {
                "the request body stalled past limits.body_idle_timeout".into()
            }
            ProxyError::ClientClosed => {
                "the client closed the request before it was complete".into()
            }
            ProxyError::NotImplemented(why) => (*why).into(),
            ProxyError::UpstreamUnreachable(e) => {
                format!("cannot connect to the upstream: {e}")
            }
            ProxyError::UpstreamError(e) => format!("the upstream failed: {e}"),
            ProxyError::UpstreamTimeout => "the upstream did not answer in time".into(),
            ProxyError::CircuitOpen { retry_after } => format!(
                "the upstream's circuit breaker is open; retry in {}s",
                retry_after_secs(*retry_after)
            ),
            ProxyError::MethodNotAllowed => "CONNECT is not supported".into(),
            ProxyError::Overloaded(e) => {
                format!("the proxy is out of resources ({e}); retry shortly")
            }
            ProxyError::PartAnswer { status, .. } => format!("a required part answered {status}"),
        }
    }

    /// The one place an error becomes a response.
    pub fn into_response(self, ctx: ErrorContext<'_>) -> Response<ProxyBody> {
        if let ProxyError::PartAnswer {
            status,
            content_type,
            body,
        } = self
        {
            let mut resp = Response::new(full(body));
            *resp.status_mut() = status;
            if let Some(ct) = content_type {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            return resp;
        }
        if ctx.grpc {
            let message = format!("{} ({})", self.message(), self.status_kind().1);
            return crate::grpc::trailers_only(self.grpc_code(), &message, ctx.request_id);
        }
        let (status, kind) = self.status_kind();
        let body = serde_json::json!({
            "error": kind,
            "message": self.message(),
            "route": ctx.route,
            "upstream": ctx.upstream,
            "request_id": ctx.request_id,
        });
        let mut resp = Response::new(full(Bytes::from(body.to_string())));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        // The proxy answers as the origin here: RFC 9110 §6.6.1 wants a Date.
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
        {
            h.insert(header::DATE, v);
        }
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(ctx.request_id) {
            h.insert("x-request-id", v);
        }
        if let ProxyError::CircuitOpen { retry_after } = self {
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        if matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                | StatusCode::URI_TOO_LONG
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::NOT_IMPLEMENTED
        ) || status.as_u16() == CLIENT_CLOSED
        {
            // The connection's framing can no longer be trusted.
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProxyError {}

impl From<BodyError> for ProxyError {
    /// A request body's failure: every kind of it is the client's.
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => ProxyError::BodyTooLarge,
            BodyError::Idle => ProxyError::BodyTimeout,
            BodyError::Malformed(why) => ProxyError::BadRequest(why),
            BodyError::Cut => ProxyError::ClientClosed,
        }
    }
}

impl From<strangler_wire::Refusal> for ProxyError {
    /// A request the HTTP/1.1 wire could not read.
    fn from(r: strangler_wire::Refusal) -> Self {
        use strangler_wire::Refusal;
        match r {
            Refusal::HeadTooLarge => ProxyError::HeadersTooLarge,
            Refusal::Malformed(why) | Refusal::Framing(why) => ProxyError::BadRequest(why),
            Refusal::Unsupported(why) => ProxyError::NotImplemented(why),
        }
    }
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The innermost error message (e.g. "Connection refused").
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The first `io::Error` in `e`'s chain of sources, if any.
pub fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = c.source();
    }
    None
}
