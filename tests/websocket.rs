//! WebSocket and HTTP/1.1 Upgrade through the proxy, with real peers
//! (tokio-tungstenite): the handshake is routed and forwarded with its
//! `Connection: upgrade` / `Upgrade`, a 101 joins the two connections byte
//! for byte, anything else is relayed; tunnels over HTTP/2 (RFC 8441).

mod support;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

fn ws_config(up: &str, extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\n{extra}upstreams:\n  app: {{ url: {up} }}\nroutes:\n  - name: live\n    match: {{ path_prefix: / }}\n    upstream: app\n"
    )
}

fn ws_url(p: &ProxyHandle, path: &str) -> String {
    format!("ws://{}{}", p.addr, path)
}

async fn metric(p: &ProxyHandle, line_start: &str) -> Option<f64> {
    let text = get(&p.admin_url("/metrics")).await.text();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn websocket_messages_pass_both_ways_over_http1() {
    let echo = ws_echo().await;
    let p = spawn_proxy(&ws_config(&echo.url(), ""));
    let mut ws = ws_connect(&ws_url(&p, "/chat?room=1"))
        .await
        .expect("the handshake passes through the proxy");
    // Text, binary, and a 10 MB message.
    let m = ws_round_trip(&mut ws, Message::text("hello"))
        .await
        .unwrap();
    assert_eq!(m, Message::text("hello"));
    let bin: Vec<u8> = (0..=255u8).collect();
    let m = ws_round_trip(&mut ws, Message::binary(bin.clone()))
        .await
        .unwrap();
    assert_eq!(m, Message::binary(bin));
    let big: Vec<u8> = (0..10_000_000u32).map(|i| (i % 251) as u8).collect();
    let m = ws_round_trip(&mut ws, Message::binary(big.clone()))
        .await
        .unwrap();
    assert_eq!(m.into_data().len(), big.len());
    // Ping / pong: the upstream's pong comes back with the same payload.
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Pong(p))) => return p,
                Some(Ok(_)) => continue,
                other => panic!("no pong: {other:?}"),
            }
        }
    })
    .await
    .expect("a pong within the deadline");
    assert_eq!(&pong[..], b"are you there");
    // The close code and reason travel, and come back.
    let closed = ws_close(
        &mut ws,
        CloseFrame {
            code: CloseCode::Library(4000),
            reason: "done here".into(),
        },
    )
    .await;
    assert_eq!(closed.code, CloseCode::Library(4000));
    assert_eq!(closed.reason.as_str(), "done here");
    drop(ws);
    // The upstream saw the path, the query and the upgrade fields.
    let head = echo.heads.lock().unwrap()[0].clone();
    assert!(head.starts_with("GET /chat?room=1"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    assert!(head.contains("x-forwarded-for: 127.0.0.1"), "{head}");
    // Metrics: the tunnel opened and closed, bytes counted each way.
    eventually(PATIENCE, "the tunnel to be closed", || async {
        metric(&p, "strangler_tunnels_open ").await == Some(0.0)
    })
    .await;
    let opened = metric(&p, "strangler_tunnels_total{route=\"live\"}").await;
    assert_eq!(opened, Some(1.0));
    let up = metric(
        &p,
        "strangler_tunnel_bytes_total{direction=\"to_upstream\"}",
    )
    .await;
    let down = metric(&p, "strangler_tunnel_bytes_total{direction=\"to_client\"}").await;
    assert!(up.unwrap_or(0.0) > 10_000_000.0, "{up:?}");
    assert!(down.unwrap_or(0.0) > 10_000_000.0, "{down:?}");
}

#[tokio::test]
async fn an_upgrade_the_upstream_declines_is_relayed_as_an_answer() {
    let up = upstream()
        .raw_response(b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 15\r\n\r\nuse a websocket")
        .spawn()
        .await;
    let p = spawn_proxy(&ws_config(&up.url(), ""));
    let raw = raw(
        p.addr,
        b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 426, "{raw}");
    assert!(raw.ends_with("use a websocket"), "{raw}");
    // The upstream was asked for the upgrade.
    let head = up.raw_heads()[0].to_ascii_lowercase();
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");
}

#[tokio::test]
async fn h2c_upgrades_stay_refused_and_the_request_is_answered_plainly() {
    let up = upstream().body("plain").spawn().await;
    let p = spawn_proxy(&ws_config(&up.url(), ""));
    let raw = raw(
        p.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    let seen = up.last().headers;
    assert!(seen.get("upgrade").is_none(), "{seen:?}");
    assert!(seen.get("http2-settings").is_none(), "{seen:?}");
}

#[tokio::test]
async fn a_silent_tunnel_is_closed_after_tunnel_idle_timeout() {
    let echo = ws_echo().await;
    let p = spawn_proxy(&ws_config(
        &echo.url(),
        "limits: { tunnel_idle_timeout: 300ms }\n",
    ));
    let mut ws = ws_connect(&ws_url(&p, "/")).await.expect("handshake");
    let m = ws_round_trip(&mut ws, Message::text("x")).await.unwrap();
    assert_eq!(m, Message::text("x"));
    // Nothing said: the proxy closes both sides.
    assert!(ws_ended(&mut ws).await, "the idle tunnel was not closed");
    eventually(PATIENCE, "the upstream side to be closed too", || async {
        echo.open() == 0
    })
    .await;
}

#[tokio::test]
async fn the_handshake_falls_back_to_the_monolith_and_the_tunnel_life_is_not_counted() {
    let legacy = ws_echo().await;
    let dead = dead_addr().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nlimits: {{ tunnel_idle_timeout: 200ms }}\nupstreams:\n  legacy: {{ url: {} }}\n  new: {{ url: http://{dead}, breaker: {{ failure_threshold: 2 }} }}\nroutes:\n  - name: live\n    match: {{ path_prefix: / }}\n    upstream: new\n    fallback: legacy\n",
        legacy.url()
    );
    let p = spawn_proxy(&yaml);
    let mut ws = ws_connect(&ws_url(&p, "/")).await.expect("handshake");
    let m = ws_round_trip(&mut ws, Message::text("via legacy"))
        .await
        .unwrap();
    assert_eq!(m, Message::text("via legacy"));
    assert_eq!(legacy.handshakes(), 1);
    // A tunnel that dies of idleness is no failure of the monolith.
    let _ = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let breakers = get(&p.admin_url("/-/breakers")).await.json();
    assert_eq!(breakers["legacy"]["state"], "closed", "{breakers}");
    assert_eq!(breakers["legacy"]["consecutive_failures"], 0, "{breakers}");
}

#[tokio::test]
async fn an_open_breaker_refuses_the_handshake() {
    let dead = dead_addr().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  new: {{ url: http://{dead}, breaker: {{ failure_threshold: 1 }} }}\nroutes:\n  - name: live\n    match: {{ path_prefix: / }}\n    upstream: new\n"
    );
    let p = spawn_proxy(&yaml);
    let err = ws_connect(&ws_url(&p, "/")).await.expect_err("no upstream");
    assert!(err.contains("502"), "{err}");
    let err = ws_connect(&ws_url(&p, "/"))
        .await
        .expect_err("breaker open");
    assert!(err.contains("503"), "{err}");
}

#[tokio::test]
async fn a_thousand_tunnels_at_once() {
    let echo = ws_echo().await;
    let p = spawn_proxy(&ws_config(&echo.url(), ""));
    let url = ws_url(&p, "/");
    let mut socks = Vec::new();
    for _ in 0..1000 {
        socks.push(ws_connect(&url).await.expect("handshake"));
    }
    eventually(PATIENCE, "1,000 tunnels open", || async {
        metric(&p, "strangler_tunnels_open ").await == Some(1000.0)
    })
    .await;
    let tasks: Vec<_> = socks
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                let m = ws_round_trip(&mut ws, Message::text(format!("n{i}"))).await;
                (i, m)
            })
        })
        .collect();
    for t in tasks {
        let (i, m) = t.await.unwrap();
        assert_eq!(m.unwrap(), Message::text(format!("n{i}")));
    }
    assert_eq!(echo.handshakes(), 1000);
}

#[tokio::test]
async fn drain_gives_tunnels_the_drain_timeout_then_closes_them() {
    let echo = ws_echo().await;
    let mut p = spawn_proxy(&ws_config(
        &echo.url(),
        "limits: { drain_timeout: 1500ms }\n",
    ));
    let mut ws = ws_connect(&ws_url(&p, "/")).await.expect("handshake");
    p.begin_shutdown();
    // Still carrying messages while the drain runs.
    let m = ws_round_trip(&mut ws, Message::text("during drain"))
        .await
        .unwrap();
    assert_eq!(m, Message::text("during drain"));
    // Then cut.
    assert!(ws_ended(&mut ws).await, "the tunnel outlived the drain");
    eventually(PATIENCE, "the upstream side to be closed", || async {
        echo.open() == 0
    })
    .await;
}

#[tokio::test]
async fn websocket_over_http2_extended_connect() {
    let echo = ws_echo().await;
    let p = spawn_proxy(&ws_config(&echo.url(), ""));
    let mut ws = ws_connect_h2(p.addr, "/chat")
        .await
        .expect("RFC 8441 handshake through the proxy");
    let m = ws_round_trip(&mut ws, Message::text("over h2"))
        .await
        .unwrap();
    assert_eq!(m, Message::text("over h2"));
    let big: Vec<u8> = (0..10_000_000u32).map(|i| (i % 253) as u8).collect();
    let m = ws_round_trip(&mut ws, Message::binary(big.clone()))
        .await
        .unwrap();
    assert_eq!(m, Message::binary(big));
    let closed = ws_close(
        &mut ws,
        CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        },
    )
    .await;
    assert_eq!(closed.code, CloseCode::Normal);
    // The upstream was asked with an HTTP/1.1 Upgrade.
    let head = echo.heads.lock().unwrap()[0].clone();
    assert!(head.starts_with("GET /chat"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("sec-websocket-key"),
        "{head}"
    );
}

#[tokio::test]
async fn websocket_to_an_https_upstream() {
    let (cert, key) = support::tls::self_signed("live.internal");
    let echo = ws_echo_tls(&cert, &key).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  app: {{ url: https://localhost:{}, ca: {} }}\nroutes:\n  - name: live\n    match: {{ path_prefix: / }}\n    upstream: app\n",
        echo.addr.port(),
        ca.display()
    );
    let p = spawn_proxy(&yaml);
    let mut ws = ws_connect(&ws_url(&p, "/"))
        .await
        .expect("handshake over TLS");
    let m = ws_round_trip(&mut ws, Message::text("secure"))
        .await
        .unwrap();
    assert_eq!(m, Message::text("secure"));
    assert_eq!(echo.handshakes(), 1);
}
