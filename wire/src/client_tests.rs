//! The pool from inside: what an idle connection keeps between exchanges,
//! how a long head arrives, how an upload writes.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::Pool;
use crate::body::empty;

/// `GET path` through the pool, its answer's head.
async fn get(pool: &Arc<Pool>, path: &str) -> http::Response<super::ResponseBody> {
    let req = Request::get(path)
        .header("host", "up")
        .body(empty())
        .unwrap();
    pool.send(req, &[], Duration::from_secs(5), false, Instant::now())
        .await
        .unwrap()
}

/// Bigger than the stack read that begins a response head (8 KiB): the
/// body's rest is read into the connection's buffer.
const BODY: usize = 20_000;

#[tokio::test]
async fn an_idle_pooled_connection_keeps_no_read_buffer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                seen.drain(..end + 4);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n\r\n");
                s.write_all(head.as_bytes()).await.unwrap();
                s.write_all(&vec![b'x'; BODY]).await.unwrap();
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
    });
    let pool = Pool::new(&addr.to_string(), Duration::from_secs(5), 4);
    for path in ["/one", "/two"] {
        let body = get(&pool, path).await.into_body().collect().await;
        let body = body.unwrap().to_bytes();
        assert_eq!(body.len(), BODY, "{path}: the whole body");
    }
    let idle = pool.idle.lock().unwrap();
    assert_eq!(idle.len(), 1, "both exchanges on one pooled connection");
    assert_eq!(
        idle[0].0.buf.capacity(),
        0,
        "an idle connection holds a read buffer"
    );
}

/// A head longer than the stack read (8 KiB) arrives in pieces: the first
/// from the stack, the rest appended to it.
#[tokio::test]
async fn a_response_head_longer_than_the_first_read_arrives_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cookie = "c".repeat(20_000);
    let head = format!("HTTP/1.1 200 OK\r\nSet-Cookie: {cookie}\r\nContent-Length: 2\r\n\r\nok");
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut chunk = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
        // In three writes, so that the proxy's reads find it in pieces.
        for part in head.as_bytes().chunks(7_000) {
            s.write_all(part).await.unwrap();
            s.flush().await.unwrap();
        }
    });
    let pool = Pool::new(&addr.to_string(), Duration::from_secs(5), 4);
    let resp = get(&pool, "/").await;
    assert_eq!(resp.headers()["set-cookie"].len(), 20_000);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");
}

/// An upload's writer (the stall limit around the connection) gathers as
/// the connection does: a body chunk held behind its head leaves with it.
#[tokio::test]
async fn an_upload_writer_gathers_like_its_connection() {
    use std::io::IoSlice;
    use tokio::io::AsyncWrite;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let (_rd, wr) = client.unwrap().into_split();
    let mut wr = crate::conn::StallLimit::new(wr, Duration::from_secs(5));
    assert!(wr.is_write_vectored(), "the upload must gather");
    let head = b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
    let n = wr
        .write_vectored(&[IoSlice::new(head), IoSlice::new(b"body")])
        .await
        .unwrap();
    assert_eq!(n, head.len() + 4, "one write takes head and body");
    let mut got = vec![0u8; n];
    accepted.unwrap().0.read_exact(&mut got).await.unwrap();
    assert!(got.ends_with(b"\r\n\r\nbody"));
}

/// Under load, one wake-up brings both new requests and answers. A request
/// that finds the pool empty waits for the tasks already woken before it
/// connects: an answer among them puts its connection back, and the
/// request takes that one instead of opening another (which the pool,
/// full again, would then close: churn).
#[tokio::test]
async fn a_connection_put_back_in_the_same_wake_up_is_taken_rather_than_a_new_one() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::{mpsc, oneshot};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    // The upstream tells when the first request is in and when its answer
    // is written; it answers that one only when told, the rest at once.
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<()>();
    let (go_tx, go) = oneshot::channel::<()>();
    let (written_tx, written) = oneshot::channel::<()>();
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut first = Some((go, written_tx));
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let held = first.take();
            let arrived_tx = arrived_tx.clone();
            tokio::spawn(async move {
                let mut held = held;
                let mut seen = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let told = match held.take() {
                            Some((go, written_tx)) => {
                                let _ = arrived_tx.send(());
                                let _ = go.await;
                                Some(written_tx)
                            }
                            None => None,
                        };
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                        if let Some(written_tx) = told {
                            let _ = written_tx.send(());
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    let pool = Pool::new(&addr.to_string(), Duration::from_secs(5), 4);
    let exchange = |path| {
        let pool = &pool;
        async move {
            let body = get(pool, path).await.into_body().collect().await;
            body.unwrap().to_bytes()
        }
    };
    let mut first = std::pin::pin!(exchange("/first"));
    tokio::select! {
        _ = &mut first => panic!("answered before the upstream was told to"),
        r = arrived.recv() => r.unwrap(),
    }
    // The first answer is written while its exchange is not polled, and the
    // reactor sees it (a yield runs after the reactor's next turn).
    go_tx.send(()).unwrap();
    written.await.unwrap();
    tokio::task::yield_now().await;
    // One wake-up: the second request finds the pool empty, then the
    // first exchange reads its answer and puts its connection back.
    let (second, first) = tokio::join!(exchange("/second"), first);
    assert_eq!((&first[..], &second[..]), (&b"ok"[..], &b"ok"[..]));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "the second request opened a connection while the first one's came back"
    );
}
