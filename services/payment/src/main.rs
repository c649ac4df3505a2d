//! `payment-service --listen ADDR`: the payment service as a process.

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging();
    cli::run("payment-service", args.listen, |listener| {
        serve(listener, Options::default(), cli::shutdown_signal())
    })
    .await
}
