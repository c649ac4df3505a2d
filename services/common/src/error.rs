//! The one JSON error every endpoint answers with: `{"error": KIND, "message": TEXT}`.
//!
//! Each [`ErrorKind`] maps to exactly one HTTP status, in one place ([`ErrorKind::status`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Response, StatusCode};
use serde::Serialize;

/// What went wrong, as a stable machine-readable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The body is not JSON at all (syntax error, truncated).
    MalformedJson,
    /// The body is JSON but has the wrong shape, types or values.
    InvalidRequest,
    /// A path segment that should be an id is not a positive integer.
    InvalidId,
    /// No such resource or route.
    NotFound,
    /// The route exists, the method does not.
    MethodNotAllowed,
    /// The body is larger than the service accepts.
    PayloadTooLarge,
    /// A body names a SKU that is not in the catalog.
    UnknownSku,
    /// A body names a customer that does not exist.
    UnknownCustomer,
    /// A reservation asks for more than is available.
    InsufficientStock,
    /// The resource is in a state that forbids the operation.
    InvalidState,
    /// An `Idempotency-Key` was reused with a different request body.
    IdempotencyKeyReused,
    /// A peer service this endpoint needs has no URL configured.
    PeerNotConfigured,
    /// A peer service did not answer (down, timed out, circuit open).
    PeerUnavailable,
    /// A bug on our side; never caused by input.
    Internal,
}

impl ErrorKind {
    /// The name that goes into the `error` field.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MalformedJson => "malformed_json",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InvalidId => "invalid_id",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::UnknownSku => "unknown_sku",
            ErrorKind::UnknownCustomer => "unknown_customer",
            ErrorKind::InsufficientStock => "insufficient_stock",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorKind::PeerNotConfigured => "peer_not_configured",
            ErrorKind::PeerUnavailable => "peer_unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status this kind is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::MalformedJson | ErrorKind::InvalidRequest | ErrorKind::InvalidId => {
                StatusCode::BAD_REQUEST
            }
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnknownSku
            | ErrorKind::UnknownCustomer
            | ErrorKind::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::InsufficientStock | ErrorKind::InvalidState => StatusCode::CONFLICT,
            ErrorKind::PeerNotConfigured | ErrorKind::PeerUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error on its way to becoming a JSON response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// For `405`: the methods the route does accept, sent as `Allow`.
    pub allow: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            allow: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::InvalidRequest, message)
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        ApiError {
            kind: ErrorKind::MethodNotAllowed,
            message: format!("this resource accepts {allow}"),
            allow: Some(allow),
        }
    }

    /// The serialized body, `{"error", "message"}`.
    pub fn body(&self) -> Bytes {
        let body = ErrorBody {
            error: self.kind.as_str(),
            message: &self.message,
        };
        // Serializing two strings cannot fail; fall back to a fixed body anyway.
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from_static(br#"{"error":"internal","message":""}"#))
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = crate::http::bytes_response(self.kind.status(), self.body());
        if self.kind == ErrorKind::PayloadTooLarge {
            // The rest of the body is not worth reading: close the connection after answering.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}
