//! A server connection on in-memory I/O, driving a tiny echo handler:
//! keep-alive, pipelined requests, a chunked body, `Expect: 100-continue`,
//! refused heads, a handler's 499, the HTTP/2 preface, drain.

mod common;
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use strangler_wire::body::{full, BoxedBody};
use strangler_wire::bridge::RequestBody;
use strangler_wire::drain::Drain;
use strangler_wire::server::{serve, Ended};
use strangler_wire::{Handled, Handler, Refusal};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

/// Answers `METHOD path body` (the body read whole); `/gone`: 499;
/// `/short`: the next request's head must come within 50 ms.
struct Echo;

impl Handler for Echo {
    async fn call(&self, slot: &mut Option<Request<RequestBody>>) -> Handled {
        let id = HeaderValue::from_static("req-1");
        let Some(req) = slot.take() else {
            return Handled {
                response: Response::new(full("no request")),
                raw: None,
                request_id: id,
                header_read_timeout: None,
                finished: None,
            };
        };
        let (parts, body) = req.into_parts();
        let mut response = match body.collect().await {
            Ok(b) => {
                let text = format!(
                    "{} {} {}",
                    parts.method,
                    parts.uri,
                    b.to_bytes().escape_ascii()
                );
                Response::new(full(text))
            }
            Err(e) => {
                let mut r = Response::new(full(e.to_string()));
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
        };
        if parts.uri.path() == "/gone" {
            *response.status_mut() = StatusCode::from_u16(strangler_wire::CLIENT_CLOSED).unwrap();
        }
        // `/short`: the configuration it was answered under has a short
        // header timeout, for the connection's next request.
        let short = (parts.uri.path() == "/short").then_some(Duration::from_millis(50));
        Handled {
            response,
            raw: None,
            request_id: id,
            header_read_timeout: short,
            finished: None,
        }
    }

    fn refuse(&self, why: Refusal) -> Response<BoxedBody> {
        let status = match why {
            Refusal::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::Malformed(_) | Refusal::Framing(_) => StatusCode::BAD_REQUEST,
            Refusal::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        };
        let mut r = Response::new(full(why.to_string()));
        *r.status_mut() = status;
        r
    }

    fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
}

/// A connection served by [`Echo`] on one end of a duplex pipe.
fn connect(drain: &Drain, sniff_h2: bool) -> (DuplexStream, JoinHandle<Ended>) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let watch = drain.watch();
    let task = tokio::spawn(async move {
        let (rd, wr) = tokio::io::split(server);
        serve(rd, wr, &Echo, &watch, sniff_h2).await
    });
    (client, task)
}

/// Everything the server writes until it closes.
async fn exchange(requests: &[u8]) -> String {
    let drain = Drain::new();
    let (mut c, task) = connect(&drain, false);
    c.write_all(requests).await.unwrap();
    c.shutdown().await.unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    task.await.unwrap();
    String::from_utf8(out).unwrap()
}

async fn read_response(c: &mut DuplexStream) -> String {
    common::read_message(c).await
}

#[tokio::test]
async fn a_kept_alive_connection_serves_request_after_request() {
    let drain = Drain::new();
    let (mut c, task) = connect(&drain, false);
    for path in ["/one", "/two"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        c.write_all(req.as_bytes()).await.unwrap();
        let resp = read_response(&mut c).await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.contains("x-request-id: req-1\r\n"), "{resp}");
        assert!(!resp.contains("connection: close"), "{resp}");
        assert!(resp.ends_with(&format!("GET {path} ")), "{resp}");
    }
    drop(c);
    assert!(matches!(task.await.unwrap(), Ended::Done));
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let out = exchange(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
          GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let a = out.find("GET /a ").unwrap();
    let b = out.find("POST /b abc").unwrap();
    let c = out.find("GET /c ").unwrap();
    assert!(a < b && b < c, "{out}");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
}

#[tokio::test]
async fn a_chunked_body_reaches_the_handler_whole() {
    let out = exchange(
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("POST /up hello world"), "{out}");
}

#[tokio::test]
async fn a_malformed_chunk_fails_the_body_the_handler_reads() {
    let out =
        exchange(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").await;
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("connection: close\r\n"), "{out}");
}

#[tokio::test]
async fn expect_100_continue_is_answered_when_the_body_is_wanted() {
    let drain = Drain::new();
    let (mut c, task) = connect(&drain, false);
    c.write_all(b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .await
        .unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"data").await.unwrap();
    let resp = read_response(&mut c).await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.ends_with("PUT /x data"), "{resp}");
    drop(c);
    task.await.unwrap();
}

#[tokio::test]
async fn unreadable_heads_are_refused_and_the_connection_closes() {
    let cases: [(&[u8], &str); 4] = [
        (b"NOT HTTP\r\n\r\n", "HTTP/1.1 400 "),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 400 ",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 501 ",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "HTTP/1.1 400 ",
        ),
    ];
    for (req, status) in cases {
        // Another request after it is never read.
        let mut input = req.to_vec();
        input.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
        let out = exchange(&input).await;
        assert!(out.starts_with(status), "{out}");
        assert!(out.contains("connection: close\r\n"), "{out}");
        assert!(!out.contains("/after"), "{out}");
    }
    let huge = format!(
        "GET / HTTP/1.1\r\nCookie: {}\r\n\r\n",
        "a".repeat(strangler_wire::MAX_HEAD)
    );
    let out = exchange(huge.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
    assert!(out.ends_with("request head too large"), "{out}");
}

#[tokio::test]
async fn a_499_from_the_handler_writes_nothing() {
    let out = exchange(b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\n\r\n").await;
    assert_eq!(out, "");
}

#[tokio::test]
async fn connection_close_and_http_1_0_are_honoured() {
    let out =
        exchange(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
            .await;
    assert!(out.contains("connection: close\r\n"), "{out}");
    assert!(!out.contains("/b"), "{out}");
    let out = exchange(b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("connection: close\r\n"), "{out}");
    assert!(!out.contains("/b"), "{out}");
}

#[tokio::test]
async fn the_http2_preface_is_handed_back() {
    let drain = Drain::new();
    let (mut c, task) = connect(&drain, true);
    // In two pieces: a prefix of the preface waits for more.
    c.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    c.write_all(b"\r\nSM\r\n\r\nrest").await.unwrap();
    match task.await.unwrap() {
        Ended::Http2(buf) => assert!(buf.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
        Ended::Done => panic!("HTTP/2 preface not recognised"),
    }
}

#[tokio::test]
async fn a_drain_closes_an_idle_connection() {
    let drain = Drain::new();
    let (mut c, task) = connect(&drain, false);
    c.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut c).await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(
        drain.start_and_wait(Duration::from_secs(5)).await,
        "the connection ended"
    );
    assert!(matches!(task.await.unwrap(), Ended::Done));
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_head_request_gets_no_body() {
    let out = exchange(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // A HEAD answer keeps the Content-Length its handler gave (none here).
    assert!(!out.contains("content-length"), "{out}");
    assert!(out.ends_with("x-request-id: req-1\r\n\r\n"), "{out}");
}

/// The handler loads its configuration once per request and says its
/// header timeout with the answer: the next request on the connection gets
/// it (here 50 ms instead of the handler's 5 s default).
#[tokio::test(start_paused = true)]
async fn an_answer_sets_the_next_request_s_header_timeout() {
    let drain = Drain::new();
    let (mut c, _task) = connect(&drain, false);
    c.write_all(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut c).await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    c.write_all(b"GET /next HT").await.unwrap();
    let t = tokio::time::Instant::now();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}
