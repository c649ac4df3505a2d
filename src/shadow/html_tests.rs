use super::super::report::{
    Latencies, LatencySummary, NoisyPointer, PointerCount, RouteReport, Window,
};
use super::super::trend::Minute;
use super::super::verdict::{wilson, ReadyRule, Z95};
use super::*;

fn route(verdict: Verdict) -> RouteReport {
    RouteReport {
        compared: 1000,
        matched: 999,
        mismatched: 1,
        shadow_errors: 2,
        shadow_errors_by_reason: [("timeout".to_string(), 2)].into(),
        skipped: [("body_too_large".to_string(), 4)].into(),
        noise: 0,
        noise_probes: 0,
        match_rate: Some(0.999),
        match_interval: wilson(999, 1000, Z95),
        ready_rule: ReadyRule::default(),
        more_needed: Some(4000),
        top_pointers: vec![PointerCount {
            pointer: "/total".into(),
            count: 1,
            example_request_id: "req-42".into(),
            primary: Some(serde_json::json!(12.5)),
            shadow: Some(serde_json::json!("12.50")),
            noise: false,
        }],
        other_pointer_diffs: 0,
        noisy_pointers: vec![NoisyPointer {
            pointer: "/ts".into(),
            probes: 3,
        }],
        latency_ms: Latencies {
            primary: LatencySummary {
                count: 1000,
                p50: Some(12.0),
                p99: Some(80.0),
            },
            shadow: LatencySummary {
                count: 1000,
                p50: Some(6.0),
                p99: Some(160.0),
            },
        },
        window: Some(Window {
            from: "2025-01-02T03:00:00.000Z".into(),
            to: "2025-01-02T03:04:00.000Z".into(),
        }),
        trend: vec![
            Minute {
                at: "2025-01-02T03:03:00.000Z".into(),
                compared: 500,
                agreed: 500,
                errors: 0,
            },
            Minute {
                at: "2025-01-02T03:04:00.000Z".into(),
                compared: 500,
                agreed: 499,
                errors: 2,
            },
        ],
        verdict,
        reason: None,
    }
}

#[test]
fn page_is_self_contained_and_complete() {
    let mut report = Report::default();
    report
        .routes
        .insert("payments".into(), route(Verdict::Ready));
    let mut bad = route(Verdict::NotReady);
    bad.reason = Some("match rate 97.20% < 99.9%".into());
    bad.match_rate = Some(0.972);
    bad.match_interval = wilson(972, 1000, Z95);
    report.routes.insert("orders".into(), bad);
    let logs = ["a.jsonl".to_string(), "b.jsonl".to_string()];
    let page = render_html(&report, "2025-01-02T03:04:05Z", &logs);
    assert!(page.starts_with("<!DOCTYPE html>"));
    for absent in [
        "<script", "src=", "href=", "url(", "@import", "http://", "https://",
    ] {
        assert!(!page.contains(absent), "page contains {absent}");
    }
    for present in [
        "payments",
        "orders",
        "1 / 2",
        "badge ready",
        "badge not_ready",
        "match rate 97.20% &lt; 99.9%",
        "97.20% match",
        "95%: 95.98%–98.05%",
        "99.9% needed",
        "About <b>4000</b> more comparisons",
        "<code>12.5</code>",
        "<code>&quot;12.50&quot;</code>",
        "<code>/ts</code>",
        "<code>a.jsonl</code>, <code>b.jsonl</code>",
        "records from 2025-01-02T03:00:00.000Z to 2025-01-02T03:04:00.000Z",
        "Trend, per minute: the hour to 03:04 UTC",
        "500 compared, 99.80% match, 2 shadow errors",
        "body_too_large",
        "timeout",
        "/total",
        "req-42",
        "160.0 ms",
        "width:100.0%",
        "2025-01-02T03:04:05Z",
    ] {
        assert!(page.contains(present), "page lacks {present}");
    }
    // The trend: the hour, a slot per minute, two of them with records (per route).
    assert_eq!(page.matches("<div class=\"gap\">").count(), 2 * 58);
}

#[test]
fn log_strings_are_escaped() {
    let evil = "<script>alert('x')</script>&\"";
    let mut r = route(Verdict::NotReady);
    r.reason = Some(evil.into());
    r.top_pointers[0].pointer = format!("/{evil}");
    r.top_pointers[0].example_request_id = evil.into();
    r.skipped = [(evil.to_string(), 1)].into();
    let mut report = Report::default();
    report.routes.insert(evil.into(), r);
    let page = render_html(&report, evil, &[evil.to_string()]);
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("alert('x')"));
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert_eq!(escape("a\u{1b}b"), "a\u{FFFD}b");
}

#[test]
fn empty_and_sparse_reports_render() {
    let page = render_html(&Report::default(), "now", &[]);
    assert!(page.contains("No shadow records") && page.contains("0 / 0"));
    let mut r = route(Verdict::NotReady);
    r.match_rate = None;
    r.match_interval = None;
    r.trend.clear();
    r.latency_ms.primary = LatencySummary {
        count: 0,
        p50: None,
        p99: None,
    };
    r.latency_ms.shadow = LatencySummary {
        count: 0,
        p50: None,
        p99: Some(f64::NAN),
    };
    let mut report = Report::default();
    report.routes.insert("r".into(), r);
    let page = render_html(&report, "now", &[]);
    assert!(page.contains("no comparisons") && !page.contains("NaN"));
}
