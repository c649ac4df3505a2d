//! A shadow log on a disk that stops (here: a FIFO nobody reads, where an
//! open or a write blocks for ever) never stalls a request, the admin API
//! or shutdown: its lines are dropped and counted instead.

mod support;
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_shadow_log_never_stalls_requests() {
    let legacy = upstream().body("{\"a\":1}").spawn().await;
    let shadow = upstream().body("{\"a\":1}").spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("shadow.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // One worker thread: a blocking write on it would stop everything.
    let p = spawn_binary_in(
        dir,
        |port, admin| {
            format!(
                "listen: 127.0.0.1:{port}\nworkers: 1\nadmin: {{ listen: 127.0.0.1:{admin} }}\nshadow: {{ log: shadow.fifo }}\nupstreams:\n  legacy: {{ url: {} }}\n  new: {{ url: {} }}\nroutes:\n  - name: shadowed\n    match: {{ path_prefix: / }}\n    upstream: legacy\n    shadow: {{ upstream: new }}\n",
                legacy.url(),
                shadow.url()
            )
        },
        Logs::Quiet,
    )
    .await;
    let started = Instant::now();
    for i in 0..200 {
        let r = try_send("GET", &p.url(&format!("/x/{i}")), &[], "")
            .await
            .unwrap_or_else(|e| panic!("request {i} failed after {:?}: {e}", started.elapsed()));
        assert_eq!(r.status, 200);
    }
    let health = try_send("GET", &p.admin_url("/-/health"), &[], "").await;
    assert_eq!(health.map(|r| r.status).ok(), Some(200));
    // Every copy was compared and counted, though none reached the file.
    eventually(PATIENCE, "200 comparisons counted", || async {
        get(&p.admin_url("/-/shadow")).await.json()["shadowed"]["compared"] == 200
    })
    .await;
    // Shutdown does not hang on the log either.
    p.sigterm();
    let t = Instant::now();
    let (status, _) = p.stop().await;
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}
