//! `payment-service --listen ADDR [--event-bus memory|nats://HOST:PORT]`: the payment service
//! as a process.

use std::process::ExitCode;

use payment_service::serve;
use service_common::cli::{self, Binary};

const BINARY: Binary = Binary {
    name: "payment-service",
    about: "The payment service of the strangler demo.",
    version: env!("CARGO_PKG_VERSION"),
    default_listen: payment_service::DEFAULT_LISTEN,
};

fn main() -> ExitCode {
    cli::main_serving(BINARY, serve)
}
