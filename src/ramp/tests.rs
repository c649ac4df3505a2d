//! The ramp's state machine, driven by hand: steps advance once the
//! interval and the requests are there, a failed gate rolls back at once,
//! operators pause, resume, promote and roll back, and a persisted state
//! resumes only for the same definition.

use std::time::Duration;

use super::control::Action;
use super::*;
use crate::config::ramp::{ErrorRateGate, Gates, Percent, RampConfig, Sticky, Verdict};

fn def(interval_ms: u64, min_requests: u64) -> RampConfig {
    RampConfig {
        from: "legacy".into(),
        to: "order".into(),
        steps: vec![10.0, 50.0, 100.0],
        interval: Duration::from_millis(interval_ms),
        min_requests,
        sticky: Sticky::ClientIp,
        gates: Gates {
            error_rate: Some(ErrorRateGate {
                max_increase: Percent(1.0),
            }),
            p99: None,
            shadow_verdict: None,
        },
    }
}

fn serve(r: &Ramp, to: u64, to_errors: u64, from: u64) {
    for i in 0..to {
        r.window.to.record(i < to_errors, Duration::from_millis(1));
    }
    for _ in 0..from {
        r.window.from.record(false, Duration::from_millis(1));
    }
}

#[test]
fn steps_advance_after_the_interval_and_the_requests() {
    let r = Ramp::new("orders", def(0, 20), None, "defined");
    serve(&r, 9, 0, 100);
    assert!(
        r.evaluate(|| false, false).is_none(),
        "gates not judged yet"
    );
    assert_eq!((r.phase(), r.weight()), (Phase::Running, 10.0));
    serve(&r, 10, 0, 0);
    assert!(
        r.evaluate(|| false, false).is_none(),
        "19 requests are not 20"
    );
    serve(&r, 1, 0, 0);
    let t = r.evaluate(|| false, false).expect("advanced");
    assert_eq!((t.step, t.weight), (1, 50.0));
    // The window starts afresh at each step.
    assert!(r.evaluate(|| false, false).is_none());
    serve(&r, 20, 0, 20);
    assert_eq!(r.evaluate(|| false, false).unwrap().weight, 50.0 * 2.0);
    serve(&r, 20, 0, 20);
    let done = r.evaluate(|| false, false).unwrap();
    assert_eq!((done.phase, r.weight()), (Phase::Completed, 100.0));
    assert!(r.evaluate(|| false, false).is_none(), "completed stays");
}

#[test]
fn a_failed_gate_rolls_back_at_once_and_stays_until_resumed() {
    let r = Ramp::new("orders", def(3_600_000, 1), None, "defined");
    serve(&r, 10, 2, 100);
    let t = r.evaluate(|| false, false).expect("rolled back");
    assert_eq!((t.phase, r.weight()), (Phase::RolledBack, 0.0));
    assert!(t.reason.contains("error_rate"), "{}", t.reason);
    assert!(r.view()["reason"].as_str().unwrap().contains("error_rate"));
    serve(&r, 10, 0, 10);
    assert!(r.evaluate(|| false, false).is_none(), "stays rolled back");
    let t = r.operate(Action::Resume).unwrap();
    assert_eq!((t.phase, t.step, r.weight()), (Phase::Running, 0, 10.0));
}

#[test]
fn operators_pause_resume_promote_and_roll_back() {
    let r = Ramp::new("orders", def(0, 1), None, "defined");
    r.operate(Action::Pause).unwrap();
    serve(&r, 50, 0, 50);
    assert!(r.evaluate(|| false, false).is_none(), "a paused ramp holds");
    assert_eq!(r.weight(), 10.0);
    assert!(r.operate(Action::Pause).is_err(), "already paused");
    r.operate(Action::Resume).unwrap();
    r.operate(Action::Promote).unwrap();
    assert_eq!((r.phase(), r.weight()), (Phase::Completed, 100.0));
    r.operate(Action::Rollback).unwrap();
    assert_eq!((r.phase(), r.weight()), (Phase::RolledBack, 0.0));
    let history: Vec<String> = r
        .persisted()
        .history
        .iter()
        .map(|t| t.reason.clone())
        .collect();
    assert_eq!(history.len(), 5, "{history:?}");
}

#[test]
fn the_shadow_verdict_gates_step_one() {
    let mut d = def(0, 1);
    d.gates.shadow_verdict = Some(Verdict::Ready);
    let r = Ramp::new("orders", d, None, "defined");
    assert_eq!((r.phase(), r.weight()), (Phase::WaitingForShadow, 0.0));
    assert!(r.evaluate(|| false, false).is_none());
    let t = r.evaluate(|| true, false).unwrap();
    assert_eq!((t.phase, t.weight), (Phase::Running, 10.0));
}

#[test]
fn a_persisted_state_resumes_only_for_the_same_definition() {
    let r = Ramp::new("orders", def(0, 1), None, "defined");
    serve(&r, 10, 0, 10);
    r.evaluate(|| false, false).unwrap();
    let saved = r.persisted();
    let again = Ramp::new("orders", def(0, 1), Some(saved.clone()), "resumed");
    assert_eq!(again.weight(), 50.0);
    let changed = Ramp::new("orders", def(1, 1), Some(saved), "changed");
    assert_eq!(changed.weight(), 10.0, "another definition starts over");
}

#[test]
fn an_open_breaker_on_the_new_side_rolls_back() {
    let r = Ramp::new("orders", def(3_600_000, 1), None, "defined");
    let t = r.evaluate(|| false, true).expect("rolled back");
    assert_eq!((t.phase, r.weight()), (Phase::RolledBack, 0.0));
    assert!(t.reason.contains("breaker of order opened"), "{}", t.reason);
}
