//! Starting a proxy: the caller binds, the library serves. [`serve`] builds
//! the first snapshot, then runs the proxy listener, the admin API and the
//! reload triggers until `shutdown` completes and in-flight requests drain.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::admin::Admin;
use crate::breaker::{OnTransition, Transition};
use crate::config::{self, Config, ConfigError};
use crate::metrics::{Metrics, Name, UpstreamLabel, UpstreamTo};
use crate::proxy::ProxyState;
use crate::reload::Reloader;
use crate::snapshot::{sha256_hex, Snapshot};

/// Listeners bound by the caller (port 0 in tests).
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: Option<TcpListener>,
}

/// How often the config file's hash is checked even without events.
pub const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Read and validate the config file; returns it with its content hash.
pub fn load(path: &Path) -> Result<(Config, String), ConfigError> {
    let text = config::read(path)?;
    let cfg = config::parse(&text, path)?;
    Ok((cfg, sha256_hex(&text)))
}

fn on_transition(metrics: &Arc<Metrics>) -> OnTransition {
    let metrics = Arc::clone(metrics);
    Arc::new(move |upstream: &str, t: Transition| {
        tracing::warn!(
            upstream,
            from = t.from.as_str(),
            to = t.to.as_str(),
            reason = t.reason,
            "circuit breaker transition"
        );
        let name = Name::from(upstream);
        metrics
            .breaker_transitions
            .get_or_create(&UpstreamTo {
                upstream: name.clone(),
                to: t.to.as_str(),
            })
            .inc();
        metrics
            .breaker_state
            .get_or_create(&UpstreamLabel { upstream: name })
            .set(t.to.gauge());
    })
}

/// Why the proxy could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    /// The configuration parsed but could not be built (TLS files, an
    /// upstream's CA, the route table).
    #[error("{0}")]
    Build(Box<dyn std::error::Error + Send + Sync>),
    /// The demo's services could not start.
    #[error("{0}")]
    Demo(String),
}

/// How long the exit waits for the shadow log's last lines to be written.
const SHUTDOWN_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Serve until `shutdown` completes and in-flight requests have drained.
pub async fn serve(
    config_path: PathBuf,
    config: Config,
    sha256: String,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::new());
    let on_transition = on_transition(&metrics);
    let snapshot = Snapshot::build(config, sha256, 1, None, &on_transition)
        .map_err(|e| RunError::Build(Box::new(e)))?;
    let current = Arc::new(ArcSwap::from_pointee(snapshot));
    let in_use = Arc::clone(&current);
    let shadow_log = crate::shadow::log::ShadowLog::start(Arc::clone(&metrics), move || {
        in_use.load().config.shadow.log.clone()
    });
    let state = Arc::new(ProxyState::new(current, metrics, shadow_log));
    let reloader = Reloader::new(config_path, Arc::clone(&state), on_transition);
    let _watch = crate::reload::watch(Arc::clone(&reloader), POLL_INTERVAL);
    let ramps = tokio::spawn(crate::ramp::drive::run(Arc::clone(&state)));
    let admin = Arc::new(Admin {
        state: Arc::clone(&state),
        reloader,
        ready: AtomicBool::new(true),
    });
    let admin_task = listeners
        .admin
        .map(|l| tokio::spawn(crate::admin::serve(l, Arc::clone(&admin))));
    // Draining: not ready any more, so load balancers stop sending.
    let shutdown = async move {
        shutdown.await;
        admin
            .ready
            .store(false, std::sync::atomic::Ordering::Release);
    };
    crate::server::serve_proxy(listeners.proxy, Arc::clone(&state), shutdown).await;
    if let Some(t) = admin_task {
        t.abort();
    }
    ramps.abort();
    // What the last comparisons wrote reaches the file before the process
    // ends, unless the disk has stalled (then the lines are lost, not the exit).
    let log = Arc::clone(&state.shadow_log);
    let flushed = tokio::task::spawn_blocking(move || log.flush_within(SHUTDOWN_FLUSH)).await;
    if !matches!(flushed, Ok(true)) {
        tracing::warn!("the shadow log could not be flushed within {SHUTDOWN_FLUSH:?}; its last lines are lost");
    }
    Ok(())
}
