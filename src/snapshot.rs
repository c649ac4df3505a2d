//! The one atomically swapped snapshot: a validated config with everything
//! built from it (route table, upstream clients, breakers, the shadow
//! copies' in-flight cap). Built off to the side, then stored in one step
//! ([`ProxyState::install`]); requests load it once and finish on it.
//! Everything a reload changes hangs off it.
//!
//! Carry-over on rebuild, by upstream name: an unchanged upstream is reused
//! whole (its idle pool too); a changed one gets a new client but keeps its
//! breaker while its URL is unchanged.

use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use crate::breaker::State;
use crate::breaker::{Breaker, OnTransition};
use crate::config::Config;
use crate::metrics::{
    Fallback, Metrics, Name, ResultLabel, RouteLabel, RouteOutcome, UpstreamKind, UpstreamLabel,
    UpstreamTo,
};
use crate::routing::RouteTable;
use crate::shadow::log::ShadowLog;
use crate::tls::Tls;
use crate::upstream::Upstream;

#[derive(Debug)]
pub struct Snapshot {
    pub version: u64,
    pub sha256: String,
    pub loaded_at: SystemTime,
    pub config: Arc<Config>,
    pub table: RouteTable,
    pub upstreams: Vec<Arc<Upstream>>,
    /// Present when `tls:` is configured.
    pub tls: Option<Arc<Tls>>,
    /// `shadow.max_inflight` copies at most: the previous snapshot's while
    /// the cap is unchanged (copies in flight keep counting), else a new one.
    pub shadow_slots: Arc<Semaphore>,
}

/// State shared by every connection: the snapshot in use, and what lives
/// across reloads (the metrics, the shadow log).
pub struct ProxyState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub metrics: Arc<Metrics>,
    pub shadow_log: Arc<ShadowLog>,
    /// The version of the snapshot last installed: what waits for a reload
    /// (a driver with nothing to drive) sleeps on it instead of polling.
    installed: tokio::sync::watch::Sender<u64>,
}

impl ProxyState {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        metrics: Arc<Metrics>,
        shadow_log: Arc<ShadowLog>,
    ) -> Self {
        metrics.config_version.set(snapshot.load().version as i64);
        snapshot.load().prime(&metrics);
        for direction in ["to_upstream", "to_client"] {
            let _ = metrics
                .tunnel_bytes
                .get_or_create(&crate::metrics::Direction { direction });
        }
        for result in ["success", "failure"] {
            let _ = metrics
                .config_reloads
                .get_or_create(&ResultLabel { result });
        }
        let installed = tokio::sync::watch::Sender::new(snapshot.load().version);
        ProxyState {
            snapshot,
            metrics,
            shadow_log,
            installed,
        }
    }

    /// Told of every snapshot installed from now on.
    pub fn installs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.installed.subscribe()
    }

    /// Swap in a new snapshot, in one store; requests in flight keep the
    /// one they loaded.
    pub fn install(&self, next: Snapshot) {
        self.metrics.config_version.set(next.version as i64);
        next.prime(&self.metrics);
        let version = next.version;
        self.snapshot.store(Arc::new(next));
        self.installed.send_replace(version);
    }
}

/// Why a snapshot could not be built from a configuration that parsed
/// (the old one keeps serving; the message shows in `GET /-/config`).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Upstream(#[from] crate::upstream::SetupError),
    #[error(transparent)]
    Tls(#[from] Box<crate::tls::TlsError>),
    /// The route table (a message written for the user).
    #[error("{0}")]
    Routes(String),
}

impl Snapshot {
    /// Every counter a dashboard or an alert watches exists from the start,
    /// at 0, for each upstream and route of this configuration (a series
    /// that appears only with its first event cannot be alerted on).
    fn prime(&self, m: &Metrics) {
        for up in &self.upstreams {
            let name = Name(Arc::clone(&up.name));
            for kind in ["connect", "timeout", "5xx", "protocol"] {
                let upstream = name.clone();
                let _ = m
                    .upstream_errors
                    .get_or_create(&UpstreamKind { upstream, kind });
            }
            for to in [State::Open, State::HalfOpen, State::Closed] {
                let (upstream, to) = (name.clone(), to.as_str());
                let _ = m
                    .breaker_transitions
                    .get_or_create(&UpstreamTo { upstream, to });
            }
            let state = up.breaker.status().state.gauge();
            m.breaker_state
                .get_or_create(&UpstreamLabel { upstream: name })
                .set(state);
        }
        for route in self.table.routes() {
            let name = Name(Arc::clone(&route.name));
            let _ = m.retries.get_or_create(&RouteLabel {
                route: name.clone(),
            });
            if let Some(to) = route.fallback {
                let to = Name(Arc::clone(&self.upstreams[to].name));
                for from in route.target.upstreams() {
                    let from = Name(Arc::clone(&self.upstreams[from].name));
                    let (route, to) = (name.clone(), to.clone());
                    let _ = m.fallbacks.get_or_create(&Fallback { route, from, to });
                }
            }
            if route.shadow.is_some() {
                for outcome in [
                    "match",
                    "mismatch",
                    "noise",
                    "noise_probe",
                    "shadow_error",
                    "skipped",
                ] {
                    let route = name.clone();
                    let _ = m
                        .shadow_comparisons
                        .get_or_create(&RouteOutcome { route, outcome });
                }
            }
        }
    }
}

/// A route's ramp in a new snapshot: the previous snapshot's when its
/// definition is unchanged; restarted at step 0 when it changed (said in
/// the log and its history); else where the state file left it.
fn ramp_for(
    previous: Option<&Snapshot>,
    state_file: &std::path::Path,
    saved: &std::cell::OnceCell<crate::ramp::store::Saved>,
    route: &str,
    def: &crate::config::ramp::RampConfig,
) -> Arc<crate::ramp::Ramp> {
    use crate::ramp::{digest, Ramp};
    let old = previous.and_then(|p| p.ramps().find(|r| &*r.route == route));
    match old {
        Some(old) if old.digest == digest(def) => Arc::clone(old),
        Some(_) => {
            tracing::warn!(
                route,
                "the ramp's definition changed: it restarts at step 0"
            );
            Arc::new(Ramp::new(
                route,
                def.clone(),
                None,
                "definition changed by a reload; restarted at step 0",
            ))
        }
        None => {
            let saved = saved.get_or_init(|| crate::ramp::store::load(state_file));
            let persisted = saved.get(route).cloned();
            let why = match &persisted {
                Some(p) if p.digest == digest(def) => "resumed from the state file",
                Some(_) => "defined (the state file's ramp had another definition)",
                None => "defined",
            };
            Arc::new(Ramp::new(route, def.clone(), persisted, why))
        }
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Snapshot {
    /// The ramps of its routes.
    pub fn ramps(&self) -> impl Iterator<Item = &Arc<crate::ramp::Ramp>> {
        self.table.routes().iter().filter_map(|r| match &r.target {
            crate::routing::Target::Ramp { ramp, .. } => Some(ramp),
            _ => None,
        })
    }

    pub fn build(
        config: Config,
        sha256: String,
        version: u64,
        previous: Option<&Snapshot>,
        on_transition: &OnTransition,
    ) -> Result<Snapshot, BuildError> {
        let mut upstreams = Vec::with_capacity(config.upstreams.len());
        for (name, uc) in &config.upstreams {
            let old = previous.and_then(|p| p.upstreams.iter().find(|u| &*u.name == name.as_str()));
            let upstream = match old {
                Some(old) if old.config == *uc && !crate::upstream::ca_changed(old) => {
                    Arc::clone(old)
                }
                Some(old) if old.config.url == uc.url && old.config.breaker == uc.breaker => {
                    Arc::new(Upstream::new(name, uc.clone(), Arc::clone(&old.breaker))?)
                }
                _ => Arc::new(Upstream::new(
                    name,
                    uc.clone(),
                    Breaker::new(name, uc.breaker.settings(), on_transition.clone()),
                )?),
            };
            upstreams.push(upstream);
        }
        let saved = std::cell::OnceCell::new();
        let ramp_for = |route: &str, def: &crate::config::ramp::RampConfig| {
            ramp_for(previous, &config.ramp_state, &saved, route, def)
        };
        let table = RouteTable::build_with(
            &config.routes,
            |n| upstreams.iter().position(|u| &*u.name == n),
            &ramp_for,
        )
        .map_err(BuildError::Routes)?;
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(crate::tls::load(files).map_err(Box::new)?)),
            None => None,
        };
        let max_inflight = config.shadow.max_inflight;
        let shadow_slots = match previous {
            Some(p) if p.config.shadow.max_inflight == max_inflight => Arc::clone(&p.shadow_slots),
            _ => Arc::new(Semaphore::new(max_inflight)),
        };
        Ok(Snapshot {
            shadow_slots,
            version,
            sha256,
            loaded_at: SystemTime::now(),
            config: Arc::new(config),
            table,
            upstreams,
            tls,
        })
    }
}
