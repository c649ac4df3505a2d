//! The shadow-diff report as one self-contained HTML page (`strangler report --html OUT`).
//!
//! The page has inline CSS only: no scripts, fonts, images or links to fetch, so it can be
//! mailed around and opened anywhere. It shows a summary (routes ready / not ready), then a
//! card per route: the verdict badge and reason, the match rate as a bar, the counts, skips
//! and shadow errors by reason, the most frequent differing pointers with an example
//! request id each, and primary vs shadow latency p50/p99 as bars on a shared scale.
//!
//! Every string that comes from the log (route names, pointers, request ids, reasons) is
//! untrusted and goes through [`escape`].

use super::report::{LatencySummary, Report, RouteReport, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328;background:#f6f8fa}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:0}h3{font-size:.9rem;margin:1rem 0 .35rem;color:#57606a}
.muted{color:#57606a}.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}
.head{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap}
.badge{font-weight:600;font-size:.8rem;padding:.15rem .6rem;border-radius:1rem;color:#fff}
.ready{background:#1a7f37}.not_ready{background:#cf222e}
.summary{display:flex;gap:1rem;flex-wrap:wrap}.summary div{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.6rem 1rem}
.summary b{display:block;font-size:1.4rem}
.rate{display:flex;align-items:center;gap:.6rem;margin:.6rem 0}
.track{flex:1;height:.8rem;background:#eaeef2;border-radius:.4rem;overflow:hidden}
.fill{height:100%;background:#2da44e}.fill.low{background:#cf222e}.fill.p{background:#8c959f}.fill.s{background:#0969da}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-weight:600;color:#57606a}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.lat{display:grid;grid-template-columns:9rem 1fr 6rem;gap:.3rem .6rem;align-items:center}
";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Renders the whole page; `generated_at` is shown in the header (e.g. an RFC 3339 time).
pub fn render_html(report: &Report, generated_at: &str) -> String {
    let ready = report
        .routes
        .values()
        .filter(|r| r.verdict == Verdict::Ready)
        .count();
    let total = report.routes.len();
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str("<title>strangler shadow-diff report</title><style>");
    h.push_str(STYLE);
    h.push_str("</style></head><body>\n<h1>Shadow-diff report</h1>\n");
    let _ = writeln!(h, "<p class=\"muted\">Generated {}. A route is <b>ready</b> with at least 100 comparisons, a match rate of at least 99.9%, and no shadow errors in its last 100 attempts.</p>", escape(generated_at));
    let compared: u64 = report.routes.values().map(|r| r.compared).sum();
    let mismatched: u64 = report.routes.values().map(|r| r.mismatched).sum();
    let errors: u64 = report.routes.values().map(|r| r.shadow_errors).sum();
    h.push_str("<div class=\"summary\">");
    for (n, label) in [
        (format!("{ready} / {total}"), "routes ready"),
        (compared.to_string(), "compared"),
        (mismatched.to_string(), "mismatched"),
        (errors.to_string(), "shadow errors"),
    ] {
        let _ = write!(
            h,
            "<div><b>{n}</b><span class=\"muted\">{label}</span></div>"
        );
    }
    h.push_str("</div>\n");
    if report.routes.is_empty() {
        h.push_str("<div class=\"card\"><p>No shadow records.</p></div>\n");
    }
    for (name, r) in &report.routes {
        route_card(&mut h, name, r);
    }
    h.push_str("</body></html>\n");
    h
}

fn route_card(h: &mut String, name: &str, r: &RouteReport) {
    let (class, label) = match r.verdict {
        Verdict::Ready => ("ready", "ready"),
        Verdict::NotReady => ("not_ready", "not ready"),
    };
    let _ = write!(h, "<section class=\"card\"><div class=\"head\"><h2>{}</h2><span class=\"badge {class}\">{label}</span>", escape(name));
    if let Some(reason) = &r.reason {
        let _ = write!(h, "<span class=\"muted\">{}</span>", escape(reason));
    }
    h.push_str("</div>\n");
    let rate = r.match_rate.unwrap_or(0.0).clamp(0.0, 1.0);
    let shown = r.match_rate.map_or("no comparisons".to_string(), |m| {
        format!("{:.2}% match", (m * 10_000.0).floor() / 100.0)
    });
    let low = if rate < 0.999 { " low" } else { "" };
    let _ = writeln!(h, "<div class=\"rate\"><div class=\"track\"><div class=\"fill{low}\" style=\"width:{:.2}%\"></div></div><span>{shown}</span></div>", rate * 100.0);
    let skipped: u64 = r.skipped.values().sum();
    h.push_str("<table><tr><th class=\"n\">compared</th><th class=\"n\">matched</th><th class=\"n\">mismatched</th><th class=\"n\">shadow errors</th><th class=\"n\">skipped</th></tr><tr>");
    for n in [
        r.compared,
        r.matched,
        r.mismatched,
        r.shadow_errors,
        skipped,
    ] {
        let _ = write!(h, "<td class=\"n\">{n}</td>");
    }
    h.push_str("</tr></table>\n");
    by_reason(h, "Skipped, by reason", &r.skipped);
    by_reason(h, "Shadow errors, by reason", &r.shadow_errors_by_reason);
    if !r.top_pointers.is_empty() {
        h.push_str("<h3>Most frequent differences</h3><table><tr><th>pointer</th><th class=\"n\">count</th><th>example request</th></tr>\n");
        for p in &r.top_pointers {
            let at = if p.pointer.is_empty() {
                "(whole body)".to_string()
            } else {
                escape(&p.pointer)
            };
            let _ = writeln!(h, "<tr><td><code>{at}</code></td><td class=\"n\">{}</td><td><code>{}</code></td></tr>", p.count, escape(&p.example_request_id));
        }
        if r.other_pointer_diffs > 0 {
            let _ = writeln!(
                h,
                "<tr><td class=\"muted\">other pointers</td><td class=\"n\">{}</td><td></td></tr>",
                r.other_pointer_diffs
            );
        }
        h.push_str("</table>\n");
    }
    latency(h, &r.latency_ms.primary, &r.latency_ms.shadow);
    h.push_str("</section>\n");
}

fn by_reason(h: &mut String, title: &str, counts: &BTreeMap<String, u64>) {
    if counts.is_empty() {
        return;
    }
    let _ = write!(h, "<h3>{title}</h3><table>");
    for (reason, n) in counts {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"n\">{n}</td></tr>",
            escape(reason)
        );
    }
    h.push_str("</table>\n");
}

fn latency(h: &mut String, primary: &LatencySummary, shadow: &LatencySummary) {
    let rows = [
        ("primary p50", "p", primary.p50),
        ("shadow p50", "s", shadow.p50),
        ("primary p99", "p", primary.p99),
        ("shadow p99", "s", shadow.p99),
    ];
    let max = rows
        .iter()
        .filter_map(|r| r.2)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    if max <= 0.0 {
        return;
    }
    let _ = write!(
        h,
        "<h3>Latency (ms, {} primary / {} shadow samples)</h3><div class=\"lat\">",
        primary.count, shadow.count
    );
    for (label, class, v) in rows {
        let (width, text) = match v.filter(|v| v.is_finite()) {
            Some(v) => ((v / max * 100.0).clamp(0.0, 100.0), format!("{v:.1} ms")),
            None => (0.0, "-".to_string()),
        };
        let _ = write!(h, "<span class=\"muted\">{label}</span><div class=\"track\"><div class=\"fill {class}\" style=\"width:{width:.1}%\"></div></div><span>{text}</span>");
    }
    h.push_str("</div>\n");
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
