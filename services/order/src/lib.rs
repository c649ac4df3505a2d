//! order-service: the orders capability extracted from the monolith (SPEC §8, §9).
//!
//! ```text
//! GET  /orders, GET /orders/{id}, POST /orders/{id}/cancel   as the legacy stub
//! POST /orders          runs the fulfillment saga against inventory- and payment-service
//! GET  /health          {"status": "ok"}
//! ```
//!
//! Its own in-memory order book, seeded exactly like the legacy stub's, so that the same
//! `GET` answers the same bytes from both.
//!
//! Without a peer URL (`Options::inventory_url` / `payment_url` set to `None`), `POST
//! /orders` still records the order, fails the step that needs the missing peer with
//! `peer_not_configured`, compensates (the order ends `cancelled`) and answers `503` with
//! the order, whose `error` is `peer_not_configured`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use service_common::http::{self, HttpResponse};
use service_common::orders::Orders;
use service_common::saga::SagaPolicy;
use service_common::{server, RequestBody};
use tokio::net::TcpListener;

mod peers;

pub use peers::RemoteFulfillment;

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inventory_url: None,
            payment_url: None,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The service's state: the order book and its peers.
#[derive(Debug)]
pub struct OrderService {
    orders: Orders<RemoteFulfillment>,
}

impl OrderService {
    pub fn new(options: &Options) -> std::io::Result<Self> {
        Ok(OrderService {
            orders: Orders::new(RemoteFulfillment::new(options)?, SagaPolicy::default()),
        })
    }

    /// Routes one request.
    pub async fn route<B: RequestBody>(&self, req: Request<B>) -> HttpResponse {
        let path = req.uri().path().to_owned();
        match http::segments(&path).as_slice() {
            ["orders", ..] => self.orders.handle(req).await,
            ["health"] => http::health(req.method()),
            _ => http::no_route(&path),
        }
    }
}

/// Serves the order API on `listener` until `shutdown` completes. Fails at once when a peer
/// URL is not a valid `http://` URL.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = Arc::new(OrderService::new(&options)?);
    let handler = move |req| {
        let service = Arc::clone(&service);
        async move { service.route(req).await }
    };
    server::serve(
        "order-service",
        listener,
        options.shutdown_grace,
        handler,
        shutdown,
    )
    .await
}
