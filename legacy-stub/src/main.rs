//! `legacy-stub --listen ADDR [--event-bus memory|nats://HOST:PORT]`: the monolith as a
//! process, applying the services' events from the bus.

use std::process::ExitCode;

use legacy_stub::serve;
use service_common::cli::{self, Binary};

const BINARY: Binary = Binary {
    name: "legacy-stub",
    about: "The legacy monolith of the strangler demo.",
    version: env!("CARGO_PKG_VERSION"),
    default_listen: legacy_stub::DEFAULT_LISTEN,
};

fn main() -> ExitCode {
    cli::main_serving(BINARY, serve)
}
