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

use hyper::Request;
use service_common::events::Outbox;
use service_common::http::HttpResponse;
use service_common::inventory::{self, Inventory};
use service_common::{server, RequestBody};
use tokio::net::TcpListener;

/// The event bus handle of [`Options::event_bus`], re-exported so that callers need not
/// depend on `service-common`: `Bus::memory()`, `Bus::nats(url).await`, `Bus::from_spec(s).await`.
pub use service_common::events::{Bus, BusError};

/// How the service runs: `shutdown_grace` (how long in-flight requests may take to finish
/// after shutdown is signalled) and `event_bus` (where events go; `None`: a private
/// in-process bus that nobody reads).
pub use service_common::server::ServiceOptions as Options;

/// Where the binary listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9103";

/// Serves the inventory API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let inventory = |outbox| Inventory::seeded().with_outbox(outbox);
    let routed = |state: Arc<(Mutex<Inventory>, Outbox)>, req| async move {
        route(&state.0, &state.1, req).await
    };
    server::run_store(
        "inventory-service",
        listener,
        options,
        inventory,
        routed,
        shutdown,
    )
    .await
}

/// Routes one request.
pub async fn route<B: RequestBody>(
    inventory: &Mutex<Inventory>,
    outbox: &Outbox,
    req: Request<B>,
) -> HttpResponse {
    let handle = |req| inventory::handle(inventory, req);
    server::route_store(outbox, &["inventory", "reservations"], req, handle).await
}
