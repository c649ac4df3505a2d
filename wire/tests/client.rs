//! The upstream pool against a scripted server on 127.0.0.1: an exchange,
//! the connection reused for the next, a chunked answer, a request body,
//! and a refused connection.

mod common;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use strangler_wire::body::{empty, full};
use strangler_wire::client::{Pool, SendError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

async fn read_request(s: &mut TcpStream) -> String {
    common::read_message(s).await
}

#[tokio::test]
async fn exchanges_reuse_one_pooled_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // One connection only: the second exchange must reuse it.
        let (mut s, _) = listener.accept().await.unwrap();
        let first = read_request(&mut s).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello")
            .await
            .unwrap();
        let second = read_request(&mut s).await;
        s.write_all(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            .await
            .unwrap();
        (first, second)
    });
    let pool = Pool::new(&addr.to_string(), Duration::from_secs(2), 4);
    let req = Request::builder()
        .uri("/one?q=1")
        .header("host", "up")
        .body(empty())
        .unwrap();
    let resp = pool
        .send(req, &[], Duration::from_secs(2), false, Instant::now())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-a"], "1");
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "hello"
    );

    let req = Request::builder()
        .method(Method::POST)
        .uri("/two")
        .header("host", "up")
        .body(full("payload"))
        .unwrap();
    let resp = pool
        .send(req, &[], Duration::from_secs(2), false, Instant::now())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "abcde"
    );

    let (first, second) = server.await.unwrap();
    assert!(first.starts_with("GET /one?q=1 HTTP/1.1\r\n"), "{first}");
    assert!(second.starts_with("POST /two HTTP/1.1\r\n"), "{second}");
    assert!(second.contains("content-length: 7\r\n"), "{second}");
    assert!(second.ends_with("\r\n\r\npayload"), "{second}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let pool = Pool::new(&addr.to_string(), Duration::from_secs(2), 4);
    let req = Request::builder().uri("/").body(empty()).unwrap();
    let got = pool
        .send(req, &[], Duration::from_secs(2), false, Instant::now())
        .await;
    assert!(matches!(got, Err(SendError::Connect(_))), "{:?}", got.err());
}

#[tokio::test]
async fn no_answer_in_time_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let pool = Pool::new(&addr.to_string(), Duration::from_secs(2), 4);
    let req = Request::builder().uri("/slow").body(empty()).unwrap();
    let got = pool
        .send(req, &[], Duration::from_millis(100), false, Instant::now())
        .await;
    assert!(matches!(got, Err(SendError::Timeout)), "{:?}", got.err());
}

#[test]
fn idempotent_methods_follow_rfc_9110() {
    for m in [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ] {
        assert!(strangler_wire::idempotent(&m), "{m}");
    }
    for m in [Method::POST, Method::PATCH, Method::CONNECT] {
        assert!(!strangler_wire::idempotent(&m), "{m}");
    }
}

/// A server that answers its connection's first request at once and
/// never answers the second.
async fn answers_once() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let _ = read_request(&mut s).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    addr
}

#[tokio::test]
async fn a_reused_connection_times_out_by_each_request_s_own_timeout() {
    // The connection's timer was set for a long first timeout; the second
    // request's short one must still hold, and not fire before its time.
    for (first, second) in [(20_000, 300), (300, 300)] {
        let addr = answers_once().await;
        let pool = Pool::new(&addr.to_string(), Duration::from_secs(2), 4);
        let req = Request::builder().uri("/one").body(empty()).unwrap();
        let resp = pool
            .send(
                req,
                &[],
                Duration::from_millis(first),
                false,
                Instant::now(),
            )
            .await
            .unwrap();
        resp.into_body().collect().await.unwrap();
        let req = Request::builder().uri("/two").body(empty()).unwrap();
        let started = std::time::Instant::now();
        let got = pool
            .send(
                req,
                &[],
                Duration::from_millis(second),
                false,
                Instant::now(),
            )
            .await;
        let took = started.elapsed();
        assert!(matches!(got, Err(SendError::Timeout)), "{:?}", got.err());
        assert!(took >= Duration::from_millis(second), "early: {took:?}");
        assert!(
            took < Duration::from_secs(10),
            "the first timeout held: {took:?}"
        );
    }
}
