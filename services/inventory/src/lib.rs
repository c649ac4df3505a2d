//! inventory-service: the inventory capability extracted from the monolith (SPEC §8).
//!
//! ```text
//! GET    /inventory/{sku}
//! POST   /reservations                    201 held | 409 insufficient_stock (Idempotency-Key)
//! GET    /reservations/order/{order_id}
//! DELETE /reservations/{id}               released, stock back
//! GET    /health
//! GET    /events/stats                    {"published", "pending", "consumed", "duplicates"}
//! ```
//!
//! Its own in-memory [`Inventory`], seeded exactly like the legacy stub's, so that the same
//! `GET` answers the same bytes from both. The routes themselves live in
//! [`service_common::inventory`], shared with the stub.
//!
//! Every change is recorded as a domain event in the service's outbox, under the store's
//! lock, and relayed to [`Options::event_bus`] (SPEC §10).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Request;
use service_common::events::{self, Outbox, Publisher};
use service_common::http::{self, HttpResponse};
use service_common::inventory::{self, Inventory};
use service_common::{server, RequestBody};
use tokio::net::TcpListener;

/// The event bus handle of [`Options::event_bus`], re-exported so that callers need not
/// depend on `service-common`: `Bus::memory()`, `Bus::nats(url).await`, `Bus::from_spec(s).await`.
pub use service_common::events::{Bus, BusError};

/// Where the binary listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9103";

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long in-flight requests may take to finish after shutdown is signalled.
    pub shutdown_grace: Duration,
    /// Where events go; `None`: a private in-process bus that nobody reads.
    pub event_bus: Option<Bus>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shutdown_grace: Duration::from_secs(5),
            event_bus: None,
        }
    }
}

/// Serves the inventory API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let publisher = Publisher::start(options.event_bus.clone());
    let outbox = publisher.outbox.clone();
    let inventory = Arc::new(Mutex::new(Inventory::seeded().with_outbox(outbox.clone())));
    let handler = move |req| {
        let inventory = Arc::clone(&inventory);
        let outbox = outbox.clone();
        async move { route(&inventory, &outbox, req).await }
    };
    let served = server::serve(
        "inventory-service",
        listener,
        options.shutdown_grace,
        handler,
        shutdown,
    )
    .await;
    publisher.stop(options.shutdown_grace).await;
    served
}

/// Routes one request.
pub async fn route<B: RequestBody>(
    inventory: &Mutex<Inventory>,
    outbox: &Outbox,
    req: Request<B>,
) -> HttpResponse {
    let path = req.uri().path().to_owned();
    if http::segments(&path) == ["events", "stats"] {
        return events::stats_response(req.method(), outbox.stats());
    }
    match http::segments(&path).first().copied() {
        Some("inventory" | "reservations") => inventory::handle(inventory, req).await,
        Some("health") if http::segments(&path).len() == 1 => http::health(req.method()),
        _ => http::no_route(&path),
    }
}
