//! inventory-service over real sockets: stock, reservations moving stock and back,
//! idempotency keys and bad input.

use inventory_service::{serve, Options};
use serde_json::{json, Value};
use service_common::testing::{BadInput, TestServer};

async fn start() -> TestServer {
    TestServer::start(|listener, shutdown| serve(listener, Options::default(), shutdown)).await
}

async fn stock(server: &TestServer, sku: &str) -> (i64, i64) {
    let item = server.get(&format!("/inventory/{sku}")).await.json();
    (
        item["available"].as_i64().unwrap_or(-1),
        item["reserved"].as_i64().unwrap_or(-1),
    )
}

#[tokio::test]
async fn seed_stock_and_reservations_are_served() {
    let server = start().await;
    let item = server.get("/inventory/sku-1").await;
    assert_eq!(item.status, 200);
    let item = item.json();
    assert_eq!(item["sku"], "sku-1");
    assert_eq!(item["name"], "Espresso beans 1 kg");
    assert_eq!(item["price"], 2450);
    assert!(item["available"].as_i64().is_some_and(|n| n > 0));
    assert!(item["reserved"].as_i64().is_some_and(|n| n > 0));

    let held = server.get("/reservations/order/1").await;
    assert_eq!(held.status, 200);
    assert_eq!(
        held.json(),
        json!([{"id": 1, "order_id": 1, "items": [{"sku": "sku-1", "qty": 2}], "status": "held"}])
    );
    let released = server.get("/reservations/order/10").await.json();
    assert_eq!(released[0]["status"], "released");
    assert_eq!(
        server.get("/reservations/order/999").await.json(),
        json!([])
    );
    assert_eq!(server.get("/health").await.status, 200);
}

#[tokio::test]
async fn reserving_moves_stock_and_releasing_moves_it_back() {
    let server = start().await;
    let before = stock(&server, "sku-3").await;
    let body =
        r#"{"order_id": 77, "items": [{"sku": "sku-3", "qty": 2}, {"sku": "sku-3", "qty": 1}]}"#;
    let created = server.post("/reservations", body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let reservation = created.json();
    assert_eq!(reservation["id"], 51);
    assert_eq!(reservation["status"], "held");
    assert_eq!(stock(&server, "sku-3").await, (before.0 - 3, before.1 + 3));
    assert_eq!(
        server.get("/reservations/order/77").await.json(),
        json!([reservation])
    );

    let released = server.delete("/reservations/51").await;
    assert_eq!(released.status, 200);
    assert_eq!(released.json()["status"], "released");
    assert_eq!(stock(&server, "sku-3").await, before);

    let again = server.delete("/reservations/51").await;
    assert_eq!(again.status, 200, "releasing twice is harmless");
    assert_eq!(
        stock(&server, "sku-3").await,
        before,
        "and returns nothing twice"
    );
}

#[tokio::test]
async fn more_than_available_is_refused_with_409_and_changes_nothing() {
    let server = start().await;
    let before = stock(&server, "sku-2").await;
    let too_many = before.0 + 1;
    let body = format!(
        r#"{{"order_id": 5, "items": [{{"sku": "sku-1", "qty": 1}}, {{"sku": "sku-2", "qty": {too_many}}}]}}"#
    );
    let refused = server.post("/reservations", &body).await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.error_kind(), "insufficient_stock");
    assert_eq!(stock(&server, "sku-2").await, before);

    let exact = format!(
        r#"{{"order_id": 5, "items": [{{"sku": "sku-2", "qty": {}}}]}}"#,
        before.0
    );
    assert_eq!(server.post("/reservations", &exact).await.status, 201);
    assert_eq!(stock(&server, "sku-2").await, (0, before.1 + before.0));
}

#[tokio::test]
async fn an_idempotency_key_reserves_once() {
    let server = start().await;
    let before = stock(&server, "sku-4").await;
    let body = r#"{"order_id": 90, "items": [{"sku": "sku-4", "qty": 2}]}"#;
    let key = [("idempotency-key", "reserve-90")];
    let first = server.send("POST", "/reservations", &key, body).await;
    let second = server.send("POST", "/reservations", &key, body).await;
    assert_eq!(first.status, 201);
    assert_eq!((second.status, &second.body), (201, &first.body));
    assert_eq!(stock(&server, "sku-4").await, (before.0 - 2, before.1 + 2));
    let reservations: Value = server.get("/reservations/order/90").await.json();
    assert_eq!(reservations.as_array().map(Vec::len), Some(1));

    let other = r#"{"order_id": 90, "items": [{"sku": "sku-4", "qty": 1}]}"#;
    let reused = server.send("POST", "/reservations", &key, other).await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.error_kind(), "idempotency_key_reused");
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx() {
    let server = start().await;
    let cases: &[BadInput] = &[
        ("POST", "/reservations", "{", 400, "malformed_json"),
        (
            "POST",
            "/reservations",
            r#"{"order_id": 1, "items": "sku-1"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/reservations",
            r#"{"order_id": 1, "items": []}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/reservations",
            r#"{"order_id": 1, "items": [{"sku": "sku-1", "qty": 0}]}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/reservations",
            r#"{"order_id": 1, "items": [{"sku": "sku-1", "qty": -2}]}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/reservations",
            r#"{"order_id": 1, "items": [{"sku": "sku-1", "qty": "2"}]}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/reservations",
            r#"{"order_id": 1, "items": [{"sku": 1, "qty": 2}]}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/reservations",
            r#"{"order_id": 1, "items": [{"sku": "sku-99", "qty": 1}]}"#,
            422,
            "unknown_sku",
        ),
        (
            "POST",
            "/reservations",
            r#"{"order_id": -1, "items": [{"sku": "sku-1", "qty": 1}]}"#,
            400,
            "invalid_request",
        ),
        ("GET", "/inventory/sku-99", "", 404, "not_found"),
        ("GET", "/inventory", "", 404, "not_found"),
        ("POST", "/inventory/sku-1", "", 405, "method_not_allowed"),
        ("DELETE", "/reservations/999", "", 404, "not_found"),
        ("DELETE", "/reservations/x", "", 400, "invalid_id"),
        ("GET", "/reservations/1", "", 405, "method_not_allowed"),
        ("GET", "/reservations", "", 405, "method_not_allowed"),
        ("GET", "/reservations/order/zero", "", 400, "invalid_id"),
        ("GET", "/payments/1", "", 404, "not_found"),
    ];
    server.assert_refused(cases).await;
    let bad_key = [("idempotency-key", "")];
    let body = r#"{"order_id": 1, "items": [{"sku": "sku-1", "qty": 1}]}"#;
    let reply = server.send("POST", "/reservations", &bad_key, body).await;
    assert_eq!(
        (reply.status, reply.error_kind().as_str()),
        (400, "invalid_request")
    );
}
