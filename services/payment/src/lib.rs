//! payment-service: the payments capability extracted from the monolith (SPEC §8).
//!
//! ```text
//! POST /payments                    charge: 201 completed | 402 declined (Idempotency-Key)
//! GET  /payments/{id}
//! GET  /payments/order/{order_id}
//! POST /payments/{id}/refund
//! GET  /health
//! ```
//!
//! Its own in-memory [`Ledger`], seeded exactly like the legacy stub's, so that the same
//! `GET` answers the same bytes from both. The routes themselves live in
//! [`service_common::payments`], shared with the stub.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Request;
use service_common::http::{self, HttpResponse};
use service_common::payments::{self, Ledger};
use service_common::{server, RequestBody};
use tokio::net::TcpListener;

/// Where the binary listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9102";

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long in-flight requests may take to finish after shutdown is signalled.
    pub shutdown_grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Serves the payment API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ledger = Arc::new(Mutex::new(Ledger::seeded()));
    let handler = move |req| {
        let ledger = Arc::clone(&ledger);
        async move { route(&ledger, req).await }
    };
    server::serve(
        "payment-service",
        listener,
        options.shutdown_grace,
        handler,
        shutdown,
    )
    .await
}

/// Routes one request.
pub async fn route<B: RequestBody>(ledger: &Mutex<Ledger>, req: Request<B>) -> HttpResponse {
    let path = req.uri().path().to_owned();
    match http::segments(&path).first().copied() {
        Some("payments") => payments::handle(ledger, req).await,
        Some("health") if http::segments(&path).len() == 1 => http::health(req.method()),
        _ => http::no_route(&path),
    }
}
