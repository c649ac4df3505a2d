//! `legacy-stub --listen ADDR`: the monolith as a process.

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging();
    cli::run("legacy-stub", args.listen, |listener| {
        serve(listener, Options::default(), cli::shutdown_signal())
    })
    .await
}
