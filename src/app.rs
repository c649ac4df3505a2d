//! Starting a proxy: the caller binds, the library serves. `start` loads the
//! config, builds the first snapshot, and serves the proxy (and, later, the
//! admin API and the reload watcher) on the listeners it is given until
//! `shutdown` completes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::breaker::{OnTransition, Transition};
use crate::config::{self, Config, ConfigError};
use crate::proxy::ProxyState;
use crate::snapshot::{sha256_hex, Snapshot};

/// Listeners bound by the caller (port 0 in tests).
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: Option<TcpListener>,
}

/// Read and validate the config file; returns it with its content hash.
pub fn load(path: &Path) -> Result<(Config, String), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: None,
        column: None,
        message: format!("cannot read the configuration: {e}"),
    })?;
    let cfg = config::parse(&text, path)?;
    Ok((cfg, sha256_hex(&text)))
}

fn log_transition() -> OnTransition {
    Arc::new(|upstream: &str, t: Transition| {
        tracing::warn!(upstream, from = t.from.as_str(), to = t.to.as_str(), reason = t.reason, "circuit breaker transition");
    })
}

/// Serve until `shutdown` completes and in-flight requests have drained.
pub async fn serve(
    config_path: PathBuf,
    config: Config,
    sha256: String,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let on_transition = log_transition();
    let snapshot = Snapshot::build(config, sha256, 1, None, &on_transition)?;
    let state = Arc::new(ProxyState { snapshot: ArcSwap::from_pointee(snapshot) });
    let _ = config_path;
    let _ = listeners.admin;
    crate::server::serve_proxy(listeners.proxy, state, shutdown).await;
    Ok(())
}
