//! Small HTTP helpers shared by every endpoint: JSON responses, a bounded body reader,
//! path segments and ids, method checks and the `Idempotency-Key` header.

use std::error::Error as StdError;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, ErrorKind};

/// The response type of every service here: bodies are small and fully buffered.
pub type HttpResponse = Response<Full<Bytes>>;

/// Largest request body any endpoint reads (1 MiB); larger bodies get `413`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The request header that makes a `POST` safe to repeat.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Serializes `value` to JSON bytes.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot serialize: {e}")))
}

/// A JSON response with `status` and `body` as its bytes.
pub fn bytes_response(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON response with `value` serialized as the body.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> HttpResponse {
    match to_json(value) {
        Ok(body) => bytes_response(status, body),
        Err(e) => e.into_response(),
    }
}

/// An HTML response.
pub fn html(status: StatusCode, page: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(page.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with `413`.
pub async fn read_body<B>(headers: &HeaderMap, body: B) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::invalid(format!("cannot read request body: {e}"))),
    }
}

/// Parses a JSON body into `T`: a syntax error is `malformed_json`, a wrong shape or type is
/// `invalid_request`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Data => ErrorKind::InvalidRequest,
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ErrorKind::MalformedJson,
        };
        ApiError::new(kind, format!("request body: {e}"))
    })
}

/// The non-empty segments of a path: `/orders/1/` gives `["orders", "1"]`.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Parses a path segment as a positive id.
pub fn parse_id(segment: &str, what: &str) -> Result<u64, ApiError> {
    match segment.parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::new(
            ErrorKind::InvalidId,
            format!("{what} id must be a positive integer, got {segment:?}"),
        )),
    }
}

/// `GET /health`: `200 {"status": "ok"}`.
pub fn health(method: &Method) -> HttpResponse {
    match expect_method(method, "GET") {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        Err(e) => e.into_response(),
    }
}

/// `404` for a path no route claims.
pub fn no_route(path: &str) -> HttpResponse {
    ApiError::not_found(format!("no route for {path}")).into_response()
}

/// `Ok` when `method` is `expected`, otherwise a `405` naming what the route accepts.
pub fn expect_method(method: &Method, expected: &'static str) -> Result<(), ApiError> {
    if method.as_str() == expected {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(expected))
    }
}

/// The request's `Idempotency-Key`, if any; an empty, non-ASCII or overlong key is refused.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::invalid(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_skip_empty_parts() {
        assert_eq!(segments("/orders/1/"), vec!["orders", "1"]);
        assert!(segments("/").is_empty());
    }

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(parse_id("7", "order"), Ok(7));
        for bad in ["0", "-1", "abc", "1.5", ""] {
            assert_eq!(
                parse_id(bad, "order").map_err(|e| e.kind),
                Err(ErrorKind::InvalidId)
            );
        }
    }

    #[test]
    fn json_errors_are_classified() {
        let syntax = parse_json::<serde_json::Value>(b"{").map_err(|e| e.kind);
        assert_eq!(syntax, Err(ErrorKind::MalformedJson));
        let data = parse_json::<u64>(b"\"x\"").map_err(|e| e.kind);
        assert_eq!(data, Err(ErrorKind::InvalidRequest));
    }
}
