//! A fleet of three real `strangler` processes sharing ONE config directory
//! laid out as a mounted ConfigMap (the harness: `support/fleet.rs`): a
//! `..data` swap applies on all three, a bad edit is refused by all three
//! alike, the merged shadow logs give the replicas' summed counts, and
//! SIGTERM on one replica under load loses no request. Reload times are
//! printed, not asserted (`cargo test --test fleet -- --nocapture`).

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::fleet::*;
use support::*;

/// Upstreams `a` and `b` (answering "A" and "B"); `config(target)`; a fleet serving `a`.
async fn ab_fleet() -> (impl Fn(&str) -> String, Fleet, [Upstream; 2]) {
    let ab = [
        upstream().body("A").spawn().await,
        upstream().body("B").spawn().await,
    ];
    let ups = [("a", ab[0].url()), ("b", ab[1].url())];
    let config = move |target: &str| config(&ups, &catch_all(target));
    let fleet = Fleet::start(&config("a"), 3).await;
    (config, fleet, ab)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_swap_applies_on_every_replica() {
    let (config, mut fleet, _ab) = ab_fleet().await;
    for r in &fleet.replicas {
        assert_eq!(get(&r.url("/")).await.text(), "A");
        assert_eq!(r.config().await["version"], 1);
    }
    let next = config("b");
    let at = fleet.swap(&next);
    wait_all_applied(&fleet, &sha256(&next), at).await;
    for r in &fleet.replicas {
        assert_eq!(r.config().await["version"], 2);
        assert_eq!(get(&r.url("/")).await.text(), "B");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_edit_is_refused_by_every_replica_alike() {
    let (config, mut fleet, _ab) = ab_fleet().await;
    let good = config("b");
    let at = fleet.swap(&good);
    wait_all_applied(&fleet, &sha256(&good), at).await;
    // A YAML syntax error: an unclosed flow mapping.
    fleet.swap(&good.replace("upstream: b", "upstream: { b"));
    let mut errors = Vec::new();
    for (i, r) in fleet.replicas.iter().enumerate() {
        eventually(
            PATIENCE,
            &format!("replica {i} to report the error"),
            || async { !r.config().await["last_error"].is_null() },
        )
        .await;
        // It keeps serving the last good version, and counts the failure.
        let (c, m) = (r.config().await, get(&r.admin_url("/metrics")).await.text());
        let kept = (
            &c["version"],
            c["sha256"].as_str(),
            get(&r.url("/")).await.text(),
        );
        assert_eq!(
            kept,
            (&2.into(), Some(&*sha256(&good)), "B".into()),
            "replica {i}"
        );
        assert!(
            m.contains("strangler_config_reloads_total{result=\"failure\"} 1"),
            "{m}"
        );
        let e = &c["last_error"];
        errors.push((e["message"].clone(), e["line"].clone(), e["column"].clone()));
    }
    eprintln!("refused by all three with: {:?}", errors[0]);
    assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
    // A good file after the bad one clears the error everywhere.
    let fixed = config("a");
    let at = fleet.swap(&fixed);
    wait_all_applied(&fleet, &sha256(&fixed), at).await;
    for r in &fleet.replicas {
        let c = r.config().await;
        assert_eq!(
            (&c["version"], &c["last_error"]),
            (&3.into(), &serde_json::Value::Null)
        );
    }
}

/// `strangler report` rows: route → (verdict, compared, mismatched, errors, skipped);
/// each route judged by its `shadow.ready` in `config`.
fn report_rows(logs: &[PathBuf], config: &Path) -> Vec<(String, String, u64, u64, u64, u64)> {
    let args = logs.iter().flat_map(|l| ["--log".as_ref(), l.as_os_str()]);
    let out = (Command::new(env!("CARGO_BIN_EXE_strangler"))
        .arg("report")
        .args(args)
        .arg("--config")
        .arg(config))
    .output()
    .expect("strangler report");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "report failed: {table}");
    eprintln!("{table}");
    let n = |s: &str| s.parse::<u64>().expect("a count");
    table
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c[0].into(), c[1].into(), n(c[2]), n(c[4]), n(c[5]), n(c[6]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_shadow_logs_agree_with_the_replicas() {
    let body = r#"{"sku":"sku-1","price":100}"#;
    let primary = upstream().body(body).spawn().await;
    // The new service differs on /items/odd/...: it answers 404 there.
    let shadow = (upstream().body(body))
        .on_path("/items/odd", 404, Duration::ZERO)
        .spawn()
        .await;
    let shadowed = |name: &str| {
        // 150 of 150 is surely above 97% (lower bound 97.56%).
        format!("  - name: {name}\n    match: {{ path_prefix: /{name} }}\n    upstream: primary\n    shadow: {{ upstream: shadow, sample: 1.0, ready: {{ min_match: 97%, min_compared: 100 }} }}\n")
    };
    let routes = shadowed("items") + &shadowed("prices") + &catch_all("primary");
    let ups = [("primary", primary.url()), ("shadow", shadow.url())];
    let yaml = config(&ups, &routes);
    let fleet = Fleet::start(&yaml, 3).await;
    let judged_by = tempfile::tempdir().expect("tempdir");
    let routes_yaml = judged_by.path().join("routes.yaml");
    std::fs::write(&routes_yaml, &yaml).expect("write");
    const N: usize = 150;
    for i in 0..N {
        let r = &fleet.replicas[i % 3];
        let odd = if i % 10 == 0 { "odd/" } else { "" };
        assert_eq!(get(&r.url(&format!("/items/{odd}{i}"))).await.status, 200);
        assert_eq!(get(&r.url(&format!("/prices/{i}"))).await.status, 200);
    }
    // Every copy concluded, as each replica counts it...
    let live = || async {
        let mut all = Vec::new();
        for r in &fleet.replicas {
            all.push(get(&r.admin_url("/-/shadow")).await.json());
        }
        all
    };
    let concluded = |all: &[serde_json::Value], route: &str| -> u64 {
        let n = |r: &serde_json::Value, k: &str| r[route][k].as_u64().unwrap_or(0);
        all.iter()
            .map(|r| n(r, "compared") + n(r, "shadow_errors"))
            .sum()
    };
    eventually(PATIENCE, "every shadow copy to be counted", || async {
        let all = live().await;
        concluded(&all, "items") == N as u64 && concluded(&all, "prices") == N as u64
    })
    .await;
    let live = live().await;
    // ...and written, one log per replica.
    let logs: Vec<PathBuf> = (fleet.replicas.iter())
        .map(|r| r.cwd.path().join("shadow-diffs.jsonl"))
        .collect();
    eventually(PATIENCE, "every comparison in the logs", || async {
        let lines = |p: &Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
        logs.iter().map(|p| lines(p)).sum::<usize>() == 2 * N
    })
    .await;
    let rows = report_rows(&logs, &routes_yaml);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (route, verdict, compared, mismatched, errors, skipped) in &rows {
        let sum = |k: &str| -> u64 { live.iter().map(|j| j[route][k].as_u64().unwrap_or(0)).sum() };
        let skips: u64 = (live.iter())
            .filter_map(|j| j[route]["skipped"].as_object())
            .flat_map(|m| m.values().filter_map(|v| v.as_u64()))
            .sum();
        let summed = (
            sum("compared"),
            sum("mismatched"),
            sum("shadow_errors"),
            skips,
        );
        assert_eq!(
            (*compared, *mismatched, *errors, *skipped),
            summed,
            "route {route}"
        );
        // Fleet-wide: prices has 150 matches (ready); items 15 of 150 differ.
        let want = ["not_ready", "ready"][usize::from(route == "prices")];
        assert_eq!(verdict, want, "route {route}");
    }
    assert_eq!(rows[0].3, (N / 10) as u64, "items: every tenth differs");
    // No replica alone has seen the 100 comparisons a verdict needs.
    for j in &live {
        assert_eq!(j["prices"]["verdict"], "not_ready");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_one_replica_loses_no_request() {
    let up = (upstream().delay(Duration::from_millis(50)))
        .on_path("/slow", 200, Duration::from_millis(1500))
        .spawn()
        .await;
    let mut fleet = Fleet::start(&config(&[("app", up.url())], &catch_all("app")), 3).await;
    let ports: Arc<Vec<u16>> = Arc::new(fleet.replicas.iter().map(|r| r.port).collect());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let done = Arc::new(AtomicUsize::new(0));
    // Six clients, 50 requests each, spread over the three replicas; and
    // one slow request in flight on replica 0 when it is told to stop.
    let client = |first: usize, paths: Vec<String>, only: usize| {
        let (ports, tally, done) = (Arc::clone(&ports), Arc::clone(&tally), Arc::clone(&done));
        tokio::spawn(async move {
            let mut served = Vec::new();
            for (i, p) in paths.iter().enumerate() {
                served.push(get_failover(&ports[..only], first + i, p, &tally).await);
                done.fetch_add(1, Ordering::SeqCst);
            }
            served
        })
    };
    let slow = client(0, vec!["/slow/0".into()], 1);
    eventually(
        PATIENCE,
        "the slow request to reach the upstream",
        || async { up.seen().iter().any(|s| s.target.starts_with("/slow")) },
    )
    .await;
    let load: Vec<_> = (0..6)
        .map(|c| client(c, (0..50).map(|i| format!("/load/{c}/{i}")).collect(), 3))
        .collect();
    eventually(PATIENCE, "the load to be under way", || {
        std::future::ready(done.load(Ordering::SeqCst) >= 30)
    })
    .await;
    let pid = fleet.replicas[0].child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let at = done.load(Ordering::SeqCst);
    let mut per_replica = [0usize; 3];
    for task in load {
        for r in task.await.expect("client") {
            per_replica[r.unwrap_or_else(|e| panic!("a request was lost: {e}"))] += 1;
        }
    }
    assert_eq!(
        slow.await.expect("client"),
        [Ok(0)],
        "the in-flight request drained"
    );
    let child = &mut fleet.replicas[0].child;
    let mut status = None;
    eventually(PATIENCE, "replica 0 to exit", || {
        status = child.try_wait().expect("try_wait");
        std::future::ready(status.is_some())
    })
    .await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}"
    );
    // What no replica answered was never forwarded: nothing was lost there.
    let ids: HashSet<String> = (up.seen().iter())
        .filter_map(|s| Some(s.headers.get("x-request-id")?.to_str().ok()?.to_string()))
        .collect();
    assert!(
        ids.contains("_slow_0-try0"),
        "request ids reach the upstream"
    );
    let t = tally.lock().expect("lock");
    assert!(
        t.unanswered.iter().all(|id| !ids.contains(id)),
        "forwarded, never answered: {:?}",
        t.unanswered
    );
    eprintln!(
        "SIGTERM after {at} of 300 requests; answered per replica {per_replica:?}; \
         then {} connections refused and {} closed unanswered, each retried on another replica",
        t.refused,
        t.unanswered.len()
    );
    assert_eq!(per_replica.iter().sum::<usize>(), 300);
}
