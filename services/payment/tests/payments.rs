//! payment-service over real sockets: every endpoint, refunds, declines, idempotency keys and
//! bad input.

use payment_service::{serve, Options};
use serde_json::json;
use service_common::testing::{raw, BadInput, TestServer};

async fn start() -> TestServer {
    TestServer::start(|listener, shutdown| serve(listener, Options::default(), shutdown)).await
}

const CHARGE: &str = r#"{"order_id": 7, "amount": 1250, "card": "4242424242424242"}"#;

#[tokio::test]
async fn seed_payments_are_served() {
    let server = start().await;
    let one = server.get("/payments/1").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.headers["content-type"], "application/json");
    let payment = one.json();
    assert_eq!(payment["id"], 1);
    assert_eq!(payment["order_id"], 1);
    assert_eq!(payment["status"], "completed");
    assert_eq!(payment["transaction_id"], "txn-seed-0001");
    assert_eq!(payment["created_at"], "2026-01-05T09:01:00Z");
    assert_eq!(
        server.get("/payments/10").await.json()["status"],
        "refunded"
    );

    let by_order = server.get("/payments/order/1").await;
    assert_eq!(by_order.status, 200);
    assert_eq!(by_order.json(), json!([payment]));
    assert_eq!(server.get("/payments/order/999").await.json(), json!([]));
    assert_eq!(server.get("/health").await.status, 200);
}

#[tokio::test]
async fn a_charge_is_recorded_and_can_be_refunded_once() {
    let server = start().await;
    let created = server.post("/payments", CHARGE).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let payment = created.json();
    assert_eq!(payment["id"], 51);
    assert_eq!(payment["status"], "completed");
    assert_eq!(payment["amount"], 1250);
    assert!(payment["transaction_id"].is_string());
    assert!(payment["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(server.get("/payments/51").await.json(), payment);

    let by_order = server.get("/payments/order/7").await.json();
    assert_eq!(by_order.as_array().map(Vec::len), Some(2));

    let refunded = server.post("/payments/51/refund", "").await;
    assert_eq!(refunded.status, 200);
    assert_eq!(refunded.json()["status"], "refunded");
    let again = server.post("/payments/51/refund", "").await;
    assert_eq!(again.status, 200, "a refund is idempotent");
    assert_eq!(again.json()["status"], "refunded");
}

#[tokio::test]
async fn the_test_card_is_declined_with_402_and_cannot_be_refunded() {
    let server = start().await;
    let body = r#"{"order_id": 3, "amount": 500, "card": "4000000000000002"}"#;
    let declined = server.post("/payments", body).await;
    assert_eq!(declined.status, 402);
    let payment = declined.json();
    assert_eq!(payment["status"], "declined");
    assert_eq!(payment["transaction_id"], serde_json::Value::Null);
    let id = payment["id"].as_u64().unwrap_or_default();
    assert_eq!(server.get(&format!("/payments/{id}")).await.json(), payment);
    let refund = server.post(&format!("/payments/{id}/refund"), "").await;
    assert_eq!(refund.status, 409);
    assert_eq!(refund.error_kind(), "invalid_state");
}

#[tokio::test]
async fn an_idempotency_key_charges_once() {
    let server = start().await;
    let key = [("idempotency-key", "charge-abc")];
    let first = server.send("POST", "/payments", &key, CHARGE).await;
    let second = server.send("POST", "/payments", &key, CHARGE).await;
    assert_eq!(first.status, 201);
    assert_eq!((second.status, &second.body), (first.status, &first.body));
    assert_eq!(second.headers["idempotent-replayed"], "true");
    let charges = server.get("/payments/order/7").await.json();
    assert_eq!(
        charges.as_array().map(Vec::len),
        Some(2),
        "seed payment and one charge"
    );

    let other = r#"{"order_id": 7, "amount": 999, "card": "4242424242424242"}"#;
    let reused = server.send("POST", "/payments", &key, other).await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.error_kind(), "idempotency_key_reused");

    let declined = r#"{"order_id": 8, "amount": 5, "card": "4000000000000002"}"#;
    let key = [("idempotency-key", "decline-1")];
    let first = server.send("POST", "/payments", &key, declined).await;
    let second = server.send("POST", "/payments", &key, declined).await;
    assert_eq!((first.status, second.status), (402, 402));
    assert_eq!(first.body, second.body);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx() {
    let server = start().await;
    let cases: &[BadInput] = &[
        ("POST", "/payments", "{not json", 400, "malformed_json"),
        ("POST", "/payments", "", 400, "malformed_json"),
        (
            "POST",
            "/payments",
            r#"{"order_id": "7", "amount": 1, "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/payments",
            r#"{"order_id": 7, "amount": 1.5, "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/payments",
            r#"{"order_id": 7, "amount": 0, "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/payments",
            r#"{"order_id": 7, "amount": -100, "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/payments",
            r#"{"order_id": 0, "amount": 100, "card": "4242424242424242"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/payments",
            r#"{"order_id": 7, "amount": 100, "card": "abc"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/payments",
            r#"{"order_id": 7, "amount": 100}"#,
            400,
            "invalid_request",
        ),
        ("POST", "/payments", "[]", 400, "invalid_request"),
        ("GET", "/payments/999", "", 404, "not_found"),
        ("GET", "/payments/abc", "", 400, "invalid_id"),
        ("GET", "/payments/0", "", 400, "invalid_id"),
        ("GET", "/payments/-3", "", 400, "invalid_id"),
        ("GET", "/payments/order/x", "", 400, "invalid_id"),
        ("POST", "/payments/999/refund", "", 404, "not_found"),
        ("GET", "/payments", "", 405, "method_not_allowed"),
        ("DELETE", "/payments/1", "", 405, "method_not_allowed"),
        ("GET", "/payments/1/refund", "", 405, "method_not_allowed"),
        ("GET", "/payments/1/refund/extra", "", 404, "not_found"),
        ("GET", "/orders/1", "", 404, "not_found"),
    ];
    server.assert_refused(cases).await;
    let not_allowed = server.get("/payments").await;
    assert_eq!(not_allowed.headers["allow"], "POST");
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let server = start().await;
    let declared = format!(
        "POST /payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{{",
        2 * 1024 * 1024
    );
    let answer = raw(server.addr(), declared.as_bytes())
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    // No Content-Length: the limit applies while reading.
    let mut chunked =
        String::from("POST /payments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = "a".repeat(64 * 1024);
    for _ in 0..17 {
        chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    chunked.push_str("0\r\n\r\n");
    let answer = raw(server.addr(), chunked.as_bytes())
        .await
        .unwrap_or_else(|e| e);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );
}

#[tokio::test]
async fn serve_returns_after_shutdown() {
    let server = start().await;
    assert_eq!(server.get("/health").await.status, 200);
    let addr = server.addr();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), server.stop()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    assert!(
        service_common::testing::request(addr, "GET", "/health", &[], "")
            .await
            .is_err()
    );
}
