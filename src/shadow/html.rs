//! The shadow-diff report as one self-contained HTML page (`strangler report --html OUT`).
//!
//! The page has inline CSS only: no scripts, fonts, images or links to fetch, so it can be
//! mailed around and opened anywhere. It says which logs it read and the time they cover,
//! shows a summary (routes ready / not ready), then a card per route (`shadow::cards`): the
//! verdict and why, the match rate with its 95% interval and the threshold marked, how many
//! more comparisons a verdict needs, the counts, the trend per minute, the most frequent
//! differing pointers with both values and an example request id, the noise learned, skips
//! and shadow errors by reason, and primary vs shadow latency p50/p99 on a shared scale.
//!
//! Every string that comes from the log (route names, pointers, request ids, reasons) is
//! untrusted and goes through [`escape`].

pub use super::cards::escape;
use super::cards::{route_card, STYLE};
use super::report::{Report, Verdict};
use std::fmt::Write;

/// Renders the whole page; `generated_at` is shown in the header (e.g. an RFC 3339 time),
/// with the logs read (`inputs`) and the time they cover.
pub fn render_html(report: &Report, generated_at: &str, inputs: &[String]) -> String {
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
    let _ = write!(h, "<p class=\"muted\">Generated {}", escape(generated_at));
    if !inputs.is_empty() {
        let files: Vec<String> = inputs
            .iter()
            .map(|f| format!("<code>{}</code>", escape(f)))
            .collect();
        let _ = write!(h, " from {}", files.join(", "));
    }
    let from = report
        .routes
        .values()
        .filter_map(|r| r.window.as_ref())
        .map(|w| w.from.as_str())
        .min();
    let to = report
        .routes
        .values()
        .filter_map(|r| r.window.as_ref())
        .map(|w| w.to.as_str())
        .max();
    if let (Some(from), Some(to)) = (from, to) {
        let _ = write!(h, ", records from {} to {}", escape(from), escape(to));
    }
    h.push_str(".</p>\n<p class=\"muted\">A route is <b>ready</b> when the lower bound of its match rate's 95% confidence interval (Wilson) reaches its threshold (99.9% unless its <code>shadow.ready</code> says otherwise), over at least its minimum of comparisons (100), with no shadow errors in its last 100 attempts. Comparisons that differ only where the primary differs from itself count as <b>noise</b>, with the matches.</p>\n");
    let compared: u64 = report.routes.values().map(|r| r.compared).sum();
    let mismatched: u64 = report.routes.values().map(|r| r.mismatched).sum();
    let noise: u64 = report.routes.values().map(|r| r.noise).sum();
    let errors: u64 = report.routes.values().map(|r| r.shadow_errors).sum();
    h.push_str("<div class=\"summary\">");
    for (n, label) in [
        (format!("{ready} / {total}"), "routes ready"),
        (compared.to_string(), "compared"),
        (mismatched.to_string(), "mismatched"),
        (noise.to_string(), "noise"),
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

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
