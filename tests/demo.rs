//! The demo, end to end, with the real monolith stub and the three real
//! services behind the proxy: extracted routes, the monolith's own paths,
//! API composition, the saga through the edge, the shadowed payments route
//! reaching `ready`, and bad input to the services.
#![cfg(feature = "demo")]

mod support;
use support::*;

struct Demo {
    proxy: ProxyHandle,
    legacy_url: String,
    inventory_url: String,
    _stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

fn stopper(
    stop: &mut Vec<tokio::sync::oneshot::Sender<()>>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    stop.push(tx);
    async move {
        let _ = rx.await;
    }
}

async fn demo() -> Demo {
    demo_with("/routes.yaml", |y| y).await
}

/// The demo serving the repository's config at `path` (edited by `edit`).
async fn demo_with(path: &str, edit: impl Fn(String) -> String) -> Demo {
    let mut stop = Vec::new();
    let (legacy, legacy_url) = listener().await;
    let (order, order_url) = listener().await;
    let (payment, payment_url) = listener().await;
    let (inventory, inventory_url) = listener().await;
    let bus = legacy_stub::Bus::memory();
    let stub_opts = legacy_stub::Options {
        event_bus: Some(bus.clone()),
        ..Default::default()
    };
    tokio::spawn(legacy_stub::serve(legacy, stub_opts, stopper(&mut stop)));
    let pay_opts = payment_service::Options {
        event_bus: Some(bus.clone()),
        ..Default::default()
    };
    tokio::spawn(payment_service::serve(
        payment,
        pay_opts,
        stopper(&mut stop),
    ));
    let inv_opts = inventory_service::Options {
        event_bus: Some(bus.clone()),
        ..Default::default()
    };
    tokio::spawn(inventory_service::serve(
        inventory,
        inv_opts,
        stopper(&mut stop),
    ));
    let opts = order_service::Options {
        inventory_url: Some(inventory_url.clone()),
        payment_url: Some(payment_url.clone()),
        event_bus: Some(bus),
        ..Default::default()
    };
    tokio::spawn(order_service::serve(order, opts, stopper(&mut stop)));
    let shipped = std::fs::read_to_string(format!("{}{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let yaml = edit(shipped)
        .replace("http://127.0.0.1:9000", &legacy_url)
        .replace("http://127.0.0.1:9101", &order_url)
        .replace("http://127.0.0.1:9102", &payment_url)
        .replace("http://127.0.0.1:9103", &inventory_url);
    Demo {
        proxy: spawn_proxy(&yaml),
        legacy_url,
        inventory_url,
        _stop: stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_routes_serve_the_demo() {
    let d = demo().await;
    let p = &d.proxy;
    let r = get(&p.url("/orders/1")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], 1);
    assert_eq!(r.json()["status"], "confirmed");
    let r = get(&p.url("/customers/1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 1);
    let r = get(&p.url("/")).await;
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = get(&p.url("/inventory/sku-1")).await;
    assert_eq!(r.json()["sku"], "sku-1");
    let metrics = get(&p.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains("route=\"orders\",upstream=\"order\",code=\"200\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"monolith\",upstream=\"legacy\",code=\"200\""),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_composes_three_services() {
    let d = demo().await;
    let r = get(&d.proxy.url("/orders/1/summary")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["order"]["id"], 1);
    assert_eq!(j["payment"][0]["order_id"], 1, "{j}");
    assert_eq!(j["inventory"][0]["order_id"], 1, "{j}");
    assert_eq!(j["errors"], serde_json::json!({}));
    assert_eq!(get(&d.proxy.url("/orders/999/summary")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_saga_runs_through_the_edge() {
    let d = demo().await;
    let p = &d.proxy;
    let r = send(
        "POST",
        &p.url("/orders"),
        &[("content-type", "application/json")],
        r#"{"customer_id":1,"items":[{"sku":"sku-3","qty":1}],"card":"4242424242424242"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let order = r.json();
    assert_eq!(order["status"], "confirmed");
    let steps: Vec<&str> = order["saga"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "create_order",
            "reserve_inventory",
            "process_payment",
            "confirm_order"
        ]
    );
    let r = send(
        "POST",
        &p.url("/orders"),
        &[("content-type", "application/json")],
        r#"{"customer_id":1,"items":[{"sku":"sku-3","qty":1}],"card":"4000000000000002"}"#,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["status"], "cancelled");
    assert!(r.json()["saga"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["status"] == "compensated"));
    // The monolith learns of the new order through the event bus.
    let id = order["id"].as_u64().unwrap();
    let stub = format!("{}/orders/{id}", d.legacy_url);
    eventually(PATIENCE, "the stub to see the order", || async {
        get(&stub).await.status == 200
    })
    .await;
    assert_eq!(get(&stub).await.json()["status"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadowed_payments_route_matches_and_becomes_ready() {
    let d = demo().await;
    let p = &d.proxy;
    let payments = |from: usize, to: usize| async move {
        // Eight clients at once: thousands of requests in a few seconds.
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..8 {
            let url = p.url("");
            clients.spawn(async move {
                for i in (from + c..to).step_by(8) {
                    let id = 1 + i % 50;
                    assert_eq!(get(&format!("{url}/payments/{id}")).await.status, 200);
                }
            });
        }
        while let Some(done) = clients.join_next().await {
            done.expect("a client");
        }
    };
    let compared = |n: u64| async move {
        eventually(PATIENCE * 2, &format!("{n} comparisons"), || async {
            get(&p.admin_url("/-/shadow")).await.json()["payments"]["compared"] == n
        })
        .await;
        get(&p.admin_url("/-/shadow")).await.json()["payments"].clone()
    };
    payments(0, 100).await;
    let rep = compared(100).await;
    assert_eq!(
        rep["matched"], 100,
        "the stub and payment-service answer alike: {rep}"
    );
    // 100 of 100 only says the match rate is surely above 96.3%: not 99.9%.
    assert_eq!(
        (&rep["verdict"], &rep["more_needed"]),
        (&serde_json::json!("not_ready"), &serde_json::json!(3738)),
        "{rep}"
    );
    payments(100, 3838).await;
    let rep = compared(3838).await;
    assert_eq!(rep["matched"], 3838, "{rep}");
    assert_eq!(rep["verdict"], "ready", "{rep}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_to_the_services_is_a_4xx_json_error() {
    let d = demo().await;
    let p = &d.proxy;
    for (method, path, body) in [
        ("POST", "/orders", "{not json"),
        (
            "POST",
            "/orders",
            r#"{"customer_id":1,"items":[{"sku":"sku-1","qty":0}],"card":"4242424242424242"}"#,
        ),
        (
            "POST",
            "/orders",
            r#"{"customer_id":1,"items":[{"sku":"nope","qty":1}],"card":"4242424242424242"}"#,
        ),
        ("GET", "/orders/abc", ""),
        ("GET", "/orders/424242", ""),
        ("GET", "/customers/99", ""),
        (
            "POST",
            "/reservations",
            r#"{"order_id":1,"items":[{"sku":"sku-1","qty":100000}]}"#,
        ),
    ] {
        let r = send(
            method,
            &p.url(path),
            &[("content-type", "application/json")],
            body,
        )
        .await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.json()["error"].is_string(),
            "{method} {path}: {}",
            r.text()
        );
    }
}

/// The README's ramp scenario (examples/ramp-inventory.yaml, with shorter
/// steps): /inventory ramps from the monolith to inventory-service, the
/// service's fault switch makes it fail, and the ramp rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ramp_scenario_advances_then_rolls_back_on_a_fault() {
    // The latency gate off (a ratio no run reaches): on 2 busy cores the
    // full suite's other tests can make a few microsecond-scale answers
    // look 5× slower and roll the ramp back; this test is about the fault.
    let d = demo_with("/examples/ramp-inventory.yaml", |y| {
        assert!(
            y.contains("p99: { max_ratio: 5 }"),
            "the example's p99 gate moved"
        );
        y.replace("interval: 15s", "interval: 1s")
            .replace("p99: { max_ratio: 5 }", "p99: { max_ratio: 1000000 }")
    })
    .await;
    let ramps = d.proxy.admin_url("/-/ramps");
    let url = d.proxy.url("/inventory/sku-1");
    let mut user = 0;
    let deadline = std::time::Instant::now() + PATIENCE * 2;
    loop {
        for _ in 0..40 {
            user += 1;
            let r = send("GET", &url, &[("x-user", &user.to_string())], "").await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
        let state = get(&ramps).await.json();
        if state["inventory"]["weight"].as_f64() >= Some(50.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached 50%: {}",
            state["inventory"]
        );
    }
    let fault = send(
        "PUT",
        &format!("{}/-/fault?status=500", d.inventory_url),
        &[],
        "",
    )
    .await;
    assert_eq!(fault.status, 200);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        for _ in 0..40 {
            user += 1;
            let _ = send("GET", &url, &[("x-user", &user.to_string())], "").await;
        }
        let r = get(&ramps).await.json();
        if r["inventory"]["state"] == "rolled_back" {
            assert_eq!(r["inventory"]["weight"], 0.0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never rolled back: {r}"
        );
    }
    // Every client is back on the monolith.
    for u in 0..50 {
        let r = send("GET", &url, &[("x-user", &format!("after-{u}"))], "").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-strangler-upstream"), Some("legacy"));
    }
}
