//! The shadow log and the live report. Recording a comparison is a short,
//! synchronous step where it concludes: its JSON line is written (outside
//! any lock), then, under one lock, the live [`ReportBuilder`] behind
//! `GET /-/shadow` and the metrics count it and the line joins the pending
//! bytes. One writer **thread** (not a runtime task: a file write can block
//! for as long as the disk likes) appends those to `shadow.log`: every
//! [`FLUSH_EVERY`], or as soon as [`FLUSH_AT`] bytes wait. Request handling
//! never waits on the file: past [`MAX_PENDING`] bytes (a stalled disk, a
//! FIFO nobody reads) a line is dropped, and counted
//! (`strangler_shadow_log_dropped_total`). An unwritable log is reported
//! (once per failure streak) and does not stop the proxy.
//!
//! ```text
//! comparison ─▶ record(): line + counts, pending bytes (bounded) ─┐
//!                                  wake (FLUSH_AT) / tick ────────┴▶ writer thread ─▶ file
//! ```

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use super::record::{Outcome, ShadowRecord};
use super::report::{Report, ReportBuilder};
use super::verdict::ReadyRule;
use crate::metrics::{Metrics, Name, RouteOutcome};

/// How long a recorded line may wait before it reaches the file.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Pending bytes that wake the writer at once.
const FLUSH_AT: usize = 64 * 1024;
/// Pending bytes beyond which lines are dropped (the file is not keeping up).
const MAX_PENDING: usize = 16 * 1024 * 1024;
/// The largest emptied buffer kept for reuse.
const KEEP_SPARE: usize = 1024 * 1024;

pub struct ShadowLog {
    state: Mutex<State>,
    /// Held while pending lines go to the file: batches reach it in order.
    sink: Mutex<Sink>,
    /// Wakes the writer thread: [`FLUSH_AT`] bytes wait, or a flush is asked.
    wake: SyncSender<Wake>,
    metrics: Arc<Metrics>,
    /// Where the log goes now: read from the configuration in use at each
    /// write (a reload may move it; nothing else is stored on reload).
    path: PathOf,
    /// Lines not logged because [`MAX_PENDING`] bytes were waiting.
    pub dropped: AtomicU64,
}

struct State {
    report: ReportBuilder,
    /// Lines recorded, not yet handed to the file.
    pending: Vec<u8>,
    /// The buffer last handed to the file, emptied: the next `pending`
    /// (its capacity kept, so a busy log does not regrow one per flush).
    spare: Vec<u8>,
    /// Counter handles by (route, outcome): a lookup in the registry per
    /// record would hash and allocate its labels.
    counters: Vec<(Arc<str>, &'static str, Counter)>,
}

thread_local! {
    /// Where a record's line is written before it joins the pending bytes.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Where the log goes now.
type PathOf = Box<dyn Fn() -> PathBuf + Send + Sync>;

/// What wakes the writer thread.
enum Wake {
    /// A first line waits: write within [`FLUSH_EVERY`].
    Started,
    /// Enough bytes wait.
    Full,
    /// Write what waits, then say so.
    Flush(SyncSender<()>),
}

impl ShadowLog {
    /// Start the writer thread, appending to the file `path` names at
    /// each write.
    pub fn start(
        metrics: Arc<Metrics>,
        path: impl Fn() -> PathBuf + Send + Sync + 'static,
    ) -> Arc<ShadowLog> {
        let (wake, woken) = sync_channel(4);
        let log = Arc::new(ShadowLog {
            state: Mutex::new(State {
                report: ReportBuilder::new(),
                pending: Vec::new(),
                spare: Vec::new(),
                counters: Vec::new(),
            }),
            sink: Mutex::new(Sink::default()),
            wake,
            metrics,
            path: Box::new(path),
            dropped: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&log);
        let spawned = std::thread::Builder::new()
            .name("shadow-log".into())
            .spawn(move || write_loop(weak, woken));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the shadow log writer; comparisons still count in GET /-/shadow");
        }
        log
    }

    /// Count `r` in the report and the metrics, and queue its line.
    pub fn record(&self, r: ShadowRecord) {
        self.record_judged(r, None);
    }

    /// As [`Self::record`], its route judged by `rule` (its `shadow.ready`)
    /// from now on; a mismatch that differs only where the route's primary
    /// differs from itself is recorded as `noise` (`shadow::noise`).
    pub fn record_judged(&self, mut r: ShadowRecord, rule: Option<ReadyRule>) {
        if r.outcome == Outcome::Mismatch && self.lock().report.only_noise(&r) {
            r.outcome = Outcome::Noise;
        }
        LINE.with(|line| {
            // A re-entrant call (none today) would find the buffer taken:
            // it then writes into a fresh one.
            let mut own = Vec::new();
            let mut borrowed = line.try_borrow_mut();
            let line = match borrowed.as_deref_mut() {
                Ok(l) => l,
                Err(_) => &mut own,
            };
            line.clear();
            r.write_json_line(line);
            let mut s = self.lock();
            self.count(&mut s, &r);
            match rule {
                Some(rule) => s.report.add_judged(&r, rule),
                None => s.report.add(&r),
            }
            if s.pending.len() + line.len() > MAX_PENDING {
                drop(s);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.metrics.shadow_log_dropped.inc();
                return;
            }
            let first = s.pending.is_empty();
            s.pending.extend_from_slice(line);
            let full = s.pending.len() >= FLUSH_AT;
            drop(s);
            // A wake-up already queued is as good as this one: the writer
            // writes what waits after it.
            if full {
                let _ = self.wake.try_send(Wake::Full);
            } else if first {
                let _ = self.wake.try_send(Wake::Started);
            }
        });
    }

    fn count(&self, s: &mut State, r: &ShadowRecord) {
        let outcome = r.outcome.as_str();
        match (s.counters.iter()).find(|(route, o, _)| *route == r.route && *o == outcome) {
            Some((_, _, c)) => {
                c.inc();
            }
            None => {
                let labels = RouteOutcome {
                    route: Name::from(&*r.route),
                    outcome,
                };
                let c = self
                    .metrics
                    .shadow_comparisons
                    .get_or_create(&labels)
                    .clone();
                c.inc();
                s.counters.push((Arc::clone(&r.route), outcome, c));
            }
        }
    }

    pub fn report(&self) -> Report {
        self.lock().report.report()
    }

    /// Have the writer thread write what is pending; `true` once it has,
    /// `false` if it did not within `within` (a stalled disk). Blocking:
    /// from async code, call it on a blocking thread.
    pub fn flush_within(&self, within: Duration) -> bool {
        let (done, finished) = sync_channel(1);
        match self.wake.try_send(Wake::Flush(done)) {
            Ok(()) => finished.recv_timeout(within).is_ok(),
            // The writer is behind (or gone): it is not going to make it.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Write what is pending to the file now. Blocks on the file: only the
    /// writer thread calls it.
    fn write_pending(&self) {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines = {
            let mut s = self.lock();
            let spare = std::mem::take(&mut s.spare);
            std::mem::replace(&mut s.pending, spare)
        };
        if !lines.is_empty() {
            sink.write(&(self.path)(), &lines);
            lines.clear();
        }
        // The emptied buffer is the next spare (an idle tick hands back the
        // same one); a buffer grown by a stalled disk is not kept.
        if lines.capacity() <= KEEP_SPARE {
            let mut s = self.lock();
            if s.spare.capacity() < lines.capacity() {
                s.spare = lines;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while counting leaves counts, not broken invariants.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The log file, reopened when its path changes or after a failure.
#[derive(Default)]
struct Sink {
    path: PathBuf,
    file: Option<std::fs::File>,
    failing: bool,
}

impl Sink {
    fn write(&mut self, path: &Path, lines: &[u8]) {
        if self.path != path || self.file.is_none() {
            self.path = path.to_path_buf();
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| self.fail(&e))
                .ok();
        }
        if let Some(f) = &mut self.file {
            match f.write_all(lines) {
                Ok(()) => self.failing = false,
                Err(e) => {
                    self.fail(&e);
                    self.file = None;
                }
            }
        }
    }

    fn fail(&mut self, e: &std::io::Error) {
        if !self.failing {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the shadow log; comparisons still count in GET /-/shadow");
        }
        self.failing = true;
    }
}

/// The writer thread, until the log is dropped: hand pending lines to the
/// file [`FLUSH_EVERY`] after the first of them, when [`FLUSH_AT`] bytes
/// wait, or when asked. With nothing pending it sleeps until a line comes
/// (no tick while idle).
fn write_loop(log: Weak<ShadowLog>, woken: Receiver<Wake>) {
    let mut waiting = false;
    loop {
        let wake = if waiting {
            woken.recv_timeout(FLUSH_EVERY)
        } else {
            woken.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        let asked = match wake {
            Ok(Wake::Started) => {
                waiting = true;
                continue;
            }
            Ok(Wake::Flush(done)) => Some(done),
            Ok(Wake::Full) | Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        waiting = false;
        let Some(log) = log.upgrade() else { return };
        log.write_pending();
        drop(log);
        if let Some(done) = asked {
            let _ = done.try_send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shadow::record::{PrimarySide, ShadowSide};

    fn record(i: usize) -> ShadowRecord {
        ShadowRecord {
            ts: "2025-01-02T03:04:05.678Z".into(),
            request_id: format!("id-{i}"),
            route: if i.is_multiple_of(2) { "even" } else { "odd" }.into(),
            method: "GET".into(),
            path: "/x".into(),
            primary: PrimarySide {
                upstream: "legacy".into(),
                status: 200,
                latency_ms: 1.0,
            },
            shadow: ShadowSide {
                upstream: "new".into(),
                status: Some(200),
                latency_ms: Some(1.0),
                error: None,
            },
            outcome: Outcome::Match,
            reason: None,
            diffs: Vec::new(),
        }
    }

    fn ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| ShadowRecord::from_json_line(l).map(|r| r.request_id))
            .collect::<Result<_, _>>()
            .unwrap_or_default()
    }

    /// Lines reach the file in the order recorded, both through the writer
    /// (a full buffer wakes it; the rest waits for its tick) and through an
    /// explicit flush; the report and the metrics count every record.
    #[tokio::test]
    async fn records_reach_the_file_in_order_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shadow.jsonl");
        let metrics = Arc::new(Metrics::new());
        let to = path.clone();
        let log = ShadowLog::start(Arc::clone(&metrics), move || to.clone());
        // Over FLUSH_AT bytes of lines (~260 bytes each).
        let n = 2 * FLUSH_AT / 200;
        for i in 0..n {
            log.record(record(i));
        }
        let want: Vec<String> = (0..n).map(|i| format!("id-{i}")).collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while ids(&path).len() < n && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(ids(&path), want);
        log.record(record(n));
        assert!(log.flush_within(Duration::from_secs(20)));
        assert_eq!(
            ids(&path).last().map(String::as_str),
            Some(&*format!("id-{n}"))
        );
        let report = log.report();
        assert_eq!(
            report.routes["even"].compared + report.routes["odd"].compared,
            n as u64 + 1
        );
        let text = metrics.encode();
        assert!(text.contains("route=\"even\""), "{text}");
        assert_eq!(log.dropped.load(Ordering::Relaxed), 0);
    }
}
