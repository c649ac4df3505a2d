//! The legacy stub over real sockets: what only the monolith has (home page, customers,
//! catalog) and the in-process order saga touching its own stock and ledger.

use legacy_stub::{serve, Options};
use serde_json::Value;
use service_common::testing::TestServer;

async fn start() -> TestServer {
    TestServer::start(|listener, shutdown| serve(listener, Options::default(), shutdown)).await
}

async fn available(server: &TestServer, sku: &str) -> i64 {
    server.get(&format!("/inventory/{sku}")).await.json()["available"]
        .as_i64()
        .unwrap_or(-1)
}

fn steps(order: &Value) -> Vec<(String, String)> {
    order["saga"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    let field = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                    (field("step"), field("status"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn home_health_customers_and_catalog() {
    let server = start().await;
    let home = server.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/html")));
    assert!(home.text().contains("<h1>Legacy Shop</h1>"));
    assert_eq!(server.get("/health").await.json()["status"], "ok");

    let ada = server.get("/customers/1").await;
    assert_eq!(ada.status, 200);
    assert_eq!(ada.json()["name"], "Ada Lovelace");
    assert_eq!(server.get("/customers/10").await.status, 200);
    for missing in [
        "/customers/11",
        "/customers/0",
        "/customers/x",
        "/customers",
        "/customers/1/x",
    ] {
        let reply = server.get(missing).await;
        assert!(
            matches!(reply.status, 400 | 404),
            "{missing}: {}",
            reply.status
        );
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(server.post("/customers/1", "").await.status, 405);

    let catalog = server.get("/catalog").await.json();
    let skus: Vec<&str> = catalog
        .as_array()
        .map(|c| c.iter().filter_map(|e| e["sku"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(skus.len(), 20);
    assert_eq!((skus[0], skus[19]), ("sku-1", "sku-20"));
    assert_eq!(catalog[1]["price"], 5900);
    assert_eq!(server.delete("/catalog").await.status, 405);
    assert_eq!(server.get("/nowhere").await.error_kind(), "not_found");
}

#[tokio::test]
async fn an_order_reserves_stock_and_charges_in_process() {
    let server = start().await;
    let before = available(&server, "sku-5").await;
    let body =
        r#"{"customer_id": 2, "items": [{"sku": "sku-5", "qty": 2}], "card": "4242424242424242"}"#;
    let placed = server.post("/orders", body).await;
    assert_eq!(placed.status, 201, "{}", placed.text());
    let order = placed.json();
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["total"], 2 * 14900);
    let done = |step: &str| (step.to_owned(), "done".to_owned());
    assert_eq!(
        steps(&order),
        vec![
            done("create_order"),
            done("reserve_inventory"),
            done("process_payment"),
            done("confirm_order")
        ]
    );
    assert_eq!(available(&server, "sku-5").await, before - 2);
    // The monolith numbers what it creates itself apart from the services' ids.
    let id = order["id"].as_u64().unwrap();
    assert_eq!(id, legacy_stub::MONOLITH_IDS);
    let payments = server.get(&format!("/payments/order/{id}")).await.json();
    assert!(payments[0]["id"].as_u64().unwrap() >= legacy_stub::MONOLITH_IDS);
    assert_eq!(payments[0]["amount"], 2 * 14900);
    assert_eq!(payments[0]["status"], "completed");
    assert_eq!(
        server
            .get(&format!("/reservations/order/{id}"))
            .await
            .json()[0]["status"],
        "held"
    );
    assert_eq!(server.get(&format!("/orders/{id}")).await.json(), order);
    let listed = server.get("/orders").await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(51));
}

#[tokio::test]
async fn a_declined_card_releases_the_stock_and_cancels_the_order() {
    let server = start().await;
    let before = available(&server, "sku-6").await;
    let body =
        r#"{"customer_id": 2, "items": [{"sku": "sku-6", "qty": 1}], "card": "4000000000000002"}"#;
    let placed = server.post("/orders", body).await;
    assert_eq!(placed.status, 409, "{}", placed.text());
    let order = placed.json();
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["error"], "payment_declined");
    let step = |s: &str, st: &str| (s.to_owned(), st.to_owned());
    assert_eq!(
        steps(&order),
        vec![
            step("create_order", "compensated"),
            step("reserve_inventory", "compensated"),
            step("process_payment", "failed"),
        ]
    );
    assert_eq!(available(&server, "sku-6").await, before);
    let id = order["id"].as_u64().unwrap();
    assert_eq!(
        server
            .get(&format!("/reservations/order/{id}"))
            .await
            .json()[0]["status"],
        "released"
    );
    assert_eq!(
        server.get(&format!("/payments/order/{id}")).await.json()[0]["status"],
        "declined"
    );
}

#[tokio::test]
async fn too_large_a_quantity_takes_no_payment() {
    let server = start().await;
    let body = r#"{"customer_id": 2, "items": [{"sku": "sku-7", "qty": 100000}], "card": "4242424242424242"}"#;
    let placed = server.post("/orders", body).await;
    assert_eq!(placed.status, 409);
    let order = placed.json();
    assert_eq!(order["error"], "insufficient_stock");
    assert_eq!(order["saga"][1]["status"], "failed");
    let id = order["id"].as_u64().unwrap();
    assert_eq!(
        server.get(&format!("/payments/order/{id}")).await.json(),
        serde_json::json!([])
    );
}
