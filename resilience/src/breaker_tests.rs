//! The breaker state machine with time passed in.

use super::*;
use tokio::time::advance;

fn cfg(fail: u32, recovery_ms: u64, succ: u32, half: u32) -> Settings {
    Settings {
        failure_threshold: fail,
        recovery_timeout: Duration::from_millis(recovery_ms),
        success_threshold: succ,
        half_open_requests: half,
    }
}

fn fail_n(c: &mut Core, n: u32, now: Instant) -> Option<Transition> {
    let mut last = None;
    for _ in 0..n {
        assert!(matches!(c.admit(now).0, Admit::Yes { trial: false }));
        last = c.record(false, false, now).or(last);
    }
    last
}

#[test]
fn opens_after_threshold_not_before() {
    let now = Instant::now();
    let mut c = Core::new(cfg(5, 1000, 2, 1));
    assert_eq!(fail_n(&mut c, 4, now), None);
    assert_eq!(c.state(), State::Closed);
    let t = fail_n(&mut c, 1, now).unwrap();
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    assert!(
        matches!(c.admit(now).0, Admit::No { retry_after } if retry_after == Duration::from_millis(1000))
    );
}

#[test]
fn a_success_resets_the_count() {
    let now = Instant::now();
    let mut c = Core::new(cfg(3, 1000, 1, 1));
    fail_n(&mut c, 2, now);
    c.record(false, true, now);
    fail_n(&mut c, 2, now);
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn half_open_admits_exactly_k_trials_and_closes_after_successes() {
    let t0 = Instant::now();
    let mut c = Core::new(cfg(1, 100, 2, 2));
    fail_n(&mut c, 1, t0);
    let later = t0 + Duration::from_millis(100);
    let (a, t) = c.admit(later);
    assert_eq!(a, Admit::Yes { trial: true });
    assert_eq!(t.map(|t| t.to), Some(State::HalfOpen));
    assert_eq!(c.admit(later).0, Admit::Yes { trial: true });
    assert!(
        matches!(c.admit(later).0, Admit::No { .. }),
        "a third concurrent trial is refused"
    );
    assert_eq!(c.record(true, true, later), None);
    let t = c.record(true, true, later).unwrap();
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Closed));
}

#[test]
fn a_failed_trial_reopens() {
    let t0 = Instant::now();
    let mut c = Core::new(cfg(1, 100, 2, 1));
    fail_n(&mut c, 1, t0);
    let later = t0 + Duration::from_millis(150);
    assert_eq!(c.admit(later).0, Admit::Yes { trial: true });
    let t = c.record(true, false, later).unwrap();
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
    assert!(
        matches!(c.admit(later).0, Admit::No { retry_after } if retry_after == Duration::from_millis(100))
    );
}

#[test]
fn an_abandoned_trial_frees_its_slot() {
    let t0 = Instant::now();
    let mut c = Core::new(cfg(1, 10, 1, 1));
    fail_n(&mut c, 1, t0);
    let later = t0 + Duration::from_millis(10);
    assert_eq!(c.admit(later).0, Admit::Yes { trial: true });
    assert!(matches!(c.admit(later).0, Admit::No { .. }));
    c.abandon(true);
    assert_eq!(c.admit(later).0, Admit::Yes { trial: true });
}

#[test]
fn shared_breaker_permits() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let b = Breaker::new(
        "order",
        cfg(2, 60_000, 1, 1),
        Arc::new(move |_, t| s2.lock().unwrap().push(t.to)),
    );
    b.acquire().unwrap().record(false);
    b.acquire().unwrap().record(false);
    assert!(b.acquire().is_err());
    assert_eq!(b.status().state, State::Open);
    assert!(b.status().opened_at.is_some());
    assert_eq!(*seen.lock().unwrap(), vec![State::Open]);
}

fn noop() -> OnTransition {
    Arc::new(|_, _| {})
}

/// The shared breaker, on the runtime's paused clock: no test sleeps.
#[tokio::test(start_paused = true)]
async fn opens_fails_fast_then_lets_trials_through_after_recovery() {
    let b = Breaker::new("up", cfg(2, 30_000, 2, 1), noop());
    for _ in 0..2 {
        b.acquire().expect("closed").record(false);
    }
    assert_eq!(b.status().state, State::Open);
    assert_eq!(b.status().half_open_in, Some(Duration::from_secs(30)));
    assert_eq!(b.acquire().err(), Some(Duration::from_secs(30)));
    advance(Duration::from_secs(29)).await;
    assert_eq!(b.acquire().err(), Some(Duration::from_secs(1)));
    advance(Duration::from_secs(1)).await;
    assert_eq!(b.status().half_open_in, Some(Duration::ZERO));
    let trial = b.acquire().expect("a trial after recovery_timeout");
    assert_eq!(b.status().state, State::HalfOpen);
    assert!(b.acquire().is_err(), "one trial at a time");
    trial.record(true);
    b.acquire().expect("second trial").record(true);
    assert_eq!(b.status().state, State::Closed);
    assert_eq!(b.status().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_trial_frees_its_slot_and_a_failed_one_reopens() {
    let b = Breaker::new("up", cfg(1, 1_000, 1, 1), noop());
    b.acquire().expect("closed").record(false);
    advance(Duration::from_secs(1)).await;
    drop(b.acquire().expect("trial"));
    let trial = b.acquire().expect("the dropped trial's slot is free again");
    trial.record(false);
    assert_eq!(b.status().state, State::Open);
    assert_eq!(b.acquire().err(), Some(Duration::from_secs(1)));
}
