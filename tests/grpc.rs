//! gRPC through the proxy, with tonic on both sides and the upstream
//! spoken to as `protocol: h2c`: unary, server and client streaming, an
//! error status, deadlines, and the proxy's own errors as `grpc-status`.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use support::grpc::*;
use support::tls::self_signed;
use support::*;
use tonic::{Code, Request};

fn grpc_config(up: std::net::SocketAddr, upstream_extra: &str, route_extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nupstreams:\n  orders: {{ url: http://{up}, protocol: h2c{upstream_extra} }}\nroutes:\n  - name: rpc\n    match: {{ path_prefix: /test.Echo }}\n    upstream: orders\n{route_extra}"
    )
}

#[tokio::test]
async fn unary_calls_and_their_status_pass_through() {
    let up = grpc_server().await;
    let p = spawn_proxy(&grpc_config(up, "", ""));
    let mut c = grpc_client(p.addr).await;
    let r = echo(&mut c, "hello").await;
    assert_eq!(
        r.expect("the call succeeds through the proxy"),
        "echo: hello"
    );
    // The upstream's error status and message reach the client (trailers).
    c.ready().await.unwrap();
    let e = c
        .unary(Request::new(String::new()), method("/test.Echo/Fail"), Text)
        .await
        .expect_err("the upstream said NOT_FOUND");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert_eq!(e.message(), "no such order: 42");
    // Counted as answered, and the upstream's breaker is untouched.
    let b = get(&p.admin_url("/-/breakers")).await.json();
    assert_eq!(b["orders"]["state"], "closed", "{b}");
}

#[tokio::test]
async fn server_streaming_arrives_message_by_message() {
    let up = grpc_server().await;
    let p = spawn_proxy(&grpc_config(up, "", ""));
    let mut c = grpc_client(p.addr).await;
    c.ready().await.unwrap();
    let mut s = c
        .server_streaming(
            Request::new("5".to_string()),
            method("/test.Echo/Count"),
            Text,
        )
        .await
        .expect("stream opened")
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = s.next().await {
        got.push(m.expect("a message"));
    }
    assert_eq!(got, ["0", "1", "2", "3", "4"]);
    // The status trailer arrived: the stream ended with an OK status.
    let trailers = s.trailers().await;
    assert!(trailers.is_ok(), "{trailers:?}");
}

#[tokio::test]
async fn client_streaming_reaches_the_upstream_whole() {
    let up = grpc_server().await;
    let p = spawn_proxy(&grpc_config(up, "", ""));
    let mut c = grpc_client(p.addr).await;
    c.ready().await.unwrap();
    let parts = futures_util::stream::iter(["a", "b", "c", "d"].map(String::from));
    let r = c
        .client_streaming(Request::new(parts), method("/test.Echo/Join"), Text)
        .await
        .expect("the call succeeds");
    assert_eq!(r.into_inner(), "a,b,c,d");
}

#[tokio::test]
async fn bidirectional_streaming_answers_each_message_as_it_comes() {
    let up = grpc_server().await;
    let p = spawn_proxy(&grpc_config(up, "", ""));
    let mut c = grpc_client(p.addr).await;
    c.ready().await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let outbound = tokio_stream_of(rx);
    tx.send("one".into()).unwrap();
    let mut answers = c
        .streaming(Request::new(outbound), method("/test.Echo/Chat"), Text)
        .await
        .expect("stream opened")
        .into_inner();
    // Each answer comes before the next message is sent: nothing buffered.
    for (i, next) in ["two", "three"].into_iter().enumerate() {
        let got = tokio::time::timeout(PATIENCE, answers.next())
            .await
            .expect("an answer");
        assert_eq!(got.unwrap().unwrap(), ["re: one", "re: two"][i]);
        tx.send(next.into()).unwrap();
    }
    let got = tokio::time::timeout(PATIENCE, answers.next())
        .await
        .expect("an answer");
    assert_eq!(got.unwrap().unwrap(), "re: three");
    drop(tx);
    let end = tokio::time::timeout(PATIENCE, answers.next())
        .await
        .expect("the end");
    assert!(end.is_none(), "{end:?}");
}

/// An unbounded receiver as a stream.
fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> impl futures_util::Stream<Item = String> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn a_grpc_timeout_longer_than_the_route_timeout_is_honoured() {
    let up = grpc_server().await;
    let p = spawn_proxy(&grpc_config(up, "", "    timeout: 200ms\n"));
    let mut c = grpc_client(p.addr).await;
    // The client allows 10 s: the proxy waits past its route's 200 ms.
    c.ready().await.unwrap();
    let mut req = Request::new("700".to_string());
    req.set_timeout(Duration::from_secs(10));
    let r = c.unary(req, method("/test.Echo/Slow"), Text).await;
    assert_eq!(r.expect("honoured").into_inner(), "slept 700 ms");
    // Without a deadline of its own, the route's timeout holds, answered
    // as DEADLINE_EXCEEDED.
    c.ready().await.unwrap();
    let e = c
        .unary(
            Request::new("3000".to_string()),
            method("/test.Echo/Slow"),
            Text,
        )
        .await
        .expect_err("the route's timeout");
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(e.message().contains("upstream_timeout"), "{e:?}");
}

#[tokio::test]
async fn the_proxy_answers_unavailable_for_an_unreachable_upstream_and_an_open_breaker() {
    let dead = dead_addr().await;
    let p = spawn_proxy(&grpc_config(
        dead,
        ", breaker: { failure_threshold: 1 }",
        "",
    ));
    let mut c = grpc_client(p.addr).await;
    c.ready().await.unwrap();
    let e = c
        .unary(
            Request::new("x".to_string()),
            method("/test.Echo/Unary"),
            Text,
        )
        .await
        .expect_err("nobody there");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("upstream_unreachable"), "{e:?}");
    c.ready().await.unwrap();
    let e = c
        .unary(
            Request::new("x".to_string()),
            method("/test.Echo/Unary"),
            Text,
        )
        .await
        .expect_err("breaker open");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("circuit_open"), "{e:?}");
    // The metrics count the open breaker as the 503 it stands for.
    let m = get(&p.admin_url("/metrics")).await.text();
    assert!(
        m.lines()
            .any(|l| l.starts_with("strangler_requests_total") && l.contains("code=\"503\"")),
        "{m}"
    );
}

#[tokio::test]
async fn grpc_to_an_https_upstream_with_protocol_h2() {
    let (cert, key) = self_signed("orders.internal");
    let up = grpc_server_tls(&cert, &key).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  orders: {{ url: https://localhost:{}, protocol: h2, ca: {} }}\nroutes:\n  - name: rpc\n    match: {{ path_prefix: / }}\n    upstream: orders\n",
        up.port(),
        ca.display()
    );
    let p = spawn_proxy(&yaml);
    let mut c = grpc_client(p.addr).await;
    let r = echo(&mut c, "over tls").await;
    assert_eq!(
        r.expect("the call succeeds over h2 and TLS"),
        "echo: over tls"
    );
    c.ready().await.unwrap();
    let mut s = c
        .server_streaming(
            Request::new("3".to_string()),
            method("/test.Echo/Count"),
            Text,
        )
        .await
        .expect("stream")
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = s.next().await {
        got.push(m.expect("a message"));
    }
    assert_eq!(got, ["0", "1", "2"]);
}

#[tokio::test]
async fn auto_speaks_http2_to_an_https_upstream_that_offers_it() {
    let (cert, key) = self_signed("app.internal");
    let up = upstream().tls(&cert, &key).alpn_h2().spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let port = up.url().rsplit(':').next().unwrap().to_string();
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  app: {{ url: https://localhost:{port}, ca: {} }}\n  old: {{ url: https://localhost:{port}, ca: {}, protocol: http1 }}\nroutes:\n  - name: old\n    match: {{ path_prefix: /old }}\n    upstream: old\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: app\n",
        ca.display(),
        ca.display()
    );
    let p = spawn_proxy(&yaml);
    assert_eq!(get(&p.url("/x")).await.status, 200);
    assert_eq!(up.last().version, http::Version::HTTP_2, "ALPN chose h2");
    assert_eq!(get(&p.url("/old/x")).await.status, 200);
    assert_eq!(
        up.last().version,
        http::Version::HTTP_11,
        "protocol: http1 holds"
    );
}
