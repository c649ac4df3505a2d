//! The command line as a user runs it: `strangler check` (summary,
//! unreachable-route warnings, errors with line and column, exit codes),
//! `strangler report` exit codes, and usage errors.

use std::process::{Command, Output};

fn strangler(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(args)
        .output()
        .expect("run strangler")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_shipped_routes_and_prints_each_route() {
    let o = strangler(&["check", concat!(env!("CARGO_MANIFEST_DIR"), "/routes.yaml")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    for needle in [
        "orders",
        "path_prefix /orders",
        "-> order",
        "fallback legacy",
        "split inventory:10 legacy:90",
        "shadow payment",
        "aggregate",
        "ok (6 routes, 4 upstreams, 0 warnings)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn check_warns_about_unreachable_routes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, "listen: 127.0.0.1:8080\nupstreams:\n  a: { url: http://127.0.0.1:1 }\nroutes:\n  - name: all\n    match: { path_prefix: / }\n    upstream: a\n  - name: orders\n    match: { path_prefix: /orders }\n    upstream: a\n").unwrap();
    let o = strangler(&["check", path.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        err.contains("route `orders` is unreachable: route `all` above it"),
        "{err}"
    );
    assert!(out.contains("(2 routes, 1 upstream, 1 warning)"), "{out}");
}

#[test]
fn check_reports_errors_with_file_line_and_column_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, "listen: 127.0.0.1:8080\nupstreams:\n  a: { url: http://127.0.0.1:1 }\nroutes:\n  - name: all\n    match: { path_prefix: / }\n    upstream: b\n").unwrap();
    let o = strangler(&["check", path.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains(&format!("{}:7:15: ", path.display())), "{err}");
    assert!(err.contains("unknown upstream `b`"), "{err}");
    let missing = strangler(&["check", "/nonexistent/routes.yaml"]);
    assert_eq!(missing.status.code(), Some(1));
}

/// The most common mistake of all: a line indented one space off inside
/// `routes:` is a YAML syntax error at that line, not an unknown upstream.
#[test]
fn check_reports_a_yaml_syntax_error_as_such_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/routes.yaml")).unwrap();
    // Indent the first route's `upstream:` by one more space.
    let (n, line) = shipped
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with("upstream: ") && l.starts_with("    u"))
        .expect("a route with `upstream:`");
    let broken: Vec<String> = shipped
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == n {
                format!(" {line}")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&path, broken.join("\n")).unwrap();
    let o = strangler(&["check", path.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let at = format!("{}:{}:", path.display(), n + 1);
    assert!(err.contains(&at), "not at line {}: {err}", n + 1);
    assert!(err.contains("YAML syntax error"), "{err}");
    assert!(err.contains("indentation"), "{err}");
    assert!(!err.contains("unknown upstream"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_bad_logs_exit_1() {
    assert_eq!(strangler(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(strangler(&["check", "--nope"]).status.code(), Some(2));
    let o = strangler(&["report", "--log", "/nonexistent/shadow.jsonl"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}

#[test]
fn run_refuses_an_invalid_config_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, "listen: [\n").unwrap();
    let o = strangler(&["run", "--config", path.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("routes.yaml:"), "{err}");
}

/// `report` on input that holds no comparison, or for a route the logs do
/// not know, says so and exits 1; the same log given twice counts once.
#[test]
fn report_refuses_empty_input_and_unknown_routes_and_counts_a_comparison_once() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "this is not a shadow log\n{\"also\": \"not\"}\n").unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    for f in [&garbage, &empty] {
        let o = strangler(&["report", "--log", f.to_str().unwrap()]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{}: {out}{err}", f.display());
        assert!(err.contains("no shadow-log record"), "{err}");
    }
    let log = dir.path().join("shadow.jsonl");
    let line = |id: &str| {
        format!(
            "{{\"ts\":\"2026-01-02T03:04:05.678Z\",\"request_id\":\"{id}\",\"route\":\"payments\",\"method\":\"GET\",\"path\":\"/p\",\"primary\":{{\"upstream\":\"legacy\",\"status\":200,\"latency_ms\":1.0}},\"shadow\":{{\"upstream\":\"payment\",\"status\":200,\"latency_ms\":1.0,\"error\":null}},\"outcome\":\"match\",\"reason\":null,\"diffs\":[]}}\n"
        )
    };
    std::fs::write(&log, format!("{}{}", line("a"), line("b"))).unwrap();
    let l = log.to_str().unwrap();
    let o = strangler(&["report", "--log", l, "--route", "orders"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("no record of route `orders`") && err.contains("payments"),
        "{err}"
    );
    let once = text(&strangler(&["report", "--log", l])).0;
    let twice = strangler(&["report", "--log", l, "--log", l]);
    assert_eq!(twice.status.code(), Some(0));
    assert_eq!(
        text(&twice).0,
        once,
        "the same log given twice counts twice"
    );
    assert!(once.contains("payments"), "{once}");
}

/// `strangler plan OLD NEW` says what an edit moves before it is made.
#[test]
fn plan_says_where_requests_go_before_and_after_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/routes.yaml")).unwrap();
    let old = dir.path().join("old.yaml");
    std::fs::write(&old, &shipped).unwrap();
    // The edit: `orders` back to the monolith.
    let edited = shipped.replacen(
        "    upstream: order\n    fallback: legacy\n",
        "    upstream: legacy\n",
        1,
    );
    assert_ne!(edited, shipped, "the shipped routes.yaml changed shape");
    let new = dir.path().join("new.yaml");
    std::fs::write(&new, edited).unwrap();
    let o = strangler(&[
        "plan",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--path",
        "GET /orders/7",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("changed         orders:"), "{out}");
    assert!(
        out.contains("GET /orders/7: orders → order  ⇒  orders → legacy"),
        "{out}"
    );
    assert!(
        out.contains("GET /customers/1") || out.contains("GET /: monolith → legacy (unchanged)"),
        "{out}"
    );
    let bad = strangler(&["plan", old.to_str().unwrap(), "/nonexistent.yaml"]);
    assert_eq!(bad.status.code(), Some(1));
}
