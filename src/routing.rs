//! The route table: normalized path + method + headers → the first matching
//! [`Route`], in file order. Pure: no I/O, no clock; the split roll is passed in.
//!
//! Upstreams are referred to by index into the snapshot's upstream list, so
//! the request path never looks a name up in a map.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, Method};

use crate::config::route::{RetryConfig, ShadowRoute};
use crate::config::{Action, PathMatch, RouteConfig, Segment};
use crate::shadow::diff::CompareSpec;
use crate::shadow::verdict::ReadyRule;

#[derive(Debug)]
pub struct Route {
    pub name: Arc<str>,
    pub path: PathMatch,
    pub methods: Option<Vec<Method>>,
    pub headers: Vec<(HeaderName, String)>,
    pub target: Target,
    pub fallback: Option<usize>,
    pub timeout: Option<Duration>,
    /// Overrides `limits.body_idle_timeout` for response bodies.
    pub body_idle_timeout: Option<Duration>,
    pub retry: Option<RetryConfig>,
    pub shadow: Option<Arc<ShadowTarget>>,
    /// Request metrics of this route, by upstream and status code.
    pub metrics: Arc<crate::metrics::RouteMetrics>,
}

impl Target {
    /// Where a split or a ramp sends a request whose `picked` target is
    /// sick: a ramp's other side; a split's heaviest other upstream.
    pub fn other_side(&self, picked: usize) -> Option<usize> {
        match self {
            Target::Ramp { from, to, .. } => Some(if picked == *to { *from } else { *to }),
            Target::Split(ws, _) => ws
                .iter()
                .filter(|(u, _)| *u != picked)
                .max_by_key(|(_, w)| *w)
                .map(|(u, _)| *u),
            _ => None,
        }
    }

    /// The upstreams it may send to (none for an aggregate: its parts have theirs).
    pub fn upstreams(&self) -> Vec<usize> {
        match self {
            Target::Upstream(u) => vec![*u],
            Target::Split(ws, _) => ws.iter().map(|(u, _)| *u).collect(),
            Target::Aggregate(_) => Vec::new(),
            Target::Ramp { from, to, .. } => vec![*from, *to],
        }
    }
}

#[derive(Debug)]
pub enum Target {
    Upstream(usize),
    /// (upstream, weight) with the total of the weights (> 0).
    Split(Vec<(usize, u32)>, u32),
    Aggregate(Vec<AggregatePart>),
    /// A gated, sticky move from `from` to `to` (the ramp's state lives
    /// across reloads; the indices are this snapshot's).
    Ramp {
        from: usize,
        to: usize,
        ramp: Arc<crate::ramp::Ramp>,
    },
}

#[derive(Debug)]
pub struct AggregatePart {
    pub name: Arc<str>,
    pub upstream: usize,
    pub path: Vec<Segment>,
    pub required: bool,
}

#[derive(Debug)]
pub struct ShadowTarget {
    pub upstream: usize,
    pub config: ShadowRoute,
    pub spec: CompareSpec,
    /// When the route is ready (`shadow.ready`).
    pub ready: ReadyRule,
}

impl Target {
    /// The upstream for this request; `roll` is uniform in `0..u32::MAX`.
    /// `None` for aggregate routes, which call several.
    pub fn pick(&self, roll: u32) -> Option<usize> {
        match self {
            Target::Upstream(u) => Some(*u),
            Target::Split(choices, total) => {
                let mut point = roll % total;
                for (u, w) in choices {
                    if point < *w {
                        return Some(*u);
                    }
                    point -= w;
                }
                choices.last().map(|(u, _)| *u)
            }
            Target::Aggregate(_) => None,
            // Picked by the client's key (admit::pick); by roll only here.
            Target::Ramp { from, to, ramp } => Some(if ramp.sends_to_new(roll % 10_000) {
                *to
            } else {
                *from
            }),
        }
    }
}

fn shadow_target(s: &ShadowRoute, upstream: usize) -> Result<ShadowTarget, String> {
    let ignore: Vec<String> = s.compare.ignore.iter().map(|p| p.0.clone()).collect();
    let headers: Vec<String> = s
        .compare
        .headers
        .iter()
        .map(|h| h.0.as_str().to_string())
        .collect();
    let spec = CompareSpec::new(&ignore, Some(&headers))?.with_rules(&s.compare.rules)?;
    Ok(ShadowTarget {
        upstream,
        config: s.clone(),
        spec,
        ready: ReadyRule {
            min_match: s.ready.min_match.0,
            min_compared: s.ready.min_compared.0,
        },
    })
}

/// Captured `{name}` segments of a `path` match.
pub type Captures<'p> = Vec<(&'p str, &'p str)>;

#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Build from validated routes; `upstream` maps a name to its index (the
    /// config was validated, so every name resolves).
    pub fn build(
        routes: &[RouteConfig],
        upstream: impl Fn(&str) -> Option<usize>,
    ) -> Result<Self, String> {
        Self::build_with(routes, upstream, &|route, def| {
            Arc::new(crate::ramp::Ramp::new(route, def.clone(), None, "defined"))
        })
    }

    /// As [`Self::build`], each ramp's state from `ramp_for` (carried over
    /// from the previous snapshot, or read from the state file).
    pub fn build_with(
        routes: &[RouteConfig],
        upstream: impl Fn(&str) -> Option<usize>,
        ramp_for: &dyn Fn(&str, &crate::config::ramp::RampConfig) -> Arc<crate::ramp::Ramp>,
    ) -> Result<Self, String> {
        let idx = |name: &str| upstream(name).ok_or_else(|| format!("unknown upstream `{name}`"));
        let mut out = Vec::with_capacity(routes.len());
        for r in routes {
            let target = match &r.action {
                Action::Upstream(u) => Target::Upstream(idx(u)?),
                Action::Split(choices) => {
                    let mut resolved = Vec::new();
                    for (u, w) in choices.iter().filter(|(_, w)| *w > 0) {
                        resolved.push((idx(u)?, *w));
                    }
                    let total = resolved
                        .iter()
                        .map(|(_, w)| *w)
                        .fold(0u32, u32::saturating_add);
                    Target::Split(resolved, total.max(1))
                }
                Action::Aggregate(parts) => Target::Aggregate(
                    parts
                        .iter()
                        .map(|(name, p)| {
                            Ok(AggregatePart {
                                name: Arc::from(name.as_str()),
                                upstream: idx(&p.upstream.0)?,
                                path: p.path.segments.clone(),
                                required: p.required,
                            })
                        })
                        .collect::<Result<_, String>>()?,
                ),
                Action::Ramp(def) => Target::Ramp {
                    from: idx(&def.from)?,
                    to: idx(&def.to)?,
                    ramp: ramp_for(&r.name, def),
                },
            };
            out.push(Route {
                name: Arc::from(r.name.as_str()),
                path: r.path.clone(),
                methods: r.methods.clone(),
                headers: r.headers.clone(),
                target,
                fallback: r.fallback.as_deref().map(idx).transpose()?,
                timeout: r.timeout,
                body_idle_timeout: r.body_idle_timeout,
                retry: r.retry.clone(),
                shadow: match &r.shadow {
                    Some(s) => Some(Arc::new(shadow_target(s, idx(&s.upstream.0)?)?)),
                    None => None,
                },
                metrics: Arc::default(),
            });
        }
        Ok(RouteTable { routes: out })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route matching the request, and the path's captures.
    pub fn find<'p>(
        &'p self,
        method: &Method,
        path: &'p str,
        headers: &HeaderMap,
    ) -> Option<(&'p Route, Captures<'p>)> {
        self.routes.iter().find_map(|r| {
            if let Some(ms) = &r.methods {
                if !ms.contains(method) {
                    return None;
                }
            }
            if !r.headers.iter().all(|(n, v)| header_equals(headers, n, v)) {
                return None;
            }
            match_path(&r.path, path).map(|c| (r, c))
        })
    }
}

fn header_equals(headers: &HeaderMap, name: &HeaderName, want: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| v.as_bytes() == want.as_bytes())
}

/// Whether `path` matches, with the captures of a `path` template.
pub fn match_path<'p>(m: &'p PathMatch, path: &'p str) -> Option<Captures<'p>> {
    match m {
        PathMatch::Prefix(p) => prefix_matches(p, path).then(Vec::new),
        PathMatch::Regex(re) => re.is_match(path).then(Vec::new),
        PathMatch::Exact(t) => {
            let mut caps = Vec::new();
            let mut segs = path.strip_prefix('/')?.split('/');
            for want in &t.segments {
                let got = segs.next()?;
                match want {
                    Segment::Literal(l) if l == got => {}
                    Segment::Literal(_) => return None,
                    Segment::Capture(_) if got.is_empty() => return None,
                    Segment::Capture(name) => caps.push((name.as_str(), got)),
                }
            }
            if segs.next().is_some() {
                return None;
            }
            Some(caps)
        }
    }
}

/// Segment-aware: `/orders` matches `/orders`, `/orders/`, `/orders/7`, never `/ordersx`.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Substitute captures into a part path (`/orders/{id}` → `/orders/7`).
pub fn expand(segments: &[Segment], captures: &Captures<'_>) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        match s {
            Segment::Literal(l) => out.push_str(l),
            Segment::Capture(c) => {
                if let Some((_, v)) = captures.iter().find(|(n, _)| n == c) {
                    out.push_str(v);
                }
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether every request `later` matches is already taken by `earlier`
/// (conservative: only says yes when sure). Used by `strangler check`.
pub fn eclipses(earlier: &RouteConfig, later: &RouteConfig) -> bool {
    let methods_cover = match (&earlier.methods, &later.methods) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(e), Some(l)) => l.iter().all(|m| e.contains(m)),
    };
    let headers_cover = earlier.headers.iter().all(|h| later.headers.contains(h));
    if !methods_cover || !headers_cover {
        return false;
    }
    match (&earlier.path, &later.path) {
        (PathMatch::Prefix(e), PathMatch::Prefix(l)) => prefix_matches(e, l),
        (PathMatch::Prefix(e), PathMatch::Exact(t)) => {
            // The template's literal head must lie under the prefix.
            e == "/" || {
                let head: Vec<&str> = t
                    .segments
                    .iter()
                    .map_while(|s| match s {
                        Segment::Literal(l) => Some(l.as_str()),
                        Segment::Capture(_) => None,
                    })
                    .collect();
                let depth = e.split('/').count() - 1;
                head.len() >= depth && prefix_matches(e, &format!("/{}", head[..depth].join("/")))
            }
        }
        (PathMatch::Exact(e), PathMatch::Exact(l)) => {
            e.segments.len() == l.segments.len()
                && e.segments
                    .iter()
                    .zip(&l.segments)
                    .all(|(a, b)| match (a, b) {
                        (Segment::Capture(_), _) => true,
                        (Segment::Literal(x), Segment::Literal(y)) => x == y,
                        (Segment::Literal(_), Segment::Capture(_)) => false,
                    })
        }
        (PathMatch::Regex(e), PathMatch::Regex(l)) => e.as_str() == l.as_str(),
        _ => false,
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
