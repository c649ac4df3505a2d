//! `Idempotency-Key` support for `POST /payments` and `POST /reservations`.
//!
//! The first request with a key runs; its status and body are remembered with a fingerprint
//! of its request body. A repeat with the same key and the same body gets the remembered
//! answer (marked `Idempotent-Replayed: true`) and changes nothing; a repeat with a different
//! body is refused with `422 idempotency_key_reused`. Server errors (5xx) are not remembered,
//! so they can be retried. The cache is bounded: the oldest keys are forgotten first.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::StatusCode;

use crate::error::{ApiError, ErrorKind};
use crate::http::{bytes_response, HttpResponse};

/// How many keys each store remembers.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The response header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

#[derive(Debug, Clone)]
struct Stored {
    fingerprint: u64,
    status: StatusCode,
    body: Bytes,
}

/// Remembered answers by key, oldest first out.
#[derive(Debug)]
pub struct IdempotencyCache {
    entries: HashMap<String, Stored>,
    arrival: VecDeque<String>,
    capacity: usize,
}

impl Default for IdempotencyCache {
    fn default() -> Self {
        IdempotencyCache::with_capacity(DEFAULT_CAPACITY)
    }
}

fn fingerprint(body: &[u8]) -> u64 {
    // `DefaultHasher::new()` uses fixed keys: stable within a process, which is all we need.
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    hasher.finish()
}

impl IdempotencyCache {
    pub fn with_capacity(capacity: usize) -> Self {
        IdempotencyCache {
            entries: HashMap::new(),
            arrival: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Runs `op` once per key: with no key it always runs; with a known key the first answer
    /// is replayed. `op` runs under the caller's lock, so two racing requests with one key
    /// cannot both run.
    pub fn run(
        &mut self,
        key: Option<&str>,
        request_body: &[u8],
        op: impl FnOnce() -> Result<(StatusCode, Bytes), ApiError>,
    ) -> HttpResponse {
        let Some(key) = key else {
            return respond(op());
        };
        let print = fingerprint(request_body);
        if let Some(stored) = self.entries.get(key) {
            if stored.fingerprint != print {
                return ApiError::new(
                    ErrorKind::IdempotencyKeyReused,
                    format!("Idempotency-Key {key:?} was already used with a different body"),
                )
                .into_response();
            }
            let mut response = bytes_response(stored.status, stored.body.clone());
            response
                .headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            return response;
        }
        let (status, body) = match op() {
            Ok(answer) => answer,
            Err(e) => (e.kind.status(), e.body()),
        };
        if !status.is_server_error() {
            self.remember(key, print, status, body.clone());
        }
        bytes_response(status, body)
    }

    fn remember(&mut self, key: &str, fingerprint: u64, status: StatusCode, body: Bytes) {
        while self.arrival.len() >= self.capacity {
            if let Some(old) = self.arrival.pop_front() {
                self.entries.remove(&old);
            }
        }
        self.arrival.push_back(key.to_owned());
        self.entries.insert(
            key.to_owned(),
            Stored {
                fingerprint,
                status,
                body,
            },
        );
    }
}

fn respond(answer: Result<(StatusCode, Bytes), ApiError>) -> HttpResponse {
    match answer {
        Ok((status, body)) => bytes_response(status, body),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: u8) -> Result<(StatusCode, Bytes), ApiError> {
        Ok((StatusCode::CREATED, Bytes::from(vec![n])))
    }

    #[test]
    fn a_repeated_key_replays_the_first_answer() {
        let mut cache = IdempotencyCache::default();
        let first = cache.run(Some("k"), b"body", || ok(1));
        let mut ran = false;
        let second = cache.run(Some("k"), b"body", || {
            ran = true;
            ok(2)
        });
        assert!(!ran);
        assert_eq!(first.status(), second.status());
        assert!(second.headers().contains_key(REPLAYED));
    }

    #[test]
    fn a_reused_key_with_another_body_is_refused() {
        let mut cache = IdempotencyCache::default();
        cache.run(Some("k"), b"one", || ok(1));
        let second = cache.run(Some("k"), b"two", || ok(2));
        assert_eq!(second.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn the_oldest_keys_are_forgotten_first() {
        let mut cache = IdempotencyCache::with_capacity(2);
        for key in ["a", "b", "c"] {
            cache.run(Some(key), b"", || ok(1));
        }
        assert!(!cache.entries.contains_key("a"));
        assert!(cache.entries.contains_key("c"));
    }
}
