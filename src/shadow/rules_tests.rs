//! `compare.rules` end to end: read from YAML as routes.yaml has them, then
//! applied by the comparison.

use super::*;
use crate::shadow::diff::{compare, CompareSpec, Comparison, DiffKind, Fields, Observed};
use http::{HeaderName, HeaderValue};

fn spec(ignore: &[&str], rules: &str) -> CompareSpec {
    let rules: Vec<CompareRule> = serde_yaml::from_str(rules).expect("valid rules");
    let ignore: Vec<String> = ignore.iter().map(|s| s.to_string()).collect();
    let headers = ["content-type".to_string(), "x-id".to_string()];
    (CompareSpec::new(&ignore, Some(&headers)).expect("valid"))
        .with_rules(&rules)
        .expect("valid")
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    (pairs.iter())
        .map(|(n, v)| {
            let name = HeaderName::from_bytes(n.as_bytes()).expect("a name");
            (name, HeaderValue::from_str(v).expect("a value"))
        })
        .collect()
}

fn cmp(spec: &CompareSpec, a: &str, b: &str) -> Comparison {
    let h = fields(&[("content-type", "application/json")]);
    let side = |body: &'static str| Observed {
        status: 200,
        headers: h.clone().leak(),
        body: body.as_bytes(),
    };
    let (a, b): (&'static str, &'static str) = (a.to_string().leak(), b.to_string().leak());
    compare(&side(a), &side(b), spec)
}

fn at(c: &Comparison) -> Vec<(&str, DiffKind)> {
    c.diffs
        .iter()
        .map(|d| (d.pointer.as_str(), d.kind))
        .collect()
}

#[test]
fn numbers_within_a_tolerance_match() {
    let s = spec(
        &[],
        "[{at: /amount, numeric: {abs: 0.01}}, {at: /items/*/rate, numeric: {rel: 1.0e-6}}]",
    );
    assert!(cmp(&s, r#"{"amount": 10.00}"#, r#"{"amount": 10.009}"#).is_match());
    let c = cmp(&s, r#"{"amount": 10.00}"#, r#"{"amount": 10.02}"#);
    assert_eq!(at(&c), [("/amount", DiffKind::Changed)]);
    assert!(cmp(
        &s,
        r#"{"items":[{"rate":1e9}]}"#,
        r#"{"items":[{"rate":1000000999}]}"#
    )
    .is_match());
    assert!(!cmp(
        &s,
        r#"{"items":[{"rate":1e9}]}"#,
        r#"{"items":[{"rate":1000001001}]}"#
    )
    .is_match());
    // Elsewhere, and for non-numbers, the usual comparison.
    assert!(!cmp(&s, r#"{"other": 1.0}"#, r#"{"other": 1.001}"#).is_match());
    let c = cmp(&s, r#"{"amount": 10}"#, r#"{"amount": "10"}"#);
    assert_eq!(at(&c), [("/amount", DiffKind::Type)]);
}

#[test]
fn unordered_arrays_by_key() {
    let s = spec(&["/items/*/at"], "[{at: /items, unordered: {key: /sku}}]");
    let a =
        r#"{"items":[{"sku":"a","qty":1,"at":1},{"sku":"b","qty":2,"at":2},{"sku":3,"qty":3}]}"#;
    let b = r#"{"items":[{"sku":3.0,"qty":3},{"sku":"b","qty":2,"at":9},{"sku":"a","qty":1}]}"#;
    assert!(cmp(&s, a, b).is_match(), "{:?}", cmp(&s, a, b));
    // A changed field shows at the primary's index; keys on one side only
    // are removed / added.
    let b = r#"{"items":[{"sku":"c","qty":1},{"sku":"b","qty":5},{"sku":3,"qty":3}]}"#;
    let c = cmp(&s, a, b);
    assert_eq!(
        at(&c),
        [
            ("/items/0", DiffKind::Removed),
            ("/items/0", DiffKind::Added),
            ("/items/1/qty", DiffKind::Changed)
        ]
    );
}

#[test]
fn unordered_arrays_as_multisets() {
    let s = spec(&[], "[{at: /tags, unordered: true}, {at: /rows, unordered: true}, {at: /rows/*/v, numeric: {abs: 0.5}}]");
    assert!(cmp(
        &s,
        r#"{"tags":["x","y","x",{"k":1,"j":2}]}"#,
        r#"{"tags":[{"j":2,"k":1.0},"x","x","y"]}"#
    )
    .is_match());
    // Counts matter: a multiset, not a set.
    let c = cmp(&s, r#"{"tags":["x","x","y"]}"#, r#"{"tags":["x","y","y"]}"#);
    assert_eq!(at(&c), [("/tags/1", DiffKind::Changed)]);
    let c = cmp(&s, r#"{"tags":["x","y"]}"#, r#"{"tags":["y"]}"#);
    assert_eq!(at(&c), [("/tags/0", DiffKind::Removed)]);
    // Elements equal under the rules inside pair too.
    assert!(cmp(
        &s,
        r#"{"rows":[{"v":1},{"v":5}]}"#,
        r#"{"rows":[{"v":5.2},{"v":1.3}]}"#
    )
    .is_match());
    let c = cmp(
        &s,
        r#"{"rows":[{"v":1},{"v":5}]}"#,
        r#"{"rows":[{"v":5.2},{"v":9}]}"#,
    );
    assert_eq!(at(&c), [("/rows/0/v", DiffKind::Changed)]);
    // Without the rule, order matters.
    assert!(!cmp(&spec(&[], "[]"), r#"[1,2]"#, r#"[2,1]"#).is_match());
}

#[test]
fn formats_need_only_the_kind() {
    let s = spec(
        &["@header/x-trace"],
        "[{at: /id, format: uuid}, {at: /created_at, format: rfc3339}, {at: /note, format: string}, {at: '@header/x-id', format: uuid}]",
    );
    let a = r#"{"id":"3f2b8c1e-0d4a-4b7e-9c2f-1a2b3c4d5e6f","created_at":"2025-01-02T03:04:05Z","note":"a"}"#;
    let b = r#"{"id":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d","created_at":"2026-11-27T10:00:00.123+01:00","note":"b"}"#;
    assert!(cmp(&s, a, b).is_match());
    let b = r#"{"id":"not-a-uuid","created_at":"yesterday","note":7}"#;
    let c = cmp(&s, a, b);
    assert_eq!(
        at(&c),
        [
            ("/created_at", DiffKind::Changed),
            ("/id", DiffKind::Changed),
            ("/note", DiffKind::Type)
        ]
    );
    // Headers: a format rule, and an ignored header.
    let side = |id: &str, trace: &str, status| Observed {
        status,
        headers: fields(&[("x-id", id), ("x-trace", trace)]).leak(),
        body: b"{}",
    };
    let (u1, u2) = (
        "3f2b8c1e-0d4a-4b7e-9c2f-1a2b3c4d5e6f",
        "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    );
    assert!(compare(&side(u1, "1", 200), &side(u2, "2", 200), &s).is_match());
    let c = compare(&side(u1, "1", 200), &side("nope", "1", 200), &s);
    assert_eq!(at(&c), [("@header/x-id", DiffKind::Changed)]);
}

#[test]
fn bad_rules_are_refused_with_a_reason() {
    let err = |yaml: &str| {
        serde_yaml::from_str::<Vec<CompareRule>>(yaml)
            .expect_err(yaml)
            .to_string()
    };
    assert!(err("[{at: /a, numeric: {abs: 1}, format: uuid}]").contains("exactly one of"));
    assert!(err("[{at: /a}]").contains("exactly one of"));
    assert!(err("[{at: /a, numeric: {}}]").contains("needs `abs` or `rel`"));
    assert!(err("[{at: /a, numeric: {abs: -1}}]").contains("0 or more"));
    assert!(err("[{at: /a, unordered: false}]").contains("remove the rule"));
    assert!(err("[{at: /a, unordered: {key: /x/*}}]").contains("no `*`"));
    assert!(err("[{at: /a, unordered: {by: /x}}]").contains("unknown field `by`"));
    assert!(err("[{at: /a, format: date}]").contains("unknown variant `date`"));
    assert!(err("[{at: a, format: uuid}]").contains("must start with '/'"));
    assert!(err("[{at: '@header/x', numeric: {abs: 1}}]").contains("a header takes only `format`"));
}
