//! Unit tests of routes.yaml parsing and validation: every error names its line.

use super::*;

fn parse_str(yaml: &str) -> Result<Config, ConfigError> {
    parse(yaml, Path::new("/etc/strangler/routes.yaml"))
}

const BASE: &str = "listen: 127.0.0.1:8080\nupstreams:\n  legacy: { url: http://127.0.0.1:9000 }\n  order: { url: http://127.0.0.1:9101 }\n";

fn with_routes(routes: &str) -> String {
    format!("{BASE}routes:\n{routes}")
}

fn err_of(yaml: &str) -> ConfigError {
    match parse_str(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e,
    }
}

#[test]
fn shipped_routes_yaml_is_valid() {
    let text = include_str!("../routes.yaml");
    let cfg = parse_str(text).unwrap();
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.upstreams.len(), 4);
    assert!(cfg.routes.iter().any(|r| r.shadow.is_some()));
    assert!(cfg
        .routes
        .iter()
        .any(|r| matches!(r.action, Action::Split(_))));
    assert!(cfg
        .routes
        .iter()
        .any(|r| matches!(r.action, Action::Aggregate(_))));
    assert_eq!(
        cfg.shadow.log,
        Path::new("/etc/strangler/shadow-diffs.jsonl")
    );
}

#[test]
fn defaults_come_from_the_seed() {
    let cfg = parse_str(&with_routes(
        "  - name: all\n    match: { path_prefix: / }\n    upstream: legacy\n",
    ))
    .unwrap();
    let order = &cfg.upstreams["order"];
    assert_eq!(order.connect_timeout.0, Duration::from_secs(2));
    assert_eq!(order.timeout.0, Duration::from_secs(5));
    assert_eq!(order.max_idle, 65_536);
    assert_eq!(order.breaker.failure_threshold.0, 5);
    assert_eq!(order.breaker.recovery_timeout.0, Duration::from_secs(30));
    assert_eq!(order.breaker.success_threshold.0, 2);
    assert_eq!(order.breaker.half_open_requests.0, 1);
    assert_eq!(cfg.admin_listen.to_string(), "127.0.0.1:9901");
    assert_eq!(cfg.limits.max_request_body, 10 << 20);
    assert_eq!(cfg.limits.header_read_timeout, Duration::from_secs(10));
    assert_eq!(cfg.shadow.max_body, 1 << 20);
    assert_eq!(cfg.shadow.max_inflight, 256);
}

#[test]
fn unknown_key_is_reported_at_its_line() {
    let e = err_of(&with_routes(
        "  - name: all\n    match: { path_prefix: / }\n    upstrem: legacy\n",
    ));
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("unknown field `upstrem`"), "{e}");
    assert!(
        e.to_string().starts_with("/etc/strangler/routes.yaml:8:"),
        "{e}"
    );
}

#[test]
fn unknown_upstream_names_the_known_ones() {
    let e = err_of(&with_routes(
        "  - name: all\n    match: { path_prefix: / }\n    upstream: legcy\n",
    ));
    assert_eq!((e.line, e.column), (Some(8), Some(15)), "{e}");
    assert!(e.message.contains("unknown upstream `legcy`"), "{e}");
    assert!(e.message.contains("legacy, order"), "{e}");
}

#[test]
fn unknown_upstream_in_split_and_fallback_and_shadow() {
    for route in [
        "    split: { legacy: 1, nope: 2 }\n",
        "    upstream: order\n    fallback: nope\n",
        "    upstream: legacy\n    shadow: { upstream: nope }\n",
    ] {
        let e = err_of(&with_routes(&format!(
            "  - name: r\n    match: {{ path_prefix: / }}\n{route}"
        )));
        assert!(e.message.contains("unknown upstream `nope`"), "{e}");
        assert!(e.line.is_some());
    }
}

#[test]
fn duplicate_route_names() {
    let e = err_of(&with_routes(
        "  - name: a\n    match: { path_prefix: /a }\n    upstream: legacy\n  - name: a\n    match: { path_prefix: / }\n    upstream: legacy\n",
    ));
    assert_eq!(e.line, Some(9), "{e}");
    assert!(e.message.contains("duplicate route name `a`"), "{e}");
}

#[test]
fn invalid_regex() {
    let e = err_of(&with_routes(
        "  - name: r\n    match: { path_regex: \"^/orders/(\" }\n    upstream: legacy\n",
    ));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("invalid path_regex"), "{e}");
}

#[test]
fn a_zero_split_in_a_later_route_is_reported_at_that_split() {
    let e = err_of(&with_routes(
        "  - name: a\n    match: { path_prefix: /a }\n    upstream: legacy\n  - name: r\n    match: { path_prefix: / }\n    split:\n      legacy: 0\n      order: 0\n",
    ));
    assert!(e.message.contains("sum to 0"), "{e}");
    assert!(matches!(e.line, Some(11..=13)), "{e}");
}

#[test]
fn split_summing_to_zero() {
    let e = err_of(&with_routes(
        "  - name: r\n    match: { path_prefix: / }\n    split: { legacy: 0, order: 0 }\n",
    ));
    assert!(e.message.contains("sum to 0"), "{e}");
    // At the split's own line, not the route's first.
    assert_eq!(e.line, Some(8), "{e}");
    assert!(!e.message.contains(" at line "), "{e}");
}

#[test]
fn fallback_equal_to_own_upstream() {
    let e = err_of(&with_routes(
        "  - name: r\n    match: { path_prefix: / }\n    upstream: order\n    fallback: order\n",
    ));
    assert!(e.message.contains("route's own upstream"), "{e}");
}

#[test]
fn exactly_one_match_kind_and_one_destination() {
    let e = err_of(&with_routes(
        "  - name: r\n    match: { path_prefix: /, path: /x }\n    upstream: order\n",
    ));
    assert!(e.message.contains("exactly one of `path`"), "{e}");
    let e = err_of(&with_routes("  - name: r\n    match: { path_prefix: / }\n    upstream: order\n    split: { legacy: 1 }\n"));
    assert!(e.message.contains("exactly one of `upstream`"), "{e}");
    let e = err_of(&with_routes("  - name: r\n    match: { path_prefix: / }\n"));
    assert!(e.message.contains("exactly one of `upstream`"), "{e}");
}

#[test]
fn bad_scalars_say_what_to_write() {
    let cases = [
        ("    upstream: order\n    timeout: 5\n", "no unit"),
        ("    upstream: order\n    timeout: soon\n", "250ms"),
        ("    upstream: order\n    retry: { attempts: 0 }\n", "from 1 to 10"),
        ("    upstream: order\n    retry: { on: [never] }\n", "unknown variant"),
        ("    upstream: legacy\n    shadow: { upstream: order, sample: 1.5 }\n", "fraction"),
        ("    upstream: legacy\n    shadow: { upstream: order, compare: { ignore: [created_at] } }\n", "/created_at"),
    ];
    for (route, needle) in cases {
        let e = err_of(&with_routes(&format!(
            "  - name: r\n    match: {{ path_prefix: / }}\n{route}"
        )));
        assert!(e.message.contains(needle), "{needle}: {e}");
        assert!(e.line.is_some(), "{e}");
    }
    let e = err_of(&format!("{BASE}routes: []\n").replace("127.0.0.1:8080", "localhost"));
    assert!(e.message.contains("IP:PORT"), "{e}");
    let e = err_of(&with_routes(
        "  - name: r\n    match: { path_prefix: orders }\n    upstream: order\n",
    ));
    assert!(e.message.contains("must start with `/`"), "{e}");
    let e = err_of(&with_routes(
        "  - name: r\n    match: { path_prefix: /, methods: [FETCH] }\n    upstream: order\n",
    ));
    assert!(e.message.contains("not an HTTP method"), "{e}");
}

#[test]
fn aggregate_parts_must_use_captured_names() {
    let e = err_of(&with_routes(
        "  - name: s\n    match: { path: \"/orders/{id}/summary\" }\n    aggregate:\n      o: { upstream: order, path: \"/orders/{oid}\" }\n",
    ));
    assert!(e.message.contains("{oid}"), "{e}");
}

#[test]
fn path_templates() {
    let cfg = parse_str(&with_routes(
        "  - name: s\n    match: { path: \"/orders/{id}/summary\" }\n    upstream: order\n",
    ))
    .unwrap();
    match &cfg.routes[0].path {
        PathMatch::Exact(t) => assert_eq!(t.captures().collect::<Vec<_>>(), vec!["id"]),
        other => panic!("{other:?}"),
    }
    let e = err_of(&with_routes(
        "  - name: s\n    match: { path: \"/orders/x{id}\" }\n    upstream: order\n",
    ));
    assert!(e.message.contains("whole segment"), "{e}");
}

#[test]
fn syntax_errors_and_empty_files() {
    let e = err_of("listen: [\n");
    assert!(e.line.is_some(), "{e}");
    let e = err_of("");
    assert!(e.message.contains("empty"), "{e}");
    let e = err_of(&format!("{BASE}routes: []\n"));
    assert!(e.message.contains("catch-all"), "{e}");
}

#[test]
fn relative_paths_resolve_against_the_file() {
    let cfg = parse_str(&format!(
        "{BASE}tls: {{ cert: certs/edge.crt, key: /abs/edge.key }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: legacy\n"
    ))
    .unwrap();
    let tls = cfg.tls.unwrap();
    assert_eq!(tls.cert, Path::new("/etc/strangler/certs/edge.crt"));
    assert_eq!(tls.key, Path::new("/abs/edge.key"));
}

#[test]
fn the_event_bus_is_a_demo_setting() {
    let routes = "  - { name: all, match: { path_prefix: / }, upstream: legacy }\n";
    let c = parse_str(&with_routes(routes).replacen(
        "listen:",
        "demo: { event_bus: nats://127.0.0.1:4222 }\nlisten:",
        1,
    ));
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.demo.event_bus, "nats://127.0.0.1:4222");
    let e = err_of(&with_routes(routes).replacen("listen:", "event_bus: memory\nlisten:", 1));
    assert_eq!(e.line, Some(1), "{e}");
    assert!(
        e.message.contains("demo: { event_bus: memory }"),
        "{}",
        e.message
    );
}

#[test]
fn an_upstream_protocol_must_fit_its_scheme() {
    let routes = "routes:\n  - name: r\n    match: { path_prefix: / }\n    upstream: grpc\n";
    let yaml = |up: &str| format!("listen: 127.0.0.1:8080\nupstreams:\n  grpc: {up}\n{routes}");
    let ok = parse_str(&yaml("{ url: http://127.0.0.1:50051, protocol: h2c }")).unwrap();
    assert_eq!(ok.upstreams["grpc"].protocol, Protocol::H2c);
    let ok = parse_str(&yaml("{ url: https://orders.internal, protocol: h2 }")).unwrap();
    assert_eq!(ok.upstreams["grpc"].protocol, Protocol::H2);
    assert_eq!(
        parse_str(&yaml("{ url: http://127.0.0.1:1 }"))
            .unwrap()
            .upstreams["grpc"]
            .protocol,
        Protocol::Auto
    );
    let e = err_of(&yaml("{ url: https://orders.internal, protocol: h2c }"));
    assert!(e.message.contains("write `protocol: h2`"), "{e}");
    assert_eq!(e.line, Some(3), "{e}");
    let e = err_of(&yaml("{ url: http://127.0.0.1:1, protocol: h2 }"));
    assert!(e.message.contains("write `protocol: h2c`"), "{e}");
    let e = err_of(&yaml("{ url: http://127.0.0.1:1, protocol: http3 }"));
    assert!(
        e.message.contains("http1") && e.message.contains("h2c"),
        "{e}"
    );
    let e = err_of(&yaml("{ url: http://127.0.0.1:1, ca: ca.pem }"));
    assert!(e.message.contains("`ca` is for https upstreams"), "{e}");
}
