//! The shared kernel of the strangler demo: what the legacy stub (the monolith) and the
//! extracted services have in common, so that they answer the same requests with the same
//! bytes.
//!
//! ```text
//! request ─> server::serve ─> (crate's router) ─> orders / payments / inventory ─> http::json
//!                                                   │          │          │
//!                                               OrderBook   Ledger   Inventory   (Mutex each)
//!                                                   │
//!                                               saga::run ─> Fulfillment: local::LocalFulfillment
//!                                                                         or order-service's peers
//! ```
//!
//! - [`domain`]: the resources of SPEC §8 and the request bodies, with validation;
//! - [`seed`]: the deterministic seed data (orders 1–50, SKUs sku-1..sku-20, customers 1–10);
//! - [`orders`], [`payments`], [`inventory`]: each capability's store and HTTP routes;
//! - [`saga`]: the order fulfillment saga with compensations; [`local`]: its in-process
//!   steps; [`backoff`]: retries;
//! - [`events`]: domain events — the envelope, the bus (memory or NATS JetStream), the
//!   outbox and its relay, `GET /events/stats`;
//! - [`idempotency`]: `Idempotency-Key` replay;
//! - [`error`]: the JSON error `{"error", "message"}`; [`http`]: response and body helpers;
//! - [`server`]: the accept loop with graceful shutdown; [`cli`]: what the binaries share;
//!   [`testing`]: a client for tests.

use std::error::Error as StdError;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

/// The shared backoff (the `resilience` crate, also the proxy's).
pub mod backoff {
    pub use resilience::backoff::*;
}
pub mod cli;
pub mod clock;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod inventory;
pub mod local;
pub mod orders;
pub mod payments;
pub mod saga;
pub mod seed;
pub mod server;
pub mod testing;

pub use error::{ApiError, ErrorKind};
pub use http::HttpResponse;

/// A request body the handlers can read: `hyper::body::Incoming` in production, anything
/// byte-shaped in tests.
pub trait RequestBody:
    hyper::body::Body<Data = Bytes, Error: Into<Box<dyn StdError + Send + Sync>>> + Send
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn StdError + Send + Sync>>> + Send
{
}

/// Locks a store. A panic while holding the lock cannot leave a store half-updated (every
/// update is a few field assignments), so a poisoned lock is used as is.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
