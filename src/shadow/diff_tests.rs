use super::*;
use crate::pointer::parse_pointer_pattern;
use crate::shadow::comparison::MAX_VALUE_CHARS;
use crate::shadow::structure::diff_values;
use flate2::write::GzEncoder;
use serde_json::json;
use std::io::Write;

fn json_headers() -> Vec<(String, String)> {
    vec![("Content-Type".to_string(), "application/json".to_string())]
}

/// Fields as the proxy keeps them (names lower-cased by `http`), from text
/// pairs; leaked, as a test's few are.
fn obs<'a>(status: u16, headers: &[(String, String)], body: &'a [u8]) -> Observed<'a> {
    let fields: Fields = headers
        .iter()
        .map(|(n, v)| {
            let name = HeaderName::from_bytes(n.as_bytes()).expect("a field name");
            (name, HeaderValue::from_str(v).expect("a field value"))
        })
        .collect();
    Observed {
        status,
        headers: fields.leak(),
        body,
    }
}

fn cmp_json(a: &str, b: &str, ignore: &[&str]) -> Comparison {
    let h = json_headers();
    let ignore: Vec<String> = ignore.iter().map(|s| s.to_string()).collect();
    let spec = CompareSpec::new(&ignore, None).expect("valid spec");
    compare(
        &obs(200, &h, a.as_bytes()),
        &obs(200, &h, b.as_bytes()),
        &spec,
    )
}

fn pointers(c: &Comparison) -> Vec<(&str, DiffKind)> {
    c.diffs
        .iter()
        .map(|d| (d.pointer.as_str(), d.kind))
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("write");
    enc.finish().expect("finish")
}

/// Takes a value apart without recursion (dropping a 10,000-deep `Value` recurses).
fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => stack.extend(o.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[test]
fn key_order_is_ignored() {
    assert!(cmp_json(
        r#"{"a":1,"b":{"x":[1,2],"y":null}}"#,
        r#"{"b":{"y":null,"x":[1,2]},"a":1}"#,
        &[]
    )
    .is_match());
}

#[test]
fn numbers_compare_by_value() {
    assert!(cmp_json("[10, 1, 0, -3, 2.5]", "[10.0, 1.0, 0.0, -3.0, 2.50]", &[]).is_match());
    assert!(cmp_json("1e2", "100", &[]).is_match());
    let c = cmp_json("[10]", "[10.5]", &[]);
    assert_eq!(pointers(&c), vec![("/0", DiffKind::Changed)]);
}

#[test]
fn big_integers_compare_exactly() {
    assert!(cmp_json("18446744073709551615", "18446744073709551615", &[]).is_match());
    assert!(!cmp_json("9007199254740993", "9007199254740992", &[]).is_match());
    // 2^53 + 1 is not representable as f64: the float rounds to 2^53, the integer does not.
    assert!(!cmp_json("9007199254740993", "9007199254740993.0", &[]).is_match());
    assert!(!cmp_json("-9223372036854775808", "9223372036854775808", &[]).is_match());
}

#[test]
fn nested_arrays_report_exact_pointers() {
    let c = cmp_json(
        r#"{"m":[[1,2],[3,[4,5]]]}"#,
        r#"{"m":[[1,2],[3,[4,6]]]}"#,
        &[],
    );
    assert_eq!(pointers(&c), vec![("/m/1/1/1", DiffKind::Changed)]);
    assert_eq!(c.diffs[0].primary, Some(json!(5)));
    assert_eq!(c.diffs[0].shadow, Some(json!(6)));
}

#[test]
fn added_removed_and_type_diffs() {
    let c = cmp_json(
        r#"{"gone":1,"n":"7","items":[1,2,3],"same":true}"#,
        r#"{"new":{"x":1},"n":7,"items":[1,2],"same":true}"#,
        &[],
    );
    assert_eq!(
        pointers(&c),
        vec![
            ("/gone", DiffKind::Removed),
            ("/new", DiffKind::Added),
            ("/items/2", DiffKind::Removed),
            ("/n", DiffKind::Type),
        ]
    );
    assert_eq!(c.diffs[0].shadow, None);
    assert_eq!(c.diffs[1].shadow, Some(json!({"x": 1})));
    assert_eq!(c.diffs[3].primary, Some(json!("7")));
    let c = cmp_json("[1]", "[1,{\"a\":2},3]", &[]);
    assert_eq!(
        pointers(&c),
        vec![("/1", DiffKind::Added), ("/2", DiffKind::Added)]
    );
}

#[test]
fn root_diff_has_empty_pointer() {
    let c = cmp_json("[]", "{}", &[]);
    assert_eq!(pointers(&c), vec![("", DiffKind::Type)]);
    let c = cmp_json("\"a\"", "\"b\"", &[]);
    assert_eq!(pointers(&c), vec![("", DiffKind::Changed)]);
}

#[test]
fn ignore_skips_subtrees_and_wildcards() {
    let a = r#"{"created_at":"x","items":[{"id":1,"reserved_at":"t1"},{"id":2,"reserved_at":"t2"}],"meta":{"a":1,"b":2}}"#;
    let b =
        r#"{"created_at":"y","items":[{"id":1,"reserved_at":"u1"},{"id":2}],"meta":{"a":9,"c":3}}"#;
    assert!(cmp_json(a, b, &["/created_at", "/items/*/reserved_at", "/meta"]).is_match());
    let c = cmp_json(a, b, &["/created_at", "/items/0/reserved_at"]);
    assert_eq!(
        pointers(&c),
        vec![
            ("/items/1/reserved_at", DiffKind::Removed),
            ("/meta/b", DiffKind::Removed),
            ("/meta/c", DiffKind::Added),
            ("/meta/a", DiffKind::Changed)
        ]
    );
    assert!(cmp_json("[1]", "[2]", &[""]).is_match());
    // `*` matches exactly one segment.
    assert!(!cmp_json(
        r#"{"a":{"b":{"c":1}}}"#,
        r#"{"a":{"b":{"c":2}}}"#,
        &["/*/c"]
    )
    .is_match());
    assert!(cmp_json(
        r#"{"a":{"b":{"c":1}}}"#,
        r#"{"a":{"b":{"c":2}}}"#,
        &["/*/*/c"]
    )
    .is_match());
}

#[test]
fn pointer_escapes() {
    let c = cmp_json(r#"{"a/b":1,"m~n":1}"#, r#"{"a/b":2,"m~n":2}"#, &[]);
    assert_eq!(
        pointers(&c),
        vec![("/a~1b", DiffKind::Changed), ("/m~0n", DiffKind::Changed)]
    );
    assert!(cmp_json(
        r#"{"a/b":1,"m~n":1}"#,
        r#"{"a/b":2,"m~n":2}"#,
        &["/a~1b", "/m~0n"]
    )
    .is_match());
    assert!(!cmp_json(r#"{"a":{"b":1}}"#, r#"{"a":{"b":2}}"#, &["/a~1b"]).is_match());
}

#[test]
fn pattern_parser_validates() {
    assert!(parse_pointer_pattern("").is_ok());
    assert!(parse_pointer_pattern("/").is_ok());
    assert!(parse_pointer_pattern("/a/*/b~0~1").is_ok());
    let e = parse_pointer_pattern("created_at").expect_err("no leading slash");
    assert!(e.contains("\"/created_at\""), "{e}");
    assert!(parse_pointer_pattern("/a~2").is_err());
    assert!(parse_pointer_pattern("/a~").is_err());
    assert_eq!(
        parse_pointer_pattern("/x/*").map(|p| p.as_str().to_string()),
        Ok("/x/*".to_string())
    );
    assert!(CompareSpec::new(&["nope".to_string()], None).is_err());
    let p = parse_pointer_pattern("/").expect("valid");
    assert!(p.matches("/") && !p.matches("") && !p.matches("/a"));
}

#[test]
fn status_and_headers() {
    let pa = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("X-Extra".to_string(), "1".to_string()),
    ];
    let pb = vec![("CONTENT-TYPE".to_string(), "application/json".to_string())];
    let spec = CompareSpec::new(
        &[],
        Some(&[
            "Content-Type".to_string(),
            "x-extra".to_string(),
            "x-none".to_string(),
        ]),
    )
    .expect("spec");
    let c = compare(&obs(200, &pa, b"{}"), &obs(201, &pb, b"{}"), &spec);
    assert_eq!(
        pointers(&c),
        vec![
            ("@status", DiffKind::Changed),
            ("@header/x-extra", DiffKind::Removed)
        ]
    );
    assert_eq!(c.diffs[0].primary, Some(json!(200)));
    let c = compare(&obs(200, &pb, b"{}"), &obs(200, &pa, b"{}"), &spec);
    assert_eq!(pointers(&c), vec![("@header/x-extra", DiffKind::Added)]);
    let pc = vec![("Content-Type".to_string(), "text/html".to_string())];
    let c = compare(
        &obs(200, &pa, b"{}"),
        &obs(200, &pc, b"{}"),
        &CompareSpec::default(),
    );
    assert_eq!(
        pointers(&c),
        vec![("@header/content-type", DiffKind::Changed)]
    );
}

#[test]
fn gzip_on_one_side_only() {
    let body = br#"{"a":1,"b":[1,2]}"#;
    let plain = json_headers();
    let mut gz = json_headers();
    gz.push(("Content-Encoding".to_string(), "gzip".to_string()));
    let zipped = gzip(br#"{"b":[1,2.0],"a":1}"#);
    let spec = CompareSpec::default();
    assert!(compare(&obs(200, &plain, body), &obs(200, &gz, &zipped), &spec).is_match());
    assert!(compare(&obs(200, &gz, &zipped), &obs(200, &plain, body), &spec).is_match());
    let text = vec![("Content-Encoding".to_string(), "GZIP".to_string())];
    let c = compare(
        &obs(200, &[], b"hello"),
        &obs(200, &text, &gzip(b"hellO")),
        &spec,
    );
    assert_eq!(pointers(&c), vec![("@body", DiffKind::Changed)]);
}

#[test]
fn invalid_gzip_is_a_difference() {
    let gz = vec![("content-encoding".to_string(), "gzip".to_string())];
    let spec = CompareSpec::default();
    let c = compare(
        &obs(200, &[], b"hello"),
        &obs(200, &gz, b"not gzip at all"),
        &spec,
    );
    assert_eq!(pointers(&c), vec![("@body", DiffKind::Changed)]);
    let shown = c.diffs[0]
        .shadow
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(shown.contains("undecodable gzip"), "{shown}");
    let mut truncated = gzip(b"hello world");
    truncated.truncate(12);
    assert!(!compare(
        &obs(200, &[], b"hello world"),
        &obs(200, &gz, &truncated),
        &spec
    )
    .is_match());
    // Identical bytes with identical encodings match without decoding.
    assert!(compare(
        &obs(200, &gz, b"garbage"),
        &obs(200, &gz, b"garbage"),
        &spec
    )
    .is_match());
}

#[test]
fn non_json_bodies_byte_for_byte_with_previews() {
    let spec = CompareSpec::default();
    assert!(compare(&obs(200, &[], b"<html>"), &obs(200, &[], b"<html>"), &spec).is_match());
    let a = vec![b'x'; 5000];
    let mut b = a.clone();
    b[3000] = b'y';
    let c = compare(&obs(200, &[], &a), &obs(200, &[], &b), &spec);
    assert_eq!(pointers(&c), vec![("@body", DiffKind::Changed)]);
    let p = c.diffs[0]
        .primary
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let s = c.diffs[0]
        .shadow
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    assert!(
        p.len() < 300 && s.contains("xyx") && !p.contains("xyx"),
        "{p} / {s}"
    );
    let c = compare(
        &obs(200, &[], &[0xff, 0xfe, 0x00]),
        &obs(200, &[], &[0xff]),
        &spec,
    );
    assert_eq!(c.diffs.len(), 1);
    // One side JSON, the other not: byte comparison.
    assert!(!compare(&obs(200, &[], b"{}"), &obs(200, &[], b"{"), &spec).is_match());
    // Both parse as JSON without a JSON content-type: structural.
    assert!(compare(
        &obs(200, &[], b"{\"a\":1, \"b\":2}"),
        &obs(200, &[], b"{\"b\":2.0,\"a\":1}"),
        &spec
    )
    .is_match());
}

#[test]
fn diff_count_is_capped() {
    let a: Vec<u32> = (0..1000).collect();
    let b: Vec<u32> = (1..1001).collect();
    let c = cmp_json(&json!(a).to_string(), &json!(b).to_string(), &[]);
    assert_eq!(c.diffs.len(), MAX_DIFFS);
    assert!(c.truncated);
    let c = cmp_json("[]", &json!(b).to_string(), &[]);
    assert_eq!(c.diffs.len(), MAX_DIFFS);
    assert!(c.truncated);
    assert_eq!(c.diffs[0].pointer, "/0");
}

#[test]
fn deeply_nested_bodies_do_not_overflow() {
    let depth = 10_000;
    let a = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let b = format!("{}2{}", "[".repeat(depth), "]".repeat(depth));
    let c = cmp_json(&a, &b, &[]);
    assert_eq!(pointers(&c), vec![("@body", DiffKind::Changed)]);
    assert!(cmp_json(&a, &a, &[]).is_match());
}

#[test]
fn deeply_nested_values_do_not_overflow() {
    let nest = |leaf: i32| {
        let mut v = json!(leaf);
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        v
    };
    let (a, b) = (nest(1), nest(2));
    let mut out = Comparison::default();
    diff_values(&a, &b, &CompareSpec::default(), &mut out);
    assert_eq!(out.diffs.len(), 1);
    assert_eq!(out.diffs[0].pointer, "/0".repeat(MAX_DEPTH));
    assert_eq!(out.diffs[0].primary, Some(json!("<array of 1 items>")));
    let mut same = Comparison::default();
    diff_values(&a, &a, &CompareSpec::default(), &mut same);
    assert!(same.is_match());
    dismantle(a);
    dismantle(b);
}

#[test]
fn large_values_are_summarised() {
    let big: Vec<u32> = (0..100).collect();
    let c = cmp_json("{}", &json!({ "k": big }).to_string(), &[]);
    assert_eq!(c.diffs[0].shadow, Some(json!("<array of 100 items>")));
    let long = "x".repeat(1000);
    let c = cmp_json("\"a\"", &json!(long).to_string(), &[]);
    let shown = c.diffs[0]
        .shadow
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(shown.chars().count() <= MAX_VALUE_CHARS + 1);
}

#[test]
fn diff_serialises_as_in_the_spec() {
    let c = cmp_json(r#"{"a":1}"#, r#"{"b":1}"#, &[]);
    let v = serde_json::to_value(&c.diffs).expect("serialise");
    assert_eq!(
        v,
        json!([
            {"pointer": "/a", "kind": "removed", "primary": 1, "shadow": null},
            {"pointer": "/b", "kind": "added", "primary": null, "shadow": 1}
        ])
    );
    let back: Vec<Diff> = serde_json::from_value(v).expect("round trip");
    assert_eq!(back, c.diffs);
}
