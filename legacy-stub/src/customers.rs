//! What has not been extracted from the monolith: customers and the catalog.
//!
//! ```text
//! GET /customers/{id}   customers 1–10; 404 otherwise
//! GET /catalog          the 20 SKUs: [{"sku", "name", "price"}]
//! ```

use hyper::{Method, StatusCode};
use service_common::http::{self, HttpResponse};
use service_common::{seed, ApiError};

/// `GET /customers/{id}`.
pub fn customer(method: &Method, segments: &[&str]) -> HttpResponse {
    let answer = match segments {
        [_, id] => http::expect_method(method, "GET")
            .and_then(|()| http::parse_id(id, "customer"))
            .and_then(|id| {
                seed::customers()
                    .into_iter()
                    .find(|c| c.id == id)
                    .ok_or_else(|| ApiError::not_found(format!("no customer {id}")))
            })
            .map(|customer| http::json(StatusCode::OK, &customer)),
        _ => Err(ApiError::not_found(format!(
            "no route for /{}",
            segments.join("/")
        ))),
    };
    answer.unwrap_or_else(ApiError::into_response)
}

/// `GET /catalog`.
pub fn catalog(method: &Method) -> HttpResponse {
    match http::expect_method(method, "GET") {
        Ok(()) => http::json(StatusCode::OK, &seed::catalog()),
        Err(e) => e.into_response(),
    }
}
