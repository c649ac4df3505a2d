//! Routing through a real proxy: each match kind, precedence, methods,
//! headers, split weights, and path normalization (the normalized path is
//! what is matched and what is forwarded).

mod support;
use support::*;

async fn three() -> (Upstream, Upstream, Upstream) {
    (
        upstream().spawn().await,
        upstream().spawn().await,
        upstream().spawn().await,
    )
}

fn config(a: &Upstream, b: &Upstream, c: &Upstream) -> String {
    format!(
        r#"listen: 127.0.0.1:0
upstreams:
  a: {{ url: {} }}
  b: {{ url: {} }}
  c: {{ url: {} }}
routes:
  - name: exact
    match: {{ path: "/orders/{{id}}/summary", methods: [GET] }}
    upstream: c
  - name: beta
    match: {{ path_prefix: /orders, headers: {{ x-beta: "1" }} }}
    upstream: b
  - name: orders
    match: {{ path_prefix: /orders, methods: [GET, POST] }}
    upstream: a
  - name: numeric
    match: {{ path_regex: "^/items/[0-9]+$" }}
    upstream: b
  - name: only-api
    match: {{ path_prefix: /api }}
    upstream: c
"#,
        a.url(),
        b.url(),
        c.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_match_kind_and_first_match_wins() {
    let (a, b, c) = three().await;
    let p = spawn_proxy(&config(&a, &b, &c));
    assert_eq!(get(&p.url("/orders/7/summary")).await.status, 200);
    assert_eq!(c.hits(), 1, "exact path route");
    assert_eq!(get(&p.url("/orders/7")).await.status, 200);
    assert_eq!(a.hits(), 1, "prefix route");
    assert_eq!(
        send("GET", &p.url("/orders/7"), &[("X-Beta", "1")], "")
            .await
            .status,
        200
    );
    assert_eq!(b.hits(), 1, "header route before the prefix route");
    assert_eq!(get(&p.url("/items/12")).await.status, 200);
    assert_eq!(b.hits(), 2, "regex route");
    assert_eq!(b.last().target, "/items/12");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_is_segment_aware_and_methods_filter() {
    let (a, b, c) = three().await;
    let p = spawn_proxy(&config(&a, &b, &c));
    let r = get(&p.url("/ordersx")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "no_route");
    assert_eq!(
        send("DELETE", &p.url("/orders/7"), &[], "").await.status,
        404
    );
    assert_eq!(get(&p.url("/orders/")).await.status, 200);
    assert_eq!(a.hits(), 1);
    assert_eq!(a.last().target, "/orders/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_follows_the_weights() {
    let a = upstream().spawn().await;
    let b = upstream().spawn().await;
    let p = spawn_proxy(&format!(
        "listen: 127.0.0.1:0\nupstreams:\n  a: {{ url: {} }}\n  b: {{ url: {} }}\nroutes:\n  - name: canary\n    match: {{ path_prefix: / }}\n    split: {{ a: 10, b: 90 }}\n",
        a.url(),
        b.url()
    ));
    for _ in 0..600 {
        assert_eq!(get(&p.url("/inventory/sku-1")).await.status, 200);
    }
    assert_eq!(a.hits() + b.hits(), 600);
    // Binomial(600, 0.1): mean 60, sd ~7.3; this band is ~5 sd wide each side.
    assert!(
        (25..=100).contains(&a.hits()),
        "canary got {} of 600",
        a.hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalized_path_is_matched_and_forwarded() {
    let (a, b, c) = three().await;
    let p = spawn_proxy(&config(&a, &b, &c));
    // `/api/../orders/7` is `/orders/7`: the orders route, forwarded normalized.
    let r = raw(
        p.addr,
        b"GET /api/../orders/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(a.last().target, "/orders/7");
    assert_eq!(c.hits(), 0, "never routed on the raw spelling");
    let r = raw(
        p.addr,
        b"GET /api/%2e%2e/orders/%37 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(a.last().target, "/orders/7");
    let r = raw(
        p.addr,
        b"GET /orders/./8/. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(a.last().target, "/orders/8/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalization_attacks_get_400() {
    let (a, b, c) = three().await;
    let p = spawn_proxy(&config(&a, &b, &c));
    for target in [
        "/orders/../../etc/passwd",
        "/..",
        "/%2e%2e/etc/passwd",
        "/orders%2F..%2Fadmin",
        "/orders/%2f",
        "/orders/%5c..%5cadmin",
        "/orders/\\..\\admin",
        "/orders/%00",
        "/orders/%zz",
    ] {
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = raw(p.addr, req.as_bytes()).await;
        assert_eq!(status_of(&r), 400, "{target}: {r}");
    }
    assert_eq!(
        a.hits() + b.hits() + c.hits(),
        0,
        "no attack reached an upstream"
    );
    let r = send("GET", &p.url("/orders/%2e%2e%2fadmin"), &[], "").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "bad_request");
}
