//! The monolith and each extracted service answer the seed `GET`s with the same bytes — the
//! premise of shadow traffic (SPEC §7, §8).

use service_common::testing::TestServer;

async fn stub() -> TestServer {
    TestServer::start(|l, s| legacy_stub::serve(l, legacy_stub::Options::default(), s)).await
}

async fn assert_same_bytes(stub: &TestServer, service: &TestServer, paths: &[&str]) {
    for path in paths {
        let (a, b) = (stub.get(path).await, service.get(path).await);
        assert_eq!(a.status, 200, "{path} on the stub: {}", a.text());
        assert_eq!(b.status, 200, "{path} on the service: {}", b.text());
        assert_eq!(a.body, b.body, "{path} differs");
        assert_eq!(
            a.headers["content-type"], b.headers["content-type"],
            "{path}"
        );
    }
}

#[tokio::test]
async fn orders_match_order_service() {
    let stub = stub().await;
    let service =
        TestServer::start(|l, s| order_service::serve(l, order_service::Options::default(), s))
            .await;
    assert_same_bytes(
        &stub,
        &service,
        &["/orders/1", "/orders", "/orders/50", "/orders/7"],
    )
    .await;
}

#[tokio::test]
async fn payments_match_payment_service() {
    let stub = stub().await;
    let service =
        TestServer::start(|l, s| payment_service::serve(l, payment_service::Options::default(), s))
            .await;
    let paths = [
        "/payments/1",
        "/payments/order/1",
        "/payments/10",
        "/payments/order/50",
    ];
    assert_same_bytes(&stub, &service, &paths).await;
}

#[tokio::test]
async fn inventory_matches_inventory_service() {
    let stub = stub().await;
    let service = TestServer::start(|l, s| {
        inventory_service::serve(l, inventory_service::Options::default(), s)
    })
    .await;
    let mut paths = vec![
        "/reservations/order/1".to_owned(),
        "/reservations/order/10".to_owned(),
    ];
    paths.extend((1..=20).map(|n| format!("/inventory/sku-{n}")));
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_same_bytes(&stub, &service, &paths).await;
}

#[tokio::test]
async fn errors_match_too() {
    let stub = stub().await;
    let service =
        TestServer::start(|l, s| payment_service::serve(l, payment_service::Options::default(), s))
            .await;
    for (method, path, body) in [
        ("GET", "/payments/999", ""),
        ("GET", "/payments/abc", ""),
        ("POST", "/payments", "{"),
        (
            "POST",
            "/payments",
            r#"{"order_id": 1, "amount": 0, "card": "4242424242424242"}"#,
        ),
    ] {
        let a = stub.send(method, path, &[], body.to_owned()).await;
        let b = service.send(method, path, &[], body.to_owned()).await;
        assert_eq!((a.status, &a.body), (b.status, &b.body), "{method} {path}");
    }
}
