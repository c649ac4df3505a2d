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

/// A job that keeps the error it finished with.
struct Failed(Arc<Mutex<Option<SendError>>>);

impl Job for Failed {
    fn method(&self) -> &Method {
        &Method::GET
    }
    fn write(&mut self, _out: &mut Vec<u8>) {}
    fn timeout(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn max_body(&self) -> u64 {
        0
    }
    fn finish(self: Box<Self>, answer: Result<Answer, SendError>, _took: Duration) {
        if let Err(e) = answer {
            *self.0.lock().unwrap() = Some(e);
        }
    }
}

#[test]
fn a_failed_connect_reaches_every_job_with_its_os_error_code() {
    let kept: Vec<_> = (0..3).map(|_| Arc::new(Mutex::new(None))).collect();
    let mut batch: Vec<Queued> = (kept.iter())
        .map(|k| Queued {
            job: Box::new(Failed(Arc::clone(k))),
            resent: false,
        })
        .collect();
    // EMFILE: the proxy's own exhaustion, which the caller must tell from the upstream's failure.
    let e = SendError::Connect(std::io::Error::from_raw_os_error(24));
    super::batch::connect_failed(&mut batch, &e, Instant::now());
    assert!(batch.is_empty());
    for k in &kept {
        match k.lock().unwrap().take() {
            Some(SendError::Connect(e)) => assert_eq!(e.raw_os_error(), Some(24), "{e}"),
            Some(_) => panic!("not a connect error"),
            None => panic!("the job was not finished"),
        }
    }
}
