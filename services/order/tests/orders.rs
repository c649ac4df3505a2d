//! order-service over real sockets: the order book's endpoints, bad input, and placing an
//! order with no peers configured.

use order_service::{serve, Options};
use service_common::testing::{BadInput, TestServer};

async fn start() -> TestServer {
    TestServer::start(|listener, shutdown| serve(listener, Options::default(), shutdown)).await
}

#[tokio::test]
async fn seed_orders_are_listed_and_served() {
    let server = start().await;
    let list = server.get("/orders").await;
    assert_eq!(list.status, 200);
    let list = list.json();
    let ids: Vec<u64> = list
        .as_array()
        .map(|orders| orders.iter().filter_map(|o| o["id"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids, (1..=50).collect::<Vec<u64>>());

    let one = server.get("/orders/1").await;
    assert_eq!(one.status, 200);
    let order = one.json();
    assert_eq!(order, list[0]);
    assert_eq!(order["customer_id"], 1);
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["created_at"], "2026-01-05T09:00:00Z");
    assert_eq!(order["items"][0]["sku"], "sku-1");
    assert_eq!(order["total"], 2 * 2450);
    assert!(order.get("saga").is_none(), "seed orders carry no saga");
    assert!(order.get("error").is_none());
    assert_eq!(server.get("/orders/7").await.json()["status"], "pending");
    assert_eq!(server.get("/orders/10").await.json()["status"], "cancelled");
    assert_eq!(server.get("/health").await.status, 200);
}

#[tokio::test]
async fn cancelling_an_order_is_idempotent() {
    let server = start().await;
    let cancelled = server.post("/orders/2/cancel", "").await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(server.get("/orders/2").await.json()["status"], "cancelled");
    let again = server.post("/orders/2/cancel", "").await;
    assert_eq!((again.status, again.body), (200, cancelled.body));
}

#[tokio::test]
async fn without_peers_an_order_is_recorded_cancelled_with_503() {
    let server = start().await;
    let body =
        r#"{"customer_id": 3, "items": [{"sku": "sku-2", "qty": 1}], "card": "4242424242424242"}"#;
    let placed = server.post("/orders", body).await;
    assert_eq!(placed.status, 503, "{}", placed.text());
    let order = placed.json();
    assert_eq!(order["id"], 51);
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["error"], "peer_not_configured");
    assert_eq!(order["total"], 5900);
    assert_eq!(order["saga"][0]["step"], "create_order");
    assert_eq!(order["saga"][0]["status"], "compensated");
    assert_eq!(order["saga"][1]["step"], "reserve_inventory");
    assert_eq!(order["saga"][1]["status"], "failed");
    assert_eq!(server.get("/orders/51").await.json(), order);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx() {
    let server = start().await;
    let cases: &[BadInput] = &[
        ("POST", "/orders", "nope", 400, "malformed_json"),
        (
            "POST",
            "/orders",
            r#"{"customer_id": "1", "items": [], "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id": 1, "items": [], "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id": 1, "items": [{"sku": "sku-1", "qty": 0}], "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id": 1, "items": [{"sku": "sku-1", "qty": -1}], "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id": 1, "items": [{"sku": "sku-0", "qty": 1}], "card": "4242424242424242"}"#,
            422,
            "unknown_sku",
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id": 11, "items": [{"sku": "sku-1", "qty": 1}], "card": "4242424242424242"}"#,
            422,
            "unknown_customer",
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id": 1, "items": [{"sku": "sku-1", "qty": 1}]}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id": 1, "items": [{"sku": "sku-1", "qty": 1}], "card": "x"}"#,
            400,
            "invalid_request",
        ),
        ("GET", "/orders/51", "", 404, "not_found"),
        ("GET", "/orders/one", "", 400, "invalid_id"),
        ("POST", "/orders/999/cancel", "", 404, "not_found"),
        ("GET", "/orders/1/cancel", "", 405, "method_not_allowed"),
        ("DELETE", "/orders", "", 405, "method_not_allowed"),
        ("PUT", "/orders/1", "", 405, "method_not_allowed"),
        ("GET", "/customers/1", "", 404, "not_found"),
    ];
    server.assert_refused(cases).await;
    assert_eq!(
        server.get("/orders/51").await.status,
        404,
        "no order was created"
    );
}
