//! `legacy-stub --listen ADDR [--event-bus memory|nats://HOST:PORT]`: the monolith as a
//! process, applying the services' events from the bus.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use legacy_stub::{serve, Options};
use service_common::cli;

/// The legacy monolith of the strangler demo.
#[derive(Debug, Parser)]
#[command(name = "legacy-stub", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = legacy_stub::DEFAULT_LISTEN)]
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
    cli::run("legacy-stub", args.listen, |listener| {
        serve(listener, options, cli::shutdown_signal())
    })
    .await
}
