//! What an edit of routes.yaml changes, before it applies (`strangler plan
//! OLD NEW`, `POST /-/reload?dry_run=1`, and the reload log line):
//!
//! - routes added, removed, changed (match, destination, fallback, retry,
//!   shadow), and moved (first match wins: order is behaviour);
//! - upstreams added, removed, and those whose breaker resets (a URL or
//!   breaker setting changed; otherwise a breaker keeps its state);
//! - for sample requests — given, taken from a shadow log, and one per
//!   route's match — where each went before and where it goes after
//!   (`GET /orders/7: orders → order ⇒ orders → legacy`).
//!
//! Pure: two validated configurations in, a [`Plan`] out.

use std::collections::BTreeSet;

use http::{HeaderMap, Method};
use serde::Serialize;

use crate::config::{Action, Config, PathMatch, RouteConfig, Segment};
use crate::routing::{RouteTable, Target};

/// One change to a route or an upstream.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// `added`, `removed`, `changed`, `moved`, `breaker_resets`.
    pub kind: &'static str,
    pub name: String,
    pub detail: String,
}

/// Where one request goes before and after the edit.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sample {
    pub request: String,
    pub before: String,
    pub after: String,
    pub moves: bool,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Plan {
    pub routes: Vec<Change>,
    pub upstreams: Vec<Change>,
    pub samples: Vec<Sample>,
}

/// A route's match in one line: path, methods, headers.
pub fn describe_match(r: &RouteConfig) -> String {
    let m = match &r.path {
        PathMatch::Exact(t) => format!("path {}", t.raw),
        PathMatch::Prefix(p) => format!("path_prefix {p}"),
        PathMatch::Regex(re) => format!("path_regex {}", re.as_str()),
    };
    let methods = r.methods.as_ref().map_or(String::new(), |ms| {
        let ms: Vec<&str> = ms.iter().map(Method::as_str).collect();
        format!(" [{}]", ms.join(","))
    });
    let headers: String = r.headers.iter().map(|(k, v)| format!(" {k}={v}")).collect();
    format!("{m}{methods}{headers}")
}

/// Where a route sends requests, in one line.
pub fn describe_destination(r: &RouteConfig) -> String {
    match &r.action {
        Action::Upstream(u) => u.clone(),
        Action::Split(s) => {
            let s: Vec<String> = s.iter().map(|(u, w)| format!("{u}:{w}")).collect();
            format!("split {}", s.join(" "))
        }
        Action::Aggregate(p) => {
            let p: Vec<String> = p
                .iter()
                .map(|(n, p)| format!("{n}<-{}", p.upstream.0))
                .collect();
            format!("aggregate {}", p.join(" "))
        }
        Action::Ramp(r) => format!(
            "ramp {}->{} steps {:?} every {:?}",
            r.from, r.to, r.steps, r.interval
        ),
    }
}

/// A route in one line: its match, methods, headers, destination and extras.
pub fn describe(r: &RouteConfig) -> String {
    let matched = describe_match(r);
    let dest = describe_destination(r);
    let mut extras = Vec::new();
    if let Some(f) = &r.fallback {
        extras.push(format!("fallback {f}"));
    }
    if let Some(rt) = &r.retry {
        extras.push(format!("retry {}", rt.attempts.0));
    }
    if let Some(s) = &r.shadow {
        extras.push(format!("shadow {} @{}", s.upstream.0, s.sample.0));
    }
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!("  ({})", extras.join(", "))
    };
    format!("{matched} -> {dest}{extras}")
}

/// The plan from `old` to `new`, with `extra` sample requests (method, path).
pub fn plan(old: &Config, new: &Config, extra: &[(Method, String)]) -> Plan {
    let mut requests: Vec<(Method, String)> = extra.to_vec();
    for r in old.routes.iter().chain(&new.routes) {
        if let Some(s) = sample_of(r) {
            requests.push(s);
        }
    }
    let mut seen = BTreeSet::new();
    requests.retain(|(m, p)| seen.insert((m.to_string(), p.clone())));
    let (before, after) = (Router::new(old), Router::new(new));
    let samples = requests
        .into_iter()
        .map(|(m, p)| {
            let (b, a) = (before.route(&m, &p), after.route(&m, &p));
            Sample {
                request: format!("{m} {p}"),
                moves: b != a,
                before: b,
                after: a,
            }
        })
        .collect();
    Plan {
        routes: route_changes(old, new),
        upstreams: upstream_changes(old, new),
        samples,
    }
}

fn route_changes(old: &Config, new: &Config) -> Vec<Change> {
    let find = |c: &Config, name: &str| c.routes.iter().position(|r| r.name == name);
    let mut out = Vec::new();
    for r in &new.routes {
        let change = |kind, detail| Change {
            kind,
            name: r.name.clone(),
            detail,
        };
        match find(old, &r.name) {
            None => out.push(change("added", describe(r))),
            Some(i) => {
                let (was, is) = (describe(&old.routes[i]), describe(r));
                if was != is {
                    out.push(change("changed", format!("{was}  ⇒  {is}")));
                }
            }
        }
    }
    for r in &old.routes {
        if find(new, &r.name).is_none() {
            let detail = describe(r);
            out.push(Change {
                kind: "removed",
                name: r.name.clone(),
                detail,
            });
        }
    }
    // Order among the routes both have: first match wins, so it is behaviour.
    let common = |c: &Config, other: &Config| -> Vec<String> {
        let names = c.routes.iter().map(|r| r.name.clone());
        names.filter(|n| find(other, n).is_some()).collect()
    };
    let (was, is) = (common(old, new), common(new, old));
    for (i, name) in is.iter().enumerate() {
        if let Some(j) = was.iter().position(|n| n == name).filter(|j| *j != i) {
            out.push(Change {
                kind: "moved",
                name: name.clone(),
                detail: format!("position {} ⇒ {}", j + 1, i + 1),
            });
        }
    }
    out
}

fn upstream_changes(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    for (name, u) in &new.upstreams {
        let (kind, detail) = match old.upstreams.get(name) {
            None => ("added", u.url.raw.clone()),
            Some(o) if o.url != u.url => (
                "breaker_resets",
                format!("url {} ⇒ {}: a new breaker", o.url.raw, u.url.raw),
            ),
            Some(o) if o.breaker != u.breaker => (
                "breaker_resets",
                "breaker settings changed: a new breaker".to_string(),
            ),
            Some(o) if o != u => (
                "changed",
                "settings changed: a new client, the breaker kept".into(),
            ),
            Some(_) => continue,
        };
        let name = name.clone();
        out.push(Change { kind, name, detail });
    }
    for (name, u) in &old.upstreams {
        if !new.upstreams.contains_key(name) {
            let (name, detail) = (name.clone(), u.url.raw.clone());
            out.push(Change {
                kind: "removed",
                name,
                detail,
            });
        }
    }
    out
}

/// A request a route's match takes (none for a regex: no honest guess).
fn sample_of(r: &RouteConfig) -> Option<(Method, String)> {
    let method = r
        .methods
        .as_ref()
        .and_then(|m| m.first().cloned())
        .unwrap_or(Method::GET);
    let path = match &r.path {
        PathMatch::Prefix(p) => p.clone(),
        PathMatch::Exact(t) => {
            let segs: Vec<&str> = t
                .segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => l.as_str(),
                    Segment::Capture(_) => "1",
                })
                .collect();
            format!("/{}", segs.join("/"))
        }
        PathMatch::Regex(_) => return None,
    };
    Some((method, path))
}

/// One configuration's route table, to say where a request goes.
struct Router<'c> {
    config: &'c Config,
    table: Option<RouteTable>,
}

impl<'c> Router<'c> {
    fn new(config: &'c Config) -> Self {
        let table = RouteTable::build(&config.routes, |n| config.upstreams.get_index_of(n)).ok();
        Router { config, table }
    }

    /// `route → upstream`, or what else happens.
    fn route(&self, method: &Method, path: &str) -> String {
        let Some(table) = &self.table else {
            return "(invalid configuration)".into();
        };
        let Ok(path) = crate::normalize::normalize(path) else {
            return "400 (a path the proxy refuses)".into();
        };
        let Some((route, _)) = table.find(method, &path, &HeaderMap::new()) else {
            return "404 no_route".into();
        };
        let name = |i: usize| {
            self.config
                .upstreams
                .get_index(i)
                .map_or("?", |(n, _)| n.as_str())
        };
        let to = match &route.target {
            Target::Upstream(u) => name(*u).to_string(),
            Target::Split(ws, total) => {
                let ws: Vec<String> = ws
                    .iter()
                    .map(|(u, w)| format!("{} {}%", name(*u), w * 100 / total.max(&1)))
                    .collect();
                ws.join(" / ")
            }
            Target::Aggregate(_) => "(aggregate)".into(),
            Target::Ramp { from, to, ramp } => {
                let w = ramp.weight();
                format!("{} {w}% / {} {}% (ramp)", name(*to), name(*from), 100.0 - w)
            }
        };
        format!("{} → {to}", route.name)
    }
}

impl Plan {
    /// One line: what the edit does, for the reload log.
    pub fn summary(&self) -> String {
        let count = |v: &[Change], kind: &str| v.iter().filter(|c| c.kind == kind).count();
        let mut parts = Vec::new();
        for kind in ["added", "removed", "changed", "moved"] {
            let n = count(&self.routes, kind);
            if n > 0 {
                parts.push(format!("{n} route(s) {kind}"));
            }
        }
        let resets = count(&self.upstreams, "breaker_resets");
        if resets > 0 {
            parts.push(format!("{resets} breaker(s) reset"));
        }
        let moves = self.samples.iter().filter(|s| s.moves).count();
        parts.push(format!(
            "{moves} of {} sample requests go elsewhere",
            self.samples.len()
        ));
        parts.join(", ")
    }

    /// The plan as text for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let section = |out: &mut String, title: &str, changes: &[Change]| {
            out.push_str(&format!("{title}:\n"));
            if changes.is_empty() {
                out.push_str("  (no change)\n");
            }
            for c in changes {
                out.push_str(&format!("  {:<15} {}: {}\n", c.kind, c.name, c.detail));
            }
        };
        section(&mut out, "routes", &self.routes);
        section(&mut out, "upstreams", &self.upstreams);
        out.push_str("requests:\n");
        for s in &self.samples {
            if s.moves {
                out.push_str(&format!("  {}: {}  ⇒  {}\n", s.request, s.before, s.after));
            } else {
                out.push_str(&format!("  {}: {} (unchanged)\n", s.request, s.before));
            }
        }
        out.push_str(&format!("summary: {}\n", self.summary()));
        out
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
