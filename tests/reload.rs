//! Hot reload with real files and a real proxy: in-place writes, editor
//! write-and-rename, a Kubernetes ConfigMap `..data` swap, SIGHUP,
//! `POST /-/reload`, bad files that change nothing, identical content, and
//! a storm of reloads under concurrent traffic with zero failed requests.
//! Latencies are printed, not asserted (they are measured in isolation:
//! `cargo test --test reload -- --test-threads 1 --nocapture`).

mod support;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn config(a: &str, b: &str, target: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nupstreams:\n  a: {{ url: {a} }}\n  b: {{ url: {b} }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: {target}\n"
    )
}

async fn pair() -> (Upstream, Upstream) {
    (
        upstream().body("A").spawn().await,
        upstream().body("B").spawn().await,
    )
}

/// Wait until `/` is answered by `want`; returns how long it took.
async fn wait_for_body(p: &ProxyHandle, want: &str) -> Duration {
    let t = Instant::now();
    eventually(PATIENCE, &format!("the proxy to serve {want}"), || async {
        get(&p.url("/")).await.text() == want
    })
    .await;
    t.elapsed()
}

async fn admin_json(p: &ProxyHandle, path: &str) -> serde_json::Value {
    get(&p.admin_url(path)).await.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_write_applies() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    assert_eq!(get(&p.url("/")).await.text(), "A");
    p.write_config(&config(&a.url(), &b.url(), "b"));
    let took = wait_for_body(&p, "B").await;
    eprintln!("in-place write applied in {took:?}");
    assert_eq!(admin_json(&p, "/-/config").await["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editor_write_temp_and_rename_is_seen_every_time() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    for (round, target) in ["b", "a", "b"].iter().enumerate() {
        let tmp = p.dir.path().join(format!(".routes.yaml.swp{round}"));
        std::fs::write(&tmp, config(&a.url(), &b.url(), target)).unwrap();
        std::fs::rename(&tmp, &p.config_path).unwrap();
        let took = wait_for_body(&p, &target.to_uppercase()).await;
        eprintln!("rename #{round} applied in {took:?}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_configmap_symlink_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let (a, b) = pair().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("..2026_01_01_ts1")).unwrap();
    std::fs::write(
        d.join("..2026_01_01_ts1/routes.yaml"),
        config(&a.url(), &b.url(), "a"),
    )
    .unwrap();
    symlink("..2026_01_01_ts1", d.join("..data")).unwrap();
    symlink("..data/routes.yaml", d.join("routes.yaml")).unwrap();
    let path = d.join("routes.yaml");
    let p = spawn_proxy_at(dir, path);
    assert_eq!(get(&p.url("/")).await.text(), "A");
    // The kubelet's atomic swap: new timestamped dir, new symlink, rename over `..data`.
    let d = p.dir.path();
    std::fs::create_dir(d.join("..2026_01_01_ts2")).unwrap();
    std::fs::write(
        d.join("..2026_01_01_ts2/routes.yaml"),
        config(&a.url(), &b.url(), "b"),
    )
    .unwrap();
    symlink("..2026_01_01_ts2", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    std::fs::remove_dir_all(d.join("..2026_01_01_ts1")).unwrap();
    let took = wait_for_body(&p, "B").await;
    eprintln!("ConfigMap swap applied in {took:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_file_that_emitted_no_event() {
    use std::os::unix::fs::symlink;
    let (a, b) = pair().await;
    // The watched directory holds only a symlink; the real file changes
    // elsewhere, so no event reaches the watcher: only SIGHUP can tell.
    let real = tempfile::tempdir().unwrap();
    let real_file = real.path().join("real.yaml");
    std::fs::write(&real_file, config(&a.url(), &b.url(), "a")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    symlink(&real_file, dir.path().join("routes.yaml")).unwrap();
    let path = dir.path().join("routes.yaml");
    let p = spawn_proxy_at(dir, path);
    assert_eq!(get(&p.url("/")).await.text(), "A");
    std::fs::write(&real_file, config(&a.url(), &b.url(), "b")).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // give a (wrong) watcher every chance to fire
    assert_eq!(
        get(&p.url("/")).await.text(),
        "A",
        "no event should have been seen"
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_body(&p, "B").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reload_answers_200_or_422_and_a_bad_file_changes_nothing() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    let r = p.reload().await;
    assert_eq!(
        (r.status, r.json()["version"].as_u64()),
        (200, Some(1)),
        "identical content: no new version"
    );
    // Broken YAML: 422 with the line, routing unchanged, error shown until fixed.
    p.write_config(
        &config(&a.url(), &b.url(), "b").replace("routes:\n", "routes:\n  - name: [oops\n"),
    );
    let r = p.reload().await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.json()["line"].as_u64().is_some(), "{}", r.text());
    assert_eq!(get(&p.url("/")).await.text(), "A");
    let cfg = admin_json(&p, "/-/config").await;
    assert_eq!(cfg["version"], 1);
    assert!(cfg["last_error"]["line"].as_u64().is_some(), "{cfg}");
    assert!(cfg["last_error"]["at"].as_str().is_some(), "{cfg}");
    // An invalid reference: same.
    p.write_config(&config(&a.url(), &b.url(), "nope"));
    let r = p.reload().await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("unknown upstream `nope`"),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["line"], 8);
    // Empty (a half-written file): same.
    p.write_config("");
    assert_eq!(p.reload().await.status, 422);
    assert_eq!(get(&p.url("/")).await.text(), "A");
    // A good file: applied, error cleared.
    p.write_config(&config(&a.url(), &b.url(), "b"));
    let r = p.reload().await;
    assert_eq!(r.status, 200);
    assert_eq!(get(&p.url("/")).await.text(), "B");
    let cfg = admin_json(&p, "/-/config").await;
    assert!(cfg["last_error"].is_null(), "{cfg}");
    assert!(cfg["version"].as_u64().unwrap() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_content_does_not_bump_the_version() {
    let (a, b) = pair().await;
    let yaml = config(&a.url(), &b.url(), "a");
    let p = spawn_proxy(&yaml);
    let before = admin_json(&p, "/-/config").await;
    p.write_config(&yaml);
    let tmp = p.dir.path().join("tmp.yaml");
    std::fs::write(&tmp, &yaml).unwrap();
    std::fs::rename(&tmp, &p.config_path).unwrap();
    // A later, different edit proves the watcher had time to see the others.
    let changed = yaml.replace("name: all", "name: everything");
    p.write_config(&changed);
    eventually(PATIENCE, "the rename of the route", || async {
        admin_json(&p, "/-/config").await["routes"][0] == "everything"
    })
    .await;
    let after = admin_json(&p, "/-/config").await;
    assert_eq!(
        after["version"], 2,
        "only the real change counted: {before} -> {after}"
    );
    assert_ne!(after["sha256"], before["sha256"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_changes_are_kept_with_a_warning() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    p.write_config(
        &config(&a.url(), &b.url(), "b").replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:1"),
    );
    assert_eq!(p.reload().await.status, 200);
    assert_eq!(
        get(&p.url("/")).await.text(),
        "B",
        "the rest of the change applied on the old listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_storm_under_load_fails_no_request() {
    let (a, b) = pair().await;
    let p = Arc::new(spawn_proxy(&config(&a.url(), &b.url(), "a")));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (p, stop, ok) = (Arc::clone(&p), Arc::clone(&stop), Arc::clone(&ok));
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match try_send("GET", &p.url("/x"), &[], "").await {
                    Ok(r) if r.status == 200 && (r.text() == "A" || r.text() == "B") => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("{} {}", r.status, r.text())),
                    Err(e) => failures.push(e),
                }
            }
            failures
        }));
    }
    let mut applied = 0;
    let reloads = 300;
    for i in 0..reloads {
        let target = if i % 2 == 0 { "b" } else { "a" };
        let tmp = p.dir.path().join("storm.tmp");
        std::fs::write(&tmp, config(&a.url(), &b.url(), target)).unwrap();
        std::fs::rename(&tmp, Path::new(&p.config_path)).unwrap();
        let r = p.reload().await;
        assert_eq!(r.status, 200, "{}", r.text());
        applied += usize::from(r.json()["changed"] == true);
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await.unwrap());
    }
    let served = ok.load(Ordering::Relaxed);
    eprintln!("reload storm: {reloads} edits, {applied} applied by POST /-/reload (the others by the watcher first), {served} requests, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "failed requests: {:?}",
        &failures[..failures.len().min(5)]
    );
    assert!(
        served > 100,
        "the clients made too few requests ({served}) to mean anything"
    );
    assert!(
        admin_json(&p, "/-/config").await["version"]
            .as_u64()
            .unwrap()
            >= reloads as u64 / 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    let r = get(&p.admin_url("/-/health")).await;
    assert_eq!((r.status, r.text().trim()), (200, "ok"));
    assert_eq!(get(&p.admin_url("/-/ready")).await.status, 200);
    let cfg = admin_json(&p, "/-/config").await;
    assert_eq!(cfg["routes"], serde_json::json!(["all"]));
    assert_eq!(cfg["upstreams"], serde_json::json!(["a", "b"]));
    assert_eq!(cfg["sha256"].as_str().map(str::len), Some(64));
    assert!(cfg["path"].as_str().unwrap().ends_with("routes.yaml"));
    assert_eq!(get(&p.admin_url("/-/nope")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_upstreams_keep_their_pooled_connections() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    assert_eq!(get(&p.url("/")).await.text(), "A");
    assert_eq!(a.connections(), 1);
    // A change elsewhere in the file: upstream `a` is carried over, pool and all.
    p.write_config(&config(&a.url(), &b.url(), "a").replace("name: all", "name: renamed"));
    assert_eq!(p.reload().await.status, 200);
    for _ in 0..3 {
        assert_eq!(get(&p.url("/")).await.text(), "A");
    }
    assert_eq!(
        a.connections(),
        1,
        "the pooled connection was reused across the reload"
    );
    // A change to the upstream itself: a new client, a new connection.
    let url = a.url();
    let slower = config(&url, &b.url(), "a").replace(
        &format!("{{ url: {url} }}"),
        &format!("{{ url: {url}, timeout: 4s }}"),
    );
    p.write_config(&slower);
    let r = p.reload().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&p.url("/")).await.text(), "A");
    assert_eq!(a.connections(), 2);
}

/// Edits that keep coming (every 100 ms for 4 s, faster than the 200 ms
/// quiet period) still apply while they come: at least once a second, not
/// once after the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_that_keep_coming_apply_at_least_once_a_second() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut applied_while_editing = 0;
    let mut last = 1;
    for n in 0..40 {
        tick.tick().await;
        // Different content each time (the hash decides what is new).
        p.write_config(&format!("# edit {n}\n{}", config(&a.url(), &b.url(), "a")));
        let v = admin_json(&p, "/-/config").await["version"]
            .as_u64()
            .unwrap_or(0);
        if v > last {
            applied_while_editing += 1;
            last = v;
        }
    }
    // 4 s of edits: a reload a second at the least (3 on a slow machine).
    assert!(
        applied_while_editing >= 3,
        "only {applied_while_editing} reloads applied during 4 s of edits"
    );
}

/// `POST /-/reload?dry_run=1` says what the file on disk would change, and
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reload_plans_and_applies_nothing() {
    let (a, b) = pair().await;
    let p = spawn_proxy(&config(&a.url(), &b.url(), "a"));
    p.write_config(&format!(
        "# moving to b\n{}",
        config(&a.url(), &b.url(), "b")
    ));
    let r = send("POST", &p.admin_url("/-/reload?dry_run=1"), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["plan"]["routes"][0]["kind"], "changed", "{j}");
    let moved =
        j["plan"]["samples"].as_array().unwrap().iter().any(|s| {
            s["request"] == "GET /" && s["before"] == "all → a" && s["after"] == "all → b"
        });
    assert!(moved, "{j}");
    // Nothing applied: still version 1, still upstream a.
    assert_eq!(admin_json(&p, "/-/config").await["version"], 1);
    assert_eq!(get(&p.url("/")).await.text(), "A");
}
