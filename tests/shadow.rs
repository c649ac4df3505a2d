//! Shadow traffic end to end: the copy and its markings, the comparison
//! (mismatches with pointers, key order, 10 vs 10.0, ignores), what is not
//! copied, the client never waiting for the shadow, the in-flight cap,
//! sampling, the verdict, and the offline report agreeing with the live one.

mod support;
use std::time::{Duration, Instant};
use support::*;

fn config(primary: &str, shadow: &str, shadow_opts: &str, top: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\n{top}upstreams:\n  legacy: {{ url: {primary} }}\n  new: {{ url: {shadow}, timeout: 2s }}\nroutes:\n  - name: mirrored\n    match: {{ path_prefix: / }}\n    upstream: legacy\n    shadow: {{ upstream: new{shadow_opts} }}\n"
    )
}

async fn report(p: &ProxyHandle) -> serde_json::Value {
    get(&p.admin_url("/-/shadow")).await.json()["mirrored"].clone()
}

/// Wait until `n` records (of any outcome) were counted for the route.
async fn wait_records(p: &ProxyHandle, n: u64) -> serde_json::Value {
    eventually(PATIENCE, &format!("{n} shadow records"), || async {
        let r = report(p).await;
        let skipped: u64 = r["skipped"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
        r["compared"].as_u64().unwrap_or(0) + r["shadow_errors"].as_u64().unwrap_or(0) + skipped
            >= n
    })
    .await;
    report(p).await
}

/// Wait until the log file holds `n` lines (it is flushed within 200 ms).
async fn wait_log(p: &ProxyHandle, n: usize) -> Vec<serde_json::Value> {
    eventually(
        PATIENCE,
        &format!("{n} lines in the shadow log"),
        || async { log_lines(p).len() >= n },
    )
    .await;
    log_lines(p)
}

fn log_lines(p: &ProxyHandle) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(p.dir.path().join("shadow-diffs.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_is_reported_with_its_pointer_and_the_client_gets_the_primary() {
    let primary = upstream()
        .body(r#"{"id":7,"total":10,"items":[{"sku":"a","qty":1}]}"#)
        .spawn()
        .await;
    let shadow = upstream()
        .body(r#"{"id":7,"total":12,"items":[{"sku":"a","qty":1},{"sku":"b"}]}"#)
        .spawn()
        .await;
    let p = spawn_proxy(&config(&primary.url(), &shadow.url(), "", ""));
    let r = get(&p.url("/orders/7")).await;
    assert_eq!(
        r.text(),
        r#"{"id":7,"total":10,"items":[{"sku":"a","qty":1}]}"#
    );
    let rep = wait_records(&p, 1).await;
    assert_eq!(rep["mismatched"], 1, "{rep}");
    let lines = wait_log(&p, 1).await;
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["outcome"], "mismatch");
    assert_eq!(line["request_id"].as_str(), r.header("x-request-id"));
    assert_eq!(line["path"], "/orders/7");
    let diffs = line["diffs"].as_array().unwrap();
    let total = diffs
        .iter()
        .find(|d| d["pointer"] == "/total")
        .expect("a /total diff");
    assert_eq!(
        (total["kind"].as_str(), &total["primary"], &total["shadow"]),
        (
            Some("changed"),
            &serde_json::json!(10),
            &serde_json::json!(12)
        )
    );
    assert!(
        diffs
            .iter()
            .any(|d| d["pointer"] == "/items/1" && d["kind"] == "added"),
        "{diffs:?}"
    );
    let top: Vec<&str> = rep["top_pointers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["pointer"].as_str())
        .collect();
    assert!(top.contains(&"/total"), "{rep}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_order_number_spelling_and_ignored_pointers_do_not_differ() {
    let primary = upstream().body(r#"{"a":10,"b":{"x":1,"y":[1,2]},"created_at":"2026-01-01T00:00:00Z","items":[{"reserved_at":"t1","q":1}]}"#).spawn().await;
    let shadow = upstream().body(r#"{"b":{"y":[1.0,2],"x":1.0},"items":[{"q":1,"reserved_at":"t2"}],"a":10.0,"created_at":"2026-11-26T12:00:00Z"}"#).spawn().await;
    let p = spawn_proxy(&config(
        &primary.url(),
        &shadow.url(),
        ", compare: { ignore: [/created_at, /items/*/reserved_at] }",
        "",
    ));
    get(&p.url("/x")).await;
    let rep = wait_records(&p, 1).await;
    assert_eq!(
        (rep["matched"].as_u64(), rep["mismatched"].as_u64()),
        (Some(1), Some(0)),
        "{rep} {:?}",
        log_lines(&p)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_content_type_are_compared() {
    let primary = upstream().body("{}").spawn().await;
    let shadow = upstream()
        .body("{}")
        .status(404)
        .header("content-type", "text/plain")
        .spawn()
        .await;
    let p = spawn_proxy(&config(&primary.url(), &shadow.url(), "", ""));
    get(&p.url("/x")).await;
    wait_records(&p, 1).await;
    let pointers: Vec<String> = wait_log(&p, 1).await[0]["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap().to_string())
        .collect();
    assert!(pointers.contains(&"@status".to_string()), "{pointers:?}");
    assert!(
        pointers
            .iter()
            .any(|p| p.starts_with("@header/content-type")),
        "{pointers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_not_copied_unless_listed_and_copies_are_marked() {
    let primary = upstream().spawn().await;
    let shadow = upstream().spawn().await;
    let p = spawn_proxy(&config(&primary.url(), &shadow.url(), "", ""));
    send(
        "POST",
        &p.url("/payments"),
        &[("Idempotency-Key", "k1")],
        "{}",
    )
    .await;
    get(&p.url("/payments/1")).await;
    wait_records(&p, 1).await;
    assert_eq!(shadow.hits(), 1, "only the GET was copied");
    let copy = shadow.last();
    assert_eq!(copy.method, "GET");
    assert_eq!(copy.headers["x-shadow-request"], "1");
    assert_eq!(copy.headers["host"], shadow.addr.to_string());
    assert!(!primary.last().headers.contains_key("x-shadow-request"));
    // The copy carries what the proxy adds to the primary: the same request
    // id and forwarding fields (and the client's own X-Forwarded-For is not trusted).
    let forwarded = |r: &Seen| {
        [
            "x-request-id",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
        ]
        .map(|n| {
            let v = r
                .headers
                .get(n)
                .map(|v| v.to_str().unwrap_or("?").to_string());
            v.unwrap_or_default()
        })
    };
    assert_eq!(forwarded(&copy), forwarded(&primary.last()));
    assert_eq!(copy.headers["x-forwarded-for"], "127.0.0.1");
    send(
        "GET",
        &p.url("/payments/2"),
        &[
            ("Idempotency-Key", "k0"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Request-Id", "client-id-1"),
        ],
        "",
    )
    .await;
    eventually(PATIENCE, "the second GET copy", || async {
        shadow.recorded() == 2
    })
    .await;
    let copy = shadow.last();
    assert_eq!(copy.headers["idempotency-key"], "k0-shadow");
    assert_eq!(copy.headers["x-request-id"], "client-id-1");
    assert_eq!(copy.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(forwarded(&copy), forwarded(&primary.last()));
    assert_eq!(copy.headers.get_all("x-forwarded-for").iter().count(), 1);

    let p = spawn_proxy(&config(
        &primary.url(),
        &shadow.url(),
        ", methods: [POST]",
        "",
    ));
    let r = send(
        "POST",
        &p.url("/payments"),
        &[
            ("Idempotency-Key", "k2"),
            ("content-type", "application/json"),
        ],
        r#"{"amount":5}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    eventually(PATIENCE, "the POST copy", || async {
        shadow.recorded() == 3
    })
    .await;
    let copy = shadow.last();
    assert_eq!(copy.method, "POST");
    assert_eq!(copy.headers["idempotency-key"], "k2-shadow");
    assert_eq!(forwarded(&copy), forwarded(&primary.last()));
    assert_eq!(copy.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(copy.body_len, 12);
    assert_eq!(primary.last().headers["idempotency-key"], "k2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_failing_shadow_never_delays_or_changes_the_client_answer() {
    let primary = upstream().body("PRIMARY").spawn().await;
    let hung = upstream().delay(Duration::from_secs(30)).spawn().await;
    let p = spawn_proxy(&config(&primary.url(), &hung.url(), "", ""));
    let t = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(&p.url("/x")).await.text(), "PRIMARY");
    }
    // Waiting for the shadow would cost its 2 s timeout per request (10 s).
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "the client waited for the shadow: {:?}",
        t.elapsed()
    );
    let rep = wait_records(&p, 5).await;
    assert_eq!(rep["shadow_errors"], 5, "{rep}");
    assert_eq!(rep["shadow_errors_by_reason"]["timeout"], 5, "{rep}");

    let dead = dead_addr().await;
    let p = spawn_proxy(&config(&primary.url(), &format!("http://{dead}"), "", ""));
    assert_eq!(get(&p.url("/x")).await.text(), "PRIMARY");
    let rep = wait_records(&p, 1).await;
    assert_eq!(rep["shadow_errors_by_reason"]["connect"], 1, "{rep}");
    assert_eq!(rep["verdict"], "not_ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_inflight_drops_copies_and_counts_them() {
    let primary = upstream().spawn().await;
    let slow = upstream().delay(Duration::from_millis(1500)).spawn().await;
    let p = spawn_proxy(&config(
        &primary.url(),
        &slow.url(),
        "",
        "shadow: { max_inflight: 1 }\n",
    ));
    for _ in 0..5 {
        assert_eq!(get(&p.url("/x")).await.status, 200);
    }
    let rep = wait_records(&p, 5).await;
    assert_eq!(rep["skipped"]["inflight_limit"], 4, "{rep}");
    assert_eq!(slow.hits(), 1);
    // A reload can raise the cap.
    let yaml = config(
        &primary.url(),
        &slow.url(),
        "",
        "shadow: { max_inflight: 10 }\n",
    );
    p.write_config(&yaml);
    assert_eq!(p.reload().await.status, 200);
    for _ in 0..3 {
        assert_eq!(get(&p.url("/x")).await.status, 200);
    }
    eventually(PATIENCE, "three more copies", || async { slow.hits() == 4 }).await;
    assert_eq!(wait_records(&p, 8).await["skipped"]["inflight_limit"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_max_body_are_skipped_not_copied() {
    let primary = upstream().spawn().await;
    let shadow = upstream().spawn().await;
    let p = spawn_proxy(&config(
        &primary.url(),
        &shadow.url(),
        ", methods: [PUT]",
        "shadow: { max_body: 1KiB }\n",
    ));
    let r = send("PUT", &p.url("/x"), &[], vec![b'a'; 4096]).await;
    assert_eq!(r.status, 200);
    assert_eq!(primary.last().body_len, 4096);
    let rep = wait_records(&p, 1).await;
    assert_eq!(rep["skipped"]["body_too_large"], 1, "{rep}");
    assert_eq!(shadow.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_copies_about_that_fraction() {
    let primary = upstream().spawn().await;
    let shadow = upstream().spawn().await;
    let p = spawn_proxy(&config(&primary.url(), &shadow.url(), ", sample: 0.25", ""));
    for _ in 0..400 {
        get(&p.url("/x")).await;
    }
    eventually(PATIENCE, "copies to settle", || async {
        report(&p).await["compared"].as_u64() == Some(shadow.hits() as u64)
    })
    .await;
    // Binomial(400, 0.25): mean 100, sd ~8.7.
    assert!(
        (55..=145).contains(&shadow.hits()),
        "{} copies",
        shadow.hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_answers_make_the_route_ready_and_reports_agree() {
    let primary = upstream().body(r#"{"ok":true}"#).spawn().await;
    let shadow = upstream().body(r#"{"ok":true}"#).spawn().await;
    // 100 of 100 is surely above 96% (the interval's lower bound: 96.30%),
    // not above the default 99.9%.
    let ready = ", ready: { min_match: 96%, min_compared: 100 }";
    let p = spawn_proxy(&config(&primary.url(), &shadow.url(), ready, ""));
    for i in 0..99 {
        get(&p.url(&format!("/x/{i}"))).await;
    }
    let rep = wait_records(&p, 99).await;
    assert_eq!(
        (&rep["verdict"], &rep["reason"]),
        (
            &serde_json::json!("not_ready"),
            &serde_json::json!(
                "only 99 of 100 comparisons; about 1 more matching comparisons needed"
            )
        ),
        "99 comparisons are not enough: {rep}"
    );
    get(&p.url("/x/99")).await;
    let live = wait_records(&p, 100).await;
    assert_eq!(live["verdict"], "ready", "{live}");
    assert_eq!(live["match_rate"], 1.0);
    assert_eq!(live["more_needed"], 0);
    // Shadow copies are not client requests.
    let metrics = get(&p.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains(
            "strangler_requests_total{route=\"mirrored\",upstream=\"legacy\",code=\"200\"} 100"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("upstream=\"new\",code="), "{metrics}");
    assert!(
        metrics.contains(
            "strangler_shadow_comparisons_total{route=\"mirrored\",outcome=\"match\"} 100"
        ),
        "{metrics}"
    );

    // Offline: the same log through `strangler report`, with a corrupt line appended.
    let log = p.dir.path().join("shadow-diffs.jsonl");
    eventually(PATIENCE, "the log to hold 100 lines", || async {
        log_lines(&p).len() == 100
    })
    .await;
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"ts\": \"garbage\n{not json at all}\n");
    std::fs::write(&log, text).unwrap();
    let html = p.dir.path().join("report.html");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(["report", "--log"])
        .arg(&log)
        .arg("--html")
        .arg(&html)
        .arg("--config")
        .arg(&p.config_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.get(..3) == Some(&["mirrored", "ready", "100"][..])
        }) && table.contains("96.30%–100.00%"),
        "{table}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 corrupt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("mirrored")
            && !page.contains("<script")
            && !page.contains("http://")
            && !page.contains("https://")
    );
    assert!(page.contains("96% needed") && page.contains("96.30%–100.00%"));
    // Live and offline agree, offline judged by the route's rule.
    let read = strangler::shadow::stream::read_log(
        std::io::BufReader::new(std::fs::File::open(&log).unwrap()),
        None,
    );
    let rule = strangler::shadow::verdict::ReadyRule {
        min_match: 0.96,
        min_compared: 100,
    };
    let mut builder =
        strangler::shadow::report::ReportBuilder::with_rules([("mirrored".into(), rule)].into());
    read.records.iter().for_each(|r| builder.add(r));
    let offline = serde_json::to_value(builder.report()).unwrap();
    // By the default rule (99.9%), the same 100 are far from enough.
    let default = strangler::shadow::report::build_report(&read.records);
    let by_default = &default.routes["mirrored"];
    assert_eq!(
        (by_default.verdict, by_default.more_needed),
        (strangler::shadow::report::Verdict::NotReady, Some(3738))
    );
    let mut live = live;
    let mut off = offline["mirrored"].clone();
    for v in [&mut live, &mut off] {
        v.as_object_mut().unwrap().remove("latency_ms");
    }
    assert_eq!(live, off);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_shadow_breaker_skips_copies() {
    let primary = upstream().spawn().await;
    let failing = upstream().status(500).spawn().await;
    let yaml = config(&primary.url(), &failing.url(), "", "").replace(
        "timeout: 2s }",
        "timeout: 2s, breaker: { failure_threshold: 2, recovery_timeout: 60s } }",
    );
    let p = spawn_proxy(&yaml);
    for _ in 0..2 {
        get(&p.url("/x")).await;
        eventually(PATIENCE, "the copy", || async {
            report(&p).await["mismatched"]
                .as_u64()
                .is_some_and(|n| n >= 1)
        })
        .await;
    }
    let rep = wait_records(&p, 2).await;
    assert_eq!(
        rep["mismatched"], 2,
        "a 500 from the shadow is a mismatch: {rep}"
    );
    eventually(PATIENCE, "the shadow breaker to open", || async {
        get(&p.admin_url("/-/breakers")).await.json()["new"]["state"] == "open"
    })
    .await;
    get(&p.url("/x")).await;
    let rep = wait_records(&p, 3).await;
    assert_eq!(rep["skipped"]["breaker_open"], 1, "{rep}");
    assert_eq!(failing.hits(), 2);
}
