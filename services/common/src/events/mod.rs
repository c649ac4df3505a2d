//! Domain events (SPEC §10): the envelope, the [`EventBus`] seam and its cheap handle [`Bus`].
//!
//! ```text
//! store mutation ──(same lock)──> Outbox ──relay──> Bus ──> Subscription ──> legacy stub
//!                                  pending            memory | NATS JetStream     applies, acks
//! ```
//!
//! - [`Event`]: `{"id", "type", "aggregate_id", "occurred_at", "data"}`, one of the eight
//!   [`EventType`]s, published on subject `events.<type>`;
//! - [`EventBus`]: what a bus does — publish and wait for the acknowledgement, deliver to a
//!   durable named consumer one event at a time, in publish order, redelivering what is not
//!   acknowledged within the consumer's `ack_wait`. Two implementations: [`MemoryBus`]
//!   (in-process, the default) and [`NatsBus`] (JetStream, stream `EVENTS`);
//! - [`outbox`]: events recorded with the state change and relayed to the bus;
//! - [`EventStats`]: what `GET /events/stats` shows.
//!
//! One process running every server (as `strangler up` does) hands them one bus:
//!
//! ```ignore
//! let bus = Bus::from_spec("memory").await?; // or "nats://127.0.0.1:4222"
//! let stub = legacy_stub::Options { event_bus: Some(bus.clone()), ..Default::default() };
//! let payment = payment_service::Options { event_bus: Some(bus.clone()), ..Default::default() };
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::clock;

pub mod memory;
pub mod nats;
pub mod outbox;
mod stats;

pub use memory::MemoryBus;
pub use nats::NatsBus;
pub use outbox::{Outbox, Publisher, RelayPolicy};
pub use stats::{stats_response, EventStats};

/// A boxed future, so that [`EventBus`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The kinds of domain events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.confirmed")]
    OrderConfirmed,
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    #[serde(rename = "payment.completed")]
    PaymentCompleted,
    #[serde(rename = "payment.declined")]
    PaymentDeclined,
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
    #[serde(rename = "inventory.reserved")]
    InventoryReserved,
    #[serde(rename = "inventory.released")]
    InventoryReleased,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::OrderCreated,
        EventType::OrderConfirmed,
        EventType::OrderCancelled,
        EventType::PaymentCompleted,
        EventType::PaymentDeclined,
        EventType::PaymentRefunded,
        EventType::InventoryReserved,
        EventType::InventoryReleased,
    ];

    /// The name in the envelope's `type`, e.g. `order.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderConfirmed => "order.confirmed",
            EventType::OrderCancelled => "order.cancelled",
            EventType::PaymentCompleted => "payment.completed",
            EventType::PaymentDeclined => "payment.declined",
            EventType::PaymentRefunded => "payment.refunded",
            EventType::InventoryReserved => "inventory.reserved",
            EventType::InventoryReleased => "inventory.released",
        }
    }

    /// The subject events of this type are published on: `events.<type>`.
    pub fn subject(self) -> String {
        format!("events.{}", self.as_str())
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One domain event, as it travels on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The id of the order, payment or reservation that changed; the ordering key.
    pub aggregate_id: String,
    pub occurred_at: String,
    /// The aggregate as it is after the change.
    pub data: serde_json::Value,
}

impl Event {
    /// A new event with a fresh id, occurring now.
    pub fn new(
        event_type: EventType,
        aggregate_id: impl ToString,
        data: serde_json::Value,
    ) -> Self {
        Event {
            id: Uuid::new_v4(),
            event_type,
            aggregate_id: aggregate_id.to_string(),
            occurred_at: clock::now(),
            data,
        }
    }

    /// The envelope as JSON bytes.
    pub fn to_bytes(&self) -> Bytes {
        // Serializing a struct of strings and a `Value` cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses an envelope received from a bus.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BusError> {
        serde_json::from_slice(bytes).map_err(|e| BusError::Malformed(e.to_string()))
    }
}

/// What can go wrong with a bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusError {
    /// `--event-bus` is neither `memory` nor `nats://HOST:PORT`, or a consumer name is unusable.
    InvalidSpec(String),
    /// The bus did not acknowledge: down, unreachable, timed out. Try again later.
    Unavailable(String),
    /// A message on the bus is not an event envelope.
    Malformed(String),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::InvalidSpec(m) => write!(f, "invalid event bus setting: {m}"),
            BusError::Unavailable(m) => write!(f, "event bus unavailable: {m}"),
            BusError::Malformed(m) => write!(f, "malformed event: {m}"),
        }
    }
}

impl std::error::Error for BusError {}

impl From<BusError> for std::io::Error {
    fn from(e: BusError) -> Self {
        let kind = match e {
            BusError::InvalidSpec(_) => std::io::ErrorKind::InvalidInput,
            BusError::Unavailable(_) | BusError::Malformed(_) => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// A durable consumer: its name (kept by the bus across subscriptions) and how long a
/// delivery may stay unacknowledged before it is delivered again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub name: String,
    pub ack_wait: Duration,
}

/// The default time a consumer has to acknowledge a delivery.
/// Short, because delivery is one event at a time: an ack lost with a broker restart holds
/// the consumer up this long.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(5);

impl Consumer {
    /// A consumer named `name` (letters, digits, `-` and `_`), with [`DEFAULT_ACK_WAIT`].
    pub fn new(name: impl Into<String>) -> Self {
        Consumer {
            name: name.into(),
            ack_wait: DEFAULT_ACK_WAIT,
        }
    }

    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Checks the name: NATS forbids `.`, `*`, `>` and whitespace in durable names.
    pub fn validate(&self) -> Result<(), BusError> {
        let ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(())
        } else {
            Err(BusError::InvalidSpec(format!(
                "consumer name {:?}: use letters, digits, '-' and '_'",
                self.name
            )))
        }
    }
}

/// Acknowledges one delivery to the bus it came from.
pub trait Acknowledge: Send {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>>;
}

impl<F> Acknowledge for F
where
    F: FnOnce() -> BoxFuture<'static, Result<(), BusError>> + Send,
{
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>> {
        (*self)()
    }
}

/// An event handed to a consumer. Acknowledge it with [`Delivery::ack`] once applied;
/// dropped unacknowledged, it is delivered again after the consumer's `ack_wait`.
pub struct Delivery {
    pub event: Event,
    /// 1 for the first delivery, more for redeliveries.
    pub attempt: u64,
    acker: Box<dyn Acknowledge>,
}

impl Delivery {
    pub fn new(event: Event, attempt: u64, acker: impl Acknowledge + 'static) -> Self {
        Delivery {
            event,
            attempt,
            acker: Box::new(acker),
        }
    }

    pub fn redelivered(&self) -> bool {
        self.attempt > 1
    }

    /// Tells the bus the event is done with; it will not be delivered to this consumer again.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// The deliveries of one consumer, fed by a task that stops when this is dropped.
#[derive(Debug)]
pub struct Subscription {
    deliveries: mpsc::Receiver<Delivery>,
    feeder: JoinHandle<()>,
}

impl Subscription {
    /// A subscription over `deliveries`, fed by `feeder`, which is aborted on drop.
    pub fn new(deliveries: mpsc::Receiver<Delivery>, feeder: JoinHandle<()>) -> Self {
        Subscription { deliveries, feeder }
    }

    /// The next delivery; `None` once the bus has stopped feeding this subscription.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feeder.abort();
    }
}

/// What an event bus does. Implementations must keep the order of publication per
/// consumer (which keeps it per aggregate), deliver at least once, and redeliver what is not
/// acknowledged within the consumer's `ack_wait`.
pub trait EventBus: Send + Sync + 'static {
    /// `memory` or the NATS URL, for logs and `Debug`.
    fn describe(&self) -> String;
    /// Publishes `event`; `Ok` only once the bus has stored it.
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), BusError>>;
    /// Starts delivering to the durable consumer, from where it last acknowledged (from the
    /// first event for a new consumer). Must be called within a Tokio runtime. Connection
    /// problems are retried in the background, never reported here.
    fn subscribe(&self, consumer: &Consumer) -> Subscription;
}

/// A cheap-to-clone handle on an event bus, shared by every server of a process.
#[derive(Clone)]
pub struct Bus(Arc<dyn EventBus>);

impl Bus {
    /// Wraps any bus, e.g. a test double.
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Bus(bus)
    }

    /// A fresh in-process bus.
    pub fn memory() -> Self {
        Bus(Arc::new(MemoryBus::new()))
    }

    /// A NATS JetStream bus at `url` (`nats://HOST:PORT`). Connects in the background: a
    /// server that is down now is retried, and events wait in the outboxes meanwhile.
    pub async fn nats(url: &str) -> Result<Self, BusError> {
        Ok(Bus(Arc::new(NatsBus::connect(url).await?)))
    }

    /// The bus `spec` names: `memory`, or `nats://HOST:PORT`.
    pub async fn from_spec(spec: &str) -> Result<Self, BusError> {
        match spec.trim() {
            "memory" => Ok(Bus::memory()),
            url if url.starts_with("nats://") => Bus::nats(url).await,
            other => Err(BusError::InvalidSpec(format!(
                "{other:?}: expected \"memory\" or \"nats://HOST:PORT\""
            ))),
        }
    }

    pub fn describe(&self) -> String {
        self.0.describe()
    }

    pub async fn publish(&self, event: &Event) -> Result<(), BusError> {
        self.0.publish(event).await
    }

    pub fn subscribe(&self, consumer: &Consumer) -> Subscription {
        self.0.subscribe(consumer)
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bus({})", self.0.describe())
    }
}
