//! `GET /-/ui` in a real browser: a proxy with a shadowed route under
//! traffic (matches, mismatches, a hostile JSON key), a sick upstream whose
//! breaker is open, and a ramp; headless Chromium renders the page, the DOM
//! must show the routes, a match rate with its interval and threshold, the
//! breaker states and the ramp, and the screenshots (desktop and phone)
//! must not be blank. Set `STRANGLER_SCREENSHOT=docs/ui.png` to keep the
//! desktop one.
//!
//! Needs Chromium (`apt-get install -y chromium`); without it the test fails
//! and says so.

mod support;
use support::browser::{decode_png, dump_dom, screenshot};
use support::dynamic::{dynamic, fresh_timestamp, Dynamic};
use support::*;

async fn busy_proxy() -> (ProxyHandle, Vec<Upstream>, Vec<Dynamic>) {
    // payments: the monolith stamps each answer (noise); the new service
    // gets one answer in ten wrong, and lists items in another order.
    let answer = |n: usize, wrong: bool| {
        let (total, evil) = if wrong { (12, 2) } else { (10, 1) };
        let items = if wrong { "[2,1]" } else { "[1,2]" };
        format!(
            r#"{{"id":{n},"total":{total},"<b id=injected>k</b>":{evil},"items":{items},"ts":"{}"}}"#,
            fresh_timestamp()
        )
    };
    let primary = dynamic(move |_, _, _| answer(7, false)).await;
    let shadow = dynamic(move |n, _, _| answer(7, n % 10 == 9)).await;
    // orders: both sides alike.
    let legacy = upstream().body(r#"{"id":1,"status":"paid"}"#).spawn().await;
    let order = upstream()
        .body(r#"{"status":"paid","id":1.0}"#)
        .spawn()
        .await;
    let dead = dead_addr().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  legacy: {{ url: {} }}\n  monolith: {{ url: {} }}\n  payment: {{ url: {} }}\n  order: {{ url: {} }}\n  \
         sick: {{ url: http://{dead}, breaker: {{ failure_threshold: 1, recovery_timeout: 60s }} }}\n\
         routes:\n  - name: payments\n    match: {{ path_prefix: /payments }}\n    upstream: monolith\n    \
         shadow:\n      upstream: payment\n      noise: {{ sample: 0.5 }}\n      ready: {{ min_match: 99%, min_compared: 20 }}\n      \
         compare:\n        rules:\n          - {{ at: /items, unordered: true }}\n  \
         - name: orders\n    match: {{ path_prefix: /orders }}\n    upstream: legacy\n    \
         shadow: {{ upstream: order, ready: {{ min_match: 85%, min_compared: 20 }} }}\n  \
         - name: broken\n    match: {{ path_prefix: /broken }}\n    upstream: sick\n  \
         - name: inventory\n    match: {{ path_prefix: /inventory }}\n    ramp:\n      from: legacy\n      to: order\n      \
         steps: [10, 50, 100]\n      interval: 1m\n      sticky: {{ header: x-user }}\n  \
         - name: monolith\n    match: {{ path_prefix: / }}\n    upstream: legacy\n",
        legacy.url(),
        primary.url(),
        shadow.url(),
        order.url()
    );
    let p = spawn_proxy(&yaml);
    for i in 0..60 {
        assert_eq!(get(&p.url(&format!("/payments/{i}"))).await.status, 200);
    }
    for i in 0..30 {
        assert_eq!(get(&p.url(&format!("/orders/{i}"))).await.status, 200);
    }
    assert_eq!(get(&p.url("/broken")).await.status, 502);
    eventually(PATIENCE, "90 comparisons and an open breaker", || async {
        let s = get(&p.admin_url("/-/shadow")).await.json();
        let b = get(&p.admin_url("/-/breakers")).await.json();
        s["payments"]["compared"] == 60
            && s["orders"]["compared"] == 30
            && b["sick"]["state"] == "open"
    })
    .await;
    (p, vec![legacy, order], vec![primary, shadow])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_renders_routes_verdicts_breakers_and_ramps() {
    let (p, _ups, _dynamic) = busy_proxy().await;
    let url = p.admin_url("/-/ui");

    // As served: one self-contained page that refreshes itself.
    let served = get(&url).await;
    assert_eq!(served.status, 200);
    assert!(served
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let html = served.text();
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    for absent in ["<script", "src=", "http://", "https://", "@import", "url("] {
        assert!(!html.contains(absent), "the page holds {absent}");
    }

    // As rendered.
    let dom = dump_dom(&url).await;
    for present in [
        "payments",
        "orders",
        "broken",
        "inventory",
        "monolith",
        "path_prefix /payments",
        "% match",
        "95%: ",
        "99% needed",
        "badge open",
        "badge closed",
        "badge not_ready",
        "badge ready",
        "/total",
        "<code>10</code>",
        "<code>12</code>",
        "<code>/ts</code>",
        "noise</span>",
        "Trend, per minute",
        "badge running",
        "10%",
    ] {
        assert!(
            dom.contains(present),
            "the rendered page lacks {present:?}:\n{dom}"
        );
    }
    // What came from traffic is text, never markup.
    assert!(!dom.contains("id=\"injected\""), "{dom}");
    assert!(dom.contains("/&lt;b id=injected&gt;k&lt;~1b&gt;"), "{dom}");
    // The unordered rule holds: /items never differs.
    assert!(!dom.contains("/items"), "{dom}");

    // Screenshots: a desktop and a phone, neither blank.
    let dir = tempfile::tempdir().unwrap();
    for (name, size) in [("desktop.png", (1280, 900)), ("phone.png", (390, 844))] {
        let file = dir.path().join(name);
        screenshot(&url, &file, size).await;
        let png = decode_png(&file);
        assert_eq!((png.width, png.height), size, "{name}");
        let colours = png.colours(64);
        assert!(colours >= 16, "{name} looks blank: {colours} colours");
        // Text and badges: red (open breaker, not ready) and green (closed).
        let red = png.rgba.iter().filter(|p| p[0] > 180 && p[1] < 80).count();
        assert!(red > 50, "{name}: no red badge drawn");
    }
    if let Some(keep) = std::env::var_os("STRANGLER_SCREENSHOT") {
        // For the README: the page down to the shadow cards.
        let keep = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(keep);
        screenshot(&url, &keep, (1280, 1700)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_only_answers_get() {
    let p = spawn_proxy(&simple_config("http://127.0.0.1:9"));
    let r = send("POST", &p.admin_url("/-/ui"), &[], "").await;
    assert_eq!(r.status, 405);
    let page = get(&p.admin_url("/-/ui")).await.text();
    assert!(page.contains("No comparison yet") && page.contains("No route ramps"));
}
