//! What every service binary does around its `serve`: parsing `--listen` and `--event-bus`
//! (plus the binary's own flags), logging to stderr, choosing the event bus, binding the
//! listen address, and stopping on Ctrl-C or SIGTERM. [`main_with`] is all of it, and
//! [`main_serving`] that for a service with no flags of its own:
//!
//! ```ignore
//! fn main() -> ExitCode {
//!     cli::main_serving(BINARY, serve)
//! }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Command, FromArgMatches};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::events::Bus;

/// What tells one service binary from another on its command line.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    /// The program's name, also the `service` of its log lines.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// For `--version`: the binary's `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// `--listen` unless given.
    pub default_listen: &'static str,
}

/// The flags every service binary has.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,
    #[arg(long, default_value = "memory", help = EVENT_BUS_HELP)]
    pub event_bus: String,
}

/// No flags beyond [`ServiceArgs`].
#[derive(Debug, Clone, Copy, Args)]
pub struct NoArgs {}

/// A service's options that take the bus `--event-bus` names, for [`main_serving`].
pub trait EventBusOption: Default {
    /// Where the service's events go.
    fn set_event_bus(&mut self, bus: Bus);
}

impl EventBusOption for crate::server::ServiceOptions {
    fn set_event_bus(&mut self, bus: Bus) {
        self.event_bus = Some(bus);
    }
}

/// What a binary's `serve` gets as its `shutdown`: [`shutdown_signal`].
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// [`main_with`] for a service with no flags of its own: `serve(listener, options,
/// shutdown)` with its default options but for the event bus, until Ctrl-C or SIGTERM.
pub fn main_serving<O, F, Fut>(binary: Binary, serve: F) -> ExitCode
where
    O: EventBusOption,
    F: FnOnce(TcpListener, O, Shutdown) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    main_with(binary, |NoArgs {}, listener, bus| {
        let mut options = O::default();
        options.set_event_bus(bus);
        serve(listener, options, Box::pin(shutdown_signal()))
    })
}

/// A service binary's `main`: parses its flags ([`ServiceArgs`] and `A`; `--help`,
/// `--version` and usage errors exit as clap does), logs to stderr, connects the event bus
/// and runs `serve(a, listener, bus)` in a multi-threaded runtime, on `--listen`, until
/// Ctrl-C or SIGTERM if `serve` passes it [`shutdown_signal`]. Exit codes: 0 after a clean
/// shutdown, 1 for an invalid `--event-bus` or configuration, 3 when the address cannot be
/// bound, serving fails or no runtime can be started.
pub fn main_with<A, F, Fut>(binary: Binary, serve: F) -> ExitCode
where
    A: FromArgMatches + Args,
    F: FnOnce(A, TcpListener, Bus) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let command = Command::new(binary.name).version(binary.version);
    // After the flags: the doc comments of `Args` structs set the `about` too.
    let matches = A::augment_args(ServiceArgs::augment_args(command))
        .about(binary.about)
        .long_about(None)
        .mut_arg("listen", |arg| {
            arg.required(false).default_value(binary.default_listen)
        })
        .get_matches();
    let parsed = ServiceArgs::from_arg_matches(&matches)
        .and_then(|args| Ok((args, A::from_arg_matches(&matches)?)));
    let (args, own) = parsed.unwrap_or_else(|e| e.exit());
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(service = binary.name, error = %e, "cannot start the runtime");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(async move {
        let bus = match event_bus(&args.event_bus).await {
            Ok(bus) => bus,
            Err(code) => return code,
        };
        run(binary.name, args.listen, |listener| {
            serve(own, listener, bus)
        })
        .await
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Binds `listen` and runs `serve` on it. Exit code 0 after a clean shutdown, 1 when `serve`
/// refuses its options (`InvalidInput`), 3 when the address cannot be bound or serving fails.
pub async fn run<Fut>(
    name: &str,
    listen: SocketAddr,
    serve: impl FnOnce(TcpListener) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = std::io::Result<()>>,
{
    let listener = match TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(service = name, %listen, error = %e, "cannot bind the listen address");
            return ExitCode::from(3);
        }
    };
    match serve(listener).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            tracing::error!(service = name, error = %e, "invalid configuration");
            ExitCode::from(1)
        }
        Err(e) => {
            tracing::error!(service = name, error = %e, "serving failed");
            ExitCode::from(3)
        }
    }
}

/// The bus `--event-bus` names (`memory` or `nats://HOST:PORT`); logs and yields exit code
/// 1 when the setting is invalid.
pub async fn event_bus(spec: &str) -> Result<Bus, ExitCode> {
    Bus::from_spec(spec).await.map_err(|e| {
        tracing::error!(error = %e, "invalid --event-bus");
        ExitCode::from(1)
    })
}

/// The help of `--event-bus`.
pub const EVENT_BUS_HELP: &str =
    "Event bus: \"memory\" (in-process) or \"nats://HOST:PORT\" (NATS JetStream)";
