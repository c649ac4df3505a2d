//! HTML fragments of a route's shadow verdict, shared by the offline report
//! (`shadow::html`) and the live page (`admin::ui`): one card per route with
//! its verdict and why, the match rate on a zoomed scale with its 95%
//! interval and the threshold marked, how many more comparisons a verdict
//! needs, the counts, the trend per minute, the top differing pointers with
//! both values, the noise learned, and the latencies.
//!
//! Inline CSS only ([`STYLE`]); every string from config or traffic goes
//! through [`escape`].

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::record::ts_key;
use super::report::{LatencySummary, Minute, RouteReport, Verdict};
use super::trend::MINUTES;
use super::verdict::{percent, threshold};

pub const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#1f2328;background:#f6f8fa}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:0}h3{font-size:.9rem;margin:1rem 0 .35rem;color:#57606a}
.muted{color:#57606a}.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0;overflow-x:auto}
.head{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap}
.badge{font-weight:600;font-size:.8rem;padding:.15rem .6rem;border-radius:1rem;color:#fff;white-space:nowrap}
.ready,.closed,.completed{background:#1a7f37}.not_ready,.open,.rolled_back{background:#cf222e}.half_open,.paused,.waiting_for_shadow{background:#9a6700}.running{background:#0969da}.other{background:#57606a}
.summary{display:flex;gap:1rem;flex-wrap:wrap}.summary div{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.6rem 1rem}
.summary b{display:block;font-size:1.4rem}
.rate{display:flex;align-items:center;gap:.6rem;margin:1.6rem 0 1rem}
.track{flex:1;height:.8rem;background:#eaeef2;border-radius:.4rem;overflow:hidden}
.scale{flex:1;position:relative;height:.9rem;background:#eaeef2;border-radius:.45rem}
.band{position:absolute;top:0;bottom:0;background:#9be9a8;border-radius:.45rem}.band.low{background:#ffcecb}
.dot{position:absolute;top:-.15rem;width:.3rem;height:1.2rem;margin-left:-.15rem;background:#1f2328;border-radius:.15rem}
.mark{position:absolute;top:-.35rem;bottom:-.35rem;border-left:2px dashed #0969da}
.mark span{position:absolute;bottom:1.45rem;right:.25rem;font-size:.75rem;color:#0969da;white-space:nowrap}
.ends{display:flex;justify-content:space-between;font-size:.75rem;color:#57606a}
.fill{height:100%;background:#2da44e}.fill.low{background:#cf222e}.fill.p{background:#8c959f}.fill.s{background:#0969da}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-weight:600;color:#57606a}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.tag{font-size:.7rem;padding:0 .35rem;border-radius:.5rem;background:#ddf4ff;color:#0969da;margin-left:.3rem}
.lat{display:grid;grid-template-columns:9rem 1fr 6rem;gap:.3rem .6rem;align-items:center}
.trend{display:flex;align-items:flex-end;gap:2px;height:3rem;border-bottom:1px solid #d0d7de}
@media (max-width:600px){body{padding:0 .5rem;margin:.75rem auto}.card{padding:.75rem}td,th{padding:.2rem .3rem}.lat{grid-template-columns:6.5rem 1fr 4rem}}
.trend div{flex:1;min-width:1px;background:#2da44e}.trend div.low{background:#cf222e}.trend div.none{background:#d0d7de}.trend div.gap{background:none}
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

/// A badge for a state (a verdict, a breaker's, a ramp's): its colour from
/// a fixed set of names, else grey.
pub fn badge(h: &mut String, state: &str) {
    let known = [
        "ready",
        "not_ready",
        "closed",
        "open",
        "half_open",
        "paused",
        "waiting_for_shadow",
        "running",
        "completed",
        "rolled_back",
    ];
    let class = if known.contains(&state) {
        state
    } else {
        "other"
    };
    let label = escape(&state.replace('_', " "));
    let _ = write!(h, "<span class=\"badge {class}\">{label}</span>");
}

/// One route's card.
pub fn route_card(h: &mut String, name: &str, r: &RouteReport) {
    let state = match r.verdict {
        Verdict::Ready => "ready",
        Verdict::NotReady => "not_ready",
    };
    let _ = write!(
        h,
        "<section class=\"card\" id=\"shadow-{}\"><div class=\"head\"><h2>{}</h2>",
        escape(name),
        escape(name)
    );
    badge(h, state);
    h.push_str("</div>\n");
    if let Some(reason) = &r.reason {
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", escape(reason));
    }
    rate(h, r);
    counts(h, r);
    if let Some(w) = &r.window {
        let _ = writeln!(
            h,
            "<p class=\"muted\">Records from {} to {}.</p>",
            escape(&w.from),
            escape(&w.to)
        );
    }
    trend(h, &r.trend, r.ready_rule.min_match);
    pointers(h, r);
    by_reason(h, "Skipped, by reason", &r.skipped);
    by_reason(h, "Shadow errors, by reason", &r.shadow_errors_by_reason);
    latency(h, &r.latency_ms.primary, &r.latency_ms.shadow);
    h.push_str("</section>\n");
}

/// The match rate on a scale zoomed to where it matters, its interval as a
/// band, the threshold as a dashed marker; then what a verdict needs.
fn rate(h: &mut String, r: &RouteReport) {
    let min = r.ready_rule.min_match.clamp(0.0, 1.0);
    let Some(m) = r.match_rate.filter(|m| m.is_finite()) else {
        let _ = writeln!(h, "<p>no comparisons yet; ready takes a lower bound ≥ {} over at least {} comparisons</p>", threshold(min), r.ready_rule.min_compared);
        return;
    };
    let i = r.match_interval;
    let floor = i.map_or(m, |i| i.low).min(min).min(m).clamp(0.0, 1.0);
    let lo = (floor - (1.0 - floor).max(0.001)).max(0.0);
    let at = |v: f64| ((v.clamp(lo, 1.0) - lo) / (1.0 - lo) * 100.0).clamp(0.0, 100.0);
    let low = if r.verdict == Verdict::Ready {
        ""
    } else {
        " low"
    };
    h.push_str("<div class=\"rate\"><div style=\"flex:1\"><div class=\"scale\">");
    if let Some(i) = i {
        let (a, b) = (at(i.low), at(i.high));
        let _ = write!(h, "<div class=\"band{low}\" style=\"left:{a:.2}%;width:{:.2}%\" title=\"95% interval {}–{}\"></div>", (b - a).max(0.5), percent(i.low), percent(i.high));
    }
    let _ = write!(h, "<div class=\"dot\" style=\"left:{:.2}%\"></div>", at(m));
    let _ = write!(
        h,
        "<div class=\"mark\" style=\"left:{:.2}%\"><span>{} needed</span></div>",
        at(min),
        threshold(min)
    );
    let _ = write!(
        h,
        "</div><div class=\"ends\"><span>{}</span><span>100%</span></div></div>",
        percent(lo)
    );
    let _ = write!(h, "<span><b>{} match</b>", percent(m));
    if let Some(i) = i {
        let _ = write!(
            h,
            "<br><span class=\"muted\">95%: {}–{}</span>",
            percent(i.low),
            percent(i.high)
        );
    }
    h.push_str("</span></div>\n");
    match r.more_needed {
        Some(0) => {}
        Some(n) => {
            let _ = writeln!(h, "<p>About <b>{n}</b> more comparisons, all matching, for a <b>ready</b> verdict (lower bound ≥ {}, at least {} compared).</p>", threshold(min), r.ready_rule.min_compared);
        }
        None => h.push_str("<p>No number of comparisons reaches this threshold.</p>\n"),
    }
}

fn counts(h: &mut String, r: &RouteReport) {
    let skipped: u64 = r.skipped.values().sum();
    h.push_str("<table><tr><th class=\"n\">compared</th><th class=\"n\">matched</th><th class=\"n\">noise</th><th class=\"n\">mismatched</th><th class=\"n\">shadow errors</th><th class=\"n\">skipped</th><th class=\"n\">noise probes</th></tr><tr>");
    for n in [
        r.compared,
        r.matched,
        r.noise,
        r.mismatched,
        r.shadow_errors,
        skipped,
        r.noise_probes,
    ] {
        let _ = write!(h, "<td class=\"n\">{n}</td>");
    }
    h.push_str("</tr></table>\n");
}

/// The last hour, a slot per minute: a bar as high as the minute's
/// comparisons, red when its match rate is below the threshold, grey for
/// shadow errors only; empty minutes stay empty.
pub fn trend(h: &mut String, minutes: &[Minute], min_match: f64) {
    let minute_of = |m: &Minute| ts_key(&m.at).map(|(secs, _)| secs.div_euclid(60));
    let Some(last) = minutes.last().and_then(minute_of) else {
        return;
    };
    let most = minutes.iter().map(|m| m.compared).max().unwrap_or(0).max(1);
    let hhmm = |m: &Minute| m.at.get(11..16).unwrap_or("").to_string();
    let _ = write!(
        h,
        "<h3>Trend, per minute: the hour to {} UTC</h3><div class=\"trend\">",
        escape(&minutes.last().map(hhmm).unwrap_or_default())
    );
    let mut at = minutes.iter().peekable();
    for slot in (last - MINUTES as i64 + 1)..=last {
        while at
            .peek()
            .is_some_and(|m| minute_of(m).is_none_or(|k| k < slot))
        {
            at.next();
        }
        let Some(m) = at.next_if(|m| minute_of(m) == Some(slot)) else {
            h.push_str("<div class=\"gap\"></div>");
            continue;
        };
        let height = (m.compared as f64 / most as f64 * 100.0).max(4.0);
        let (class, rate) = match m.compared {
            0 => ("none", "no comparisons".to_string()),
            n => {
                let r = m.agreed as f64 / n as f64;
                let class = if r < min_match { "low" } else { "" };
                (class, format!("{} match", percent(r)))
            }
        };
        let _ = write!(h, "<div class=\"{class}\" style=\"height:{height:.0}%\" title=\"{} UTC: {} compared, {rate}, {} shadow errors\"></div>", escape(&hhmm(m)), m.compared, m.errors);
    }
    h.push_str("</div><div class=\"ends\"><span>−60 min</span><span>now</span></div>\n");
}

fn pointers(h: &mut String, r: &RouteReport) {
    if !r.top_pointers.is_empty() {
        h.push_str("<h3>Most frequent differences</h3><table><tr><th>pointer</th><th class=\"n\">count</th><th>primary</th><th>shadow</th><th>example request</th></tr>\n");
        for p in &r.top_pointers {
            let at = if p.pointer.is_empty() {
                "(whole body)".to_string()
            } else {
                escape(&p.pointer)
            };
            let tag = if p.noise {
                "<span class=\"tag\">noise</span>"
            } else {
                ""
            };
            let _ = writeln!(h, "<tr><td><code>{at}</code>{tag}</td><td class=\"n\">{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>", p.count, value(p.primary.as_ref()), value(p.shadow.as_ref()), escape(&p.example_request_id));
        }
        if r.other_pointer_diffs > 0 {
            let _ = writeln!(h, "<tr><td class=\"muted\">other pointers</td><td class=\"n\">{}</td><td></td><td></td><td></td></tr>", r.other_pointer_diffs);
        }
        h.push_str("</table>\n");
    }
    if !r.noisy_pointers.is_empty() {
        let _ = write!(h, "<h3>Noise: where the primary differs from itself ({} probes)</h3><table><tr><th>pointer</th><th class=\"n\">probes that differed</th></tr>", r.noise_probes);
        for n in &r.noisy_pointers {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
                escape(&n.pointer),
                n.probes
            );
        }
        h.push_str("</table>\n");
    }
}

/// A value from a diff as short JSON text (escaped); `—` when absent.
fn value(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "—".into();
    };
    let text = v.to_string();
    match text.char_indices().nth(120) {
        Some((i, _)) => escape(&format!("{}…", &text[..i])),
        None => escape(&text),
    }
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
