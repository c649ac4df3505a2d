//! Streaming the report: time order across logs, lines slightly out of
//! order, a log given twice, a route, corrupt lines.

use super::*;
use crate::shadow::record::Outcome;

fn line(route: &str, n: u32, outcome: Outcome) -> String {
    let mut out = Vec::new();
    crate::shadow::report::tests::rec(route, n, outcome).write_json_line(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[test]
fn logs_merge_in_time_order_and_a_log_given_twice_counts_once() {
    // Two replicas, interleaved in time, one with lines a little out of order.
    let a: String = [3, 1, 5, 7]
        .iter()
        .map(|n| line("r", *n, Outcome::Match))
        .collect();
    let b: String = [2, 4, 6]
        .iter()
        .map(|n| line("r", *n, Outcome::Match))
        .collect();
    let s = report(vec![a.as_bytes(), b.as_bytes()], None, || {});
    assert_eq!(s.report.routes["r"].compared, 7);
    assert_eq!(s.counted, 7);
    let twice = report(vec![a.as_bytes(), a.as_bytes(), b.as_bytes()], None, || {});
    assert_eq!(
        twice.report.routes["r"].compared, 7,
        "a comparison seen twice counts once"
    );
    assert_eq!(twice.report, s.report);
}

#[test]
fn a_route_and_corrupt_lines() {
    let log = format!(
        "{}garbage\n\n{}{}",
        line("a", 1, Outcome::Match),
        line("b", 2, Outcome::Mismatch),
        line("a", 3, Outcome::Mismatch)
    );
    let s = report(vec![log.as_bytes()], Some("a"), || {});
    assert_eq!(s.report.routes.len(), 1);
    assert_eq!(s.report.routes["a"].compared, 2);
    assert_eq!(s.report.routes["a"].matched, 1);
    assert_eq!(s.corrupt_lines, vec![1]);
    assert_eq!(
        s.routes.iter().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn many_records_stream_through_a_bounded_window() {
    // More records than the window, written in reverse blocks of 100:
    // each block is out of order, all within the window.
    let mut log = String::new();
    for block in 0..(3 * WINDOW as u32 / 100) {
        for i in (0..100).rev() {
            log.push_str(&line("r", block * 100 + i, Outcome::Match));
        }
    }
    let mut ticks = 0;
    let s = report(vec![log.as_bytes()], None, || ticks += 1);
    assert_eq!(s.counted, 3 * WINDOW as u64 / 100 * 100);
    assert!(ticks >= 2, "{ticks}");
}
