//! `GET /events/stats`: what a service published and has pending, what the stub consumed.

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpResponse};

/// The counters of `GET /events/stats`. A service publishes (`published`, `pending` in its
/// outbox); the stub consumes (`consumed` distinct events applied, `duplicates` deliveries
/// of events it had already applied).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventStats {
    pub published: u64,
    pub pending: u64,
    pub consumed: u64,
    pub duplicates: u64,
}

impl EventStats {
    /// Adds two sets of counters, e.g. of a service's outbox and its consumer.
    pub fn merge(self, other: EventStats) -> EventStats {
        EventStats {
            published: self.published + other.published,
            pending: self.pending + other.pending,
            consumed: self.consumed + other.consumed,
            duplicates: self.duplicates + other.duplicates,
        }
    }
}

/// The answer to `/events/stats`: `GET` only.
pub fn stats_response(method: &Method, stats: EventStats) -> HttpResponse {
    match http::expect_method(method, "GET") {
        Ok(()) => http::json(StatusCode::OK, &stats),
        Err(e) => e.into_response(),
    }
}
