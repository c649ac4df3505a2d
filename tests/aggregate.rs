//! Aggregate routes: parts fetched concurrently, captures substituted,
//! optional failures listed under "errors", a required failure answering.

mod support;
use std::time::{Duration, Instant};
use support::*;

fn config(order: &str, payment: &str, inventory: &str) -> String {
    format!(
        r#"listen: 127.0.0.1:0
upstreams:
  order: {{ url: {order}, timeout: 3s }}
  payment: {{ url: {payment}, timeout: 3s }}
  inventory: {{ url: {inventory}, timeout: 3s }}
routes:
  - name: summary
    match: {{ path: "/orders/{{id}}/summary", methods: [GET] }}
    aggregate:
      order:     {{ upstream: order,     path: "/orders/{{id}}", required: true }}
      payment:   {{ upstream: payment,   path: "/payments/order/{{id}}" }}
      inventory: {{ upstream: inventory, path: "/reservations/order/{{id}}" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_fetched_concurrently_with_captures_substituted() {
    let slow = Duration::from_millis(1000);
    let order = upstream().body(r#"{"id":7}"#).delay(slow).spawn().await;
    let payment = upstream()
        .body(r#"[{"amount":5}]"#)
        .delay(slow)
        .spawn()
        .await;
    let inventory = upstream().body(r#"[]"#).delay(slow).spawn().await;
    let p = spawn_proxy(&config(&order.url(), &payment.url(), &inventory.url()));
    let t = Instant::now();
    let r = get(&p.url("/orders/7/summary")).await;
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"order": {"id": 7}, "payment": [{"amount": 5}], "inventory": [], "errors": {}})
    );
    assert_eq!(order.last().target, "/orders/7");
    assert_eq!(payment.last().target, "/payments/order/7");
    assert_eq!(inventory.last().target, "/reservations/order/7");
    // Three 1 s parts one after another would take 3 s.
    assert!(
        took < Duration::from_millis(2500),
        "parts ran one after another: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_optional_part_is_listed_under_errors() {
    let order = upstream().body(r#"{"id":7}"#).spawn().await;
    let payment = upstream().status(500).spawn().await;
    let dead = dead_addr().await;
    let p = spawn_proxy(&config(
        &order.url(),
        &payment.url(),
        &format!("http://{dead}"),
    ));
    let r = get(&p.url("/orders/7/summary")).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["order"]["id"], 7);
    assert!(
        j.get("payment").is_none() && j.get("inventory").is_none(),
        "{j}"
    );
    assert_eq!(
        j["errors"],
        serde_json::json!({"payment": "http_500", "inventory": "upstream_unreachable"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_required_part_answers_with_its_error() {
    let missing = upstream()
        .status(404)
        .body(r#"{"error":"not_found","message":"no order 999"}"#)
        .spawn()
        .await;
    let payment = upstream().body("[]").spawn().await;
    let p = spawn_proxy(&config(&missing.url(), &payment.url(), &payment.url()));
    let r = get(&p.url("/orders/999/summary")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");

    let dead = dead_addr().await;
    let p = spawn_proxy(&config(
        &format!("http://{dead}"),
        &payment.url(),
        &payment.url(),
    ));
    let r = get(&p.url("/orders/7/summary")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "upstream_unreachable");
    assert_eq!(r.json()["route"], "summary");
}
