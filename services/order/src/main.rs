//! `order-service --listen ADDR [--inventory-url URL] [--payment-url URL]
//! [--event-bus memory|nats://HOST:PORT]`: the order service as a process.

use std::process::ExitCode;

use order_service::{serve, Options};
use service_common::cli::{self, Binary};

const BINARY: Binary = Binary {
    name: "order-service",
    about: "The order service of the strangler demo.",
    version: env!("CARGO_PKG_VERSION"),
    default_listen: order_service::DEFAULT_LISTEN,
};

/// order-service's own flags, besides `--listen` and `--event-bus`.
#[derive(Debug, clap::Args)]
struct Peers {
    /// Base URL of inventory-service, e.g. http://127.0.0.1:9103.
    #[arg(long)]
    inventory_url: Option<String>,
    /// Base URL of payment-service, e.g. http://127.0.0.1:9102.
    #[arg(long)]
    payment_url: Option<String>,
}

fn main() -> ExitCode {
    cli::main_with(BINARY, |peers: Peers, listener, event_bus| {
        let options = Options {
            event_bus: Some(event_bus),
            inventory_url: peers.inventory_url,
            payment_url: peers.payment_url,
            ..Options::default()
        };
        serve(listener, options, cli::shutdown_signal())
    })
}
