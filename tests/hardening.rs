//! Known attacks on reverse proxies, each sent as raw bytes: request
//! smuggling (CL.TE, TE.CL, duplicate and malformed Content-Length,
//! obfuscated Transfer-Encoding), h2c upgrades, huge heads, HTTP/2 floods,
//! many idle connections, a burst of new clients while the proxy is
//! stopped, and more clients than the proxy has file descriptors for. No
//! smuggled request may reach an upstream, no flood may open a breaker,
//! and the proxy must stay up.

mod support;
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The upstream saw only these request targets, never a smuggled one.
fn assert_no_smuggling(up: &Upstream, allowed: &[&str]) {
    for s in up.seen() {
        assert!(
            allowed.contains(&s.target.as_str()),
            "smuggled request reached the upstream: {} {}",
            s.method,
            s.target
        );
        assert!(
            !(s.headers.contains_key("content-length")
                && s.headers.contains_key("transfer-encoding")),
            "both framing headers reached the upstream: {:?}",
            s.headers
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cl_te_smuggling_is_neutralized() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let attack = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n";
    let r = raw(p.addr, attack).await;
    eprintln!("CL.TE answered: {}", r.lines().next().unwrap_or(""));
    assert!(matches!(status_of(&r), 400 | 200), "{r}");
    if status_of(&r) == 200 {
        // Forwarded: framed by TE alone, or the upstream (hyper, which
        // refuses both) would not have answered.
        assert_eq!(up.seen().len(), 1, "{r}");
    }
    assert_no_smuggling(&up, &["/a"]);
    assert_eq!(get(&p.url("/after")).await.status, 200);
    assert_no_smuggling(&up, &["/a", "/after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn te_cl_smuggling_is_neutralized() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let attack = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n2d\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\nX: yyyyyyy\r\n\r\n0\r\n\r\n";
    let r = raw(p.addr, attack).await;
    eprintln!("TE.CL answered: {}", r.lines().next().unwrap_or(""));
    assert!(matches!(status_of(&r), 400 | 200), "{r}");
    if status_of(&r) == 200 {
        assert_eq!(up.seen().len(), 1, "{r}");
    }
    assert_no_smuggling(&up, &["/a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_framing_header_reaches_the_upstream() {
    // A raw upstream: it sees the bytes the proxy sends, before any parser
    // could drop a conflicting header.
    let up = upstream()
        .raw_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .spawn()
        .await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(
        p.addr,
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200, "{r}");
    let head = up
        .raw_heads()
        .pop()
        .expect("no request reached the upstream")
        .to_ascii_lowercase();
    assert!(
        !(head.contains("content-length") && head.contains("transfer-encoding")),
        "both framing headers were forwarded:\n{head}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_malformed_content_length_get_400() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    for cl in [
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: 5, 6",
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: +5",
        "Content-Length: 0x5",
        "Content-Length: 5 5",
    ] {
        let req = format!("POST /a HTTP/1.1\r\nHost: x\r\n{cl}\r\n\r\nhello!");
        let r = raw(p.addr, req.as_bytes()).await;
        eprintln!("{cl:?} answered: {}", r.lines().next().unwrap_or(""));
        assert_eq!(status_of(&r), 400, "{cl}: {r}");
    }
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obfuscated_transfer_encoding_is_refused() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    for te in [
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: identity",
        "Transfer-Encoding : chunked",
        "Transfer-Encoding:\tchunked\r\nTransfer-Encoding: x",
        " Transfer-Encoding: chunked",
    ] {
        let req = format!("POST /a HTTP/1.1\r\nHost: x\r\n{te}\r\nContent-Length: 3\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = raw(p.addr, req.as_bytes()).await;
        eprintln!("{te:?} answered: {}", r.lines().next().unwrap_or(""));
        assert!(status_of(&r) >= 400 || status_of(&r) == 0, "{te}: {r}");
    }
    assert_no_smuggling(&up, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_upgrade_is_not_honoured_or_forwarded() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let r = raw(p.addr, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n").await;
    assert!(
        r.starts_with("HTTP/1.1 200"),
        "no 101 Switching Protocols: {r}"
    );
    let seen = up.last().headers;
    assert!(
        !seen.contains_key("upgrade")
            && !seen.contains_key("http2-settings")
            && !seen.contains_key("connection"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100kb_header_gets_431() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let big = "a".repeat(100 * 1024);
    let r = raw(
        p.addr,
        format!("GET /a HTTP/1.1\r\nHost: x\r\nCookie: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&r), 431, "{}", &r[..r.len().min(100)]);
    assert_eq!(up.hits(), 0);
    assert_eq!(get(&p.url("/a")).await.status, 200);
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Write until the server closes the connection; returns the bytes written.
async fn write_until_closed(
    addr: std::net::SocketAddr,
    head: Vec<u8>,
    mut next: impl FnMut(u32) -> Vec<u8>,
    max_frames: u32,
) -> (u32, bool) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&head).await.unwrap();
    let mut sent = 0;
    for i in 0..max_frames {
        if s.write_all(&next(i)).await.is_err() {
            return (sent, true);
        }
        sent += 1;
    }
    // Everything was written; did the server close (EOF or GOAWAY then EOF)?
    let mut buf = vec![0u8; 65536];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or(false);
    (sent, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_continuation_flood_ends_the_connection() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let mut head = PREFACE.to_vec();
    head.extend(frame(4, 0, 0, &[]));
    // HEADERS without END_HEADERS, then an endless header block.
    head.extend(frame(1, 0x1, 1, &[0x82, 0x86, 0x84, 0x41, 0x01, b'x']));
    let block: Vec<u8> = (0..16)
        .flat_map(|_| {
            let mut l = vec![0x40, 0x03, b'a', b'b', b'c', 0x7f, 0x00];
            l.extend(std::iter::repeat_n(b'v', 0x7f - 1));
            l
        })
        .collect();
    let (sent, closed) = write_until_closed(p.addr, head, |_| frame(9, 0, 1, &block), 20_000).await;
    eprintln!("CONTINUATION flood: {sent} frames written before the close");
    assert!(closed, "the connection survived a CONTINUATION flood");
    assert_eq!(up.hits(), 0);
    assert_eq!(
        get(&p.url("/ok")).await.status,
        200,
        "the proxy is still up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_rapid_reset_ends_the_connection() {
    let up = upstream().delay(Duration::from_millis(200)).spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    let mut head = PREFACE.to_vec();
    head.extend(frame(4, 0, 0, &[]));
    // Open a stream (END_HEADERS | END_STREAM) and reset it at once, over and over.
    let (sent, closed) = write_until_closed(
        p.addr,
        head,
        |i| {
            let id = 1 + 2 * i;
            let mut f = frame(1, 0x4 | 0x1, id, &[0x82, 0x86, 0x84, 0x41, 0x01, b'x']);
            f.extend(frame(3, 0, id, &8u32.to_be_bytes()));
            f
        },
        50_000,
    )
    .await;
    eprintln!(
        "rapid reset: {sent} streams opened and reset; upstream saw {}",
        up.hits()
    );
    assert!(closed, "the connection survived a rapid-reset flood");
    assert!(
        up.hits() < 1000,
        "rapid reset amplified into {} upstream requests",
        up.hits()
    );
    assert_eq!(
        get(&p.url("/ok")).await.status,
        200,
        "the proxy is still up"
    );
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_idle_connections_use_bounded_memory() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    get(&p.url("/warm")).await;
    let before = rss_kib();
    let mut conns = Vec::new();
    for _ in 0..2000 {
        match tokio::net::TcpStream::connect(p.addr).await {
            Ok(c) => conns.push(c),
            Err(e) => panic!("connect failed after {} connections: {e}", conns.len()),
        }
    }
    // Every connection accepted and idle: the proxy answers one more client.
    eventually(
        PATIENCE,
        "the proxy to answer beside 2000 idle connections",
        || async { get(&p.url("/b")).await.status == 200 },
    )
    .await;
    let grown = rss_kib().saturating_sub(before);
    eprintln!("2000 idle connections: RSS grew by {grown} KiB (test process, both ends)");
    assert!(grown < 64 * 1024, "2000 idle connections cost {grown} KiB");
    drop(conns);
}

/// A burst of new clients while the proxy cannot run (a container
/// throttled by its CPU quota, a stop): the kernel completes their
/// handshakes into the listen queue by itself. That queue must hold a burst:
/// at std's default of 128, the SYNs past it are dropped and those clients
/// wait a second or more for a retransmit. Once the proxy runs again, every
/// queued client is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_clients_while_the_proxy_is_stopped_is_queued_then_answered() {
    const BURST: usize = 300;
    let up = upstream().body("OK").spawn().await;
    let p = spawn_binary(|port, admin| simple_on(&up.url(), port, admin), Logs::Quiet).await;
    p.signal("STOP");
    let addr = p.addr();
    let connects: Vec<_> = (0..BURST)
        .map(|_| {
            tokio::spawn(tokio::time::timeout(
                PATIENCE,
                tokio::net::TcpStream::connect(addr),
            ))
        })
        .collect();
    let mut conns = Vec::new();
    for c in connects {
        if let Ok(Ok(Ok(s))) = c.await {
            conns.push(s);
        }
    }
    // Still stopped: only the kernel has answered so far.
    let connected = conns.len();
    p.signal("CONT");
    assert_eq!(
        connected, BURST,
        "clients whose handshake completed while the proxy was stopped"
    );
    let answers: Vec<_> = conns
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let req = b"GET /burst HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";
                s.write_all(req).await?;
                let mut got = Vec::new();
                tokio::time::timeout(PATIENCE, s.read_to_end(&mut got)).await??;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(got)
            })
        })
        .collect();
    let mut ok = 0;
    for a in answers {
        if let Ok(Ok(got)) = a.await {
            ok += usize::from(got.starts_with(b"HTTP/1.1 200") && got.ends_with(b"OK"));
        }
    }
    assert_eq!(
        ok, BURST,
        "queued clients answered 200 once the proxy ran again"
    );
    assert_eq!(up.hits(), BURST);
}

/// 300 clients at once, each waiting 1.5 s for a slow upstream, through
/// the binary started under `ulimit {nofile}`: how many got each answer
/// (`200`, or the status and the proxy's error kind), and whether the
/// upstream's breaker is still closed with no failure counted.
async fn flood(nofile: &str) -> (Binary, Upstream, BTreeMap<String, usize>) {
    let up = upstream()
        .body("OK")
        .delay(Duration::from_millis(1500))
        .spawn()
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nofile"), nofile).unwrap();
    let p = spawn_binary_in(
        dir,
        |port, admin| simple_on(&up.url(), port, admin),
        Logs::Quiet,
    )
    .await;
    let calls: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let url = p.url("/many");
            tokio::spawn(async move { try_send("GET", &url, &[], "").await })
        })
        .collect();
    let mut answers = BTreeMap::new();
    for c in calls {
        let what = match c.await.unwrap() {
            Ok(r) if r.status == 200 => "200".to_string(),
            Ok(r) => format!("{} {}", r.status, r.json()["error"]),
            Err(e) => format!("error: {e}"),
        };
        *answers.entry(what).or_insert(0) += 1;
    }
    let b = get(&p.admin_url("/-/breakers")).await.json();
    assert_eq!(
        (
            b["app"]["state"].as_str(),
            b["app"]["consecutive_failures"].as_u64()
        ),
        (Some("closed"), Some(0)),
        "the upstream's breaker after {answers:?}: {b}"
    );
    (p, up, answers)
}

const CLIENTS: usize = 300;

/// Started with a soft open-files limit below the load (a shell's or
/// systemd's 1024; here 256 for 300 clients, each needing a socket to the
/// client and one to the upstream), the proxy raises it to the hard limit
/// at startup: every request is answered by the upstream, none refused
/// for want of a file descriptor, and none blamed on the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_soft_limit_on_open_files_is_raised_at_startup() {
    let (_p, up, answers) = flood("-Sn 256").await;
    assert_eq!(
        answers,
        [("200".to_string(), CLIENTS)].into(),
        "answers to {CLIENTS} clients at once"
    );
    assert_eq!(up.hits(), CLIENTS);
}

/// At its hard open-files limit (200 here, for 300 clients at once) the
/// proxy cannot open a socket to the upstream for some of them: those get
/// 503 `proxy_overloaded` from the proxy itself, and the upstream is not
/// blamed. Its breaker stays closed, and after the burst a request is
/// answered by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_open_files_blames_no_upstream() {
    let (p, _up, answers) = flood("-n 200").await;
    let overloaded = answers
        .get("503 \"proxy_overloaded\"")
        .copied()
        .unwrap_or(0);
    assert!(overloaded > 0, "some clients past the limit: {answers:?}");
    assert_eq!(
        answers.get("200").copied().unwrap_or(0) + overloaded,
        CLIENTS,
        "only the upstream's answers and the proxy's own refusals: {answers:?}"
    );
    let after = get(&p.url("/after")).await;
    assert_eq!((after.status, after.text()), (200, "OK".to_string()));
}
