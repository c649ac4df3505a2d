//! Blame the right side: nothing a client sends (a body cut short or
//! malformed, a stalled upload, a reset stream, a dropped connection) may
//! change an upstream's breaker, be retried or fall back; an upload of any
//! speed within the idle limit reaches the upstream; framing the proxy
//! cannot pass on faithfully is refused, and ambiguous framing closes the
//! connection after its answer.

mod support;
use std::time::Duration;

use bytes::Bytes;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `(state, consecutive_failures)` of `upstream`'s breaker.
async fn breaker(p: &ProxyHandle, upstream: &str) -> (String, u64) {
    let b = get(&p.admin_url("/-/breakers")).await.json();
    let b = &b[upstream];
    (
        b["state"].as_str().unwrap_or("?").to_string(),
        b["consecutive_failures"].as_u64().unwrap_or(u64::MAX),
    )
}

async fn metrics(p: &ProxyHandle) -> String {
    get(&p.admin_url("/metrics")).await.text()
}

/// The breaker of `app` is closed with no failure counted, no upstream
/// error was counted, and a normal request is answered by the upstream.
async fn assert_untouched(p: &ProxyHandle, up: &Upstream) {
    assert_eq!(breaker(p, "app").await, ("closed".to_string(), 0));
    let m = metrics(p).await;
    for line in m.lines() {
        if line.starts_with("strangler_upstream_errors_total{") {
            assert!(
                line.ends_with(" 0"),
                "an upstream error was counted: {line}"
            );
        }
        if line.starts_with("strangler_retries_total{")
            || line.starts_with("strangler_fallbacks_total{")
        {
            assert!(line.ends_with(" 0"), "{line}");
        }
    }
    let before = up.hits();
    let r = get(&p.url("/after")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.hits(), before + 1);
}

/// Whether `/metrics` counts a request of `route` answered with `code`.
fn counted(m: &str, code: u16) -> bool {
    m.lines().any(|l| {
        l.starts_with("strangler_requests_total{")
            && l.contains(&format!("code=\"{code}\""))
            && !l.ends_with(" 0")
    })
}

/// Write `bytes`, close the sending side, and read what comes back until
/// the proxy closes (or 10 s pass).
async fn send_then_close(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    s.shutdown().await.expect("shutdown");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Write `bytes` and read until the proxy closes: `(answer, closed)`;
/// `closed` is false when it kept the connection open for 5 s.
async fn send_and_wait_close(addr: std::net::SocketAddr, bytes: &[u8]) -> (String, bool) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_client_faults_never_open_the_breaker() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let head = "POST /up HTTP/1.1\r\nHost: x\r\n";
    let cut_short = format!("{head}Content-Length: 100\r\n\r\n0123456789");
    let cut_mid_chunk = format!("{head}Transfer-Encoding: chunked\r\n\r\n10\r\nabc");
    let bad_size = format!("{head}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
    let bare_lf = format!("{head}Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n");
    for _ in 0..20 {
        for gone in [&cut_short, &cut_mid_chunk] {
            let r = send_then_close(p.addr, gone.as_bytes()).await;
            assert!(r.is_empty(), "a client that went away got an answer: {r}");
        }
        for malformed in [&bad_size, &bare_lf] {
            let r = send_then_close(p.addr, malformed.as_bytes()).await;
            assert_eq!(status_of(&r), 400, "{r}");
            assert!(r.contains("\"bad_request\""), "{r}");
        }
    }
    assert_untouched(&p, &up).await;
    let m = metrics(&p).await;
    assert!(counted(&m, 499), "client_closed (499) is not counted:\n{m}");
    assert!(counted(&m, 400), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_resets_and_dropped_connections_never_open_the_breaker() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    for i in 0..40 {
        let mut c = h2_connect(p.addr).await;
        let before = up.hits();
        let (resp, mut body) = c.upload("/up", Some(100)).await;
        body.reserve_capacity(10);
        body.send_data(Bytes::from_static(b"0123456789"), false)
            .expect("data");
        eventually(PATIENCE, "the upload reaches the upstream", || async {
            up.hits() > before
        })
        .await;
        if i % 2 == 0 {
            body.send_reset(h2::Reason::CANCEL);
            drop(resp);
            drop(body);
            // The connection stays usable after the reset.
        } else {
            drop(resp);
            c.close();
        }
    }
    // Streams up to the connection's limit in flight, then the client goes.
    let mut c = h2_connect(p.addr).await;
    let before = up.hits();
    let mut open = Vec::new();
    for _ in 0..100 {
        let (resp, mut body) = c.upload("/up", None).await;
        body.reserve_capacity(4);
        body.send_data(Bytes::from_static(b"part"), false)
            .expect("data");
        open.push((resp, body));
    }
    eventually(PATIENCE, "100 uploads reach the upstream", || async {
        up.hits() >= before + 100
    })
    .await;
    c.close();
    drop(open);
    // The proxy has seen them all end (the upstream's connections close).
    eventually(PATIENCE, "the proxy notices the client left", || async {
        counted(&metrics(&p).await, 499)
    })
    .await;
    assert_untouched(&p, &up).await;
}

/// 1 MiB at ~100 KB/s: longer than the upstream's 5 s `timeout`, well
/// within the 30 s body idle limit (the shipped defaults).
const SLOW: usize = 1024 * 1024;
const STEP: usize = 10 * 1024;

async fn slow_h1_upload(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: {SLOW}\r\n\r\n");
    s.write_all(head.as_bytes()).await.expect("head");
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut sent = 0;
    while sent < SLOW {
        tick.tick().await;
        let n = STEP.min(SLOW - sent);
        if s.write_all(&vec![b'x'; n]).await.is_err() {
            break;
        }
        sent += n;
    }
    read_description(&mut s).await
}

/// Read an answer until the upstream's description of the request is in
/// (or 30 s of silence).
async fn read_description(s: &mut tokio::net::TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&out).contains("body_len") {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn slow_h2_upload(addr: std::net::SocketAddr) -> Result<(u16, Bytes), String> {
    let mut c = h2_connect(addr).await;
    let (resp, mut body) = c.upload("/slow", Some(SLOW as u64)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut sent = 0;
    while sent < SLOW {
        tick.tick().await;
        let n = STEP.min(SLOW - sent);
        body.reserve_capacity(n);
        body.send_data(Bytes::from(vec![b'x'; n]), sent + n == SLOW)
            .map_err(|e| e.to_string())?;
        sent += n;
    }
    h2_answer(resp, Duration::from_secs(30)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_reach_the_upstream_over_h1_and_h2() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let (h1, h2) = tokio::join!(slow_h1_upload(p.addr), slow_h2_upload(p.addr));
    assert_eq!(status_of(&h1), 200, "HTTP/1.1: {h1}");
    assert!(h1.contains(&format!("\"body_len\":{SLOW}")), "{h1}");
    let (status, body) = h2.expect("HTTP/2 upload");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "HTTP/2: {body}");
    assert!(body.contains(&format!("\"body_len\":{SLOW}")), "{body}");
    assert_untouched(&p, &up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_get_408_and_leave_the_breaker_closed() {
    let up = upstream().spawn().await;
    // The upstream's `timeout` is shorter than the body idle limit: only
    // the idle limit may judge an upload.
    let yaml = format!(
        "listen: 127.0.0.1:0\nlimits: {{ body_idle_timeout: 2s }}\nupstreams:\n  app: {{ url: {}, timeout: 500ms }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: app\n",
        up.url()
    );
    let p = spawn_proxy(&yaml);
    let addr = p.addr;
    let stalls = (0..20).map(move |_| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .await
            .expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    });
    for r in futures_join_all(stalls).await {
        assert_eq!(status_of(&r), 408, "{r}");
        assert!(r.contains("\"request_timeout\""), "{r}");
    }
    assert_untouched(&p, &up).await;
    assert!(counted(&metrics(&p).await, 408));
}

/// A small join_all (no extra dependency for one helper).
async fn futures_join_all<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let set: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in set {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_reads_the_body_and_never_answers_still_times_out() {
    let up = upstream()
        .delay_after_body(Duration::from_secs(600))
        .spawn()
        .await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  app: {{ url: {}, timeout: 1s }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: app\n",
        up.url()
    );
    let p = spawn_proxy(&yaml);
    let started = std::time::Instant::now();
    let r = send("POST", &p.url("/x"), &[], vec![b'y'; 100_000]).await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(started.elapsed() >= Duration::from_secs(1));
    let chunked = chunked_request(
        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        4,
        1000,
        b'z',
    );
    let r = raw_with(p.addr, &chunked, Duration::from_secs(10)).await;
    assert_eq!(status_of(&r), 504, "{r}");
    assert_eq!(breaker(&p, "app").await, ("closed".to_string(), 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_reading_an_upload_times_out() {
    let up = upstream().stall_reading().spawn().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  app: {{ url: {}, timeout: 1s }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: app\n",
        up.url()
    );
    let p = spawn_proxy(&yaml);
    let r = try_send("POST", &p.url("/x"), &[], vec![b'y'; 9 * 1024 * 1024]).await;
    // The proxy answers 504 (the client may see its upload cut instead).
    if let Ok(r) = r {
        assert_eq!(r.status, 504, "{}", r.text());
    }
    eventually(PATIENCE, "the upstream's failure is counted", || async {
        breaker(&p, "app").await.1 == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codings_before_chunked_are_refused_not_dropped() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(
        p.addr,
        b"POST /z HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 501, "{r}");
    assert!(r.contains("\"not_implemented\""), "{r}");
    assert_eq!(up.hits(), 0);
    assert_untouched(&p, &up).await;
}

/// Requests whose framing two parsers could read differently. Each is sent
/// with a second request right behind it: the proxy answers the first (or
/// refuses it) and closes, and the second never reaches the upstream.
const AMBIGUOUS: &[(&str, &[u8])] = &[
    ("GET with Content-Length", b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
    ("GET with chunked", b"GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("HEAD with Content-Length", b"HEAD /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
    ("HEAD with chunked", b"HEAD /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("GET with TE", b"GET /a HTTP/1.1\r\nHost: x\r\nTE: chunked\r\n\r\n"),
    ("GET with Content_Length", b"GET /a HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\nhello"),
    ("POST with Content_Length", b"POST /a HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\nhello"),
    ("Transfer_Encoding", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("Transfer---Encoding", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer---Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("Transfer___Encoding", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer___Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("Content--Length", b"POST /a HTTP/1.1\r\nHost: x\r\nContent--Length: 5\r\n\r\nhello"),
    ("duplicate Content-Length", b"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("chunked and Content-Length", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("gzip and Content-Length", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"),
    ("chunked in HTTP/1.0", b"POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("name with a trailing space", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("name with a trailing tab", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n"),
    ("name with a control byte", b"POST /a HTTP/1.1\r\nHost: x\r\n\x01Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("name with a space inside", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer- Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("name with a printable tail", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding x: chunked\r\n\r\n0\r\n\r\n"),
    ("empty name", b"POST /a HTTP/1.1\r\nHost: x\r\n: chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("name starting with a colon", b"POST /a HTTP/1.1\r\nHost: x\r\n:X:Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("blank name", b"POST /a HTTP/1.1\r\nHost: x\r\n \t : chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("long s", "POST /a HTTP/1.1\r\nHost: x\r\nTran\u{17f}fer-Encoding: chunked\r\n\r\n0\r\n\r\n".as_bytes()),
    ("dotless i", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encod\u{131}ng: chunked\r\n\r\n0\r\n\r\n".as_bytes()),
    ("non-ASCII byte", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\x88: chunked\r\n\r\n0\r\n\r\n"),
    ("NBSP before Content-Length", b"POST /a HTTP/1.1\r\nHost: x\r\n\xa0Content-Length: 5\r\n\r\nhello"),
    ("folded Transfer-Encoding", b"POST /a HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_is_answered_then_the_connection_closes() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    for (name, req) in AMBIGUOUS {
        let mut bytes = req.to_vec();
        bytes.extend_from_slice(smuggled);
        let (answer, closed) = send_and_wait_close(p.addr, &bytes).await;
        assert!(
            closed,
            "{name}: the connection stayed open after {answer:?}"
        );
        // Status lines: "HTTP/1.1 " and three digits.
        let answers = answer
            .split("HTTP/1.1 ")
            .skip(1)
            .filter(|rest| rest.len() >= 3 && rest.as_bytes()[..3].iter().all(u8::is_ascii_digit))
            .count();
        assert!(answers <= 1, "{name}: {answers} answers: {answer}");
        let status = status_of(&answer);
        assert!(
            matches!(status, 200 | 400 | 501),
            "{name}: {status}: {answer}"
        );
    }
    for s in up.seen() {
        assert_ne!(
            s.target, "/smuggled",
            "a smuggled request reached the upstream"
        );
        for (k, _) in &s.headers {
            let letters: String = k
                .as_str()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            assert!(
                !matches!(letters.as_str(), "contentlength" | "transferencoding")
                    || matches!(k.as_str(), "content-length" | "transfer-encoding"),
                "a look-alike framing field reached the upstream: {k}"
            );
        }
    }
    assert_untouched(&p, &up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_to_an_https_upstream_is_not_its_timeout() {
    let (cert, key) = support::tls::self_signed("upstream-one");
    let up = upstream().tls(&cert, &key).spawn().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up-ca.pem"), &cert).unwrap();
    let path = dir.path().join("routes.yaml");
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  app: {{ url: {}, ca: up-ca.pem, timeout: 1s }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: app\n",
        up.url()
    );
    std::fs::write(&path, &yaml).unwrap();
    let p = spawn_proxy_at(dir, path);
    // 300 KB at ~100 KB/s: three times the upstream's timeout.
    let mut s = tokio::net::TcpStream::connect(p.addr)
        .await
        .expect("connect");
    let total = 30 * STEP;
    let head = format!("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n");
    s.write_all(head.as_bytes()).await.expect("head");
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..30 {
        tick.tick().await;
        s.write_all(&vec![b'x'; STEP]).await.expect("body");
    }
    let r = read_description(&mut s).await;
    assert_eq!(status_of(&r), 200, "{r}");
    assert!(r.contains(&format!("\"body_len\":{total}")), "{r}");
    assert_untouched(&p, &up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_faults_are_never_retried_nor_sent_to_the_fallback() {
    let up = upstream().spawn().await;
    let legacy = upstream().spawn().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  app: {{ url: {} }}\n  legacy: {{ url: {} }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: app\n    fallback: legacy\n    retry: {{ attempts: 3 }}\n",
        up.url(),
        legacy.url()
    );
    let p = spawn_proxy(&yaml);
    let head = "PUT /up HTTP/1.1\r\nHost: x\r\n";
    for _ in 0..20 {
        for gone in [
            format!("{head}Content-Length: 100\r\n\r\n0123456789"),
            format!("{head}Transfer-Encoding: chunked\r\n\r\n10\r\nabc"),
        ] {
            assert_eq!(send_then_close(p.addr, gone.as_bytes()).await, "");
        }
        let r = send_then_close(
            p.addr,
            format!("{head}Transfer-Encoding: chunked\r\n\r\nzz\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&r), 400, "{r}");
    }
    assert_eq!(
        legacy.hits(),
        0,
        "a client's failure was sent to the fallback"
    );
    assert_eq!(breaker(&p, "legacy").await, ("closed".to_string(), 0));
    assert_untouched(&p, &up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_says_499_400_and_408() {
    let up = upstream().spawn().await;
    let limits = "limits: { body_idle_timeout: 1s }\n";
    let p = spawn_binary(
        |port, admin| {
            let listen =
                format!("listen: 127.0.0.1:{port}\nadmin: {{ listen: 127.0.0.1:{admin} }}\n");
            simple_config(&up.url()).replace("listen: 127.0.0.1:0\n", &format!("{listen}{limits}"))
        },
        Logs::Json,
    )
    .await;
    let addr = p.addr();
    let head = |id: &str| format!("POST /up HTTP/1.1\r\nHost: x\r\nX-Request-Id: {id}\r\n");
    let gone = format!("{}Content-Length: 100\r\n\r\n0123456789", head("gone"));
    assert_eq!(send_then_close(addr, gone.as_bytes()).await, "");
    let bad = format!("{}Transfer-Encoding: chunked\r\n\r\nzz\r\n", head("bad"));
    assert_eq!(status_of(&send_then_close(addr, bad.as_bytes()).await), 400);
    let stalled = format!("{}Content-Length: 100\r\n\r\n0123456789", head("stalled"));
    let (r, _) = send_and_wait_close(addr, stalled.as_bytes()).await;
    assert_eq!(status_of(&r), 408, "{r}");
    let m = get(&p.admin_url("/metrics")).await.text();
    for code in [499, 400, 408] {
        assert!(counted(&m, code), "{code} not counted:\n{m}");
    }
    p.sigterm();
    let (_, lines) = p.stop().await;
    let lines = json_lines(&lines);
    for (id, status) in [("gone", 499), ("bad", 400), ("stalled", 408)] {
        let line = lines
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id} in {lines:?}"));
        assert_eq!(line["status"], status, "{line}");
        assert_eq!(line["route"], "all", "{line}");
    }
}
