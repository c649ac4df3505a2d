//! Shadow copies on the pipelined lane (`strangler_wire::pipeline`): copies written
//! together in one send once the shadow answers fast, and every copy still
//! compared when the shadow upstream ends connections in the middle of a
//! pipeline — saying so, as NGINX does after `keepalive_requests`, or not.

mod support;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use strangler_wire::client::SendError;
use strangler_wire::pipeline::{Answer, Job, Lane};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BODY: &str = r#"{"id":1,"items":[1,2,3]}"#;

/// A raw HTTP/1.1 upstream for bodyless requests, answering each with
/// `BODY`. After `per_conn` answers it ends the connection, dropping what
/// it already read: `polite`, the last answer says `Connection: close`;
/// otherwise it just closes. Requests for `/slow…` take `slow` to answer.
struct Ender {
    addr: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
    /// The most complete requests that arrived in one read.
    most_in_one_read: Arc<AtomicUsize>,
    /// Connections accepted, and of those still open.
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Ender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn ender(per_conn: usize, polite: bool) -> Ender {
    ender_with(per_conn, polite, Duration::ZERO).await
}

async fn ender_with(per_conn: usize, polite: bool, slow: Duration) -> Ender {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (accepted, open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, m, a, o) = (
        Arc::clone(&requests),
        Arc::clone(&most),
        Arc::clone(&accepted),
        Arc::clone(&open),
    );
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (r, m, o) = (Arc::clone(&r), Arc::clone(&m), Arc::clone(&o));
            a.fetch_add(1, Ordering::SeqCst);
            o.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _open = Open(o);
                let mut buf = Vec::new();
                let mut answered = 0;
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let mut heads = Vec::new();
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buf.drain(..end + 4).collect();
                        heads.push(head.starts_with(b"GET /slow"));
                    }
                    m.fetch_max(heads.len(), Ordering::SeqCst);
                    for is_slow in heads {
                        if is_slow {
                            tokio::time::sleep(slow).await;
                        }
                        r.fetch_add(1, Ordering::SeqCst);
                        answered += 1;
                        let last = answered == per_conn;
                        let close = if last && polite {
                            "connection: close\r\n"
                        } else {
                            ""
                        };
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{close}content-length: {}\r\n\r\n{BODY}",
                            BODY.len()
                        );
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        if last {
                            return;
                        }
                    }
                }
            });
        }
    });
    Ender {
        addr,
        requests,
        most_in_one_read: most,
        accepted,
        open,
        task,
    }
}

/// Counts a connection as open until its task ends.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn config(primary: &str, shadow: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nupstreams:\n  legacy: {{ url: {primary} }}\n  new: {{ url: {shadow}, timeout: 5s }}\nroutes:\n  - name: mirrored\n    match: {{ path_prefix: / }}\n    upstream: legacy\n    shadow: {{ upstream: new }}\n"
    )
}

async fn get_owned(url: String) -> Resp {
    get(&url).await
}

/// `total` GETs, `at_once` at a time; then every copy must be compared, and match.
async fn all_copies_compared(shadow: &Ender, total: usize, at_once: usize) {
    let primary = upstream().body(BODY).spawn().await;
    let p = spawn_proxy(&config(&primary.url(), &format!("http://{}", shadow.addr)));
    for round in 0..total / at_once {
        let calls: Vec<_> = (0..at_once)
            .map(|i| tokio::spawn(get_owned(p.url(&format!("/items/{}", round * at_once + i)))))
            .collect();
        for call in calls {
            let r = call.await.expect("the client task");
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), BODY);
        }
    }
    let report = || async { get(&p.admin_url("/-/shadow")).await.json()["mirrored"].clone() };
    eventually(PATIENCE, &format!("{total} comparisons"), || async {
        let r = report().await;
        r["compared"].as_u64().unwrap_or(0) + r["shadow_errors"].as_u64().unwrap_or(0)
            >= total as u64
    })
    .await;
    let r = report().await;
    assert_eq!(r["compared"], total, "{r}");
    assert_eq!(r["matched"], total, "{r}");
    assert_eq!(r["shadow_errors"], 0, "{r}");
    assert!(shadow.requests.load(Ordering::SeqCst) >= total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_proxy_copies_are_all_compared_when_the_shadow_drops_connections() {
    let shadow = ender(3, false).await;
    all_copies_compared(&shadow, 120, 20).await;
}

/// What became of a [`Probe`]: its path, answer status, and time.
type Done = (String, Result<u16, String>, Duration);

/// A job for the lane itself: its answer goes to a shared list.
struct Probe {
    method: Method,
    path: String,
    done: Arc<Mutex<Vec<Done>>>,
}

impl Job for Probe {
    fn method(&self) -> &Method {
        &self.method
    }
    fn write(&mut self, out: &mut Vec<u8>) {
        let head = format!("GET {} HTTP/1.1\r\nhost: shadow\r\n\r\n", self.path);
        out.extend_from_slice(head.as_bytes());
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
    fn max_body(&self) -> u64 {
        1024
    }
    fn finish(self: Box<Self>, answer: Result<Answer, SendError>, took: Duration) {
        let r = match answer {
            Ok(a) if a.body.as_deref() == Some(BODY.as_bytes()) => Ok(a.status.as_u16()),
            Ok(a) => Err(format!("unexpected body {:?}", a.body)),
            Err(e) => Err(format!("{e:?}")),
        };
        self.done
            .lock()
            .expect("lock")
            .push((self.path.clone(), r, took));
    }
}

/// Warm a lane to `shadow` up one request at a time (it learns that the
/// upstream answers fast), then queue `burst` paths at once; every answer
/// must come back right. Returns what became of the burst, and the most
/// requests the upstream got in one read.
async fn warm_then_burst(shadow: &Ender, burst: &[String]) -> (Vec<Done>, usize) {
    // A budget no test machine's delays reach: the burst is one batch.
    let budget = Duration::from_secs(60);
    let lane = Lane::with_budget(&shadow.addr.to_string(), Duration::from_secs(2), 8, budget);
    let done = Arc::new(Mutex::new(Vec::new()));
    let submit = |path: String| {
        lane.submit(Box::new(Probe {
            method: Method::GET,
            path,
            done: Arc::clone(&done),
        }))
    };
    let finished = |n: usize| {
        let done = Arc::clone(&done);
        move || {
            let done = Arc::clone(&done);
            async move { done.lock().expect("lock").len() >= n }
        }
    };
    for i in 0..30 {
        submit(format!("/warm/{i}"));
        eventually(PATIENCE, "a warm-up answer", finished(i + 1)).await;
    }
    assert_eq!(shadow.most_in_one_read.load(Ordering::SeqCst), 1);
    // Queued with no await between them: written together.
    for path in burst {
        submit(path.clone());
    }
    eventually(PATIENCE, "the burst's answers", finished(30 + burst.len())).await;
    let results = done.lock().expect("lock").clone();
    assert!(results.iter().all(|(_, r, _)| r == &Ok(200)), "{results:?}");
    assert_eq!(results.len(), 30 + burst.len());
    let most = shadow.most_in_one_read.load(Ordering::SeqCst);
    (results[30..].to_vec(), most)
}

fn paths(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}/{i}")).collect()
}

// One thread: the burst is all queued before a driver runs.
#[tokio::test]
async fn a_fast_upstream_gets_the_queued_copies_in_one_write() {
    let shadow = ender(usize::MAX, true).await;
    let (_, most) = warm_then_burst(&shadow, &paths("/burst", 20)).await;
    assert!(
        most >= 2,
        "the burst was not pipelined (at most {most} per read)"
    );
}

// One thread: the burst is all queued before a driver runs.
#[tokio::test]
async fn answers_held_behind_a_slow_one_are_not_timed_as_slow() {
    let shadow = ender_with(usize::MAX, true, Duration::from_millis(600)).await;
    let mut burst = vec!["/slow/0".to_string()];
    burst.extend(paths("/fast", 10));
    let (done, most) = warm_then_burst(&shadow, &burst).await;
    assert!(
        most >= 2,
        "the burst was not pipelined (at most {most} per read)"
    );
    for (path, _, took) in &done {
        if path.starts_with("/slow") {
            assert!(*took >= Duration::from_millis(600), "{path}: {took:?}");
        } else {
            // Answered right after the slow one, 600 ms after the write.
            assert!(*took < Duration::from_millis(300), "{path}: {took:?}");
        }
    }
}

// One thread: the burst is all queued before a driver runs.
#[tokio::test]
async fn unanswered_requests_of_an_ended_pipeline_are_sent_again() {
    // Connections end after 3 answers: a pipelined burst of 20 loses its
    // tail on each, which goes again on the next connection.
    for polite in [true, false] {
        let shadow = ender(3, polite).await;
        let (_, most) = warm_then_burst(&shadow, &paths("/burst", 20)).await;
        assert!(
            most >= 2,
            "the burst was not pipelined (at most {most} per read)"
        );
        assert!(shadow.requests.load(Ordering::SeqCst) >= 50);
    }
}

#[tokio::test]
async fn idle_connections_are_kept_up_to_max_idle() {
    // Slow answers and no pipelining: ten copies at once take ten connections.
    let shadow = ender_with(usize::MAX, true, Duration::from_millis(50)).await;
    let lane = Lane::with_budget(
        &shadow.addr.to_string(),
        Duration::from_secs(2),
        2,
        Duration::from_micros(1),
    );
    let done = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        lane.submit(Box::new(Probe {
            method: Method::GET,
            path: format!("/slow/{i}"),
            done: Arc::clone(&done),
        }));
    }
    eventually(PATIENCE, "ten answers", || async {
        done.lock().expect("lock").len() >= 10
    })
    .await;
    assert!(done
        .lock()
        .expect("lock")
        .iter()
        .all(|(_, r, _)| r == &Ok(200)));
    assert!(shadow.accepted.load(Ordering::SeqCst) >= 3);
    // Then all but `max_idle` of them are closed.
    eventually(PATIENCE, "idle connections down to 2", || async {
        shadow.open.load(Ordering::SeqCst) <= 2
    })
    .await;
}
