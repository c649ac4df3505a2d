//! The shadow log and the live report: records arrive on a bounded channel
//! (a full channel drops the record, counted — request handling never
//! waits), one writer task appends them as JSON lines to `shadow.log` and
//! feeds the live [`ReportBuilder`] behind `GET /-/shadow`. An unwritable log
//! is reported (once per failure streak) and does not stop the proxy.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::record::ShadowRecord;
use super::report::{Report, ReportBuilder};
use crate::metrics::{Metrics, Name, RouteOutcome};

const CHANNEL: usize = 16 * 1024;

pub struct ShadowLog {
    tx: mpsc::Sender<ShadowRecord>,
    path: Arc<arc_swap::ArcSwap<PathBuf>>,
    report: Arc<Mutex<ReportBuilder>>,
    pub dropped: AtomicU64,
}

impl ShadowLog {
    /// Start the writer task, appending to `path` (see [`ShadowLog::set_path`]).
    pub fn start(metrics: Arc<Metrics>, path: PathBuf) -> Arc<ShadowLog> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let report = Arc::new(Mutex::new(ReportBuilder::new()));
        let path = Arc::new(arc_swap::ArcSwap::from_pointee(path));
        let current = Arc::clone(&path);
        tokio::spawn(write_loop(rx, Arc::clone(&report), metrics, move || {
            current.load_full()
        }));
        Arc::new(ShadowLog {
            tx,
            path,
            report,
            dropped: AtomicU64::new(0),
        })
    }

    /// A reload may move the log.
    pub fn set_path(&self, path: &Path) {
        if **self.path.load() != path {
            self.path.store(Arc::new(path.to_path_buf()));
        }
    }

    pub fn record(&self, r: ShadowRecord) {
        if self.tx.try_send(r).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn report(&self) -> Report {
        match self.report.lock() {
            Ok(b) => b.report(),
            Err(p) => p.into_inner().report(),
        }
    }
}

struct Sink {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    failing: bool,
}

impl Sink {
    fn write(&mut self, path: &Path, line: &[u8]) {
        if self.path != path || self.file.is_none() {
            self.path = path.to_path_buf();
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(|f| std::io::BufWriter::with_capacity(64 * 1024, f))
                .map_err(|e| self.fail(&e))
                .ok();
        }
        if let Some(f) = &mut self.file {
            match f.write_all(line) {
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

    fn flush(&mut self) {
        if let Some(f) = &mut self.file {
            if let Err(e) = f.flush() {
                self.fail(&e);
                self.file = None;
            }
        }
    }
}

/// How long a written line may sit in the buffer before it reaches the file.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

async fn write_loop(
    mut rx: mpsc::Receiver<ShadowRecord>,
    report: Arc<Mutex<ReportBuilder>>,
    metrics: Arc<Metrics>,
    path: impl Fn() -> Arc<PathBuf>,
) {
    // Counter handles by (route, outcome): a lookup in the registry per
    // record would hash and allocate its labels.
    let mut counters: Vec<(
        String,
        &'static str,
        prometheus_client::metrics::counter::Counter,
    )> = Vec::new();
    let mut sink = Sink {
        path: PathBuf::new(),
        file: None,
        failing: false,
    };
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    let mut line = Vec::with_capacity(1024);
    loop {
        tokio::select! {
            next = rx.recv() => {
                let Some(r) = next else { break };
                let outcome = r.outcome.as_str();
                match counters.iter().find(|(route, o, _)| *route == r.route && *o == outcome) {
                    Some((_, _, c)) => {
                        c.inc();
                    }
                    None => {
                        let c = metrics
                            .shadow_comparisons
                            .get_or_create(&RouteOutcome { route: Name::from(r.route.as_str()), outcome })
                            .clone();
                        c.inc();
                        counters.push((r.route.clone(), outcome, c));
                    }
                }
                if let Ok(mut b) = report.lock() {
                    b.add(&r);
                }
                // A buffered append (memory copy); the file sees it within FLUSH_EVERY.
                line.clear();
                r.write_json_line(&mut line);
                sink.write(&path(), &line);
                dirty = true;
            }
            _ = tick.tick(), if dirty => {
                sink.flush();
                dirty = false;
            }
        }
    }
    sink.flush();
}
