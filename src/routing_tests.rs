//! Unit tests of the route table: match kinds, precedence, methods, headers,
//! split weights, captures, and the unreachable-route analysis.

use super::*;
use crate::config::{parse, Config};
use std::path::Path;

fn config(routes: &str) -> Config {
    let yaml = format!(
        "listen: 127.0.0.1:0\nupstreams:\n  legacy: {{ url: http://127.0.0.1:1 }}\n  order: {{ url: http://127.0.0.1:2 }}\n  inv: {{ url: http://127.0.0.1:3 }}\nroutes:\n{routes}"
    );
    parse(&yaml, Path::new("routes.yaml")).unwrap()
}

fn table(routes: &str) -> (Config, RouteTable) {
    let cfg = config(routes);
    let names: Vec<String> = cfg.upstreams.keys().cloned().collect();
    let t = RouteTable::build(&cfg.routes, |n| names.iter().position(|x| x == n)).unwrap();
    (cfg, t)
}

fn route_for(t: &RouteTable, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<String> {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    t.find(&m, path, &h).map(|(r, _)| r.name.to_string())
}

const ROUTES: &str = "  - name: summary\n    match: { path: \"/orders/{id}/summary\", methods: [GET] }\n    upstream: order\n  - name: beta\n    match: { path_prefix: /orders, headers: { X-Beta: \"1\" } }\n    upstream: inv\n  - name: orders\n    match: { path_prefix: /orders/, methods: [get, POST] }\n    upstream: order\n  - name: numeric\n    match: { path_regex: \"^/items/[0-9]+$\" }\n    upstream: inv\n  - name: all\n    match: { path_prefix: / }\n    upstream: legacy\n";

#[test]
fn prefix_is_segment_aware() {
    let (_, t) = table(ROUTES);
    assert_eq!(
        route_for(&t, "GET", "/orders", &[]).as_deref(),
        Some("orders")
    );
    assert_eq!(
        route_for(&t, "GET", "/orders/", &[]).as_deref(),
        Some("orders")
    );
    assert_eq!(
        route_for(&t, "GET", "/orders/7", &[]).as_deref(),
        Some("orders")
    );
    assert_eq!(
        route_for(&t, "GET", "/ordersx", &[]).as_deref(),
        Some("all")
    );
    assert_eq!(route_for(&t, "GET", "/order", &[]).as_deref(), Some("all"));
}

#[test]
fn first_match_wins_in_file_order() {
    let (_, t) = table(ROUTES);
    assert_eq!(
        route_for(&t, "GET", "/orders/7/summary", &[]).as_deref(),
        Some("summary")
    );
    assert_eq!(
        route_for(&t, "GET", "/orders/7/summary", &[("x-beta", "1")]).as_deref(),
        Some("summary")
    );
    assert_eq!(
        route_for(&t, "POST", "/orders/7/summary", &[("x-beta", "1")]).as_deref(),
        Some("beta")
    );
}

#[test]
fn methods_and_headers() {
    let (_, t) = table(ROUTES);
    assert_eq!(
        route_for(&t, "DELETE", "/orders/7", &[]).as_deref(),
        Some("all")
    );
    assert_eq!(
        route_for(&t, "POST", "/orders", &[]).as_deref(),
        Some("orders")
    );
    assert_eq!(
        route_for(&t, "DELETE", "/orders/7", &[("X-BETA", "1")]).as_deref(),
        Some("beta")
    );
    assert_eq!(
        route_for(&t, "DELETE", "/orders/7", &[("x-beta", "2")]).as_deref(),
        Some("all")
    );
}

#[test]
fn exact_paths_capture_whole_segments() {
    let (_, t) = table(ROUTES);
    let h = HeaderMap::new();
    let (r, caps) = t.find(&Method::GET, "/orders/42/summary", &h).unwrap();
    assert_eq!(&*r.name, "summary");
    assert_eq!(caps, vec![("id", "42")]);
    assert_eq!(
        route_for(&t, "GET", "/orders//summary", &[]).as_deref(),
        Some("orders")
    );
    assert_eq!(
        route_for(&t, "GET", "/orders/42/summary/x", &[]).as_deref(),
        Some("orders")
    );
    let Target::Upstream(_) = r.target else {
        panic!()
    };
    let part = [
        Segment::Literal("payments".into()),
        Segment::Literal("order".into()),
        Segment::Capture("id".into()),
    ];
    assert_eq!(expand(&part, &caps), "/payments/order/42");
}

#[test]
fn regex_matches_the_normalized_path() {
    let (_, t) = table(ROUTES);
    assert_eq!(
        route_for(&t, "GET", "/items/12", &[]).as_deref(),
        Some("numeric")
    );
    assert_eq!(
        route_for(&t, "GET", "/items/x12", &[]).as_deref(),
        Some("all")
    );
}

#[test]
fn split_follows_the_weights() {
    let (_, t) = table("  - name: s\n    match: { path_prefix: / }\n    split: { inv: 10, legacy: 90, order: 0 }\n");
    let target = &t.routes[0].target;
    let mut counts = [0u32; 3];
    for roll in 0..1000u32 {
        counts[target.pick(roll).unwrap()] += 1;
    }
    assert_eq!(counts, [900, 0, 100]);
}

#[test]
fn unreachable_routes_are_detected() {
    let cfg = config("  - name: a\n    match: { path_prefix: /orders }\n    upstream: order\n  - name: b\n    match: { path_prefix: /orders/v2 }\n    upstream: inv\n  - name: c\n    match: { path: \"/orders/{id}\" }\n    upstream: inv\n  - name: d\n    match: { path_prefix: /ordersx }\n    upstream: inv\n  - name: e\n    match: { path_prefix: /, methods: [GET] }\n    upstream: legacy\n  - name: f\n    match: { path_prefix: /x }\n    upstream: legacy\n");
    let r = &cfg.routes;
    assert!(eclipses(&r[0], &r[1]));
    assert!(eclipses(&r[0], &r[2]));
    assert!(!eclipses(&r[0], &r[3]));
    assert!(
        !eclipses(&r[4], &r[5]),
        "a GET-only catch-all leaves other methods"
    );
    assert!(!eclipses(&r[1], &r[0]));
}
