//! The fulfillment saga against real payment- and inventory-services on port 0 (SPEC §9):
//! success, business refusals, a peer down, a lost answer and a failed compensation.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use order_service::{Backoff, Options, PeerPolicy};
use serde_json::{json, Value};
use service_common::http::{bytes_response, read_body, HttpResponse};
use service_common::testing::{dead_addr, request, TestServer};

const CARD: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";

fn fast_retry() -> Backoff {
    Backoff {
        attempts: 3,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn options(inventory: String, payment: String) -> Options {
    Options {
        inventory_url: Some(inventory),
        payment_url: Some(payment),
        peer_policy: PeerPolicy {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
            retry: fast_retry(),
            breaker_threshold: 5,
            breaker_recovery: Duration::from_secs(60),
        },
        compensation_retry: fast_retry(),
        ..Options::default()
    }
}

async fn inventory() -> TestServer {
    TestServer::start(|l, s| inventory_service::serve(l, inventory_service::Options::default(), s))
        .await
}

async fn payments() -> TestServer {
    TestServer::start(|l, s| payment_service::serve(l, payment_service::Options::default(), s))
        .await
}

async fn orders(options: Options) -> TestServer {
    TestServer::start(|l, s| order_service::serve(l, options, s)).await
}

fn order_body(sku: &str, qty: i64, card: &str) -> String {
    json!({ "customer_id": 4, "items": [{ "sku": sku, "qty": qty }], "card": card }).to_string()
}

async fn available(inventory: &TestServer, sku: &str) -> i64 {
    inventory.get(&format!("/inventory/{sku}")).await.json()["available"]
        .as_i64()
        .unwrap_or(-1)
}

/// `(step, status)` of each saga entry.
fn steps(order: &Value) -> Vec<(String, String)> {
    let field = |s: &Value, k: &str| s[k].as_str().unwrap_or_default().to_owned();
    order["saga"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| (field(s, "step"), field(s, "status")))
                .collect()
        })
        .unwrap_or_default()
}

fn step(name: &str, status: &str) -> (String, String) {
    (name.to_owned(), status.to_owned())
}

#[tokio::test]
async fn a_confirmed_order_moves_stock_and_takes_payment() {
    let (inv, pay) = (inventory().await, payments().await);
    let svc = orders(options(inv.url(), pay.url())).await;
    let before = available(&inv, "sku-8").await;

    let placed = svc.post("/orders", &order_body("sku-8", 3, CARD)).await;
    assert_eq!(placed.status, 201, "{}", placed.text());
    let order = placed.json();
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["total"], 3 * 2990);
    assert!(order.get("error").is_none());
    let all_done = [
        "create_order",
        "reserve_inventory",
        "process_payment",
        "confirm_order",
    ]
    .map(|s| step(s, "done"));
    assert_eq!(steps(&order), all_done);
    assert_eq!(order["saga"][0]["error"], Value::Null);

    assert_eq!(available(&inv, "sku-8").await, before - 3);
    let held = inv.get("/reservations/order/51").await.json();
    assert_eq!(held[0]["status"], "held");
    let charged = pay.get("/payments/order/51").await.json();
    assert_eq!(charged.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (charged[0]["amount"].clone(), charged[0]["status"].clone()),
        (json!(8970), json!("completed"))
    );
    assert_eq!(svc.get("/orders/51").await.json(), order);
}

#[tokio::test]
async fn a_declined_card_releases_the_reservation_and_cancels_the_order() {
    let (inv, pay) = (inventory().await, payments().await);
    let svc = orders(options(inv.url(), pay.url())).await;
    let before = available(&inv, "sku-9").await;

    let placed = svc.post("/orders", &order_body("sku-9", 2, DECLINED)).await;
    assert_eq!(placed.status, 409, "{}", placed.text());
    let order = placed.json();
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["error"], "payment_declined");
    assert_eq!(
        steps(&order),
        [
            step("create_order", "compensated"),
            step("reserve_inventory", "compensated"),
            step("process_payment", "failed"),
        ]
    );
    assert!(order["saga"][2]["error"]
        .as_str()
        .is_some_and(|e| e.contains("declined")));
    assert_eq!(available(&inv, "sku-9").await, before, "stock is back");
    assert_eq!(
        inv.get("/reservations/order/51").await.json()[0]["status"],
        "released"
    );
    assert_eq!(
        pay.get("/payments/order/51").await.json()[0]["status"],
        "declined"
    );
    assert_eq!(svc.get("/orders/51").await.json(), order);
}

#[tokio::test]
async fn too_large_a_quantity_takes_no_payment() {
    let (inv, pay) = (inventory().await, payments().await);
    let svc = orders(options(inv.url(), pay.url())).await;
    let before = available(&inv, "sku-10").await;

    let placed = svc
        .post("/orders", &order_body("sku-10", before + 1, CARD))
        .await;
    assert_eq!(placed.status, 409);
    let order = placed.json();
    assert_eq!(order["error"], "insufficient_stock");
    assert_eq!(
        steps(&order),
        [
            step("create_order", "compensated"),
            step("reserve_inventory", "failed")
        ]
    );
    assert_eq!(pay.get("/payments/order/51").await.json(), json!([]));
    assert_eq!(available(&inv, "sku-10").await, before);
}

#[tokio::test]
async fn a_payment_outage_is_compensated_and_opens_the_breaker() {
    let inv = inventory().await;
    let down = format!("http://{}", dead_addr().await);
    let svc = orders(options(inv.url(), down)).await;
    let before = available(&inv, "sku-11").await;

    let mut errors = Vec::new();
    for _ in 0..3 {
        let placed = svc.post("/orders", &order_body("sku-11", 1, CARD)).await;
        assert_eq!(placed.status, 409, "{}", placed.text());
        let order = placed.json();
        assert_eq!(order["status"], "cancelled");
        assert_eq!(
            order["saga"][1],
            json!({"step": "reserve_inventory", "status": "compensated", "error": null})
        );
        assert_eq!(order["saga"][2]["status"], "failed");
        errors.push(order["error"].as_str().unwrap_or_default().to_owned());
    }
    // 3 tries per order, breaker threshold 5: the second order opens it, the third fails fast.
    assert_eq!(errors, ["peer_unavailable", "circuit_open", "circuit_open"]);
    assert_eq!(
        available(&inv, "sku-11").await,
        before,
        "every reservation was released"
    );
    let health = svc.get("/health").await.json();
    assert_eq!(health["peers"]["payment"]["breaker"], "open");
    assert_eq!(health["peers"]["inventory"]["breaker"], "closed");
}

/// A stand-in for a peer: forwards to `upstream`, but `fault` may answer instead.
async fn faulty_proxy(
    upstream: SocketAddr,
    fault: impl Fn(&Request<Incoming>, usize) -> Fault + Send + Sync + 'static,
) -> TestServer {
    let seen = Arc::new(AtomicUsize::new(0));
    let fault = Arc::new(fault);
    let handler = move |req: Request<Incoming>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let fault = fault(&req, n);
        async move { forward(upstream, req, fault).await }
    };
    TestServer::start(|l, s| {
        service_common::server::serve("faulty-proxy", l, Duration::from_secs(1), handler, s)
    })
    .await
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Forward, then answer 502 as if the answer had been lost.
    LoseAnswer,
    /// Answer 503 without forwarding.
    Unavailable,
}

async fn forward(upstream: SocketAddr, req: Request<Incoming>, fault: Fault) -> HttpResponse {
    let unavailable = || bytes_response(StatusCode::SERVICE_UNAVAILABLE, "{}".into());
    if fault == Fault::Unavailable {
        return unavailable();
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = read_body(&parts.headers, body).await else {
        return unavailable();
    };
    let key = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok());
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    let path = parts.uri.path();
    match request(upstream, parts.method.as_str(), path, &headers, body).await {
        Ok(_) if fault == Fault::LoseAnswer => bytes_response(StatusCode::BAD_GATEWAY, "{}".into()),
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
            bytes_response(status, reply.body)
        }
        Err(_) => unavailable(),
    }
}

#[tokio::test]
async fn a_lost_payment_answer_is_retried_with_the_same_key_and_charges_once() {
    let (inv, pay) = (inventory().await, payments().await);
    let proxy = faulty_proxy(pay.addr(), |req, n| {
        if n == 0 && req.uri().path() == "/payments" {
            Fault::LoseAnswer
        } else {
            Fault::None
        }
    })
    .await;
    let svc = orders(options(inv.url(), proxy.url())).await;

    let placed = svc.post("/orders", &order_body("sku-12", 1, CARD)).await;
    assert_eq!(placed.status, 201, "{}", placed.text());
    let charges = pay.get("/payments/order/51").await.json();
    assert_eq!(
        charges.as_array().map(Vec::len),
        Some(1),
        "one charge: {charges}"
    );
}

#[tokio::test]
async fn a_failed_compensation_is_recorded_not_dropped() {
    let (inv, pay) = (inventory().await, payments().await);
    let proxy = faulty_proxy(inv.addr(), |req, _| {
        if req.method() == hyper::Method::DELETE {
            Fault::Unavailable
        } else {
            Fault::None
        }
    })
    .await;
    let svc = orders(options(proxy.url(), pay.url())).await;

    let placed = svc
        .post("/orders", &order_body("sku-13", 1, DECLINED))
        .await;
    assert_eq!(placed.status, 409, "{}", placed.text());
    let order = placed.json();
    assert_eq!(order["status"], "cancelled");
    assert_eq!(
        steps(&order),
        [
            step("create_order", "compensated"),
            step("reserve_inventory", "compensation_failed"),
            step("process_payment", "failed"),
        ]
    );
    let error = order["saga"][1]["error"].as_str().unwrap_or_default();
    assert!(error.contains("inventory-service"), "{error}");
    assert_eq!(
        svc.get("/orders/51").await.json(),
        order,
        "the failure is on the order"
    );
    assert_eq!(
        inv.get("/reservations/order/51").await.json()[0]["status"],
        "held"
    );
}

#[tokio::test]
async fn a_bad_peer_url_is_refused_at_start() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok();
    let Some(listener) = listener else { return };
    let options = Options {
        inventory_url: Some("ftp://example".to_owned()),
        ..Options::default()
    };
    let result = order_service::serve(listener, options, std::future::pending()).await;
    assert!(result.is_err_and(|e| e.to_string().contains("http://")));
}
