//! Errors the proxy makes itself (one JSON shape, the right status) and the
//! limits: dead, slow, garbage and stalling upstreams; oversized heads,
//! URIs and bodies; slow clients.

mod support;
use std::time::{Duration, Instant};
use support::*;

fn with_limits(url: &str, limits: &str) -> String {
    simple_config(url).replace(
        "listen: 127.0.0.1:0\n",
        &format!("listen: 127.0.0.1:0\nlimits: {{ {limits} }}\n"),
    )
}

fn assert_error(r: &Resp, status: u16, kind: &str, route: Option<&str>, upstream: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text());
    let j = r.json();
    assert_eq!(j["error"], kind, "{j}");
    assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
    assert_eq!(j["route"].as_str(), route, "{j}");
    assert_eq!(j["upstream"].as_str(), upstream, "{j}");
    assert_eq!(j["request_id"].as_str(), r.header("x-request-id"), "{j}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.header("date").is_some_and(|d| d.ends_with(" GMT")),
        "{:?}",
        r.headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_is_404_json() {
    let up = upstream().spawn().await;
    let yaml = simple_config(&up.url()).replace("path_prefix: /", "path_prefix: /api");
    let p = spawn_proxy(&yaml);
    assert_error(&get(&p.url("/other")).await, 404, "no_route", None, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_upstream_is_502_unreachable() {
    let dead = dead_addr().await;
    let p = spawn_proxy(&simple_config(&format!("http://{dead}")));
    assert_error(
        &get(&p.url("/a")).await,
        502,
        "upstream_unreachable",
        Some("all"),
        Some("app"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504_and_fast_enough_one_is_not() {
    let slow = upstream().delay(Duration::from_secs(3)).spawn().await;
    let yaml = simple_config(&slow.url())
        .replace("upstream: app\n", "upstream: app\n    timeout: 300ms\n");
    let p = spawn_proxy(&yaml);
    let t = Instant::now();
    assert_error(
        &get(&p.url("/a")).await,
        504,
        "upstream_timeout",
        Some("all"),
        Some("app"),
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the proxy waited for the slow upstream"
    );
    let ok = upstream().delay(Duration::from_millis(50)).spawn().await;
    let p2 = spawn_proxy(&simple_config(&ok.url()));
    assert_eq!(get(&p2.url("/a")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_closing_upstreams_are_502_upstream_error() {
    let garbage = upstream()
        .raw_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello")
        .spawn()
        .await;
    let p = spawn_proxy(&simple_config(&garbage.url()));
    assert_error(
        &get(&p.url("/a")).await,
        502,
        "upstream_error",
        Some("all"),
        Some("app"),
    );
    let nonsense = upstream().raw_response(b"SMTP ready\r\n\r\n").spawn().await;
    let p = spawn_proxy(&simple_config(&nonsense.url()));
    assert_error(
        &get(&p.url("/a")).await,
        502,
        "upstream_error",
        Some("all"),
        Some("app"),
    );
    let closing = upstream().close_immediately().spawn().await;
    let p = spawn_proxy(&simple_config(&closing.url()));
    let r = get(&p.url("/a")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    // Each garbage answer came on its own connection: nothing was pooled.
    assert_eq!(get(&p.url("/b")).await.status, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_that_stalls_after_headers_gets_the_client_cut_off() {
    let stall = upstream().stall_after_headers().spawn().await;
    let p = spawn_proxy(&with_limits(&stall.url(), "body_idle_timeout: 500ms"));
    let t = Instant::now();
    let r = raw_with(
        p.addr,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(20),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "the client connection was left hanging"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&with_limits(&up.url(), "max_request_body: 64KiB"));
    let r = send("POST", &p.url("/a"), &[], vec![b'x'; 65 * 1024]).await;
    assert_error(&r, 413, "body_too_large", Some("all"), None);
    assert_eq!(
        up.hits(),
        0,
        "a declared oversized body never reaches the upstream"
    );
    // Chunked, with no length declared: cut off once it passes the limit.
    let req = chunked_request(
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        80,
        0x400,
        b'y',
    );
    let r = raw(p.addr, &req).await;
    assert_eq!(status_of(&r), 413, "{r}");
    assert_eq!(
        send("POST", &p.url("/a"), &[], vec![b'x'; 1024])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_uris() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let big = "v".repeat(70 * 1024);
    let r = raw(
        p.addr,
        format!("GET /a HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&r), 431, "{}", &r[..r.len().min(200)]);
    let mut many = String::from("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..120 {
        many.push_str(&format!("X-H{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(status_of(&raw(p.addr, many.as_bytes()).await), 431);
    let long = format!("/a?{}", "q".repeat(9 * 1024));
    let r = raw(
        p.addr,
        format!("GET {long} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&r), 414, "{}", &r[..r.len().min(200)]);
    assert_eq!(up.hits(), 0);
    let ok = format!("/a?{}", "q".repeat(7 * 1024));
    assert_eq!(get(&p.url(&ok)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&with_limits(
        &up.url(),
        "header_read_timeout: 500ms, body_idle_timeout: 500ms",
    ));
    // Slowloris: a head that never ends.
    cut_off(
        p.addr,
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
        "slowloris",
    )
    .await;
    // A body that stops arriving.
    let r = cut_off(
        p.addr,
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part",
        "a stalled body",
    )
    .await;
    assert!(
        status_of(&r) == 408 || r.is_empty() || status_of(&r) == 502,
        "{r}"
    );
    // The proxy is still up.
    assert_eq!(get(&p.url("/a")).await.status, 200);
}

/// Send `bytes` and stop; the proxy must close the connection well before
/// the 20 s the client would wait. Returns what it answered.
async fn cut_off(addr: std::net::SocketAddr, bytes: &[u8], what: &str) -> String {
    let t = Instant::now();
    let r = raw_with(addr, bytes, Duration::from_secs(20)).await;
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "{what} held the connection: {r}"
    );
    r
}
