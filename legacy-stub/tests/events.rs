//! The monolith kept in sync by domain events (SPEC §10), against the memory bus and NATS
//! JetStream (a nats-server of each test's own; skipped loudly when it is not installed):
//! a redelivered event changes nothing twice, and what is done through the services shows
//! up in the stub's own reads.

use std::time::Duration;

use serde_json::{json, Value};
use service_common::events::{Bus, Consumer, Event, EventStats, EventType};
use service_common::testing::bus::{LoseFirstAck, TestBus};
use service_common::testing::{eventually, publish_acked, TestServer};

/// Generous: two noisy cores.
const DEADLINE: Duration = Duration::from_secs(60);
const CARD: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";

async fn stub(bus: Bus, ack_wait: Duration) -> TestServer {
    let options = legacy_stub::Options {
        event_bus: Some(bus),
        event_consumer: Consumer::new(legacy_stub::CONSUMER).with_ack_wait(ack_wait),
        ..Default::default()
    };
    TestServer::start(|l, s| legacy_stub::serve(l, options, s)).await
}

async fn stats(server: &TestServer) -> EventStats {
    let reply = server.get("/events/stats").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("stats ({e}): {}", reply.text()))
}

/// Waits until `path` answers the same on both servers; returns the answer.
async fn converges(stub: &TestServer, service: &TestServer, path: &str) -> Value {
    eventually(&format!("the stub's {path} to match"), DEADLINE, || async {
        let (a, b) = (stub.get(path).await, service.get(path).await);
        (a.status == 200 && b.status == 200 && a.body == b.body).then(|| b.json())
    })
    .await
}

async fn applies_each_event_once(bus: TestBus) {
    let stub = stub(LoseFirstAck::wrap(bus.bus()), Duration::from_secs(1)).await;
    let before = stub.get("/inventory/sku-3").await.json();
    let reservation = json!({
        "id": 100, "order_id": 60, "items": [{"sku": "sku-3", "qty": 2}], "status": "held"
    });
    let payment = json!({
        "id": 100, "order_id": 60, "amount": 2400, "status": "completed",
        "transaction_id": "txn-00000100", "created_at": "2026-02-01T10:00:00Z"
    });
    let publisher = bus.connect().await;
    for e in [
        Event::new(EventType::InventoryReserved, 100, reservation.clone()),
        Event::new(EventType::PaymentCompleted, 100, payment.clone()),
    ] {
        publish_acked(&publisher, &e, DEADLINE).await;
    }
    eventually("both events delivered twice", DEADLINE, || async {
        let s = stats(&stub).await;
        (s.consumed == 2 && s.duplicates == 2).then_some(())
    })
    .await;
    let after = stub.get("/inventory/sku-3").await.json();
    let count = |v: &Value, field: &str| v[field].as_u64().unwrap_or(u64::MAX);
    assert_eq!(count(&after, "reserved"), count(&before, "reserved") + 2);
    assert_eq!(count(&after, "available"), count(&before, "available") - 2);
    assert_eq!(
        stub.get("/reservations/order/60").await.json(),
        json!([reservation])
    );
    assert_eq!(stub.get("/payments/100").await.json(), payment);
}

async fn mirrors_the_services(bus: TestBus) {
    let stub = stub(bus.connect().await, Duration::from_secs(5)).await;
    let payments = {
        let options = payment_service::Options {
            event_bus: Some(bus.connect().await),
            ..Default::default()
        };
        TestServer::start(|l, s| payment_service::serve(l, options, s)).await
    };
    let inventory = {
        let options = inventory_service::Options {
            event_bus: Some(bus.connect().await),
            ..Default::default()
        };
        TestServer::start(|l, s| inventory_service::serve(l, options, s)).await
    };
    let orders = {
        let options = order_service::Options {
            inventory_url: Some(inventory.url()),
            payment_url: Some(payments.url()),
            event_bus: Some(bus.connect().await),
            ..Default::default()
        };
        TestServer::start(|l, s| order_service::serve(l, options, s)).await
    };

    let items = json!([{"sku": "sku-2", "qty": 3}, {"sku": "sku-5", "qty": 1}]);
    let placed = orders
        .post(
            "/orders",
            &json!({"customer_id": 3, "items": items, "card": CARD}).to_string(),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text());
    let order = converges(&stub, &orders, "/orders/51").await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["saga"].as_array().map(Vec::len), Some(4));
    let paid = converges(&stub, &payments, "/payments/order/51").await;
    assert_eq!(paid[0]["status"], "completed");
    let held = converges(&stub, &inventory, "/reservations/order/51").await;
    assert_eq!(held[0]["status"], "held");

    let refused = orders
        .post(
            "/orders",
            &json!({"customer_id": 4, "items": items, "card": DECLINED}).to_string(),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    let cancelled = converges(&stub, &orders, "/orders/52").await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["error"], "payment_declined");
    converges(&stub, &payments, "/payments/order/52").await;
    let released = converges(&stub, &inventory, "/reservations/order/52").await;
    assert_eq!(released[0]["status"], "released");

    // Undo order 51 through the services: refund, release, cancel.
    assert_eq!(payments.post("/payments/51/refund", "").await.status, 200);
    assert_eq!(inventory.delete("/reservations/51").await.status, 200);
    assert_eq!(orders.post("/orders/51/cancel", "").await.status, 200);
    assert_eq!(
        converges(&stub, &orders, "/orders/51").await["status"],
        "cancelled"
    );
    assert_eq!(
        converges(&stub, &payments, "/payments/51").await["status"],
        "refunded"
    );
    converges(&stub, &inventory, "/reservations/order/51").await;
    for sku in ["/inventory/sku-2", "/inventory/sku-5"] {
        converges(&stub, &inventory, sku).await;
    }

    // 51: created, confirmed, cancelled; 52: created, cancelled / 51: completed, refunded;
    // 52: declined / 51: reserved, released; 52: reserved, released.
    let expected = [(&orders, 5), (&payments, 3), (&inventory, 4)];
    for (service, published) in expected {
        let s = eventually("the outbox to drain", DEADLINE, || async {
            let s = stats(service).await;
            (s.pending == 0).then_some(s)
        })
        .await;
        assert_eq!(s.published, published, "{s:?}");
    }
    let s = stats(&stub).await;
    assert_eq!((s.consumed, s.published, s.pending), (12, 0, 0), "{s:?}");
}

service_common::on_both_buses!(applies_each_event_once, mirrors_the_services);
