use super::super::diff::{Diff, DiffKind};
use super::super::record::{PrimarySide, ShadowSide};
use super::super::verdict::ReadyRule;
use super::*;
use crate::shadow::stream::{read_log, MAX_LINE_BYTES};
use crate::shadow::table::render_table;
use std::io::{BufReader, Read};

pub(crate) fn rec(route: &str, n: u32, outcome: Outcome) -> ShadowRecord {
    let ts = format!(
        "2025-01-02T03:{:02}:{:02}.{:03}Z",
        n / 60_000 % 60,
        n / 1000 % 60,
        n % 1000
    );
    let (status, latency_ms) = match outcome {
        Outcome::Match | Outcome::Mismatch => (Some(200), Some(20.0)),
        _ => (None, None),
    };
    let reason = match outcome {
        Outcome::ShadowError => Some("timeout".to_string()),
        Outcome::Skipped => Some("body_too_large".to_string()),
        _ => None,
    };
    let diffs = if outcome == Outcome::Mismatch {
        vec![Diff {
            pointer: "/total".into(),
            kind: DiffKind::Changed,
            primary: None,
            shadow: None,
        }]
    } else {
        Vec::new()
    };
    ShadowRecord {
        ts,
        request_id: format!("req-{n}"),
        route: route.into(),
        method: "GET".into(),
        path: "/x".into(),
        primary: PrimarySide {
            upstream: "legacy".into(),
            status: 200,
            latency_ms: 10.0,
        },
        shadow: ShadowSide {
            upstream: "new".into(),
            status,
            latency_ms,
            error: None,
        },
        outcome,
        reason,
        diffs,
    }
}

/// `total` records for route "r" with `bad` of them (the first ones) mismatches.
fn run(total: u32, bad: u32) -> RouteReport {
    run_with(total, bad, ReadyRule::default())
}

/// As [`run`], the route judged by `rule`.
fn run_with(total: u32, bad: u32, rule: ReadyRule) -> RouteReport {
    let mut b = ReportBuilder::with_rules([("r".to_string(), rule)].into());
    for i in 0..total {
        let outcome = if i < bad {
            Outcome::Mismatch
        } else {
            Outcome::Match
        };
        b.add(&rec("r", i, outcome));
    }
    b.report().routes["r"].clone()
}

pub(crate) const LOOSE: ReadyRule = ReadyRule {
    min_match: 0.95,
    min_compared: 100,
};

#[test]
fn too_few_comparisons_are_not_ready() {
    let r = run_with(99, 0, LOOSE);
    assert_eq!((r.compared, r.verdict), (99, Verdict::NotReady));
    assert_eq!(
        r.reason.as_deref(),
        Some("only 99 of 100 comparisons; about 1 more matching comparisons needed")
    );
    let r = run_with(100, 0, LOOSE);
    assert_eq!((r.verdict, r.more_needed), (Verdict::Ready, Some(0)));
}

/// 100 of 100 says the true rate is 96.3% or more: not 99.9%.
#[test]
fn one_hundred_of_one_hundred_is_not_ready_at_99_9() {
    let r = run(100, 0);
    assert_eq!(r.verdict, Verdict::NotReady);
    let i = r.match_interval.expect("an interval");
    assert!((i.low - 0.9630).abs() < 1e-4 && i.high == 1.0, "{i:?}");
    assert_eq!(r.more_needed, Some(3738));
    assert_eq!(
        r.reason.as_deref(),
        Some("match rate 100.00% (95% interval 96.30%–100.00%) is not surely ≥ 99.9%; about 3738 more matching comparisons needed")
    );
    assert_eq!(run(3838, 0).verdict, Verdict::Ready);
    assert_eq!(run(3837, 0).verdict, Verdict::NotReady);
}

#[test]
fn mismatches_need_more_evidence() {
    // 1 in 1000 is 99.9%, but only surely 99.44%.
    let r = run(1000, 1);
    assert_eq!(
        (r.matched, r.mismatched, r.verdict),
        (999, 1, Verdict::NotReady)
    );
    assert!(r.more_needed.is_some_and(|n| n > 3838), "{r:?}");
    let at_99 = ReadyRule {
        min_match: 0.99,
        min_compared: 100,
    };
    assert_eq!(run_with(1000, 1, at_99).verdict, Verdict::Ready);
    assert_eq!(run_with(1000, 10, at_99).verdict, Verdict::NotReady);
    // 99.899%: floored, never shown as 99.90%.
    let r = run(10_000, 11);
    assert!(r
        .reason
        .is_some_and(|r| r.starts_with("match rate 99.89% (95% interval 99.80%–")));
}

#[test]
fn shadow_error_in_the_last_100_is_not_ready() {
    let mut b = ReportBuilder::with_rules([("r".to_string(), LOOSE)].into());
    for i in 0..200 {
        b.add(&rec("r", i, Outcome::Match));
    }
    b.add(&rec("r", 200, Outcome::ShadowError));
    let r = &b.report().routes["r"];
    assert_eq!(
        (r.compared, r.shadow_errors, r.verdict),
        (200, 1, Verdict::NotReady)
    );
    assert_eq!(r.reason.as_deref(), Some("1 shadow error in the last 100"));
    assert_eq!(r.shadow_errors_by_reason["timeout"], 1);
    for i in 201..300 {
        b.add(&rec("r", i, Outcome::Match));
    }
    assert_eq!(b.report().routes["r"].verdict, Verdict::NotReady);
    b.add(&rec("r", 300, Outcome::Match));
    assert_eq!(b.report().routes["r"].verdict, Verdict::Ready);
    // Skipped records are not attempts: they neither count nor push errors out.
    b.add(&rec("r", 301, Outcome::ShadowError));
    for i in 302..500 {
        b.add(&rec("r", i, Outcome::Skipped));
    }
    let r = &b.report().routes["r"];
    assert_eq!(
        (r.verdict, r.skipped["body_too_large"]),
        (Verdict::NotReady, 198)
    );
}

#[test]
fn several_failures_are_all_named() {
    let mut records: Vec<_> = (0..30)
        .map(|i| {
            rec(
                "r",
                i,
                if i < 3 {
                    Outcome::Mismatch
                } else {
                    Outcome::Match
                },
            )
        })
        .collect();
    records.extend((30..33).map(|i| rec("r", i, Outcome::ShadowError)));
    let r = &build_report(&records).routes["r"];
    let reason = r.reason.as_deref().unwrap_or("");
    assert!(
        reason.starts_with("only 30 of 100 comparisons; match rate 90.00% (95% interval 74.37%–96.54%) is not surely ≥ 99.9%; 3 shadow errors in the last 33; about "),
        "{reason}"
    );
    let empty = &build_report(&[rec("s", 0, Outcome::Skipped)]).routes["s"];
    assert_eq!(
        (empty.match_rate, empty.reason.as_deref()),
        (
            None,
            Some("only 0 of 100 comparisons; about 3838 more matching comparisons needed")
        )
    );
}

#[test]
fn top_pointers_with_examples_and_bounded() {
    let mut b = ReportBuilder::new();
    for i in 0..(MAX_POINTERS as u32 + 10) {
        let mut r = rec("r", i, Outcome::Mismatch);
        r.diffs.push(Diff {
            pointer: format!("/items/{i}"),
            kind: DiffKind::Added,
            primary: None,
            shadow: None,
        });
        r.diffs.push(r.diffs[0].clone()); // counted once per record
        b.add(&r);
    }
    let r = &b.report().routes["r"];
    assert_eq!(r.top_pointers.len(), TOP_POINTERS);
    assert_eq!(r.top_pointers[0].pointer, "/total");
    assert_eq!(r.top_pointers[0].count, MAX_POINTERS as u64 + 10);
    assert_eq!(r.top_pointers[0].example_request_id, "req-0");
    assert_eq!(r.other_pointer_diffs, 11);
}

#[test]
fn latency_percentiles_are_close() {
    let mut h = LatencyHistogram::default();
    for i in 1..=1000 {
        h.record(f64::from(i));
    }
    h.record(f64::NAN);
    h.record(-1.0);
    let (p50, p99) = (
        h.quantile(0.5).unwrap_or(0.0),
        h.quantile(0.99).unwrap_or(0.0),
    );
    assert!((p50 - 500.0).abs() / 500.0 < 0.05, "{p50}");
    assert!((p99 - 990.0).abs() / 990.0 < 0.05, "{p99}");
    assert_eq!(h.count(), 1000);
    assert_eq!(LatencyHistogram::default().quantile(0.5), None);
    let mut one = LatencyHistogram::default();
    one.record(7.0);
    assert_eq!(one.quantile(0.99), Some(7.0));
    one.record(1e12);
    one.record(0.0);
    assert!(one.quantile(1.0).is_some_and(|v| v <= 1e12));
    let r = run(100, 0);
    assert_eq!(
        (r.latency_ms.primary.p50, r.latency_ms.shadow.p99),
        (Some(10.0), Some(20.0))
    );
}

#[test]
fn merging_two_logs_orders_by_ts() {
    // Replica A has errors early; replica B's matches come later: merged, the last 100 are clean.
    let a: Vec<_> = (0..5)
        .map(|i| rec("r", i, Outcome::ShadowError))
        .chain((10..60).map(|i| rec("r", i * 2, Outcome::Match)))
        .collect();
    let b: Vec<_> = (0..100)
        .map(|i| rec("r", 200 + i, Outcome::Match))
        .collect();
    let log = |rs: &[ShadowRecord]| {
        rs.iter()
            .map(ShadowRecord::to_json_line)
            .collect::<String>()
    };
    // Given b first: merged in time order, the errors are old.
    let (lb, la) = (log(&b), log(&a));
    let logs = vec![lb.as_bytes(), la.as_bytes()];
    let rules = [("r".to_string(), LOOSE)].into();
    let merged = crate::shadow::stream::report_judged(logs, None, rules, || {});
    assert_eq!(merged.counted, 155);
    let r = &merged.report.routes["r"];
    assert_eq!(
        (r.compared, r.shadow_errors, r.verdict),
        (150, 5, Verdict::Ready)
    );
    // Unmerged (b then a), the errors would be recent.
    let naive: Vec<_> = b.iter().chain(&a).cloned().collect();
    assert_eq!(build_report(&naive).routes["r"].verdict, Verdict::NotReady);
}

#[test]
fn corrupt_and_truncated_lines_are_counted() {
    let good = rec("r", 1, Outcome::Match).to_json_line();
    let other = rec("other", 2, Outcome::Match).to_json_line();
    let mut log = format!("{good}\n   \ngarbage\n{{\"ts\":1}}\r\n{other}");
    log.push_str(&good.replace("\n", "\r\n"));
    log.push_str("\u{0}\u{1}\n");
    let mut bytes = log.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\n");
    bytes.extend_from_slice(&good.as_bytes()[..good.len() / 2]);
    let read = read_log(BufReader::with_capacity(7, bytes.as_slice()), None);
    assert_eq!(
        (read.records.len(), read.corrupt_lines, read.io_error),
        (3, 5, None)
    );
    let only_r = read_log(bytes.as_slice(), Some("r"));
    assert_eq!((only_r.records.len(), only_r.corrupt_lines), (2, 5));
    // A complete last line without its newline is fine.
    assert_eq!(read_log(good.trim_end().as_bytes(), None).records.len(), 1);
    assert_eq!(read_log(&b""[..], None).corrupt_lines, 0);
}

#[test]
fn overlong_lines_and_read_errors_do_not_stop_reading() {
    let good = rec("r", 1, Outcome::Match).to_json_line();
    let huge = format!("{}\n{good}", "x".repeat(MAX_LINE_BYTES + 10));
    let read = read_log(huge.as_bytes(), None);
    assert_eq!((read.records.len(), read.corrupt_lines), (1, 1));
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
    let read = read_log(BufReader::new(good.as_bytes().chain(Failing)), None);
    assert_eq!(read.records.len(), 1);
    assert!(read.io_error.is_some_and(|e| e.contains("disk gone")));
}

#[test]
fn report_json_is_keyed_by_route() {
    let v =
        serde_json::to_value(build_report(&[rec("payments", 1, Outcome::Mismatch)])).expect("json");
    let r = &v["payments"];
    assert_eq!(
        (r["compared"].as_u64(), r["verdict"].as_str()),
        (Some(1), Some("not_ready"))
    );
    assert_eq!(r["top_pointers"][0]["pointer"], "/total");
    assert_eq!(r["latency_ms"]["shadow"]["p50"], 20.0);
    let back: Report = serde_json::from_value(v).expect("round trip");
    assert_eq!(back.routes["payments"].mismatched, 1);
}

#[test]
fn table_lists_routes_and_strips_control_characters() {
    let mut evil = rec("r\u{1b}[31m", 1, Outcome::Mismatch);
    evil.diffs[0].pointer = "/a\u{7}".into();
    let records = [evil, rec("payments", 2, Outcome::Skipped)];
    let t = render_table(&build_report(&records));
    assert!(t.starts_with("ROUTE"), "{t}");
    assert!(
        t.contains("payments") && t.contains("not_ready") && t.contains("body_too_large 1"),
        "{t}"
    );
    assert!(
        t.contains("only 1 of 100 comparisons") && t.contains("e.g. req-1"),
        "{t}"
    );
    assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
}

#[test]
fn routes_are_bounded() {
    let mut b = ReportBuilder::new();
    for i in 0..(MAX_ROUTES as u32 + 5) {
        b.add(&rec(&format!("route-{i}"), i, Outcome::Match));
    }
    assert_eq!(
        (b.report().routes.len(), b.untracked_records()),
        (MAX_ROUTES, 5)
    );
}
