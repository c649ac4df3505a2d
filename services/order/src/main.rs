//! `order-service --listen ADDR [--inventory-url URL] [--payment-url URL]
//! [--event-bus memory|nats://HOST:PORT]`: the order service as a process.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use order_service::{serve, Options};
use service_common::cli;

/// The order service of the strangler demo.
#[derive(Debug, Parser)]
#[command(name = "order-service", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = order_service::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Base URL of inventory-service, e.g. http://127.0.0.1:9103.
    #[arg(long)]
    inventory_url: Option<String>,
    /// Base URL of payment-service, e.g. http://127.0.0.1:9102.
    #[arg(long)]
    payment_url: Option<String>,
    #[arg(long, default_value = "memory", help = cli::EVENT_BUS_HELP)]
    event_bus: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging();
    let event_bus = match cli::event_bus(&args.event_bus).await {
        Ok(bus) => bus,
        Err(code) => return code,
    };
    let options = Options {
        event_bus: Some(event_bus),
        inventory_url: args.inventory_url,
        payment_url: args.payment_url,
        ..Options::default()
    };
    cli::run("order-service", args.listen, |listener| {
        serve(listener, options, cli::shutdown_signal())
    })
    .await
}
