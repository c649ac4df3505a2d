//! The event envelope, `--event-bus` parsing, and the events each store records with its
//! changes (and how the stub's stores apply them).

use serde_json::{json, Value};
use service_common::domain::{LineItem, Order};
use service_common::events::{Bus, BusError, Event, EventType, Outbox};
use service_common::inventory::Inventory;
use service_common::orders::OrderBook;
use service_common::payments::{Ledger, DECLINED_CARD};

const CARD: &str = "4242424242424242";

fn types(outbox: &Outbox) -> Vec<EventType> {
    outbox.pending().iter().map(|e| e.event_type).collect()
}

#[test]
fn the_envelope_has_the_spec_fields() {
    let event = Event::new(EventType::OrderCreated, 51, json!({"id": 51}));
    let wire: Value = serde_json::from_slice(&event.to_bytes()).unwrap_or(Value::Null);
    assert_eq!(wire["type"], "order.created");
    assert_eq!(wire["aggregate_id"], "51");
    assert_eq!(wire["data"], json!({"id": 51}));
    assert_eq!(
        wire["id"].as_str().map(str::len),
        Some(36),
        "a UUID: {wire}"
    );
    assert!(wire["occurred_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(Event::from_bytes(&event.to_bytes()), Ok(event));
    assert!(matches!(
        Event::from_bytes(b"{}"),
        Err(BusError::Malformed(_))
    ));
    assert_eq!(
        EventType::PaymentRefunded.subject(),
        "events.payment.refunded"
    );
}

#[tokio::test]
async fn event_bus_settings_are_checked() {
    assert_eq!(
        Bus::from_spec("memory").await.map(|b| b.describe()),
        Ok("memory".into())
    );
    for bad in [
        "",
        "bogus",
        "nats://",
        "nats://host",
        "nats://host:port",
        "http://h:1",
    ] {
        let result = Bus::from_spec(bad).await;
        assert!(
            matches!(result, Err(BusError::InvalidSpec(_))),
            "{bad:?}: {result:?}"
        );
    }
    // A well-formed URL is accepted even with nothing listening: it connects in the background.
    let bus = Bus::from_spec("nats://127.0.0.1:1").await;
    assert_eq!(bus.map(|b| b.describe()), Ok("nats://127.0.0.1:1".into()));
}

#[test]
fn the_ledger_records_each_change_once() {
    let outbox = Outbox::new();
    let mut ledger = Ledger::seeded().with_outbox(outbox.clone());
    let paid = ledger.charge(7, 100, CARD);
    ledger.charge(8, 100, DECLINED_CARD);
    assert!(ledger.refund(paid.id).is_ok());
    assert!(ledger.refund(paid.id).is_ok(), "refunding twice is fine");
    use EventType::*;
    assert_eq!(
        types(&outbox),
        [PaymentCompleted, PaymentDeclined, PaymentRefunded]
    );
    assert_eq!(outbox.pending()[2].data["status"], "refunded");
    assert_eq!(outbox.stats().pending, 3);
}

#[test]
fn the_inventory_records_and_applies_reservations() {
    let outbox = Outbox::new();
    let mut inventory = Inventory::seeded().with_outbox(outbox.clone());
    let line = LineItem {
        sku: "sku-4".into(),
        qty: 3,
    };
    let held = inventory
        .reserve(60, vec![line])
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(inventory.release(held.id).is_ok());
    assert!(inventory.release(held.id).is_ok());
    use EventType::*;
    assert_eq!(types(&outbox), [InventoryReserved, InventoryReleased]);

    // The stub's side: the same changes, applied twice each, move its stock once.
    let mut stub = Inventory::seeded();
    let before = stub.item("sku-4").cloned();
    for event in outbox.pending().iter().take(1) {
        let reservation =
            serde_json::from_value(event.data.clone()).unwrap_or_else(|e| panic!("{e}"));
        stub.apply(reservation);
        let reservation =
            serde_json::from_value(event.data.clone()).unwrap_or_else(|e| panic!("{e}"));
        stub.apply(reservation);
    }
    let reserved = |inv: &Inventory| inv.item("sku-4").map(|i| i.reserved);
    assert_eq!(reserved(&stub), before.as_ref().map(|i| i.reserved + 3));
    let released =
        serde_json::from_value(outbox.pending()[1].data.clone()).unwrap_or_else(|e| panic!("{e}"));
    stub.apply(released);
    assert_eq!(stub.item("sku-4"), before.as_ref());
    assert_eq!(stub.for_order(60), inventory.for_order(60));
}

#[test]
fn orders_round_trip_through_events() {
    let outbox = Outbox::new();
    let mut book = OrderBook::seeded().with_outbox(outbox.clone());
    let line = LineItem {
        sku: "sku-1".into(),
        qty: 2,
    };
    let order = book.create(3, &[line]);
    assert!(book.cancel(order.id).is_ok());
    assert!(
        book.cancel(order.id).is_ok(),
        "cancelling twice changes nothing"
    );
    use EventType::*;
    assert_eq!(types(&outbox), [OrderCreated, OrderCancelled]);

    let mut stub = OrderBook::seeded();
    for event in outbox.pending() {
        let order: Order = serde_json::from_value(event.data).unwrap_or_else(|e| panic!("{e}"));
        stub.apply(order);
    }
    assert_eq!(stub.get(order.id), book.get(order.id));
    assert_eq!(
        stub.create(1, &[]).id,
        order.id + 1,
        "ids continue after applied ones"
    );

    let mut seeded: Value = serde_json::to_value(book.get(1)).unwrap_or(Value::Null);
    seeded["saga"] = json!([{"step": "teleport", "status": "done", "error": null}]);
    assert!(
        serde_json::from_value::<Order>(seeded).is_err(),
        "unknown saga steps are refused"
    );
}
