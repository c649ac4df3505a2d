//! Keeping the monolith in sync (SPEC §10): every domain event the services publish is
//! applied to the stub's own stores, so that its reads — and its untouched code paths — see
//! what the new services wrote.
//!
//! ```text
//! Bus ──Subscription("legacy-stub")──> consume ──> Replica::apply ──> OrderBook / Ledger / Inventory
//!                                         │          applied ids (duplicates change nothing)
//!                                         └──ack──> Bus
//! ```
//!
//! Each event carries its aggregate as it is after the change; orders and payments are
//! stored as they are, reservations move the stub's stock ([`Inventory::apply`]). An event
//! is applied once per id: a redelivery (an ack that got lost, a consumer restarted before
//! acknowledging) is counted as a duplicate and acknowledged again. The set of applied ids
//! is bounded ([`REMEMBERED_IDS`]); the bus's own deduplication and in-order delivery cover
//! anything older.
//!
//! [`Inventory::apply`]: service_common::inventory::Inventory::apply

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use service_common::domain::{Order, Payment, Reservation};
use service_common::events::{Event, EventStats, EventType, Subscription};
use service_common::lock;
use uuid::Uuid;

use crate::Monolith;

/// How many applied event ids are remembered.
pub const REMEMBERED_IDS: usize = 1_000_000;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Applied before: nothing changed.
    Duplicate,
    /// Its data is not what its type promises; nothing changed.
    Rejected(String),
}

/// The consuming side's memory: which events were applied, and counters.
#[derive(Debug, Default)]
pub struct Replica {
    applied: Mutex<Applied>,
    consumed: AtomicU64,
    duplicates: AtomicU64,
}

#[derive(Debug, Default)]
struct Applied {
    ids: HashSet<Uuid>,
    arrival: VecDeque<Uuid>,
}

impl Applied {
    fn remember(&mut self, id: Uuid) {
        while self.arrival.len() >= REMEMBERED_IDS {
            if let Some(old) = self.arrival.pop_front() {
                self.ids.remove(&old);
            }
        }
        self.ids.insert(id);
        self.arrival.push_back(id);
    }
}

impl Replica {
    /// Applies `event` to `monolith` unless it was applied before.
    pub fn apply(&self, monolith: &Monolith, event: &Event) -> Outcome {
        // Held while applying, so that two deliveries of one event cannot both apply it.
        let mut applied = lock(&self.applied);
        if applied.ids.contains(&event.id) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return Outcome::Duplicate;
        }
        if let Err(e) = apply_to(monolith, event) {
            return Outcome::Rejected(e);
        }
        applied.remember(event.id);
        self.consumed.fetch_add(1, Ordering::Relaxed);
        Outcome::Applied
    }

    /// `consumed` and `duplicates`; the publishing counters are zero.
    pub fn stats(&self) -> EventStats {
        EventStats {
            consumed: self.consumed.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            ..EventStats::default()
        }
    }
}

fn data<T: DeserializeOwned>(event: &Event) -> Result<T, String> {
    serde_json::from_value(event.data.clone())
        .map_err(|e| format!("{} {}: bad data: {e}", event.event_type, event.id))
}

fn apply_to(monolith: &Monolith, event: &Event) -> Result<(), String> {
    let stores = monolith.orders.fulfillment();
    match event.event_type {
        EventType::OrderCreated | EventType::OrderConfirmed | EventType::OrderCancelled => {
            let order: Order = data(event)?;
            lock(monolith.orders.book()).apply(order);
        }
        EventType::PaymentCompleted | EventType::PaymentDeclined | EventType::PaymentRefunded => {
            let payment: Payment = data(event)?;
            lock(&stores.ledger).apply(payment);
        }
        EventType::InventoryReserved | EventType::InventoryReleased => {
            let reservation: Reservation = data(event)?;
            lock(&stores.inventory).apply(reservation);
        }
    }
    Ok(())
}

/// Applies every delivery of `subscription` and acknowledges it, until the bus stops
/// feeding it. A rejected event is logged and acknowledged: redelivering it would not help,
/// and would hold up every event behind it.
pub async fn consume(monolith: &Monolith, mut subscription: Subscription) {
    while let Some(delivery) = subscription.next().await {
        let event = &delivery.event;
        match monolith.replica.apply(monolith, event) {
            Outcome::Applied => {
                tracing::debug!(id = %event.id, r#type = %event.event_type,
                    aggregate = %event.aggregate_id, "applied an event");
            }
            Outcome::Duplicate => {
                tracing::debug!(id = %event.id, attempt = delivery.attempt,
                    "event applied before; acknowledging again");
            }
            Outcome::Rejected(e) => tracing::error!(error = %e, "cannot apply an event; skipped"),
        }
        if let Err(e) = delivery.ack().await {
            tracing::warn!(error = %e, "cannot acknowledge an event; it will come again");
        }
    }
}
