//! Whether a request's copy goes, and starting it: `shadow.max_body`, the
//! in-flight cap, the shadow upstream's breaker; then the way it goes (the
//! upstream's pipelined lane for a bodyless idempotent copy to plain
//! `http`, else a task of its own).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::log::ShadowLog;
use super::mirror::{Captured, ShadowCopy};
use super::pipelined::CopyJob;
use super::record::SkipReason;
use super::verdict::ReadyRule;
use crate::routing::ShadowTarget;
use crate::snapshot::Snapshot;

pub enum ShadowPlan {
    None,
    /// Not sent: the shadow upstream, why, and the route's `shadow.ready`.
    Skip(Arc<str>, SkipReason, ReadyRule),
    /// The copy is out; the primary's answer goes to it, with what it compares.
    Go(oneshot::Sender<Captured>, Arc<ShadowTarget>),
}

/// Decide whether the copy goes, and if so start it (it waits for the
/// primary's answer on the lane or in its own task).
pub fn start(
    log: &Arc<ShadowLog>,
    snap: &Snapshot,
    target: &Arc<ShadowTarget>,
    fits: bool,
    pipelinable: bool,
    copy: impl FnOnce(bool) -> ShadowCopy,
) -> ShadowPlan {
    let up = &snap.upstreams[target.upstream];
    if !fits {
        return ShadowPlan::Skip(Arc::clone(&up.name), SkipReason::BodyTooLarge, target.ready);
    }
    let Ok(slot) = Arc::clone(&snap.shadow_slots).try_acquire_owned() else {
        return ShadowPlan::Skip(
            Arc::clone(&up.name),
            SkipReason::InflightLimit,
            target.ready,
        );
    };
    let Ok(permit) = up.breaker.acquire() else {
        return ShadowPlan::Skip(Arc::clone(&up.name), SkipReason::BreakerOpen, target.ready);
    };
    let (tx, rx) = oneshot::channel();
    let log = Arc::clone(log);
    match &up.lane {
        Some(lane) if pipelinable => {
            lane.submit(Box::new(CopyJob {
                copy: copy(true),
                permit,
                slot,
                primary: rx,
                log,
            }));
        }
        _ => {
            tokio::spawn(copy(false).run(permit, slot, rx, log));
        }
    }
    ShadowPlan::Go(tx, Arc::clone(target))
}
