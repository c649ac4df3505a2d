//! order-service: the orders capability extracted from the monolith (SPEC §8, §9).
//!
//! ```text
//! GET  /orders, GET /orders/{id}, POST /orders/{id}/cancel   as the legacy stub
//! POST /orders          runs the fulfillment saga against inventory- and payment-service
//! GET  /health          {"status": "ok", "peers": {"inventory": {"url", "breaker"}, "payment": ...}}
//! GET  /events/stats    {"published", "pending", "consumed", "duplicates"}
//! ```
//!
//! The order book records `order.created`, `order.confirmed` and `order.cancelled` in the
//! service's outbox, under the book's lock; a relay publishes them to [`Options::event_bus`]
//! (SPEC §10).
//!
//! Its own in-memory order book, seeded exactly like the legacy stub's, so that the same
//! `GET` answers the same bytes from both.
//!
//! ```text
//! POST /orders ─> saga::run ─> RemoteFulfillment ─> Peer (inventory) ─> POST /reservations
//!                                     │                  client + retries + Breaker
//!                                     └─────────────> Peer (payment)   ─> POST /payments
//! ```
//!
//! - [`remote`]: the saga's steps as HTTP calls, peer answers mapped to step errors;
//! - [`peer`]: one peer — pooled client, timeouts, retries with backoff, and
//!   the breaker shared with the proxy (the `resilience` crate);
//!
//! The saga answers `201` with the confirmed order or `409` with the cancelled order and its
//! `error` (`insufficient_stock`, `payment_declined`, `peer_unavailable`, `circuit_open`, ...);
//! each step is on the order's `saga`. The saga runs in its own task, so a client hanging up
//! does not interrupt it halfway.
//!
//! Without a peer URL (`Options::inventory_url` / `payment_url` set to `None`), `POST
//! /orders` still records the order, fails the step that needs the missing peer with
//! `peer_not_configured`, compensates (the order ends `cancelled`) and answers `503` with
//! the order, whose `error` is `peer_not_configured`.

use std::future::Future;
use std::time::Duration;

use hyper::Request;
use hyper::StatusCode;
use serde_json::json;
use service_common::events::{self, Outbox};
use service_common::http::{self, HttpResponse};
use service_common::orders::Orders;
use service_common::saga::SagaPolicy;
use service_common::{server, RequestBody};
use tokio::net::TcpListener;

pub mod peer;
pub mod remote;

pub use peer::PeerPolicy;
pub use remote::RemoteFulfillment;
pub use service_common::backoff::Backoff;

/// The event bus handle of [`Options::event_bus`], re-exported so that callers need not
/// depend on `service-common`: `Bus::memory()`, `Bus::nats(url).await`, `Bus::from_spec(s).await`.
pub use service_common::events::{Bus, BusError};

/// Where the binary listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9101";

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL of inventory-service (`http://host:port`); `None`: orders cannot be fulfilled.
    pub inventory_url: Option<String>,
    /// Base URL of payment-service (`http://host:port`); `None`: orders cannot be fulfilled.
    pub payment_url: Option<String>,
    /// How long in-flight requests may take to finish after shutdown is signalled.
    pub shutdown_grace: Duration,
    /// Timeouts, retries and circuit breakers of the calls to the peers.
    pub peer_policy: PeerPolicy,
    /// Retries of a failed compensation before it is recorded as `compensation_failed`.
    pub compensation_retry: Backoff,
    /// Where events go; `None`: a private in-process bus that nobody reads.
    pub event_bus: Option<Bus>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inventory_url: None,
            payment_url: None,
            shutdown_grace: server::DEFAULT_SHUTDOWN_GRACE,
            peer_policy: PeerPolicy::default(),
            compensation_retry: SagaPolicy::default().compensation,
            event_bus: None,
        }
    }
}

/// The service's state: the order book and its peers.
#[derive(Debug)]
pub struct OrderService {
    orders: Orders<RemoteFulfillment>,
    outbox: Outbox,
}

impl OrderService {
    /// Fails when a peer URL is not `http://HOST:PORT`. Its events wait in
    /// [`OrderService::outbox`] until a relay publishes them.
    pub fn new(options: &Options) -> std::io::Result<Self> {
        OrderService::with_outbox(options, Outbox::new())
    }

    /// [`OrderService::new`], recording events in `outbox`.
    pub fn with_outbox(options: &Options, outbox: Outbox) -> std::io::Result<Self> {
        let fulfillment = RemoteFulfillment::new(
            options.inventory_url.as_deref(),
            options.payment_url.as_deref(),
            &options.peer_policy,
        )?;
        let policy = SagaPolicy {
            key_prefix: instance_key_prefix(),
            compensation: options.compensation_retry,
        };
        Ok(OrderService {
            orders: Orders::new(fulfillment, policy).with_outbox(outbox.clone()),
            outbox,
        })
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Routes one request.
    pub async fn route<B: RequestBody>(&self, req: Request<B>) -> HttpResponse {
        let path = req.uri().path().to_owned();
        match http::segments(&path).as_slice() {
            ["orders", ..] => self.orders.handle(req).await,
            ["events", "stats"] => events::stats_response(req.method(), self.outbox.stats()),
            ["health"] => match http::expect_method(req.method(), "GET") {
                Ok(()) => {
                    let peers = self.orders.fulfillment().peers();
                    http::json(StatusCode::OK, &json!({ "status": "ok", "peers": peers }))
                }
                Err(e) => e.into_response(),
            },
            _ => http::no_route(&path),
        }
    }
}

/// A prefix for the saga's idempotency keys that no other process shares, so that a
/// restarted order-service (whose order ids start again at 51) is not answered with another
/// run's payments.
fn instance_key_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("os-{:x}-{:x}-", std::process::id(), nanos)
}

/// Serves the order API on `listener` until `shutdown` completes. Fails at once when a peer
/// URL is not a valid `http://` URL.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::run_service(
        "order-service",
        listener,
        options.shutdown_grace,
        options.event_bus.clone(),
        |outbox| OrderService::with_outbox(&options, outbox),
        |service, req| async move { service.route(req).await },
        shutdown,
    )
    .await
}
