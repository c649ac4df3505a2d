//! The transactional outbox: events recorded with the state change, relayed to the bus.
//!
//! ```text
//! Ledger::charge (under the ledger's lock) ──record──> pending: [e1, e2, e3]
//!                                                        │ front, in order
//! relay task ──publish(e1)──> Bus ──ack──> pop e1, published += 1
//!            └─ no ack (outage, timeout) ──> keep e1, back off, try e1 again
//! ```
//!
//! A store calls [`Outbox::record`] inside the critical section of its mutation, so the
//! outbox order is the order of the changes and no change escapes its event. The relay
//! publishes one event at a time and removes it only once the bus acknowledged it: a bus
//! outage delays events and loses none (the outbox is in memory, like the stores: a process
//! that dies loses both together).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{Bus, Event, EventStats, EventType};
use crate::backoff::Backoff;
use crate::lock;

/// How the relay retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPolicy {
    /// Waits between failed publishes (`attempts` is ignored: the relay never gives up).
    pub retry: Backoff,
    /// How long one publish may take in all. Above the bus's own bounds (on
    /// NATS a stream lookup and an acknowledgement, 3 s each at most): an
    /// attempt cut short on a loaded machine only starts over, lookup
    /// included, and may never let one finish.
    pub publish_timeout: Duration,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        RelayPolicy {
            retry: Backoff {
                attempts: u32::MAX,
                first_delay: Duration::from_millis(50),
                max_delay: Duration::from_secs(2),
            },
            publish_timeout: Duration::from_secs(10),
        }
    }
}

/// A service's outbox; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Wakes the relay when an event is recorded.
    wake: Notify,
    /// The number of pending events, for [`Outbox::drain`].
    pending: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<Event>,
    published: u64,
}

impl Outbox {
    pub fn new() -> Self {
        Outbox::default()
    }

    /// Records `event` for publication. Call it while holding the lock of the store whose
    /// change the event reports.
    pub fn record(&self, event: Event) {
        let mut state = lock(&self.inner.state);
        state.pending.push_back(event);
        // Published under the lock: the count the relay publishes after
        // taking this event must not be overtaken by this one (a stale 1
        // would keep `drain` waiting for ever).
        self.inner.pending.send_replace(state.pending.len());
        drop(state);
        self.inner.wake.notify_one();
    }

    /// Records an event of `event_type` about aggregate `id`, whose state is now `data`.
    pub fn record_change<T: Serialize>(&self, event_type: EventType, id: u64, data: &T) {
        match serde_json::to_value(data) {
            Ok(data) => self.record(Event::new(event_type, id, data)),
            // The domain types always serialize; this is only a guard.
            Err(e) => tracing::error!(%event_type, id, error = %e, "cannot serialize an event"),
        }
    }

    /// `published` and `pending`; the consumer counters are zero.
    pub fn stats(&self) -> EventStats {
        let state = lock(&self.inner.state);
        EventStats {
            published: state.published,
            pending: state.pending.len() as u64,
            ..EventStats::default()
        }
    }

    /// The events not yet acknowledged by the bus, oldest first.
    pub fn pending(&self) -> Vec<Event> {
        lock(&self.inner.state).pending.iter().cloned().collect()
    }

    /// Waits until nothing is pending; `false` if `deadline` passes first.
    pub async fn drain(&self, deadline: Duration) -> bool {
        let mut pending = self.inner.pending.subscribe();
        tokio::time::timeout(deadline, pending.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Starts relaying to `bus`; the relay stops when the returned handle is dropped.
    pub fn spawn_relay(&self, bus: Bus, policy: RelayPolicy) -> Relay {
        Relay(tokio::spawn(relay(Arc::clone(&self.inner), bus, policy)))
    }

    fn front(&self) -> Option<Event> {
        lock(&self.inner.state).pending.front().cloned()
    }

    fn mark_sent(&self, id: Uuid) {
        let mut state = lock(&self.inner.state);
        if state.pending.front().is_some_and(|e| e.id == id) {
            state.pending.pop_front();
            state.published += 1;
        }
        self.inner.pending.send_replace(state.pending.len());
    }
}

/// A running relay; aborted on drop.
#[derive(Debug)]
pub struct Relay(JoinHandle<()>);

impl Drop for Relay {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn relay(inner: Arc<Inner>, bus: Bus, policy: RelayPolicy) {
    let outbox = Outbox { inner };
    let mut failures: u32 = 0;
    loop {
        let Some(event) = outbox.front() else {
            outbox.inner.wake.notified().await;
            continue;
        };
        let outcome = tokio::time::timeout(policy.publish_timeout, bus.publish(&event)).await;
        let error = match outcome {
            Ok(Ok(())) => {
                outbox.mark_sent(event.id);
                if failures > 0 {
                    tracing::info!(bus = %bus.describe(), failures, "event bus is back; relaying");
                    failures = 0;
                }
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no acknowledgement within {:?}", policy.publish_timeout),
        };
        failures = failures.saturating_add(1);
        if failures == 1 || failures.is_multiple_of(20) {
            let pending = outbox.stats().pending;
            tracing::warn!(bus = %bus.describe(), %error, failures, pending,
                "cannot publish an event; will retry");
        }
        tokio::time::sleep(policy.retry.delay(failures)).await;
    }
}

/// A service's publishing side: its outbox and the relay feeding the bus.
#[derive(Debug)]
pub struct Publisher {
    pub outbox: Outbox,
    relay: Relay,
}

impl Publisher {
    /// A fresh outbox relayed to `bus` (a private memory bus when `None`).
    pub fn start(bus: Option<Bus>) -> Self {
        Publisher::start_with(Outbox::new(), bus)
    }

    /// Relays `outbox` to `bus` (a private memory bus when `None`).
    pub fn start_with(outbox: Outbox, bus: Option<Bus>) -> Self {
        let relay = outbox.spawn_relay(bus.unwrap_or_else(Bus::memory), RelayPolicy::default());
        Publisher { outbox, relay }
    }

    /// Gives the relay up to `grace` to publish what is pending, then stops it.
    pub async fn stop(self, grace: Duration) {
        if !self.outbox.drain(grace).await {
            let pending = self.outbox.stats().pending;
            tracing::warn!(
                pending,
                "stopping with events not yet published; they are lost"
            );
        }
        drop(self.relay);
    }
}
