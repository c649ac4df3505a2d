//! `inventory-service --listen ADDR`: the inventory service as a process.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use inventory_service::{serve, Options};
use service_common::cli;

/// The inventory service of the strangler demo.
#[derive(Debug, Parser)]
#[command(name = "inventory-service", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = inventory_service::DEFAULT_LISTEN)]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging();
    cli::run("inventory-service", args.listen, |listener| {
        serve(listener, Options::default(), cli::shutdown_signal())
    })
    .await
}
