//! The HTTP/1.1 wire on both sides, as clients and upstreams see it:
//! pipelining, `Expect: 100-continue`, HTTP/1.0 keep-alive, HEAD, bodies
//! the handler never read, chunked upstream answers, and pooled upstream
//! connections (reused, and replaced when the upstream closed them).

mod support;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(
        p.addr,
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.matches("HTTP/1.1 200 OK").count(), 3, "{r}");
    // The last asked to close: its answer says so, once.
    assert_eq!(r.matches("connection: close").count(), 1, "{r}");
    let targets: Vec<String> = up.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/1", "/2", "/3"]);
    // Each answer describes its own request, in order.
    let at = |t: &str| r.find(&format!("\"target\":\"{t}\"")).expect(t);
    assert!(at("/1") < at("/2") && at("/2") < at("/3"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let up = upstream().echo_body().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk))
            .await
            .expect("no 100 Continue before the body")
            .unwrap();
        assert!(n > 0, "closed before 100 Continue");
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"), "{got:?}");
    s.write_all(b"hello").await.unwrap();
    let mut more = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut more))
        .await
        .unwrap()
        .unwrap();
    // The echoing upstream may answer its head before the body arrives,
    // so the final head can come in the same read as the 100.
    got.extend_from_slice(&more);
    let rest = String::from_utf8_lossy(&got["HTTP/1.1 100 Continue\r\n\r\n".len()..]).into_owned();
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.ends_with("hello"), "{rest}");
    assert!(!up.last().headers.contains_key("expect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_clients_keep_alive_only_when_they_ask() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(
        p.addr,
        b"GET /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\nHost: x\r\n\r\n",
    )
    .await;
    // /a keeps the connection, /b (no keep-alive) ends it: /c is never read.
    assert_eq!(r.matches("HTTP/1.1 200 OK").count(), 2, "{r}");
    assert!(r.contains("connection: keep-alive"), "{r}");
    assert_eq!(up.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_keep_the_length_and_carry_no_body() {
    let up = upstream().body("0123456789").spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(
        p.addr,
        b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    // Two answers; the first (HEAD) ends at its blank line, no body.
    let second = r[1..].find("HTTP/1.1 200").map(|i| i + 1).expect(&r);
    let head_answer = &r[..second];
    assert!(head_answer.starts_with("HTTP/1.1 200"), "{r}");
    assert!(head_answer.contains("content-length: 10"), "{r}");
    assert!(
        head_answer.ends_with("\r\n\r\n"),
        "a HEAD answer with a body: {r}"
    );
    assert!(r.ends_with("0123456789"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_the_proxy_did_not_read_closes_the_connection() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()).replace("path_prefix: /", "path_prefix: /only"));
    // No route: the 404 is decided before the body is read, so what
    // follows on the connection cannot be trusted and is never served.
    let r = raw(
        p.addr,
        b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /only HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 404, "{r}");
    assert_eq!(r.matches("HTTP/1.1").count(), 1, "{r}");
    assert!(r.contains("connection: close"), "{r}");
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upstream_answers_reach_the_client_whole() {
    let up = upstream()
        .raw_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n6; ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        .spawn()
        .await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = get(&p.url("/c")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello world");
    assert_eq!(r.header("content-type"), Some("text/plain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_pooled_and_reused() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    for i in 0..20 {
        assert_eq!(get(&p.url(&format!("/r/{i}"))).await.status, 200);
    }
    assert_eq!(up.hits(), 20);
    assert_eq!(
        up.connections(),
        1,
        "sequential requests share one connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_upstream_closed_are_replaced_not_failed() {
    // Answers as if keeping the connection, then closes it every time: the
    // pooled connection is dead by the next request.
    let up = upstream()
        .raw_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .spawn()
        .await;
    let p = spawn_proxy(&simple_config(&up.url()));
    for i in 0..20 {
        let r = get(&p.url(&format!("/r/{i}"))).await;
        assert_eq!((r.status, r.text().as_str()), (200, "ok"), "request {i}");
    }
    assert_eq!(up.hits(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_upload_ends_reaches_the_client() {
    // The upstream refuses at the head and closes without reading the body.
    let up = upstream()
        .raw_response(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!",
        )
        .spawn()
        .await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = send("POST", &p.url("/upload"), &[], vec![b'x'; 4 * 1024 * 1024]).await;
    assert_eq!((r.status, r.text().as_str()), (413, "big!"));
}
