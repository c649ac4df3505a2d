//! The noise floor end to end (`shadow.noise`): a primary that stamps each
//! answer with a fresh time disagrees with itself there; the proxy asks it
//! twice for a sample of safe requests, learns `/ts` as noise, and a shadow
//! that differs only there becomes `ready` — while a real regression, one
//! answer in 200 differing elsewhere, never does at 99.9%. Writes are never
//! asked twice.

mod support;
use serde_json::Value;
use support::dynamic::{dynamic, fresh_timestamp, Dynamic};
use support::*;

/// The body both sides give for `path`, stamped `ts` and with `total`.
fn body(path: &str, ts: &str, total: u32) -> String {
    let id: u64 = path
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    format!(r#"{{"id":{id},"name":"order {id}","total":{total},"ts":"{ts}"}}"#)
}

/// A monolith whose answers differ each time at `/ts`.
async fn stamping_primary() -> Dynamic {
    dynamic(|_, _, path| body(path, &fresh_timestamp(), 100)).await
}

fn config(primary: &Dynamic, shadow: &Dynamic, routes: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  legacy: {{ url: {} }}\n  new: {{ url: {}, timeout: 5s }}\nroutes:\n",
        primary.url(),
        shadow.url()
    );
    for (name, shadow) in routes {
        yaml.push_str(&format!(
            "  - name: {name}\n    match: {{ path_prefix: /{name} }}\n    upstream: legacy\n    shadow: {{ upstream: new, {shadow} }}\n"
        ));
    }
    yaml
}

async fn reports(p: &ProxyHandle) -> Value {
    get(&p.admin_url("/-/shadow")).await.json()
}

/// Sends GETs to `/{route}/{i}` for `i` in `from..n`, and waits for `n`
/// comparisons on the route in all.
async fn traffic(p: &ProxyHandle, route: &str, from: u64, n: u64) -> Value {
    for i in from..n {
        let r = get(&p.url(&format!("/{route}/{i}"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    eventually(PATIENCE, &format!("{n} comparisons on {route}"), || async {
        reports(p).await[route]["compared"].as_u64() == Some(n)
    })
    .await;
    reports(p).await[route].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_that_differs_on_every_call_is_learned_as_noise() {
    let primary = stamping_primary().await;
    let shadow = dynamic(|_, _, path| body(path, &fresh_timestamp(), 100)).await;
    // The same traffic on two routes: one learns the primary's noise, the
    // other does not (and shows what the noise would have cost).
    let ready = "ready: { min_match: 95%, min_compared: 50 }";
    let routes = [
        (
            "learning",
            &*format!("sample: 1.0, noise: {{ sample: 0.2 }}, {ready}"),
        ),
        ("control", &*format!("sample: 1.0, {ready}")),
    ];
    let p = spawn_proxy(&config(&primary, &shadow, &routes));
    const N: u64 = 150;
    let control = traffic(&p, "control", 0, N).await;
    assert_eq!(
        (control["mismatched"].as_u64(), control["noise"].as_u64()),
        (Some(N), Some(0)),
        "without a noise floor every comparison is a mismatch: {control}"
    );
    assert_eq!(control["verdict"], "not_ready");
    let before = primary.hits();
    let learning = traffic(&p, "learning", 0, N).await;
    // Noise probes: the primary was asked a second time for about 1 in 5.
    eventually(PATIENCE, "noise probes to be counted", || async {
        let r = &reports(&p).await["learning"];
        r["noise_probes"].as_u64() == Some((primary.hits() - before) as u64 - N)
    })
    .await;
    let r = reports(&p).await["learning"].clone();
    let probes = r["noise_probes"].as_u64().unwrap_or(0);
    assert!((5..=80).contains(&probes), "Binomial(150, 0.2) probes: {r}");
    assert_eq!(r["noisy_pointers"][0]["pointer"], "/ts", "{r}");
    // Every comparison differed at /ts only: all noise, none a mismatch —
    // those made before the first probe too.
    assert_eq!(
        (
            r["matched"].as_u64(),
            r["noise"].as_u64(),
            r["mismatched"].as_u64()
        ),
        (Some(0), Some(N), Some(0)),
        "{learning}"
    );
    assert_eq!(r["match_rate"], 1.0);
    // The Wilson rule still applies: 150 of 150 is surely above 95%.
    let low = r["match_interval"]["low"].as_f64().unwrap_or(0.0);
    assert!(low > 0.95 && low < 0.98, "{r}");
    assert_eq!(r["verdict"], "ready", "{r}");
    assert_eq!(r["top_pointers"][0]["noise"], true, "{r}");
    // Probes are logged as such, never as comparisons.
    let log = std::fs::read_to_string(p.dir.path().join("shadow-diffs.jsonl")).unwrap_or_default();
    assert!(log.contains("\"outcome\":\"noise_probe\""));
    assert!(log.contains("\"outcome\":\"noise\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_regression_of_one_in_200_never_reaches_ready_at_99_9() {
    let primary = stamping_primary().await;
    // The new service: the same, but every 200th answer has a wrong total.
    let shadow = dynamic(|n, _, path| {
        let total = if n % 200 == 199 { 101 } else { 100 };
        body(path, &fresh_timestamp(), total)
    })
    .await;
    let routes = [(
        "orders",
        "sample: 1.0, noise: { sample: 0.2 }, ready: { min_match: 99.9%, min_compared: 50 }",
    )];
    let p = spawn_proxy(&config(&primary, &shadow, &routes));
    const N: u64 = 1000;
    let mut verdicts = Vec::new();
    for chunk in 0..4 {
        let r = traffic(&p, "orders", N / 4 * chunk, N / 4 * (chunk + 1)).await;
        verdicts.push(r["verdict"].clone());
    }
    let r = reports(&p).await["orders"].clone();
    assert!(verdicts.iter().all(|v| v == "not_ready"), "{verdicts:?}");
    // The timestamps are noise; the five wrong totals are mismatches.
    assert_eq!(
        (
            r["mismatched"].as_u64(),
            r["noise"].as_u64(),
            r["matched"].as_u64()
        ),
        (Some(5), Some(N - 5), Some(0)),
        "{r}"
    );
    // 99.5% agreement: even the interval's upper end is below 99.9%, so no
    // number of further comparisons at this rate would make it ready.
    let high = r["match_interval"]["high"].as_f64().unwrap_or(1.0);
    assert!(high < 0.999, "{r}");
    let total = (r["top_pointers"].as_array().into_iter().flatten())
        .find(|p| p["pointer"] == "/total")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (
            &total["count"],
            &total["primary"],
            &total["shadow"],
            &total["noise"]
        ),
        (
            &Value::from(5),
            &Value::from(100),
            &Value::from(101),
            &Value::from(false)
        ),
        "{r}"
    );
    let reason = r["reason"].as_str().unwrap_or("");
    assert!(reason.contains("is not surely ≥ 99.9%"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_never_asked_twice() {
    let primary = stamping_primary().await;
    let shadow = dynamic(|_, _, path| body(path, &fresh_timestamp(), 100)).await;
    let routes = [(
        "orders",
        "sample: 1.0, methods: [GET, POST, PUT, DELETE], noise: { sample: 1.0 }",
    )];
    let p = spawn_proxy(&config(&primary, &shadow, &routes));
    for (i, method) in ["POST", "PUT", "DELETE", "POST"].iter().enumerate() {
        let r = send(method, &p.url(&format!("/orders/{i}")), &[], "{}").await;
        assert_eq!(r.status, 200);
    }
    get(&p.url("/orders/9")).await;
    eventually(PATIENCE, "five comparisons and a probe", || async {
        let r = &reports(&p).await["orders"];
        r["compared"].as_u64() == Some(5) && r["noise_probes"].as_u64() == Some(1)
    })
    .await;
    let seen = primary.seen();
    let count = |method: &str| seen.iter().filter(|(m, _)| m == method).count();
    assert_eq!(
        (count("POST"), count("PUT"), count("DELETE")),
        (2, 1, 1),
        "each write reached the primary once: {seen:?}"
    );
    assert_eq!(count("GET"), 2, "the GET, and its probe: {seen:?}");
}
