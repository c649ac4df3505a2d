//! Ramps end to end: a route moved from the monolith to a new service by
//! steps with short intervals, sticky by client key, rolled back by a
//! failing gate, held across restarts, restarted by a changed definition,
//! driven when a reload adds it, and driven by an operator (admin API and `strangler ramp`).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::*;

/// A ramp from `legacy` to `new`, keyed by the `x-user` header, with
/// debug headers on (the answer says which side served it).
fn ramp_config(legacy: &str, new: &str, ramp: &str, extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0, debug_headers: true }}\n{extra}upstreams:\n  legacy: {{ url: {legacy} }}\n  new: {{ url: {new} }}\nroutes:\n  - name: orders\n    match: {{ path_prefix: /orders }}\n    ramp:\n{ramp}"
    )
}

const QUICK: &str = "      from: legacy\n      to: new\n      steps: [10, 50, 100]\n      interval: 300ms\n      min_requests: 5\n      sticky: { header: x-user }\n      gates:\n        error_rate: { max_increase: 1% }\n";

async fn ramps(admin: String) -> serde_json::Value {
    get(&admin).await.json()
}

/// Send requests as users `0..n` (a few at a time); which users `new` served.
async fn as_users(url: &str, n: usize) -> BTreeSet<usize> {
    let mut on_new = BTreeSet::new();
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + 25).min(n))
            .map(|u| {
                let url = url.to_string();
                tokio::spawn(async move {
                    let user = format!("user-{u}");
                    let r = send("GET", &url, &[("x-user", &user)], "").await;
                    (u, r.header("x-strangler-upstream") == Some("new"), r.status)
                })
            })
            .collect();
        for t in batch {
            let (u, new, status) = t.await.unwrap();
            assert_eq!(status, 200);
            if new {
                on_new.insert(u);
            }
        }
        i += 25;
    }
    on_new
}

#[tokio::test]
async fn steps_advance_to_completion_while_gates_hold() {
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let p = spawn_proxy(&ramp_config(&legacy.url(), &new.url(), QUICK, ""));
    let url = p.url("/orders/1");
    let admin = p.admin_url("/-/ramps");
    assert_eq!(ramps(admin.clone()).await["orders"]["weight"], 10.0);
    let deadline = std::time::Instant::now() + PATIENCE * 2;
    loop {
        as_users(&url, 50).await;
        let r = ramps(admin.clone()).await;
        if r["orders"]["state"] == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never completed: {r}");
    }
    let r = ramps(admin).await;
    assert_eq!(r["orders"]["weight"], 100.0);
    let weights: Vec<f64> = r["orders"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["weight"].as_f64().unwrap())
        .collect();
    assert_eq!(weights, [10.0, 50.0, 100.0, 100.0], "{r}");
    // At 100%, everyone is on the new service.
    assert_eq!(as_users(&url, 100).await.len(), 100);
    let m = get(&p.admin_url("/metrics")).await.text();
    assert!(
        m.contains("strangler_ramp_weight{route=\"orders\"} 100"),
        "{m}"
    );
    assert!(
        m.contains("strangler_ramp_transitions_total{route=\"orders\",to=\"completed\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn a_failing_new_service_is_rolled_back_with_the_reason() {
    let legacy = upstream().spawn().await;
    let new = upstream().status(500).spawn().await;
    // A breaker that stays closed: the error-rate gate is what acts here
    // (an open breaker on `new` rolls back too: the unit tests show it).
    let yaml = ramp_config(&legacy.url(), &new.url(), QUICK, "").replace(
        &format!("new: {{ url: {} }}", new.url()),
        &format!(
            "new: {{ url: {}, breaker: {{ failure_threshold: 1000 }} }}",
            new.url()
        ),
    );
    let p = spawn_proxy(&yaml);
    let url = p.url("/orders/1");
    let admin = p.admin_url("/-/ramps");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        for u in 0..100 {
            let user = format!("user-{u}");
            let _ = send("GET", &url, &[("x-user", &user)], "").await;
        }
        let r = ramps(admin.clone()).await;
        if r["orders"]["state"] == "rolled_back" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never rolled back: {r}"
        );
    }
    let r = ramps(admin.clone()).await;
    assert_eq!(r["orders"]["weight"], 0.0);
    let reason = r["orders"]["reason"].as_str().unwrap();
    assert!(reason.contains("error_rate"), "{reason}");
    let hits = new.hits();
    assert!(
        as_users(&url, 100).await.is_empty(),
        "all back on the monolith"
    );
    assert_eq!(new.hits(), hits, "nobody reaches the new service");
    // And it stays there: an operator must resume.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(ramps(admin).await["orders"]["state"], "rolled_back");
}

#[tokio::test]
async fn clients_stay_on_their_side_as_the_weight_grows() {
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let ramp = "      from: legacy\n      to: new\n      steps: [10, 30, 60, 100]\n      interval: 4s\n      min_requests: 1\n      sticky: { header: x-user }\n";
    let p = spawn_proxy(&ramp_config(&legacy.url(), &new.url(), ramp, ""));
    let url = p.url("/orders/1");
    let admin = p.admin_url("/-/ramps");
    let mut seen: Vec<(f64, BTreeSet<usize>)> = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE * 3;
    while std::time::Instant::now() < deadline {
        let before = ramps(admin.clone()).await["orders"]["weight"]
            .as_f64()
            .unwrap();
        let on_new = as_users(&url, 1000).await;
        let after = ramps(admin.clone()).await["orders"]["weight"]
            .as_f64()
            .unwrap();
        if before == after {
            // A batch at one weight: the share on `new` is the weight's.
            let share = on_new.len() as f64 / 10.0;
            assert!(
                (share - before).abs() <= 3.0,
                "{share}% on new at weight {before}%"
            );
            if let Some((_, last)) = seen.last() {
                assert!(
                    last.is_subset(&on_new),
                    "a client moved back as the weight grew"
                );
            }
            seen.push((before, on_new));
        }
        if before == 100.0 {
            break;
        }
    }
    let weights: BTreeSet<u64> = seen.iter().map(|(w, _)| *w as u64).collect();
    assert!(weights.len() >= 3, "too few stable batches: {weights:?}");
}

#[tokio::test]
async fn a_cookie_keyed_client_gets_its_cookie() {
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let ramp = "      from: legacy\n      to: new\n      steps: [50]\n      interval: 1h\n      sticky: { cookie: strangler_orders }\n";
    let p = spawn_proxy(&ramp_config(&legacy.url(), &new.url(), ramp, ""));
    let r = get(&p.url("/orders/1")).await;
    let cookie = r.header("set-cookie").expect("a sticky cookie").to_string();
    assert!(cookie.starts_with("strangler_orders="), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let side = r.header("x-strangler-upstream").unwrap().to_string();
    for _ in 0..20 {
        let again = send("GET", &p.url("/orders/1"), &[("cookie", &pair)], "").await;
        assert_eq!(again.header("x-strangler-upstream"), Some(side.as_str()));
        assert!(again.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn operators_pause_resume_promote_and_roll_back() {
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let p = spawn_proxy(&ramp_config(&legacy.url(), &new.url(), QUICK, ""));
    let act = |a: &str| {
        let url = p.admin_url(&format!("/-/ramps/orders/{a}"));
        async move { send("POST", &url, &[], "").await }
    };
    assert_eq!(act("pause").await.status, 200);
    as_users(&p.url("/orders/1"), 50).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = ramps(p.admin_url("/-/ramps")).await;
    assert_eq!(
        (
            r["orders"]["state"].as_str(),
            r["orders"]["weight"].as_f64()
        ),
        (Some("paused"), Some(10.0))
    );
    assert_eq!(act("pause").await.status, 409, "already paused");
    assert_eq!(act("resume").await.status, 200);
    assert_eq!(act("promote").await.status, 200);
    assert_eq!(
        ramps(p.admin_url("/-/ramps")).await["orders"]["weight"],
        100.0
    );
    assert_eq!(act("rollback").await.status, 200);
    let r = ramps(p.admin_url("/-/ramps")).await;
    assert_eq!(r["orders"]["state"], "rolled_back");
    assert_eq!(r["orders"]["reason"], "rolled back by an operator");
    assert_eq!(act("jump").await.status, 404);
    let none = send("POST", &p.admin_url("/-/ramps/nope/pause"), &[], "").await;
    assert_eq!(none.status, 404);
}

/// A proxy started with no ramp has nothing to drive (its driver sleeps,
/// `tests/idle.rs`); a reload that adds one wakes it and the ramp advances.
#[tokio::test]
async fn a_ramp_added_by_a_reload_is_driven() {
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let plain = ramp_config(&legacy.url(), &new.url(), "", "")
        .replace("    ramp:\n", "    upstream: legacy\n");
    let p = spawn_proxy(&plain);
    assert_eq!(ramps(p.admin_url("/-/ramps")).await, serde_json::json!({}));
    p.write_config(&ramp_config(&legacy.url(), &new.url(), QUICK, ""));
    assert_eq!(p.reload().await.status, 200);
    let (url, admin) = (p.url("/orders/1"), p.admin_url("/-/ramps"));
    let deadline = std::time::Instant::now() + PATIENCE * 2;
    loop {
        as_users(&url, 50).await;
        let r = ramps(admin.clone()).await;
        if r["orders"]["weight"].as_f64() > Some(10.0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never advanced: {r}");
    }
}

#[tokio::test]
async fn a_reload_that_changes_the_ramp_restarts_it() {
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let p = spawn_proxy(&ramp_config(&legacy.url(), &new.url(), QUICK, ""));
    send("POST", &p.admin_url("/-/ramps/orders/promote"), &[], "").await;
    // An unrelated edit keeps the ramp where it is.
    let same = ramp_config(&legacy.url(), &new.url(), QUICK, "trusted_proxies: []\n");
    p.write_config(&same);
    assert_eq!(p.reload().await.status, 200);
    assert_eq!(
        ramps(p.admin_url("/-/ramps")).await["orders"]["weight"],
        100.0
    );
    let changed = QUICK.replace("[10, 50, 100]", "[20, 100]");
    p.write_config(&ramp_config(&legacy.url(), &new.url(), &changed, ""));
    assert_eq!(p.reload().await.status, 200);
    let r = ramps(p.admin_url("/-/ramps")).await;
    assert_eq!(r["orders"]["weight"], 20.0, "{r}");
    let last = r["orders"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("definition changed"),
        "{last}"
    );
}

#[tokio::test]
async fn a_restart_resumes_where_the_ramp_was() {
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("ramps.json");
    let extra = format!("ramp_state: {}\n", file.display());
    let yaml = |port: u16, admin: u16| {
        ramp_config(&legacy.url(), &new.url(), QUICK, &extra).replace(
            "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0",
            &format!("listen: 127.0.0.1:{port}\nadmin: {{ listen: 127.0.0.1:{admin}"),
        )
    };
    let first = spawn_binary(yaml, Logs::Quiet).await;
    send("POST", &first.admin_url("/-/ramps/orders/pause"), &[], "").await;
    eventually(PATIENCE, "the state file", || async { file.exists() }).await;
    first.sigterm();
    first.stop().await;
    let second = spawn_binary(yaml, Logs::Quiet).await;
    let r = get(&second.admin_url("/-/ramps")).await.json();
    assert_eq!(r["orders"]["state"], "paused", "{r}");
    // `strangler ramp status` reads the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(["ramp", "status", "orders", "--admin"])
        .arg(second.admin_url("").trim_start_matches("http://"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"state\": \"paused\""), "{text}");
    second.sigterm();
    second.stop().await;
}

#[tokio::test]
async fn an_open_breaker_hands_a_split_share_to_the_other_side() {
    let legacy = upstream().spawn().await;
    let dead = dead_addr().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  legacy: {{ url: {} }}\n  new: {{ url: http://{dead}, breaker: {{ failure_threshold: 1 }} }}\nroutes:\n  - name: orders\n    match: {{ path_prefix: / }}\n    split: {{ new: 50, legacy: 50 }}\n",
        legacy.url()
    );
    let p = spawn_proxy(&yaml);
    for _ in 0..40 {
        assert_eq!(get(&p.url("/orders/1")).await.status, 200);
    }
    let b = get(&p.admin_url("/-/breakers")).await.json();
    assert_eq!(b["new"]["state"], "open", "{b}");
    let m = get(&p.admin_url("/metrics")).await.text();
    let fell_back = m
        .lines()
        .find(|l| l.starts_with("strangler_fallbacks_total") && l.contains("from=\"new\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(fell_back >= 1.0, "{m}");
}

#[tokio::test]
async fn shadow_probes_close_a_breaker_without_a_user_request_reaching_the_sick_upstream() {
    let legacy = upstream().spawn().await;
    // Sick for its first three answers, then well.
    let new = upstream().fail_first(3).spawn().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  legacy: {{ url: {} }}\n  new: {{ url: {}, breaker: {{ failure_threshold: 1, recovery_timeout: 200ms, success_threshold: 1, probe: shadow }} }}\nroutes:\n  - name: orders\n    match: {{ path_prefix: / }}\n    upstream: new\n    fallback: legacy\n",
        legacy.url(),
        new.url()
    );
    let p = spawn_proxy(&yaml);
    // The first request finds it sick (nothing knew yet): its breaker opens.
    assert_eq!(get(&p.url("/orders/1")).await.status, 500);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let r = get(&p.url("/orders/1")).await;
        assert_eq!(
            r.status, 200,
            "every client is answered by the monolith meanwhile"
        );
        let b = get(&p.admin_url("/-/breakers")).await.json();
        if b["new"]["state"] == "closed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never closed: {b}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // What `new` saw while its breaker was not closed were probe copies:
    // after the first (a user's, the 500 that opened it), two failed
    // probes and the good one that closed it. Later hits may be users'
    // (the breaker was closed by then).
    let seen = new.seen();
    assert!(
        seen.len() >= 4,
        "three failed answers and one good: {}",
        seen.len()
    );
    for s in &seen[1..4] {
        assert_eq!(
            s.headers.get("x-shadow-request").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }
    // Closed: users reach it again.
    get(&p.url("/orders/1")).await;
    let last = new.last();
    assert!(last.headers.get("x-shadow-request").is_none());
}
