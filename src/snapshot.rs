//! The one atomically swapped snapshot: a validated config with everything
//! built from it (route table, upstream clients, breakers). Built off to the
//! side, then stored in one step; requests load it once and finish on it.
//!
//! Carry-over on rebuild, by upstream name: an unchanged upstream is reused
//! whole (its idle pool too); a changed one gets a new client but keeps its
//! breaker while its URL is unchanged.

use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::breaker::{Breaker, OnTransition};
use crate::config::Config;
use crate::routing::RouteTable;
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
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Snapshot {
    pub fn build(
        config: Config,
        sha256: String,
        version: u64,
        previous: Option<&Snapshot>,
        on_transition: &OnTransition,
    ) -> Result<Snapshot, String> {
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
        let table = RouteTable::build(&config.routes, |n| {
            upstreams.iter().position(|u| &*u.name == n)
        })?;
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(crate::tls::load(files)?)),
            None => None,
        };
        Ok(Snapshot {
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
