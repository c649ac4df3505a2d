//! The shadow report as a plain-text table, for `strangler report` in a
//! terminal: one row per route (with the match rate's 95% interval), then
//! per route why it is not ready (with about how many more comparisons it
//! needs), the rule it is judged by, the most frequent differing pointers
//! with both values, and the noise learned.

use std::collections::BTreeMap;

use super::report::{LatencySummary, Report, Verdict};
use super::verdict::{percent, threshold};

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
        "NOISE",
        "MATCH 95% CI",
        "PRIMARY p50/p99 ms",
        "SHADOW p50/p99 ms",
    ]
    .map(String::from)];
    for (name, r) in &report.routes {
        let rate = r.match_rate.map_or("-".to_string(), percent);
        let ci = r.match_interval.map_or("-".to_string(), |i| {
            format!("{}–{}", percent(i.low), percent(i.high))
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
            r.noise.to_string(),
            ci,
            lat(&r.latency_ms.primary),
            lat(&r.latency_ms.shadow),
        ]);
    }
    let widths: Vec<usize> = (0..11)
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
        out.push_str(&format!(
            "  ready: lower bound ≥ {} over ≥ {} compared\n",
            threshold(r.ready_rule.min_match),
            r.ready_rule.min_compared
        ));
        for p in &r.top_pointers {
            let at = if p.pointer.is_empty() {
                "(root)".to_string()
            } else {
                clean(&p.pointer)
            };
            let noise = if p.noise { " (noise)" } else { "" };
            let v = |v: Option<&serde_json::Value>| {
                v.map_or("-".to_string(), |v| clean(&cut(&v.to_string())))
            };
            out.push_str(&format!(
                "  {:>7}  {at}{noise}  {} → {}  e.g. {}\n",
                p.count,
                v(p.primary.as_ref()),
                v(p.shadow.as_ref()),
                clean(&p.example_request_id)
            ));
        }
        if !r.noisy_pointers.is_empty() {
            let noisy: Vec<String> = (r.noisy_pointers.iter())
                .map(|n| format!("{} {}", clean(&n.pointer), n.probes))
                .collect();
            out.push_str(&format!(
                "  noise ({} probes; {} comparisons differed only there): {}\n",
                r.noise_probes,
                r.noise,
                noisy.join(", ")
            ));
        }
    }
}

/// At most 60 characters of a value.
fn cut(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}
