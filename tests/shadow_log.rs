//! A shadow log on a disk that stops (here: a FIFO nobody reads, where an
//! open or a write blocks for ever) never stalls a request, the admin API
//! or shutdown: its lines are dropped and counted instead.

mod support;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, |c| c.id())
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_shadow_log_never_stalls_requests() {
    let legacy = upstream().body("{\"a\":1}").spawn().await;
    let shadow = upstream().body("{\"a\":1}").spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("shadow.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (port, admin) = (free_port(), free_port());
    // One worker thread: a blocking write on it would stop everything.
    let yaml = format!(
        "listen: 127.0.0.1:{port}\nworkers: 1\nadmin: {{ listen: 127.0.0.1:{admin} }}\nshadow: {{ log: shadow.fifo }}\nupstreams:\n  legacy: {{ url: {} }}\n  new: {{ url: {} }}\nroutes:\n  - name: shadowed\n    match: {{ path_prefix: / }}\n    upstream: legacy\n    shadow: {{ upstream: new }}\n",
        legacy.url(),
        shadow.url()
    );
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(["run", "--config"])
        .arg(dir.path().join("routes.yaml"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed if the test fails before it ends the proxy itself.
    let mut child = KillOnDrop(Some(child));
    let admin_url = |p: &str| format!("http://127.0.0.1:{admin}{p}");
    eventually(PATIENCE, "the proxy to be ready", || async {
        try_send("GET", &admin_url("/-/ready"), &[], "")
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
    let started = Instant::now();
    for i in 0..200 {
        let r = try_send("GET", &format!("http://127.0.0.1:{port}/x/{i}"), &[], "")
            .await
            .unwrap_or_else(|e| panic!("request {i} failed after {:?}: {e}", started.elapsed()));
        assert_eq!(r.status, 200);
    }
    let health = try_send("GET", &admin_url("/-/health"), &[], "").await;
    assert_eq!(health.map(|r| r.status).ok(), Some(200));
    // Every copy was compared and counted, though none reached the file.
    eventually(PATIENCE, "200 comparisons counted", || async {
        get(&admin_url("/-/shadow")).await.json()["shadowed"]["compared"] == 200
    })
    .await;
    // Shutdown does not hang on the log either.
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    let mut proc = child.0.take().unwrap();
    let status = tokio::task::spawn_blocking(move || proc.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}
