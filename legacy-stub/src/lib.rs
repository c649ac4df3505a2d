//! legacy-stub: the monolith the strangler proxy stands in front of (SPEC §8).
//!
//! ```text
//! GET  /                     an HTML page (home)
//! GET  /health               {"status": "ok"}
//! GET  /customers/{id}       customers 1–10 (customers)
//! GET  /catalog              the 20 SKUs (customers)
//! /orders/...                as order-service; POST /orders runs the saga in-process
//! /payments/...              as payment-service
//! /inventory/..., /reservations/...   as inventory-service
//! GET  /events/stats         {"published", "pending", "consumed", "duplicates"}
//! ```
//!
//! One process, one set of stores shared by every route: placing an order reserves from the
//! same stock `GET /inventory/{sku}` shows and charges the same ledger `GET /payments/{id}`
//! reads — what the extracted services later split apart. The routes for orders, payments
//! and inventory are the services' own ([`service_common`]), over the same seed data, so the
//! same `GET` answers the same bytes here and there.
//!
//! The stub also consumes the services' domain events ([`sync`]): an order placed through
//! order-service shows up in the stub's `GET /orders/{id}` too, and so do payments, refunds,
//! reservations and releases.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use service_common::events;
use service_common::http::{self, HttpResponse};
use service_common::local::LocalFulfillment;
use service_common::orders::Orders;
use service_common::saga::SagaPolicy;
use service_common::{cli, inventory, payments, server, RequestBody};
use tokio::net::TcpListener;

mod customers;
mod home;
pub mod sync;

/// The event bus handle of [`Options::event_bus`], re-exported so that callers need not
/// depend on `service-common`: `Bus::memory()`, `Bus::nats(url).await`, `Bus::from_spec(s).await`.
pub use service_common::events::{Bus, BusError, Consumer};

/// Where the binary listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

/// How the stub runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long in-flight requests may take to finish after shutdown is signalled.
    pub shutdown_grace: Duration,
    /// The bus whose events the stub applies; `None`: a private in-process bus.
    pub event_bus: Option<Bus>,
    /// The stub's durable consumer on that bus.
    pub event_consumer: Consumer,
}

/// The name of the stub's durable consumer.
pub const CONSUMER: &str = "legacy-stub";

impl Default for Options {
    fn default() -> Self {
        Options {
            shutdown_grace: server::DEFAULT_SHUTDOWN_GRACE,
            event_bus: None,
            event_consumer: Consumer::new(CONSUMER),
        }
    }
}

impl cli::EventBusOption for Options {
    fn set_event_bus(&mut self, bus: Bus) {
        self.event_bus = Some(bus);
    }
}

/// The monolith's state: every capability in one process.
#[derive(Debug)]
pub struct Monolith {
    orders: Orders<LocalFulfillment>,
    replica: sync::Replica,
}

/// Orders, payments and reservations the monolith creates itself (e.g. when
/// the edge falls back to it) are numbered from here, apart from those the
/// extracted services create and publish as events, which it also stores.
pub const MONOLITH_IDS: u64 = 1_000_000;

impl Monolith {
    /// The seeded monolith.
    pub fn seeded() -> Self {
        let local = LocalFulfillment::seeded();
        service_common::lock(&local.inventory).first_new_id(MONOLITH_IDS);
        service_common::lock(&local.ledger).first_new_id(MONOLITH_IDS);
        Monolith {
            orders: Orders::new(local, SagaPolicy::default()).first_new_id(MONOLITH_IDS),
            replica: sync::Replica::default(),
        }
    }

    /// Routes one request.
    pub async fn route<B: RequestBody>(&self, req: Request<B>) -> HttpResponse {
        let path = req.uri().path().to_owned();
        let segments = http::segments(&path);
        let stores = self.orders.fulfillment();
        match segments.as_slice() {
            [] => home::page(req.method()),
            ["health"] => http::health(req.method()),
            ["orders", ..] => self.orders.handle(req).await,
            ["payments", ..] => payments::handle(&stores.ledger, req).await,
            ["inventory", ..] | ["reservations", ..] => {
                inventory::handle(&stores.inventory, req).await
            }
            ["customers", ..] => customers::customer(req.method(), &segments),
            ["catalog"] => customers::catalog(req.method()),
            ["events", "stats"] => events::stats_response(req.method(), self.replica.stats()),
            _ => http::no_route(&path),
        }
    }
}

/// Serves the monolith on `listener` until `shutdown` completes, applying the events of
/// `options.event_bus` meanwhile.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    options.event_consumer.validate()?;
    let monolith = Arc::new(Monolith::seeded());
    let bus = options.event_bus.clone().unwrap_or_else(Bus::memory);
    let subscription = bus.subscribe(&options.event_consumer);
    let consumer = tokio::spawn({
        let monolith = Arc::clone(&monolith);
        async move { sync::consume(&monolith, subscription).await }
    });
    let handler = move |req| {
        let monolith = Arc::clone(&monolith);
        async move { monolith.route(req).await }
    };
    let served = server::serve(
        "legacy-stub",
        listener,
        options.shutdown_grace,
        handler,
        shutdown,
    )
    .await;
    consumer.abort();
    served
}
