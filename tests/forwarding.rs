//! Forwarding rules: hop-by-hop headers both ways, underscore names,
//! X-Forwarded-* at the edge and from trusted proxies, X-Request-Id, Host,
//! the request-target forms, and multi-MiB bodies intact both ways.

mod support;
use sha2::{Digest, Sha256};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_never_cross_in_either_direction() {
    let up = upstream()
        .header("connection", "x-up-secret")
        .header("x-up-secret", "1")
        .header("keep-alive", "timeout=99")
        .header("x-up-kept", "1")
        .spawn()
        .await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(
        p.addr,
        b"GET /a HTTP/1.1\r\nHost: shop\r\nConnection: x-secret, close\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nX-Kept: yes\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200, "{r}");
    let seen = up.last().headers;
    for h in [
        "x-secret",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "http2-settings",
    ] {
        assert!(!seen.contains_key(h), "{h} reached the upstream: {seen:?}");
    }
    assert_eq!(seen["x-kept"], "yes");
    let lower = r.to_ascii_lowercase();
    assert!(!lower.contains("x-up-secret"), "{r}");
    assert!(!lower.contains("keep-alive: timeout=99"), "{r}");
    assert!(lower.contains("x-up-kept: 1"), "{r}");
}

/// An answer no `Connection` field names others in passes on as its bytes
/// came (`strangler_wire::raw`): the same rules, checked on that path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_passed_raw_loses_its_hop_by_hop_fields_and_keeps_the_rest() {
    let up = upstream()
        .header("Keep-Alive", "timeout=99")
        .header("Proxy-Connection", "keep-alive")
        .header("TE", "trailers")
        .header("Trailer", "x-t")
        .header("X-Request-Id", "theirs")
        .header("X-Up-Kept", "1")
        .header("Set-Cookie", "a=1")
        .header("Set-Cookie", "b=2")
        .body("hello")
        .spawn()
        .await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let head = |method: &str| {
        format!(
            "{method} /a HTTP/1.1\r\nHost: shop\r\nX-Request-Id: mine\r\nConnection: close\r\n\r\n"
        )
    };
    let r = raw(p.addr, head("GET").as_bytes()).await;
    assert_eq!(status_of(&r), 200, "{r}");
    let lower = r.to_ascii_lowercase();
    for gone in [
        "keep-alive: timeout",
        "proxy-connection",
        "\r\nte:",
        "trailer:",
        "theirs",
    ] {
        assert!(!lower.contains(gone), "{gone} reached the client: {r}");
    }
    for kept in [
        "x-up-kept: 1",
        "set-cookie: a=1",
        "set-cookie: b=2",
        "content-length: 5",
    ] {
        assert!(lower.contains(kept), "{kept} missing: {r}");
    }
    assert_eq!(lower.matches("x-request-id:").count(), 1, "{r}");
    assert!(lower.contains("x-request-id: mine"), "{r}");
    assert!(r.ends_with("\r\n\r\nhello"), "{r}");
    // A HEAD answer keeps the length of the body it does not carry.
    let r = raw(p.addr, head("HEAD").as_bytes()).await;
    let lower = r.to_ascii_lowercase();
    assert!(lower.contains("content-length: 5"), "{r}");
    assert!(lower.ends_with("\r\n\r\n"), "{r}");
    assert!(!lower.contains("keep-alive: timeout"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn underscore_names_and_spoofed_forwarding_headers_are_dropped() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = send(
        "GET",
        &p.url("/a"),
        &[
            ("X_User_Id", "admin"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Host", "evil"),
            ("X-Forwarded-Proto", "https"),
            ("Forwarded", "for=6.6.6.6"),
            ("X-Real-IP", "6.6.6.6"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let h = up.last().headers;
    assert!(!h.contains_key("x_user_id"));
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], p.addr.to_string());
    assert!(!h.contains_key("forwarded") && !h.contains_key("x-real-ip"));
    assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_are_appended_to() {
    let up = upstream().spawn().await;
    let yaml = simple_config(&up.url()).replace(
        "listen: 127.0.0.1:0\n",
        "listen: 127.0.0.1:0\ntrusted_proxies: [127.0.0.0/8]\n",
    );
    let p = spawn_proxy(&yaml);
    send(
        "GET",
        &p.url("/a"),
        &[
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "https"),
        ],
        "",
    )
    .await;
    let h = up.last().headers;
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "https");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_kept_when_sane_generated_otherwise_and_returned() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = send("GET", &p.url("/a"), &[("X-Request-Id", "trace-42")], "").await;
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    assert_eq!(up.last().headers["x-request-id"], "trace-42");
    let long = "x".repeat(129);
    let r = send("GET", &p.url("/a"), &[("X-Request-Id", &long)], "").await;
    let id = r.header("x-request-id").unwrap().to_string();
    assert_ne!(id, long);
    assert_eq!(id.len(), 36);
    assert_eq!(up.last().headers["x-request-id"], id.as_str());
    let r = get(&p.url("/a")).await;
    assert_eq!(r.header("x-request-id").map(str::len), Some(36));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_is_passed_through_and_must_be_sane() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(
        p.addr,
        b"GET /a HTTP/1.1\r\nHost: shop.example:8443\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200);
    assert_eq!(up.last().headers["host"], "shop.example:8443");
    for bad in [
        &b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"GET /a HTTP/1.0\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: user@evil\r\nConnection: close\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: a:99999\r\nConnection: close\r\n\r\n",
    ] {
        let r = raw(p.addr, bad).await;
        assert_eq!(status_of(&r), 400, "{}: {r}", String::from_utf8_lossy(bad));
        assert!(
            r.contains("\"error\":\"bad_request\"") || !r.contains('{'),
            "{r}"
        );
    }
    assert_eq!(up.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_target_forms() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    // Absolute form: routed and forwarded by its own authority.
    let r = raw(p.addr, b"GET http://api.example/x?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&r), 200, "{r}");
    let seen = up.last();
    assert_eq!(seen.target, "/x?q=1");
    assert_eq!(seen.headers["host"], "api.example");
    assert_eq!(seen.headers["x-forwarded-host"], "api.example");
    // Authority form outside CONNECT, `*` outside OPTIONS.
    let r = raw(
        p.addr,
        b"GET api.example:80 HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 400, "{r}");
    let r = raw(
        p.addr,
        b"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 400, "{r}");
    let r = raw(
        p.addr,
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200, "{r}");
    let r = raw(
        p.addr,
        b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 405, "{r}");
    assert_eq!(up.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_mib_bodies_stream_intact_both_ways() {
    let up = upstream().echo_body().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let body: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let r = send(
        "POST",
        &p.url("/upload"),
        &[("content-type", "application/octet-stream")],
        body.clone(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), body.len());
    assert_eq!(Sha256::digest(&r.body), Sha256::digest(&body));
    // Chunked both ways too.
    let req = chunked_request(
        "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        64,
        0x4000,
        b'z',
    );
    let r = raw(p.addr, &req).await;
    assert_eq!(status_of(&r), 200);
    assert_eq!(r.matches('z').count(), 64 * 0x4000);
}
