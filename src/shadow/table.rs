//! The shadow report as a plain-text table, for `strangler report` in a
//! terminal: one row per route, then the most frequent differing pointers.

use std::collections::BTreeMap;

use super::report::{LatencySummary, Report, Verdict};

/// The report as a plain-text table for a terminal; control characters from the log are
/// replaced, so a log cannot inject terminal escapes.
pub fn render_table(report: &Report) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let lat = |l: &LatencySummary| format!("{}/{}", ms(l.p50), ms(l.p99));
    let mut rows = vec![[
        "ROUTE",
        "VERDICT",
        "COMPARED",
        "MATCH",
        "MISMATCH",
        "ERRORS",
        "SKIPPED",
        "PRIMARY p50/p99 ms",
        "SHADOW p50/p99 ms",
    ]
    .map(String::from)];
    for (name, r) in &report.routes {
        let rate = r.match_rate.map_or("-".to_string(), |m| {
            format!("{:.2}%", (m * 10_000.0).floor() / 100.0)
        });
        let verdict = if r.verdict == Verdict::Ready {
            "ready"
        } else {
            "not_ready"
        };
        rows.push([
            clean(name),
            verdict.into(),
            r.compared.to_string(),
            rate,
            r.mismatched.to_string(),
            r.shadow_errors.to_string(),
            r.skipped.values().sum::<u64>().to_string(),
            lat(&r.latency_ms.primary),
            lat(&r.latency_ms.shadow),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    details(report, &mut out);
    out
}

/// Per route: why it is not ready, what was skipped or failed, and the
/// most frequent differing pointers.
fn details(report: &Report, out: &mut String) {
    for (name, r) in &report.routes {
        out.push_str(&format!(
            "\n{}: {}\n",
            clean(name),
            r.reason.as_deref().map_or("ready".into(), clean)
        ));
        let by = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, n)| format!("{} {n}", clean(k)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !r.skipped.is_empty() {
            out.push_str(&format!("  skipped: {}\n", by(&r.skipped)));
        }
        if !r.shadow_errors_by_reason.is_empty() {
            out.push_str(&format!(
                "  shadow errors: {}\n",
                by(&r.shadow_errors_by_reason)
            ));
        }
        for p in &r.top_pointers {
            let at = if p.pointer.is_empty() {
                "(root)".to_string()
            } else {
                clean(&p.pointer)
            };
            out.push_str(&format!(
                "  {:>7}  {at}  e.g. {}\n",
                p.count,
                clean(&p.example_request_id)
            ));
        }
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}
