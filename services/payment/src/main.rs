//! `payment-service --listen ADDR [--event-bus memory|nats://HOST:PORT]`: the payment service
//! as a process.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use payment_service::{serve, Options};
use service_common::cli;

/// The payment service of the strangler demo.
#[derive(Debug, Parser)]
#[command(name = "payment-service", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = payment_service::DEFAULT_LISTEN)]
    listen: SocketAddr,
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
        ..Options::default()
    };
    cli::run("payment-service", args.listen, |listener| {
        serve(listener, options, cli::shutdown_signal())
    })
    .await
}
