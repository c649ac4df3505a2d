use super::super::diff::{DiffKind, MAX_DIFFS};
use super::*;
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

fn meta() -> RequestMeta {
    RequestMeta {
        ts: "2025-01-02T03:04:05.678Z".into(),
        request_id: "req-1".into(),
        route: "payments".into(),
        method: "GET".into(),
        path: "/payments/7".into(),
    }
}

fn primary() -> PrimarySide {
    PrimarySide {
        upstream: "legacy".into(),
        status: 200,
        latency_ms: 12.5,
    }
}

fn shadow() -> ShadowSide {
    ShadowSide {
        upstream: "payment".into(),
        status: Some(200),
        latency_ms: Some(9.0),
        error: None,
    }
}

#[test]
fn serialises_exactly_the_spec_fields() {
    let diff = Diff {
        pointer: "/total".into(),
        kind: DiffKind::Changed,
        primary: Some(json!(1)),
        shadow: Some(json!(2)),
    };
    let c = Comparison {
        diffs: vec![diff],
        truncated: false,
    };
    let line = ShadowRecord::compared(meta(), primary(), shadow(), c).to_json_line();
    assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
    let v: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(
        v,
        json!({
            "ts": "2025-01-02T03:04:05.678Z", "request_id": "req-1", "route": "payments",
            "method": "GET", "path": "/payments/7",
            "primary": {"upstream": "legacy", "status": 200, "latency_ms": 12.5},
            "shadow": {"upstream": "payment", "status": 200, "latency_ms": 9.0, "error": null},
            "outcome": "mismatch", "reason": null,
            "diffs": [{"pointer": "/total", "kind": "changed", "primary": 1, "shadow": 2}]
        })
    );
    let back = ShadowRecord::from_json_line(line.trim_end()).expect("round trip");
    assert_eq!(back.to_json_line(), line);
}

#[test]
fn constructors_set_outcome_and_reason() {
    let m = ShadowRecord::compared(meta(), primary(), shadow(), Comparison::default());
    assert_eq!((m.outcome, m.reason.as_deref()), (Outcome::Match, None));
    let t = Comparison {
        diffs: vec![
            Diff {
                pointer: "".into(),
                kind: DiffKind::Type,
                primary: None,
                shadow: None
            };
            MAX_DIFFS
        ],
        truncated: true,
    };
    let t = ShadowRecord::compared(meta(), primary(), shadow(), t);
    assert_eq!(
        (t.outcome, t.reason.as_deref()),
        (Outcome::Mismatch, Some("diffs_truncated"))
    );
    let s = ShadowRecord::skipped(
        meta(),
        primary(),
        &"payment".into(),
        SkipReason::InflightLimit,
    );
    assert_eq!(
        (s.outcome, s.reason.as_deref(), s.shadow.status),
        (Outcome::Skipped, Some("inflight_limit"), None)
    );
    let side = ShadowSide {
        upstream: "payment".into(),
        error: Some("timed out after 2s".into()),
        ..ShadowSide::default()
    };
    let e = ShadowRecord::shadow_error(meta(), primary(), side, ShadowErrorKind::Timeout);
    assert_eq!(
        (e.outcome, e.reason.as_deref()),
        (Outcome::ShadowError, Some("timeout"))
    );
    let v: Value = serde_json::from_str(&e.to_json_line()).expect("json");
    assert_eq!(v["outcome"], "shadow_error");
    assert_eq!(
        v["shadow"],
        json!({"upstream": "payment", "status": null, "latency_ms": null, "error": "timed out after 2s"})
    );
}

#[test]
fn reading_is_tolerant_of_missing_optional_fields() {
    let line = r#"{"ts":"2025-01-02T03:04:05Z","route":"r","primary":{"upstream":"a","status":200,"latency_ms":3},"shadow":{"upstream":"b"},"outcome":"skipped","future_field":[1]}"#;
    let r = ShadowRecord::from_json_line(line).expect("tolerant");
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(
        (
            r.reason,
            r.diffs.len(),
            r.shadow.status,
            r.request_id.as_str()
        ),
        (None, 0, None, "")
    );
    assert_eq!(r.primary.latency_ms, 3.0);
}

#[test]
fn garbage_is_rejected() {
    let ok = r#"{"ts":"2025-01-02T03:04:05Z","route":"r","primary":{"upstream":"a","status":200,"latency_ms":3},"shadow":{"upstream":"b"},"outcome":"match"}"#;
    assert!(ShadowRecord::from_json_line(ok).is_ok());
    for bad in [
        "",
        "null",
        "[1,2]",
        "{}",
        "not json",
        &ok[..ok.len() - 1],
        &ok.replace("\"match\"", "\"maybe\""),
        &ok.replace("2025-01-02T03:04:05Z", "yesterday"),
        &ok.replace("\"r\"", "\"\""),
        &ok.replace("\"latency_ms\":3", "\"latency_ms\":-3"),
        &ok.replace("\"status\":200", "\"status\":70000"),
        &ok.replace(r#","shadow":{"upstream":"b"}"#, ""),
    ] {
        assert!(
            ShadowRecord::from_json_line(bad).is_err(),
            "accepted {bad:?}"
        );
    }
}

#[test]
fn format_ts_is_rfc3339_utc_millis() {
    assert_eq!(format_ts(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    let t = UNIX_EPOCH + Duration::from_millis(1_735_787_045_678);
    assert_eq!(format_ts(t), "2025-01-02T03:04:05.678Z");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(format_ts(leap), "2000-02-29T00:00:00.000Z");
    assert_eq!(ts_key(&format_ts(t)), Some((1_735_787_045, 678_000_000)));
    // Within one second (the date part is reused), then the next.
    assert_eq!(
        format_ts(t + Duration::from_millis(300)),
        "2025-01-02T03:04:05.978Z"
    );
    assert_eq!(
        format_ts(t + Duration::from_millis(7)),
        "2025-01-02T03:04:05.685Z"
    );
    assert_eq!(
        format_ts(t + Duration::from_millis(322)),
        "2025-01-02T03:04:06.000Z"
    );
    assert_eq!(
        format_ts(t - Duration::from_millis(679)),
        "2025-01-02T03:04:04.999Z"
    );
}

#[test]
fn ts_key_orders_offsets_and_fractions() {
    let a = ts_key("2025-01-02T03:04:05Z").expect("z");
    let b = ts_key("2025-01-02T03:04:05.5Z").expect("frac");
    let c = ts_key("2025-01-02T04:04:05.9+01:00").expect("offset");
    assert!(a < b && b < c);
    assert_eq!(ts_key("2025-01-02T03:04:05-00:30"), Some((a.0 + 1800, 0)));
    for bad in [
        "",
        "2025-01-02",
        "2025-13-02T03:04:05Z",
        "2025-01-02T03:04:05",
        "2025-01-02T03:04:05.Z",
        "2025-01-02T03:04:05+0100",
        "２０２５-01-02T03:04:05Z",
    ] {
        assert_eq!(ts_key(bad), None, "{bad}");
    }
}
