//! Streams through the proxy: server-sent events relayed as they are sent
//! (the upstream sends the next event only once the client has the last
//! one, so a proxy that buffered would stall the test), over HTTP/1.1 and
//! HTTP/2, and a route's own `body_idle_timeout` for streams that are
//! quiet by design.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// An SSE upstream: one chunk `data: N` per event. Event N+1 goes out
/// `gap` after event N, and, with a gate, only once the test says so.
async fn sse_upstream(
    events: usize,
    gap: Duration,
    gate: Option<mpsc::UnboundedReceiver<()>>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut gate = gate;
        while let Ok((mut s, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b).await {
                    Ok(n) if n > 0 => head.extend_from_slice(&b[..n]),
                    _ => break,
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            for i in 0..events {
                if i > 0 {
                    tokio::time::sleep(gap).await;
                }
                if let Some(g) = gate.as_mut() {
                    if g.recv().await.is_none() {
                        return;
                    }
                }
                let event = format!("data: {i}\n\n");
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                if s.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = s.write_all(b"0\r\n\r\n").await;
        }
    });
    addr
}

fn sse_config(up: SocketAddr, extra_route: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nlimits: {{ body_idle_timeout: 300ms }}\nupstreams:\n  app: {{ url: http://{up} }}\nroutes:\n{extra_route}  - name: events\n    match: {{ path_prefix: / }}\n    upstream: app\n"
    )
}

/// A GET over HTTP/2 (prior knowledge) to `addr`: the answer's head,
/// within the deadline.
async fn h2_get(addr: SocketAddr, path: &str) -> http::Response<hyper::body::Incoming> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{addr}{path}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    tokio::time::timeout(PATIENCE, send.send_request(req))
        .await
        .expect("the head within the deadline")
        .unwrap()
}

/// Read from `s` until `needle` has arrived; what was read.
async fn read_until(s: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) -> bool {
    let mut b = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        match tokio::time::timeout(PATIENCE, s.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&b[..n]),
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn server_sent_events_arrive_one_by_one_over_http1() {
    let (tx, rx) = mpsc::unbounded_channel();
    let up = sse_upstream(20, Duration::ZERO, Some(rx)).await;
    let p = spawn_proxy(&sse_config(up, ""));
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut delays = Vec::new();
    for i in 0..20 {
        let sent = Instant::now();
        tx.send(()).unwrap();
        assert!(
            read_until(&mut s, &mut seen, &format!("data: {i}\n\n")).await,
            "event {i} never reached the client: {}",
            String::from_utf8_lossy(&seen)
        );
        delays.push(sent.elapsed());
    }
    assert!(read_until(&mut s, &mut seen, "0\r\n\r\n").await);
    delays.sort();
    println!(
        "event delays (gate to client): median {:?}, max {:?}",
        delays[10], delays[19]
    );
    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(text.contains("content-type: text/event-stream"), "{text}");
}

#[tokio::test]
async fn server_sent_events_arrive_one_by_one_over_http2() {
    let (tx, rx) = mpsc::unbounded_channel();
    let up = sse_upstream(20, Duration::ZERO, Some(rx)).await;
    let p = spawn_proxy(&sse_config(up, ""));
    tx.send(()).unwrap();
    let resp = h2_get(p.addr, "/events").await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    for i in 0..20 {
        if i > 0 {
            tx.send(()).unwrap();
        }
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .unwrap_or_else(|_| panic!("event {i} never reached the client"))
            .expect("a frame")
            .expect("no error");
        let data = frame.into_data().expect("data");
        assert_eq!(&data[..], format!("data: {i}\n\n").as_bytes());
    }
}

#[tokio::test]
async fn a_route_quiet_by_design_sets_its_own_body_idle_timeout() {
    // One event, a second of silence, another: longer than the global
    // 300 ms, shorter than the `quiet` route's 10 s.
    let up = sse_upstream(2, Duration::from_secs(1), None).await;
    let quiet = "  - name: quiet\n    match: { path_prefix: /quiet }\n    upstream: app\n    body_idle_timeout: 10s\n";
    let p = spawn_proxy(&sse_config(up, quiet));
    let r = get(&p.url("/quiet/stream")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "data: 0\n\ndata: 1\n\n");
    // The route without its own timeout cuts the silent stream.
    let cut = try_send("GET", &p.url("/events"), &[], "").await;
    // Cut: the body ends with an error, or at most the first event came.
    if let Ok(r) = cut {
        assert_eq!(r.text(), "data: 0\n\n", "the stream was not cut");
    }
}

/// An upstream answering with chunked trailers (and a barred one).
async fn trailer_upstream() -> Upstream {
    upstream()
        .raw_response(b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\ntrailer: grpc-status, grpc-message\r\n\r\n5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: all good\r\ncontent-length: 99\r\n\r\n")
        .spawn()
        .await
}

#[tokio::test]
async fn chunked_trailers_reach_an_http1_client() {
    let up = trailer_upstream().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let raw = raw(
        p.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert!(
        raw.ends_with("5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: all good\r\n\r\n"),
        "{raw:?}"
    );
    assert!(
        !raw.to_ascii_lowercase().contains("content-length: 99"),
        "a Content-Length trailer is not passed on: {raw}"
    );
}

#[tokio::test]
async fn chunked_trailers_reach_an_http2_client() {
    let up = trailer_upstream().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let resp = h2_get(p.addr, "/").await;
    let collected = tokio::time::timeout(PATIENCE, resp.into_body().collect())
        .await
        .unwrap()
        .unwrap();
    let trailers = collected.trailers().cloned().expect("trailers over h2");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "all good");
    assert!(trailers.get("content-length").is_none());
    assert_eq!(&collected.to_bytes()[..], b"hello");
}
