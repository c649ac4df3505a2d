//! The ramps driven: every [`TICK`] each is evaluated on its own windows
//! (with no ramp configured, the driver sleeps until a reload installs one)
//! and saved to the state file after a move — or, with `ramp_state:
//! nats://…`, the fleet's leader decides (`super::fleet`); an operator's
//! action applied, then saved or shared.

use std::sync::Arc;
use std::time::Duration;

use super::control::{publish, shadow_ready, to_open, Action};
use super::Transition;
use crate::snapshot::ProxyState;

/// How often ramps are evaluated.
pub const TICK: Duration = Duration::from_millis(200);

/// Evaluate every ramp every [`TICK`], saving the state after any move;
/// with `ramp_state: nats://…`, the fleet's leader decides instead
/// (`super::fleet`).
pub async fn run(state: Arc<ProxyState>) {
    #[cfg(feature = "fleet")]
    if let Some(url) = state.snapshot.load().config.ramp_fleet.clone() {
        return super::fleet::run(state, url).await;
    }
    #[cfg(not(feature = "fleet"))]
    if state.snapshot.load().config.ramp_fleet.is_some() {
        tracing::error!("`ramp_state: nats://…` needs a build with the `fleet` feature; each replica decides its ramps alone");
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut installs = state.installs();
    loop {
        // Seen before the snapshot is read: a reload after it wakes the wait.
        installs.borrow_and_update();
        if state.snapshot.load().ramps().next().is_none() {
            // No ramp to drive: sleep until a reload, not on the tick.
            if installs.changed().await.is_err() {
                return;
            }
            continue;
        }
        tick.tick().await;
        let snap = state.snapshot.load_full();
        let mut moved = false;
        for ramp in snap.ramps() {
            let t = ramp.evaluate(|| shadow_ready(&state, ramp), to_open(&snap, ramp));
            publish(&state.metrics, ramp, t.as_ref());
            moved |= t.is_some();
        }
        if moved {
            super::store::save(snap.ramps(), &snap.config.ramp_state).await;
        }
    }
}

/// `POST /-/ramps/NAME/ACTION`.
pub async fn act(state: &ProxyState, route: &str, action: Action) -> Result<Transition, String> {
    let snap = state.snapshot.load_full();
    let ramp = snap
        .ramps()
        .find(|r| &*r.route == route)
        .ok_or_else(|| format!("no ramp on a route named `{route}`"))?;
    let t = ramp.operate(action)?;
    publish(&state.metrics, ramp, Some(&t));
    #[cfg(feature = "fleet")]
    if snap.config.ramp_fleet.is_some() {
        // The fleet's state is the shared one: the others follow it.
        super::fleet::share(ramp).await;
        return Ok(t);
    }
    super::store::save(snap.ramps(), &snap.config.ramp_state).await;
    Ok(t)
}
