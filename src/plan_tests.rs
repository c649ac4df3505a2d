//! The plan of an edit, from two configurations.

use super::*;
use std::path::Path;

fn cfg(routes: &str, order_url: &str) -> Config {
    let yaml = format!(
        "listen: 127.0.0.1:8080\nupstreams:\n  legacy: {{ url: http://127.0.0.1:9000 }}\n  order: {{ url: {order_url} }}\nroutes:\n{routes}"
    );
    crate::config::parse(&yaml, Path::new("/x/routes.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

const BEFORE: &str = "  - { name: orders, match: { path_prefix: /orders }, upstream: order }\n  - { name: summary, match: { path: \"/orders/{id}/summary\" }, upstream: legacy }\n  - { name: all, match: { path_prefix: / }, upstream: legacy }\n";

#[test]
fn an_edit_says_which_routes_and_requests_move() {
    let old = cfg(BEFORE, "http://127.0.0.1:9101");
    // orders goes back to the monolith, a new route, the summary route
    // now comes first, and the order service moved.
    let after = "  - { name: summary, match: { path: \"/orders/{id}/summary\" }, upstream: legacy }\n  - { name: orders, match: { path_prefix: /orders }, upstream: legacy }\n  - { name: inventory, match: { path_prefix: /inventory }, upstream: order }\n  - { name: all, match: { path_prefix: / }, upstream: legacy }\n";
    let new = cfg(after, "http://127.0.0.1:9999");
    let p = plan(&old, &new, &[(Method::GET, "/orders/7".into())]);
    let kinds: Vec<(&str, &str)> = p.routes.iter().map(|c| (c.kind, c.name.as_str())).collect();
    assert!(kinds.contains(&("changed", "orders")), "{kinds:?}");
    assert!(kinds.contains(&("added", "inventory")), "{kinds:?}");
    assert!(kinds.contains(&("moved", "summary")), "{kinds:?}");
    assert_eq!(p.upstreams.len(), 1, "{:?}", p.upstreams);
    assert_eq!(p.upstreams[0].kind, "breaker_resets");
    let s = p
        .samples
        .iter()
        .find(|s| s.request == "GET /orders/7")
        .expect("sample");
    assert_eq!(
        (s.before.as_str(), s.after.as_str()),
        ("orders → order", "orders → legacy")
    );
    assert!(s.moves);
    let s = p
        .samples
        .iter()
        .find(|s| s.request == "GET /orders/1/summary")
        .expect("a route's own sample");
    // Order is behaviour: `summary` now comes before `orders`.
    assert_eq!(
        (s.before.as_str(), s.after.as_str()),
        ("orders → order", "summary → legacy")
    );
    let s = p
        .samples
        .iter()
        .find(|s| s.request == "GET /inventory")
        .expect("sample");
    assert_eq!(
        (s.before.as_str(), s.after.as_str()),
        ("all → legacy", "inventory → order")
    );
    let text = p.render();
    assert!(
        text.contains("GET /orders/7: orders → order  ⇒  orders → legacy"),
        "{text}"
    );
    assert!(
        p.summary().contains("1 breaker(s) reset"),
        "{}",
        p.summary()
    );
}

#[test]
fn no_edit_no_change() {
    let c = cfg(BEFORE, "http://127.0.0.1:9101");
    let p = plan(&c, &c, &[]);
    assert!(p.routes.is_empty() && p.upstreams.is_empty());
    assert!(p.samples.iter().all(|s| !s.moves));
}
