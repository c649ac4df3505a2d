//! `limits.keepalive_timeout`: a client connection with no request in
//! flight for that long is closed, over HTTP/1.1 and over HTTP/2 (GOAWAY
//! first). A request that takes longer than the timeout is still answered,
//! and an answer that streams for longer keeps its connection: the timeout
//! counts idleness, not a request's time.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(upstream_url: &str) -> String {
    simple_config(upstream_url) + "limits:\n  keepalive_timeout: 1s\n"
}

/// One bodiless request on an HTTP/2 connection; its status.
async fn h2_get(c: &mut H2, path: &str) -> u16 {
    let (resp, mut send) = c.upload(path, Some(0)).await;
    send.send_data(Bytes::new(), true)
        .expect("end of the request");
    h2_answer(resp, PATIENCE).await.expect("answer").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_after_the_keepalive_timeout() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&config(&up.url()));
    let mut c = h2_connect(p.addr).await;
    assert_eq!(h2_get(&mut c, "/a").await, 200);
    let idle = Instant::now();
    // Before: nothing closed an idle HTTP/2 connection whose client answers
    // the proxy's PINGs (h2 does, by itself): it stayed open for ever.
    assert!(
        c.closed_within(PATIENCE).await,
        "an HTTP/2 connection idle for 1 s past its keepalive_timeout must be closed"
    );
    assert!(
        idle.elapsed() >= Duration::from_millis(900),
        "closed after {:?}: before its keepalive_timeout",
        idle.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_that_never_opens_a_stream_is_closed() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&config(&up.url()));
    // The handshake (preface, SETTINGS) and then nothing: idle from the start.
    let mut c = h2_connect(p.addr).await;
    assert!(
        c.closed_within(PATIENCE).await,
        "an HTTP/2 connection that never opened a stream must be closed"
    );
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_stream_longer_than_the_keepalive_timeout_is_answered() {
    let up = upstream().delay(Duration::from_millis(3500)).spawn().await;
    let p = spawn_proxy(&config(&up.url()));
    let mut c = h2_connect(p.addr).await;
    // In flight across three timeouts: the connection is busy, not idle.
    assert_eq!(h2_get(&mut c, "/slow").await, 200);
    // And the connection still takes the next request at once.
    assert_eq!(h2_get(&mut c, "/slow-again").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http1_connection_is_closed_after_the_keepalive_timeout() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&config(&up.url()));
    let mut s = tokio::net::TcpStream::connect(p.addr)
        .await
        .expect("connect");
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let idle = Instant::now();
    // Read the answer, then wait for the close (75 s before the limit existed).
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        closed.is_ok(),
        "a keep-alive connection idle past its keepalive_timeout must be closed"
    );
    assert!(
        idle.elapsed() >= Duration::from_millis(900),
        "closed after {:?}",
        idle.elapsed()
    );
}

#[test]
fn a_keepalive_timeout_of_zero_is_refused_with_a_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("routes.yaml");
    std::fs::write(
        &path,
        simple_config("http://127.0.0.1:9") + "limits:\n  keepalive_timeout: 0s\n",
    )
    .expect("write");
    let err = strangler::config::load(&path).expect_err("0s must be refused");
    let msg = err.to_string();
    assert!(msg.contains("keepalive_timeout"), "names the field: {msg}");
    assert!(msg.contains("zero"), "says what is wrong: {msg}");
    assert!(msg.contains("routes.yaml:"), "points at the file: {msg}");
}

/// An upstream whose answers stream: five chunks, `gap` apart, then the
/// end (keep-alive: it answers each request on a connection in turn).
async fn streaming_upstream(gap: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 4096];
                loop {
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut b).await {
                            Ok(n) if n > 0 => head.extend_from_slice(&b[..n]),
                            _ => return,
                        }
                    }
                    let start = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                    if s.write_all(start).await.is_err() {
                        return;
                    }
                    for i in 0..5 {
                        tokio::time::sleep(gap).await;
                        let chunk = format!("2\r\n{i}\n\r\n");
                        if s.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    if s.write_all(b"0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_answer_still_streaming_keeps_its_connection() {
    let up = streaming_upstream(Duration::from_millis(700)).await;
    let p = spawn_proxy(&config(&format!("http://{up}")));
    let mut c = h2_connect(p.addr).await;
    // The head comes at once, the body over 3.5 s: three timeouts with the
    // stream open, though its answer's future is done.
    let (resp, mut send) = c.upload("/events", Some(0)).await;
    send.send_data(Bytes::new(), true)
        .expect("end of the request");
    let (status, body) = h2_answer(resp, PATIENCE).await.expect("the whole stream");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"0\n1\n2\n3\n4\n");
    // Closed (GOAWAY) while it streamed, the connection would refuse this.
    assert_eq!(h2_get(&mut c, "/events").await, 200);
}
