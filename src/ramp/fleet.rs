//! Several replicas, one decision: with `ramp_state: nats://HOST:PORT` the
//! ramps' state and a leader lease live in NATS JetStream key-value (bucket
//! `strangler_ramps`, on the broker the services already use):
//!
//! ```text
//! every TICK, each replica:  follows the state     state.<route>: a newer revision is adopted
//!                            publishes its windows counts.<replica>: {route: {rev, from, to}}
//!                            takes or renews the   lease: {holder, until_ms}, by
//!                              lease                 compare-and-set on its revision
//! the leader:                adds up the windows of every replica for the state's revision,
//!                            evaluates each ramp on the sums, writes state.<route> on a move
//! ```
//!
//! A follower's weight is the stored one within a tick; an operator's
//! action on any replica is written to the shared state ([`share`]), which
//! every replica, the leader too, then adopts. A leader that dies stops
//! renewing: after [`LEASE`] another takes over from the same state and
//! the same windows (no jump).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv::Store;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::control::{publish, shadow_ready, to_open};
use super::window::Counts;
use super::{Persisted, Ramp};
use crate::snapshot::ProxyState;

const BUCKET: &str = "strangler_ramps";
/// How often a replica follows, publishes and (as leader) decides.
const TICK: Duration = Duration::from_millis(500);
/// How long a lease holds without renewal.
const LEASE: Duration = Duration::from_secs(3);

struct Fleet {
    kv: Store,
    me: String,
    leader: AtomicBool,
    /// route → the revision of `state.<route>` adopted last.
    applied: Mutex<HashMap<String, u64>>,
}

static FLEET: OnceLock<Arc<Fleet>> = OnceLock::new();

/// This replica's role, when in a fleet: `(replica id, leader)`.
pub fn role() -> Option<(String, bool)> {
    FLEET
        .get()
        .map(|f| (f.me.clone(), f.leader.load(Ordering::Relaxed)))
}

/// One replica's window of one ramp, for the state revision `rev`.
#[derive(Serialize, Deserialize)]
struct Window {
    rev: u64,
    from: Counts,
    to: Counts,
}

#[derive(Serialize, Deserialize)]
struct Lease {
    holder: String,
    until_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A key for `route` (NATS keys allow `[-/_=.a-zA-Z0-9]`; others are hex).
fn state_key(route: &str) -> String {
    let plain = route
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b));
    if plain {
        format!("state.{route}")
    } else {
        format!("state.x{}", hex::encode(route))
    }
}

/// Follow, publish and lead every [`TICK`] until the process ends; a
/// broker that cannot be reached is retried, and the ramps hold meanwhile.
pub async fn run(state: Arc<ProxyState>, url: String) {
    let fleet = loop {
        match connect(&url).await {
            Ok(f) => break Arc::new(f),
            Err(e) => {
                tracing::warn!(%url, error = %e, "ramp state: cannot reach NATS; ramps hold until it answers");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let fleet = Arc::clone(FLEET.get_or_init(|| fleet));
    tracing::info!(%url, replica = %fleet.me, "ramp state shared through NATS key-value");
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = fleet.tick(&state).await {
            tracing::warn!(error = %e, "ramp state: NATS exchange failed; retrying");
        }
    }
}

async fn connect(url: &str) -> Result<Fleet, String> {
    let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
    let js = async_nats::jetstream::new(client);
    // The bucket's stream, made as `create_key_value` would make it, but
    // without its account query, which nats-server 2.9 (Debian's) answers
    // in a shape this client cannot read.
    let stream = async_nats::jetstream::stream::Config {
        name: format!("KV_{BUCKET}"),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    };
    (js.get_or_create_stream(stream).await).map_err(|e| e.to_string())?;
    let kv = (js.get_key_value(BUCKET).await).map_err(|e| e.to_string())?;
    Ok(Fleet {
        kv,
        me: format!("{:016x}", rand::random::<u64>()),
        leader: AtomicBool::new(false),
        applied: Mutex::new(HashMap::new()),
    })
}

/// Write `ramp`'s state (after an operator's action) for the fleet.
pub async fn share(ramp: &Ramp) {
    let Some(f) = FLEET.get() else { return };
    match f.write(ramp).await {
        Ok(()) => {}
        Err(e) => {
            tracing::warn!(route = %ramp.route, error = %e, "ramp state: could not share the action")
        }
    }
}

impl Fleet {
    fn applied(&self, route: &str) -> u64 {
        self.applied
            .lock()
            .map_or(0, |m| m.get(route).copied().unwrap_or(0))
    }

    fn set_applied(&self, route: &str, rev: u64) {
        if let Ok(mut m) = self.applied.lock() {
            m.insert(route.to_string(), rev);
        }
    }

    async fn write(&self, ramp: &Ramp) -> Result<(), String> {
        let value = serde_json::to_vec(&ramp.persisted()).map_err(|e| e.to_string())?;
        let rev =
            (self.kv.put(state_key(&ramp.route), value.into()).await).map_err(|e| e.to_string())?;
        self.set_applied(&ramp.route, rev);
        Ok(())
    }

    async fn tick(&self, state: &ProxyState) -> Result<(), String> {
        let snap = state.snapshot.load_full();
        let all: Vec<&Arc<Ramp>> = snap.ramps().collect();
        if all.is_empty() {
            return Ok(());
        }
        // Follow the shared state.
        for r in &all {
            let entry = (self.kv.entry(state_key(&r.route)).await).map_err(|e| e.to_string())?;
            if let Some(e) = entry.filter(|e| e.revision > self.applied(&r.route)) {
                if let Ok(p) = serde_json::from_slice::<Persisted>(&e.value) {
                    r.adopt(p);
                }
                self.set_applied(&r.route, e.revision);
            }
        }
        // Publish this replica's windows.
        let mine: BTreeMap<String, Window> = all
            .iter()
            .map(|r| {
                let w = Window {
                    rev: self.applied(&r.route),
                    from: r.window.from.counts(),
                    to: r.window.to.counts(),
                };
                (r.route.to_string(), w)
            })
            .collect();
        let value = serde_json::to_vec(&mine).map_err(|e| e.to_string())?;
        (self
            .kv
            .put(format!("counts.{}", self.me), value.into())
            .await)
            .map_err(|e| e.to_string())?;
        let leading = self.lease().await?;
        self.leader.store(leading, Ordering::Relaxed);
        if !leading {
            for r in &all {
                publish(&state.metrics, r, None);
            }
            return Ok(());
        }
        // Lead: decide on the fleet's sums.
        let windows = self.windows().await?;
        for r in &all {
            let rev = self.applied(&r.route);
            let (mut from, mut to) = (Counts::default(), Counts::default());
            for w in windows.iter().filter_map(|m| m.get(&*r.route)) {
                if w.rev == rev {
                    from.add(&w.from);
                    to.add(&w.to);
                }
            }
            let t = r.evaluate_with(
                from.view(),
                to.view(),
                || shadow_ready(state, r),
                to_open(&snap, r),
            );
            publish(&state.metrics, r, t.as_ref());
            if t.is_some() {
                self.write(r).await?;
            }
        }
        Ok(())
    }

    /// Every replica's published windows.
    async fn windows(&self) -> Result<Vec<BTreeMap<String, Window>>, String> {
        let keys: Vec<String> = (self.kv.keys().await)
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for k in keys.iter().filter(|k| k.starts_with("counts.")) {
            if let Ok(Some(v)) = self.kv.get(k.as_str()).await {
                if let Ok(w) = serde_json::from_slice(&v) {
                    out.push(w);
                }
            }
        }
        Ok(out)
    }

    /// Take or renew the lease; whether this replica holds it.
    async fn lease(&self) -> Result<bool, String> {
        let mine = serde_json::to_vec(&Lease {
            holder: self.me.clone(),
            until_ms: now_ms() + LEASE.as_millis() as u64,
        })
        .map_err(|e| e.to_string())?;
        let entry = (self.kv.entry("lease").await).map_err(|e| e.to_string())?;
        let Some(e) = entry else {
            return Ok(self.kv.create("lease", mine.into()).await.is_ok());
        };
        let held: Option<Lease> = serde_json::from_slice(&e.value).ok();
        let free = held
            .as_ref()
            .is_none_or(|l| l.holder == self.me || l.until_ms < now_ms());
        if !free {
            return Ok(false);
        }
        Ok(self
            .kv
            .update("lease", mine.into(), e.revision)
            .await
            .is_ok())
    }
}
