//! `inventory-service --listen ADDR [--event-bus memory|nats://HOST:PORT]`: the inventory
//! service as a process.

use std::process::ExitCode;

use inventory_service::serve;
use service_common::cli::{self, Binary};

const BINARY: Binary = Binary {
    name: "inventory-service",
    about: "The inventory service of the strangler demo.",
    version: env!("CARGO_PKG_VERSION"),
    default_listen: inventory_service::DEFAULT_LISTEN,
};

fn main() -> ExitCode {
    cli::main_serving(BINARY, serve)
}
