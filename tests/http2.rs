//! HTTP/2 answers are gathered per connection (`src/server/coalesce.rs`):
//! many streams in flight on one connection each get their own whole body,
//! small ones and ones larger than what is gathered before a write, over
//! h2c and over TLS. (A lone stream's answer is not held back: the HTTP/2
//! server-sent events test in `streams.rs` stalls if it is.)

mod support;

use bytes::Bytes;
use support::tls::*;
use support::*;

/// The bodies of the streams: most a few bytes, every tenth 100 KB.
fn bodies() -> Vec<Vec<u8>> {
    (0..50)
        .map(|i| {
            if i % 10 == 9 {
                vec![b'a' + (i % 26) as u8; 100_000]
            } else {
                format!("stream {i}").into_bytes()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_streams_at_once_on_one_connection_each_get_their_own_body() {
    let up = upstream().echo_body().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let mut c = h2_connect(p.addr).await;
    let mut answers = Vec::new();
    for body in bodies() {
        let (resp, mut send) = c.upload("/echo", Some(body.len() as u64)).await;
        send.send_data(Bytes::from(body.clone()), true)
            .expect("data");
        // Read concurrently: an unread answer holds the connection's window.
        answers.push((tokio::spawn(h2_answer(resp, PATIENCE)), body));
    }
    for (i, (answer, body)) in answers.into_iter().enumerate() {
        let (status, got) = answer.await.expect("task").expect("answer");
        assert_eq!(status, 200, "stream {i}");
        assert_eq!(got.len(), body.len(), "stream {i}: the whole body");
        assert!(got == body, "stream {i}: its own body");
    }
    assert_eq!(up.hits(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_streams_at_once_over_tls_each_get_their_own_body() {
    let up = upstream().echo_body().spawn().await;
    let (cert, key) = self_signed("edge-h2");
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), &cert, &key);
    let path = dir.path().join("routes.yaml");
    let config = simple_config(&up.url()).replace(
        "listen: 127.0.0.1:0\n",
        "listen: 127.0.0.1:0\ntls: { cert: certs/edge.crt, key: certs/edge.key }\n",
    );
    std::fs::write(&path, config).unwrap();
    let p = spawn_proxy_at(dir, path);
    let client = https2_client(&cert);
    let url = format!("https://localhost:{}/echo", p.addr.port());
    let mut answers = Vec::new();
    for body in bodies() {
        let req = http::Request::post(&url)
            .body(http_body_util::Full::new(Bytes::from(body.clone())))
            .unwrap();
        let client = client.clone();
        let answer = tokio::spawn(async move {
            let resp = tokio::time::timeout(PATIENCE, client.request(req)).await;
            let resp = resp.expect("in time").expect("answer");
            let version = resp.version();
            let status = resp.status().as_u16();
            let got = http_body_util::BodyExt::collect(resp.into_body()).await;
            (version, status, got.expect("body").to_bytes())
        });
        answers.push((answer, body));
    }
    for (i, (answer, body)) in answers.into_iter().enumerate() {
        let (version, status, got) = answer.await.expect("task");
        assert_eq!(
            (version, status),
            (http::Version::HTTP_2, 200),
            "stream {i}"
        );
        assert_eq!(got.len(), body.len(), "stream {i}: the whole body");
        assert!(got == body, "stream {i}: its own body");
    }
    assert_eq!(up.hits(), 50);
}
