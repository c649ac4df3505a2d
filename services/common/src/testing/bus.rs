//! Event-bus test support: one contract, two buses.
//!
//! - [`TestBus`]: a memory bus or a NATS bus on a [`NatsServer`] of the test's own, with an
//!   outage switch (memory: [`MemoryBus::set_available`]; NATS: kill and restart the server);
//! - [`Collector`]: a consumer that records and acknowledges every delivery;
//! - [`LoseFirstAck`]: a bus wrapper that loses the first acknowledgement of each event, so
//!   that the real bus redelivers it;
//! - [`on_both_buses!`](crate::on_both_buses): runs `async fn test(bus: TestBus)`s against
//!   each bus.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::eventually;
use super::nats::NatsServer;
use crate::events::{
    BoxFuture, Bus, BusError, Consumer, Delivery, Event, EventBus, MemoryBus, Subscription,
};
use crate::lock;

/// For each `async fn NAME(bus: TestBus)` named (in scope where the macro is used), the
/// tests `memory::NAME` and `nats::NAME`, on a two-thread runtime; the NATS one skips, loudly,
/// without a nats-server. The calling crate needs `tokio` (with its `macros`) itself.
///
/// ```ignore
/// service_common::on_both_buses!(publishes_and_delivers, keeps_order_per_aggregate);
/// ```
#[macro_export]
macro_rules! on_both_buses {
    (@bus $module:ident $kind:ident: $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let kind = $crate::testing::bus::BusKind::$kind;
                    if let Some(bus) = $crate::testing::bus::TestBus::start(kind).await {
                        super::$test(bus).await;
                    }
                }
            )*
        }
    };
    ($($test:ident),* $(,)?) => {
        $crate::on_both_buses!(@bus memory Memory: $($test),*);
        $crate::on_both_buses!(@bus nats Nats: $($test),*);
    };
}

/// Which bus a contract test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    Memory,
    Nats,
}

/// A bus for one test, and the means to take it down.
#[derive(Debug)]
pub struct TestBus {
    pub kind: BusKind,
    memory: Option<MemoryBus>,
    bus: Bus,
    pub nats: Option<NatsServer>,
}

impl TestBus {
    /// A fresh bus; `None` (after a loud `SKIPPED`) for NATS without a nats-server binary.
    pub async fn start(kind: BusKind) -> Option<TestBus> {
        match kind {
            BusKind::Memory => {
                let memory = MemoryBus::new();
                Some(TestBus {
                    kind,
                    bus: Bus::new(Arc::new(memory.clone())),
                    memory: Some(memory),
                    nats: None,
                })
            }
            BusKind::Nats => {
                let server = NatsServer::start().await?;
                let bus = Bus::nats(&server.url())
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", server.url()));
                Some(TestBus {
                    kind,
                    memory: None,
                    bus,
                    nats: Some(server),
                })
            }
        }
    }

    /// The bus every party of the test shares.
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// Another handle on the same bus: for NATS a separate connection, as another process
    /// would have.
    pub async fn connect(&self) -> Bus {
        match &self.nats {
            Some(server) => Bus::nats(&server.url())
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", server.url())),
            None => self.bus.clone(),
        }
    }

    /// Takes the bus down: publishing fails until [`TestBus::outage_end`].
    pub async fn outage_begin(&mut self) {
        if let Some(memory) = &self.memory {
            memory.set_available(false);
        }
        if let Some(server) = self.nats.as_mut() {
            server.stop().await;
        }
    }

    /// Brings the bus back (NATS: the same port and store directory).
    pub async fn outage_end(&mut self) {
        if let Some(memory) = &self.memory {
            memory.set_available(true);
        }
        if let Some(server) = self.nats.as_mut() {
            server.restart().await;
        }
    }
}

/// Records and acknowledges every delivery of one consumer.
#[derive(Debug)]
pub struct Collector {
    deliveries: Arc<Mutex<Vec<(Event, u64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub fn start(bus: &Bus, consumer: &Consumer) -> Collector {
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let mut subscription = bus.subscribe(consumer);
        let seen = Arc::clone(&deliveries);
        let task = tokio::spawn(async move {
            while let Some(delivery) = subscription.next().await {
                // Acknowledged before it is visible, so that a test seeing it may stop the
                // collector without the event coming again.
                let record = (delivery.event.clone(), delivery.attempt);
                let _ = delivery.ack().await;
                lock(&seen).push(record);
            }
        });
        Collector { deliveries, task }
    }

    /// Every delivery so far, with its attempt number.
    pub fn deliveries(&self) -> Vec<(Event, u64)> {
        lock(&self.deliveries).clone()
    }

    /// The distinct events delivered so far, in first-delivery order.
    pub fn events(&self) -> Vec<Event> {
        let mut seen = HashSet::new();
        self.deliveries()
            .into_iter()
            .filter(|(e, _)| seen.insert(e.id))
            .map(|(e, _)| e)
            .collect()
    }

    /// Waits until at least `n` distinct events arrived; panics after `deadline`.
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Event> {
        eventually(&format!("{n} events"), deadline, || async {
            let events = self.events();
            (events.len() >= n).then_some(events)
        })
        .await
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wraps a bus and loses the first acknowledgement of every event: the wrapped bus delivers
/// it again after the consumer's `ack_wait`.
#[derive(Clone)]
pub struct LoseFirstAck {
    inner: Bus,
}

impl LoseFirstAck {
    pub fn wrap(inner: Bus) -> Bus {
        Bus::new(Arc::new(LoseFirstAck { inner }))
    }
}

impl EventBus for LoseFirstAck {
    fn describe(&self) -> String {
        format!("{} (losing first acks)", self.inner.describe())
    }

    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(self.inner.publish(event))
    }

    fn subscribe(&self, consumer: &Consumer) -> Subscription {
        let mut inner = self.inner.subscribe(consumer);
        let (tx, rx) = mpsc::channel(1);
        let feeder = tokio::spawn(async move {
            let mut lost = HashSet::new();
            while let Some(delivery) = inner.next().await {
                let forwarded = if lost.insert(delivery.event.id) {
                    let event = delivery.event.clone();
                    let attempt = delivery.attempt;
                    // The real delivery is dropped unacknowledged; the consumer's ack of
                    // this copy goes nowhere.
                    drop(delivery);
                    let lose = || -> BoxFuture<'static, Result<(), BusError>> {
                        Box::pin(async { Ok(()) })
                    };
                    Delivery::new(event, attempt, lose)
                } else {
                    delivery
                };
                if tx.send(forwarded).await.is_err() {
                    return;
                }
            }
        });
        Subscription::new(rx, feeder)
    }
}
