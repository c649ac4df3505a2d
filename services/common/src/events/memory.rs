//! The in-process event bus: a log in memory, durable consumers as cursors into it.
//!
//! ```text
//! publish ──> log (VecDeque, last `capacity` events) ──> one feeder task per subscription
//!                                     cursors["legacy-stub"] = next position to deliver
//! ```
//!
//! Like JetStream with `max_ack_pending = 1`, a consumer gets one event at a time, in
//! publication order; the cursor moves on only when the delivery is acknowledged, and an
//! unacknowledged delivery comes again after the consumer's `ack_wait`. A consumer that
//! subscribes again resumes at its cursor. [`MemoryBus::set_available`] simulates an outage:
//! while off, publishing fails, as it would with a broker that is down.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{BoxFuture, BusError, Consumer, Delivery, Event, EventBus, Subscription};
use crate::lock;

/// How many events the log keeps by default; older ones are dropped, like a stream's limit.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// An in-process bus; clones share the log.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// How many events were ever appended: wakes the feeders.
    appended: watch::Sender<u64>,
    available: AtomicBool,
}

#[derive(Debug)]
struct State {
    log: VecDeque<Event>,
    /// The position of `log[0]`.
    base: u64,
    cursors: HashMap<String, u64>,
    capacity: usize,
}

impl Default for MemoryBus {
    fn default() -> Self {
        MemoryBus::new()
    }
}

impl MemoryBus {
    pub fn new() -> Self {
        MemoryBus::with_capacity(DEFAULT_CAPACITY)
    }

    /// A bus keeping at most `capacity` events.
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryBus {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    log: VecDeque::new(),
                    base: 0,
                    cursors: HashMap::new(),
                    capacity: capacity.max(1),
                }),
                appended: watch::Sender::new(0),
                available: AtomicBool::new(true),
            }),
        }
    }

    /// Switches the bus on or off; while off, [`EventBus::publish`] fails.
    pub fn set_available(&self, available: bool) {
        self.shared.available.store(available, Ordering::SeqCst);
    }

    /// Every event still in the log, oldest first.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.shared.state).log.iter().cloned().collect()
    }

    fn append(&self, event: &Event) -> Result<(), BusError> {
        if !self.shared.available.load(Ordering::SeqCst) {
            return Err(BusError::Unavailable(
                "the memory bus is switched off".into(),
            ));
        }
        let mut state = lock(&self.shared.state);
        state.log.push_back(event.clone());
        while state.log.len() > state.capacity {
            state.log.pop_front();
            state.base += 1;
        }
        let end = state.base + state.log.len() as u64;
        drop(state);
        self.shared.appended.send_replace(end);
        Ok(())
    }
}

impl Shared {
    /// The consumer's next position and the event there, if it has been published.
    fn next_for(&self, name: &str) -> (u64, Option<Event>) {
        let state = lock(&self.state);
        let cursor = state
            .cursors
            .get(name)
            .copied()
            .unwrap_or(0)
            .max(state.base);
        let index = usize::try_from(cursor - state.base).unwrap_or(usize::MAX);
        (cursor, state.log.get(index).cloned())
    }

    fn advance(&self, name: &str, past: u64) {
        let mut state = lock(&self.state);
        let cursor = state.cursors.entry(name.to_owned()).or_insert(0);
        *cursor = (*cursor).max(past + 1);
    }
}

impl EventBus for MemoryBus {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), BusError>> {
        let result = self.append(event);
        Box::pin(async move { result })
    }

    fn subscribe(&self, consumer: &Consumer) -> Subscription {
        let (tx, rx) = mpsc::channel(1);
        let feeder = tokio::spawn(feed(Arc::clone(&self.shared), consumer.clone(), tx));
        Subscription::new(rx, feeder)
    }
}

/// Delivers the consumer's events one at a time until the subscription is dropped.
async fn feed(shared: Arc<Shared>, consumer: Consumer, tx: mpsc::Sender<Delivery>) {
    let mut appended = shared.appended.subscribe();
    let mut last: Option<(u64, u64)> = None;
    loop {
        let (position, event) = shared.next_for(&consumer.name);
        let Some(event) = event else {
            if appended.wait_for(|end| *end > position).await.is_err() {
                return;
            }
            continue;
        };
        let attempt = match last {
            Some((at, attempt)) if at == position => attempt + 1,
            _ => 1,
        };
        last = Some((position, attempt));
        let (ack_tx, ack_rx) = oneshot::channel::<()>();
        let acker = move || -> BoxFuture<'static, Result<(), BusError>> {
            // A late ack finds the receiver gone: the event is redelivered, as on JetStream.
            let _ = ack_tx.send(());
            Box::pin(async { Ok(()) })
        };
        if tx.send(Delivery::new(event, attempt, acker)).await.is_err() {
            return;
        }
        let deadline = Instant::now() + consumer.ack_wait;
        match tokio::time::timeout_at(deadline, ack_rx).await {
            Ok(Ok(())) => shared.advance(&consumer.name, position),
            // Dropped unacknowledged: redeliver when the ack wait is over, not before.
            Ok(Err(_)) => tokio::time::sleep_until(deadline).await,
            Err(_) => {}
        }
    }
}
