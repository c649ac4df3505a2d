//! The lane's timing rules: answer times and batch sizes.

use super::batch::took;
use super::*;
use tokio::time::Instant;

#[test]
fn an_answer_held_behind_a_slow_one_is_not_charged_for_the_wait() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    // The first answer: its time since the write.
    assert_eq!(took(None, t0, t0, t0 + ms(3)), ms(3));
    // Right behind it: about the first's time, not more.
    assert_eq!(took(Some(ms(3)), t0, t0 + ms(3), t0 + ms(3)), ms(3));
    // Behind a slow one (100 ms): charged the baseline's 3 ms plus the 1 ms it came after.
    assert_eq!(took(Some(ms(3)), t0, t0 + ms(103), t0 + ms(104)), ms(4));
    // Never more than its own time since the write.
    assert_eq!(took(Some(ms(50)), t0, t0 + ms(2), t0 + ms(10)), ms(10));
}

#[test]
fn a_slow_upstream_gets_no_pipelining() {
    let lane = Lane::new("127.0.0.1:9", Duration::from_secs(1), 8);
    assert_eq!(
        lane.lock().batch(),
        1,
        "one request per connection until answers come"
    );
    for _ in 0..30 {
        lane.observe(Duration::from_micros(400), 8);
    }
    assert_eq!(lane.lock().batch(), MAX_BATCH);
    for _ in 0..30 {
        lane.observe(Duration::from_millis(50), 1);
    }
    assert_eq!(lane.lock().batch(), 1);
}

#[test]
fn a_slow_first_answer_is_not_the_baseline_of_those_behind_it() {
    let lane = Lane::new("127.0.0.1:9", Duration::from_secs(1), 8);
    let ms = Duration::from_millis;
    // The first batch: its first answer is the baseline.
    assert_eq!(lane.baseline(ms(2)), ms(2));
    for _ in 0..10 {
        lane.baseline(ms(2));
    }
    // A batch whose first answer took 300 ms: the rest are timed from ~2 ms.
    assert_eq!(lane.baseline(ms(300)), ms(2));
    // A fast first answer is its own baseline.
    assert_eq!(
        lane.baseline(Duration::from_micros(500)),
        Duration::from_micros(500)
    );
}
