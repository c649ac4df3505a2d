//! Circuit breakers, fallback to the monolith, and retries, end to end:
//! what the client sees and what the upstream saw (its hit count).

mod support;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const FAIL: &str = "/fail";
const SLOW: &str = "/slow";

/// An upstream that fails on `/fail`, is slow (but fine) on `/slow`, else 200.
async fn service() -> Upstream {
    upstream()
        .body("NEW")
        .on_path(FAIL, 500, Duration::ZERO)
        .on_path(SLOW, 200, Duration::from_millis(800))
        .spawn()
        .await
}

fn config(primary: &str, legacy: &str, breaker: &str, route_extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nupstreams:\n  legacy: {{ url: {legacy} }}\n  new:\n    url: {primary}\n    breaker: {{ {breaker} }}\nroutes:\n  - name: extracted\n    match: {{ path_prefix: / }}\n    upstream: new\n{route_extra}"
    )
}

/// Until `up`'s breaker admits trial requests (its `recovery_timeout` passed,
/// by the proxy's own clock).
async fn recovered(p: &ProxyHandle, up: &str) {
    eventually(PATIENCE, "recovery_timeout to pass", || async {
        breaker_state(p, up).await["half_open_in_ms"] == 0
    })
    .await;
}

async fn breaker_state(p: &ProxyHandle, up: &str) -> serde_json::Value {
    get(&p.admin_url("/-/breakers")).await.json()[up].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_after_threshold_consecutive_failures_and_fails_fast() {
    let svc = service().await;
    let legacy = upstream().body("LEGACY").spawn().await;
    let p = spawn_proxy(&config(
        &svc.url(),
        &legacy.url(),
        "failure_threshold: 3, recovery_timeout: 60s",
        "",
    ));
    for _ in 0..2 {
        assert_eq!(
            get(&p.url(FAIL)).await.status,
            500,
            "the upstream's own 5xx passes through"
        );
    }
    assert_eq!(
        breaker_state(&p, "new").await["state"],
        "closed",
        "N-1 failures keep it closed"
    );
    assert_eq!(breaker_state(&p, "new").await["consecutive_failures"], 2);
    assert_eq!(get(&p.url(FAIL)).await.status, 500);
    assert_eq!(svc.hits(), 3);
    let b = breaker_state(&p, "new").await;
    assert_eq!(b["state"], "open", "{b}");
    assert!(b["opened_at"].as_str().is_some(), "{b}");
    for _ in 0..5 {
        let r = get(&p.url("/anything")).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["error"], "circuit_open");
        assert_eq!(r.json()["upstream"], "new");
        let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&secs), "Retry-After {secs}");
    }
    assert_eq!(svc.hits(), 3, "failing fast: the upstream saw nothing more");
    let metrics = get(&p.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains("strangler_breaker_state{upstream=\"new\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("strangler_breaker_transitions_total{upstream=\"new\",to=\"open\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("strangler_upstream_errors_total{upstream=\"new\",kind=\"5xx\"} 3"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_between_failures_keeps_it_closed() {
    let svc = service().await;
    let legacy = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &svc.url(),
        &legacy.url(),
        "failure_threshold: 3",
        "",
    ));
    for _ in 0..3 {
        get(&p.url(FAIL)).await;
        get(&p.url(FAIL)).await;
        assert_eq!(get(&p.url("/ok")).await.status, 200);
    }
    assert_eq!(breaker_state(&p, "new").await["state"], "closed");
    assert_eq!(svc.hits(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_lets_exactly_k_trials_through_then_closes() {
    let svc = service().await;
    let legacy = upstream().spawn().await;
    let p = Arc::new(spawn_proxy(&config(
        &svc.url(),
        &legacy.url(),
        "failure_threshold: 1, recovery_timeout: 300ms, success_threshold: 2, half_open_requests: 2",
        "",
    )));
    get(&p.url(FAIL)).await;
    assert_eq!(breaker_state(&p, "new").await["state"], "open");
    // Let recovery_timeout pass (the breaker only moves on the next request).
    recovered(&p, "new").await;
    let before = svc.hits();
    let mut calls = Vec::new();
    for _ in 0..10 {
        let p = Arc::clone(&p);
        calls.push(tokio::spawn(async move { get(&p.url(SLOW)).await.status }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(
        svc.hits() - before,
        2,
        "exactly half_open_requests trials reached the upstream: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        8,
        "{statuses:?}"
    );
    assert_eq!(
        breaker_state(&p, "new").await["state"],
        "closed",
        "two trial successes close it"
    );
    assert_eq!(get(&p.url("/ok")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_trial_reopens() {
    let svc = service().await;
    let legacy = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &svc.url(),
        &legacy.url(),
        "failure_threshold: 1, recovery_timeout: 300ms",
        "",
    ));
    get(&p.url(FAIL)).await;
    recovered(&p, "new").await;
    assert_eq!(
        get(&p.url(FAIL)).await.status,
        500,
        "the trial reached the upstream"
    );
    assert_eq!(breaker_state(&p, "new").await["state"], "open");
    assert_eq!(get(&p.url("/ok")).await.status, 503);
    assert_eq!(svc.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_trial_frees_its_slot() {
    let svc = service().await;
    let legacy = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &svc.url(),
        &legacy.url(),
        "failure_threshold: 1, recovery_timeout: 300ms, half_open_requests: 1",
        "",
    ));
    get(&p.url(FAIL)).await;
    recovered(&p, "new").await;
    // The trial's client gives up long before the slow upstream answers.
    let gave_up = tokio::time::timeout(Duration::from_millis(200), get(&p.url(SLOW))).await;
    assert!(gave_up.is_err());
    eventually(PATIENCE, "a new trial to be admitted", || async {
        get(&p.url("/ok")).await.status == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_breaker_falls_back_to_the_monolith() {
    let svc = service().await;
    let legacy = upstream().body("LEGACY").spawn().await;
    let p = spawn_proxy(&config(
        &svc.url(),
        &legacy.url(),
        "failure_threshold: 2, recovery_timeout: 60s",
        "    fallback: legacy\n",
    ));
    assert_eq!(get(&p.url("/x")).await.text(), "NEW");
    assert_eq!(get(&p.url(FAIL)).await.status, 500);
    assert_eq!(
        get(&p.url(FAIL)).await.status,
        500,
        "failure_threshold errors reach users, no more"
    );
    for _ in 0..5 {
        let r = get(&p.url("/x")).await;
        assert_eq!((r.status, r.text()), (200, "LEGACY".into()));
    }
    assert_eq!(svc.hits(), 3);
    let metrics = get(&p.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains(
            "strangler_fallbacks_total{route=\"extracted\",from=\"new\",to=\"legacy\"} 5"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "strangler_requests_total{route=\"extracted\",upstream=\"legacy\",code=\"200\"} 5"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_falls_back_and_then_opens() {
    let dead = dead_addr().await;
    let legacy = upstream().body("LEGACY").spawn().await;
    let p = spawn_proxy(&config(
        &format!("http://{dead}"),
        &legacy.url(),
        "failure_threshold: 3",
        "    fallback: legacy\n",
    ));
    for _ in 0..6 {
        let r = send(
            "PUT",
            &p.url("/orders/1"),
            &[("content-type", "application/json")],
            "{\"a\":1}",
        )
        .await;
        assert_eq!((r.status, r.text()), (200, "LEGACY".into()));
    }
    assert_eq!(
        legacy.last().body_len,
        7,
        "the buffered body was replayed to the fallback"
    );
    assert_eq!(breaker_state(&p, "new").await["state"], "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_recover_a_get_through_transient_5xx() {
    let flaky = upstream().body("OK").fail_first(2).spawn().await;
    let legacy = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &flaky.url(),
        &legacy.url(),
        "failure_threshold: 10",
        "    retry: { attempts: 3, backoff: { base: 10ms, max: 50ms } }\n",
    ));
    let r = get(&p.url("/x")).await;
    assert_eq!((r.status, r.text()), (200, "OK".into()));
    assert_eq!(flaky.hits(), 3);
    let metrics = get(&p.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains("strangler_retries_total{route=\"extracted\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_try_answers_when_all_fail_and_post_is_never_retried() {
    let failing = upstream().status(503).spawn().await;
    let legacy = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &failing.url(),
        &legacy.url(),
        "failure_threshold: 100",
        "    retry: { attempts: 3, backoff: { base: 1ms, max: 5ms } }\n",
    ));
    assert_eq!(get(&p.url("/x")).await.status, 503);
    assert_eq!(failing.hits(), 3);
    let r = send("POST", &p.url("/orders"), &[], "{}").await;
    assert_eq!(r.status, 503);
    assert_eq!(failing.hits(), 4, "a POST is sent once");
    let r = send("PATCH", &p.url("/orders/1"), &[], "{}").await;
    assert_eq!(r.status, 503);
    assert_eq!(failing.hits(), 5, "a PATCH is sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_budget_caps_extra_load() {
    let failing = upstream().status(500).spawn().await;
    let legacy = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &failing.url(),
        &legacy.url(),
        "failure_threshold: 100000",
        "    retry: { attempts: 3, backoff: { base: 1ms, max: 1ms } }\n",
    ));
    let n = 200;
    let started = std::time::Instant::now();
    for _ in 0..n {
        assert_eq!(get(&p.url("/x")).await.status, 500);
    }
    let retries = failing.hits() - n;
    // Without a budget: 2 retries each = 400. With it: the floor (10/s over
    // 10 s = 100) plus 20% of the requests in the window (40).
    // A slow machine can stretch the run over more than one 10 s window,
    // each with its own floor.
    let windows = started.elapsed().as_secs() / 10 + 1;
    eprintln!(
        "budget: {n} requests, {retries} retries in {:?}",
        started.elapsed()
    );
    assert!(
        retries >= 100,
        "{retries} retries: the floor was not granted"
    );
    assert!(
        retries as u64 <= 100 * windows + 45,
        "{retries} retries exceed the budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_state_survives_a_reload_unless_the_url_changes() {
    let svc = service().await;
    let other = service().await;
    let legacy = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &svc.url(),
        &legacy.url(),
        "failure_threshold: 1, recovery_timeout: 60s",
        "",
    ));
    get(&p.url(FAIL)).await;
    assert_eq!(breaker_state(&p, "new").await["state"], "open");
    p.write_config(
        &config(
            &svc.url(),
            &legacy.url(),
            "failure_threshold: 1, recovery_timeout: 60s",
            "",
        )
        .replace("name: extracted", "name: renamed"),
    );
    assert_eq!(p.reload().await.status, 200);
    assert_eq!(
        breaker_state(&p, "new").await["state"],
        "open",
        "same URL: state kept"
    );
    assert_eq!(get(&p.url("/x")).await.status, 503);
    p.write_config(&config(
        &other.url(),
        &legacy.url(),
        "failure_threshold: 1, recovery_timeout: 60s",
        "",
    ));
    assert_eq!(p.reload().await.status, 200);
    assert_eq!(
        breaker_state(&p, "new").await["state"],
        "closed",
        "new URL: a fresh breaker"
    );
    assert_eq!(get(&p.url("/x")).await.status, 200);
}
