//! The event-bus contract (SPEC §10), run against the memory bus and against NATS
//! JetStream (a nats-server of each test's own; skipped loudly when it is not installed):
//! delivery, order per aggregate, redelivery of what is not acknowledged, and an outage of
//! the bus while a service publishes through its outbox.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use service_common::events::{
    Consumer, Delivery, Event, EventType, Outbox, RelayPolicy, Subscription,
};
use service_common::testing::bus::{Collector, TestBus};
use service_common::testing::{eventually, publish_acked};

/// Generous: two noisy cores, and a broker restart in the outage test.
const DEADLINE: Duration = Duration::from_secs(60);

fn event(event_type: EventType, aggregate: u64, seq: u64) -> Event {
    Event::new(
        event_type,
        aggregate,
        json!({ "id": aggregate, "seq": seq }),
    )
}

/// The `seq` of each event, in the order received.
fn seqs(received: &[Event]) -> Vec<u64> {
    received
        .iter()
        .filter_map(|e| e.data["seq"].as_u64())
        .collect()
}

fn fast_relay() -> RelayPolicy {
    let mut policy = RelayPolicy::default();
    policy.retry.first_delay = Duration::from_millis(20);
    policy.retry.max_delay = Duration::from_millis(500);
    policy
}

async fn publishes_and_delivers(bus: TestBus) {
    let published: Vec<Event> = EventType::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| event(*t, i as u64 + 1, 0))
        .collect();
    for e in &published {
        publish_acked(&bus.bus(), e, DEADLINE).await;
    }
    let consumer = Consumer::new("contract");
    let collector = Collector::start(&bus.bus(), &consumer);
    let received = collector.wait_for(published.len(), DEADLINE).await;
    assert_eq!(received, published, "every event, intact, in order");
    assert!(collector
        .deliveries()
        .iter()
        .all(|(_, attempt)| *attempt == 1));
    drop(collector);

    // The consumer is durable: subscribing again resumes after what it acknowledged.
    let later = event(EventType::OrderCreated, 99, 0);
    publish_acked(&bus.bus(), &later, DEADLINE).await;
    let collector = Collector::start(&bus.bus(), &consumer);
    let received = collector.wait_for(1, DEADLINE).await;
    assert_eq!(
        received[0], later,
        "acknowledged events are not delivered again"
    );
}

async fn keeps_order_per_aggregate(bus: TestBus) {
    let outbox = Outbox::new();
    let _relay = outbox.spawn_relay(bus.bus(), fast_relay());
    let collector = Collector::start(&bus.connect().await, &Consumer::new("ordered"));
    let total = 80;
    for seq in 0..total {
        let aggregate = seq % 4 + 1;
        outbox.record(event(EventType::PaymentCompleted, aggregate, seq));
    }
    let received = collector.wait_for(total as usize, DEADLINE).await;
    let mut last: HashMap<String, u64> = HashMap::new();
    for e in &received {
        let seq = e.data["seq"].as_u64().unwrap_or(u64::MAX);
        if let Some(previous) = last.insert(e.aggregate_id.clone(), seq) {
            assert!(
                previous < seq,
                "aggregate {}: {seq} after {previous}",
                e.aggregate_id
            );
        }
    }
    assert_eq!(
        seqs(&received),
        (0..total).collect::<Vec<_>>(),
        "the outbox's order overall"
    );
    assert_eq!(outbox.stats().published, total);
    assert_eq!(outbox.stats().pending, 0);
}

async fn redelivers_what_is_not_acknowledged(bus: TestBus) {
    let first = event(EventType::InventoryReserved, 7, 1);
    let second = event(EventType::InventoryReleased, 7, 2);
    for e in [&first, &second] {
        publish_acked(&bus.bus(), e, DEADLINE).await;
    }
    let consumer = Consumer::new("forgetful").with_ack_wait(Duration::from_secs(1));
    let mut subscription = bus.bus().subscribe(&consumer);
    let delivery = next(&mut subscription, "the first delivery").await;
    assert_eq!((delivery.event.id, delivery.attempt), (first.id, 1));
    drop(delivery); // not acknowledged

    let again = next(&mut subscription, "a redelivery").await;
    assert_eq!(
        again.event.id, first.id,
        "the unacknowledged event comes first, again"
    );
    assert!(again.redelivered(), "attempt {}", again.attempt);
    again.ack().await.unwrap_or_else(|e| panic!("ack: {e}"));

    let then = next(&mut subscription, "the second event").await;
    assert_eq!((then.event.id, then.attempt), (second.id, 1));
}

async fn next(subscription: &mut Subscription, what: &str) -> Delivery {
    tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no {what} within {DEADLINE:?}"))
}

async fn an_outage_delays_events_and_loses_none(mut bus: TestBus) {
    let outbox = Outbox::new();
    let _relay = outbox.spawn_relay(bus.bus(), fast_relay());
    // An ack in flight when the broker dies is lost; the event then comes again after the
    // ack wait (and is a duplicate to the consumer), so keep that wait short here.
    let consumer = Consumer::new("patient").with_ack_wait(Duration::from_secs(2));
    let collector = Collector::start(&bus.connect().await, &consumer);
    for seq in 0..3 {
        outbox.record(event(EventType::OrderCreated, seq + 1, seq));
    }
    collector.wait_for(3, DEADLINE).await;

    bus.outage_begin().await;
    for seq in 3..10 {
        outbox.record(event(EventType::OrderConfirmed, seq % 3 + 1, seq));
    }
    assert_eq!(outbox.stats().pending, 7, "held while the bus is down");
    assert_eq!(outbox.stats().published, 3);
    bus.outage_end().await;

    let received = collector.wait_for(10, DEADLINE).await;
    assert_eq!(
        seqs(&received),
        (0..10).collect::<Vec<_>>(),
        "none lost, none reordered"
    );
    eventually("the outbox to drain", DEADLINE, || async {
        (outbox.stats().pending == 0).then_some(())
    })
    .await;
    assert_eq!(outbox.stats().published, 10);
}

service_common::on_both_buses!(
    publishes_and_delivers,
    keeps_order_per_aggregate,
    redelivers_what_is_not_acknowledged,
    an_outage_delays_events_and_loses_none,
);
