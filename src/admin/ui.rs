//! `GET /-/ui`: the live page, one self-contained HTML document (inline
//! CSS, no script, no external asset) that reloads itself every
//! [`REFRESH_S`] seconds:
//!
//! - the configuration in use (version, when loaded, the last reload error);
//! - routes: name, match, where each goes, its shadow verdict;
//! - breakers: state per upstream, consecutive failures, when it opened;
//! - shadow: a card per route (`shadow::cards`): the match rate with its
//!   95% interval and the threshold marked, what a verdict still needs,
//!   the trend per minute over the last hour, the top differing pointers
//!   with both values and an example request id, the noise learned;
//! - ramps: state, weight, step, and the last transition.
//!
//! Everything from the config or traffic is escaped. Readable from a phone
//! (one column, tables scroll sideways) to 1280 px and wider.

use std::fmt::Write;
use std::time::SystemTime;

use serde_json::Value;

use super::Admin;
use crate::shadow::cards::{badge, escape, route_card, STYLE};
use crate::shadow::record::format_ts;
use crate::shadow::report::{Report, Verdict};
use crate::snapshot::Snapshot;

/// Seconds between reloads of the page.
pub const REFRESH_S: u32 = 5;

const PAGE_STYLE: &str = "
nav{display:flex;gap:1rem;flex-wrap:wrap;margin:.5rem 0}nav a{color:#0969da;text-decoration:none}
.err{color:#cf222e}td a{color:#0969da;text-decoration:none}
";

/// The whole page.
pub fn page(admin: &Admin) -> String {
    let snap = admin.state.snapshot.load();
    let report = admin.state.shadow_log.report();
    let mut h = String::with_capacity(32 * 1024);
    let _ = write!(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>strangler — live</title><style>");
    h.push_str(STYLE);
    h.push_str(PAGE_STYLE);
    h.push_str("</style></head><body>\n<h1>strangler — live</h1>\n");
    let _ = writeln!(
        h,
        "<p class=\"muted\">Config version {} (sha256 {}…), loaded {}. This page: {}, refreshed every {REFRESH_S} s.</p>",
        snap.version,
        escape(snap.sha256.get(..12).unwrap_or(&snap.sha256)),
        format_ts(snap.loaded_at),
        format_ts(SystemTime::now())
    );
    if let Some(e) = admin.reloader.last_error() {
        let at = match (e.line, e.column) {
            (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
            _ => String::new(),
        };
        let _ = writeln!(h, "<p class=\"err\">The reload at {} failed{at}; the configuration above still serves: {}</p>", escape(&e.at), escape(&e.message));
    }
    h.push_str("<nav><a href=\"#routes\">Routes</a><a href=\"#breakers\">Breakers</a><a href=\"#shadow\">Shadow</a><a href=\"#ramps\">Ramps</a></nav>\n");
    routes(&mut h, &snap, &report);
    breakers(&mut h, &snap);
    shadow(&mut h, &report);
    ramps(&mut h, &snap);
    h.push_str("</body></html>\n");
    h
}

fn routes(h: &mut String, snap: &Snapshot, report: &Report) {
    h.push_str("<section class=\"card\" id=\"routes\"><h2>Routes</h2><p class=\"muted\">First match wins, in this order.</p><table><tr><th>route</th><th>match</th><th>goes to</th><th>shadow</th></tr>\n");
    for r in &snap.config.routes {
        let _ = write!(
            h,
            "<tr><td><b>{}</b></td><td><code>{}</code></td><td><code>{}</code></td><td>",
            escape(&r.name),
            escape(&crate::plan::describe_match(r)),
            escape(&crate::plan::describe_destination(r))
        );
        match (&r.shadow, report.routes.get(&r.name)) {
            (Some(_), Some(rep)) => {
                let state = match rep.verdict {
                    Verdict::Ready => "ready",
                    Verdict::NotReady => "not_ready",
                };
                let _ = write!(h, "<a href=\"#shadow-{}\">", escape(&r.name));
                badge(h, state);
                h.push_str("</a>");
            }
            (Some(s), None) => {
                let _ = write!(
                    h,
                    "to <code>{}</code>, nothing compared yet",
                    escape(&s.upstream.0)
                );
            }
            (None, _) => h.push_str("<span class=\"muted\">—</span>"),
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str("</table></section>\n");
}

fn breakers(h: &mut String, snap: &Snapshot) {
    h.push_str("<section class=\"card\" id=\"breakers\"><h2>Breakers</h2><table><tr><th>upstream</th><th>state</th><th class=\"n\">failures in a row</th><th>opened at</th><th class=\"n\">trial in</th></tr>\n");
    for u in &snap.upstreams {
        let s = u.breaker.status();
        let _ = write!(h, "<tr><td><b>{}</b></td><td>", escape(&u.name));
        badge(h, s.state.as_str());
        let opened = s.opened_at.map(format_ts).unwrap_or_else(|| "—".into());
        let trial = s
            .half_open_in
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            h,
            "</td><td class=\"n\">{}</td><td>{opened}</td><td class=\"n\">{trial}</td></tr>",
            s.consecutive_failures
        );
    }
    h.push_str("</table></section>\n");
}

fn shadow(h: &mut String, report: &Report) {
    let ready = (report.routes.values())
        .filter(|r| r.verdict == Verdict::Ready)
        .count();
    let _ = write!(
        h,
        "<section id=\"shadow\"><h2>Shadow: {ready} of {} routes ready</h2>",
        report.routes.len()
    );
    h.push_str("<p class=\"muted\">Ready: the lower bound of the match rate's 95% interval at or above the route's threshold (dashed), over at least its minimum of comparisons, and no shadow error in the last 100. Noise (where the primary differs from itself) counts with the matches.</p>\n");
    if report.routes.is_empty() {
        h.push_str("<div class=\"card\"><p>No comparison yet.</p></div>\n");
    }
    for (name, r) in &report.routes {
        route_card(h, name, r);
    }
    h.push_str("</section>\n");
}

fn ramps(h: &mut String, snap: &Snapshot) {
    h.push_str("<section class=\"card\" id=\"ramps\"><h2>Ramps</h2>");
    let all: Vec<(String, Value)> = snap
        .ramps()
        .map(|r| (r.route.to_string(), r.view()))
        .collect();
    if all.is_empty() {
        h.push_str("<p class=\"muted\">No route ramps.</p></section>\n");
        return;
    }
    h.push_str("<table><tr><th>route</th><th>state</th><th class=\"n\">weight</th><th>from → to</th><th>last transition</th></tr>\n");
    for (route, v) in all {
        let text = |k: &str| v[k].as_str().map(escape).unwrap_or_default();
        let _ = write!(h, "<tr><td><b>{}</b></td><td>", escape(&route));
        badge(h, v["state"].as_str().unwrap_or("unknown"));
        let weight = v["weight"]
            .as_f64()
            .map_or("—".into(), |w| format!("{w:.0}%"));
        let _ = write!(
            h,
            "</td><td class=\"n\">{weight}</td><td><code>{}</code> → <code>{}</code></td><td>",
            text("from"),
            text("to")
        );
        match v["history"].as_array().and_then(|t| t.last()) {
            Some(t) => {
                let s = |k: &str| t[k].as_str().map(escape).unwrap_or_default();
                let w = t["weight"]
                    .as_f64()
                    .map_or(String::new(), |w| format!(" at {w:.0}%"));
                let _ = write!(h, "{} <b>{}</b>{w}: {}", s("at"), s("phase"), s("reason"));
            }
            None => h.push('—'),
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str("</table></section>\n");
}
