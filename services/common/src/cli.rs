//! What every service binary does around its `serve`: logging to stderr, choosing the event
//! bus (`--event-bus`), binding the listen address, and stopping on Ctrl-C or SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

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
pub async fn event_bus(spec: &str) -> Result<crate::events::Bus, ExitCode> {
    crate::events::Bus::from_spec(spec).await.map_err(|e| {
        tracing::error!(error = %e, "invalid --event-bus");
        ExitCode::from(1)
    })
}

/// The help of `--event-bus`.
pub const EVENT_BUS_HELP: &str =
    "Event bus: \"memory\" (in-process) or \"nats://HOST:PORT\" (NATS JetStream)";
