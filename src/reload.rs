//! Hot reload. Every trigger — a change in the config's directory (notify,
//! debounced), SIGHUP, `POST /-/reload`, a periodic hash check — goes
//! through [`Reloader::reload`]:
//!
//! ```text
//! read ─▶ sha256 (same as serving: nothing happens) ─▶ parse + validate
//!   ─▶ build the whole snapshot off to the side ─▶ ArcSwap::store
//! ```
//!
//! A failure changes nothing: the last good snapshot keeps serving and the
//! error (message, line, column, time) is kept for `GET /-/config` until a
//! good reload clears it. The directory is watched, not the file, so an
//! editor's write-and-rename and a ConfigMap's `..data` symlink swap are seen;
//! events are never filtered by file name.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use notify::{EventKind, RecursiveMode};
use serde::Serialize;

use crate::breaker::OnTransition;
use crate::metrics::ResultLabel;
use crate::proxy::ProxyState;
use crate::shadow::record::format_ts;
use crate::snapshot::{sha256_hex, Snapshot};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied(u64),
    Unchanged(u64),
    Failed(LastError),
}

pub struct Reloader {
    path: PathBuf,
    state: Arc<ProxyState>,
    on_transition: OnTransition,
    /// One reload at a time.
    gate: tokio::sync::Mutex<()>,
    last_error: Mutex<Option<LastError>>,
    /// The content that last failed: background triggers do not retry it.
    failed_sha: Mutex<Option<String>>,
}

impl Reloader {
    pub fn new(path: PathBuf, state: Arc<ProxyState>, on_transition: OnTransition) -> Arc<Self> {
        Arc::new(Reloader {
            path,
            state,
            on_transition,
            gate: tokio::sync::Mutex::new(()),
            last_error: Mutex::new(None),
            failed_sha: Mutex::new(None),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn last_error(&self) -> Option<LastError> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn set_error(&self, e: Option<LastError>) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = e;
        }
    }

    /// What reloading the file now would change, without applying it
    /// (`POST /-/reload?dry_run=1`); the error a reload would report.
    pub async fn dry_run(&self) -> Result<crate::plan::Plan, LastError> {
        let at = || format_ts(SystemTime::now());
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| LastError {
                message: format!(
                    "{}: cannot read the configuration: {e}",
                    self.path.display()
                ),
                line: None,
                column: None,
                at: at(),
            })?;
        let next = crate::config::parse(&text, &self.path).map_err(|e| LastError {
            message: e.to_string(),
            line: e.line,
            column: e.column,
            at: at(),
        })?;
        let current = self.state.snapshot.load_full();
        Ok(crate::plan::plan(&current.config, &next, &[]))
    }

    pub async fn reload(&self, trigger: &'static str) -> Outcome {
        let _one_at_a_time = self.gate.lock().await;
        let current = self.state.snapshot.load_full();
        let outcome = self.try_reload(&current, trigger).await;
        let result = match &outcome {
            Outcome::Applied(v) => {
                tracing::info!(trigger, version = v, path = %self.path.display(), "configuration reloaded");
                self.set_error(None);
                "success"
            }
            Outcome::Unchanged(_) => return outcome,
            Outcome::Failed(e) => {
                tracing::error!(trigger, line = e.line, column = e.column, error = %e.message, "reload failed; the last good configuration keeps serving");
                self.set_error(Some(e.clone()));
                "failure"
            }
        };
        self.state
            .metrics
            .config_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
        outcome
    }

    async fn try_reload(&self, current: &Snapshot, trigger: &'static str) -> Outcome {
        let failed = |message: String, line, column| {
            Outcome::Failed(LastError {
                message,
                line,
                column,
                at: format_ts(SystemTime::now()),
            })
        };
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(t) => t,
            Err(e) => {
                return failed(
                    format!(
                        "{}: cannot read the configuration: {e}",
                        self.path.display()
                    ),
                    None,
                    None,
                )
            }
        };
        let sha = sha256_hex(&text);
        if sha == current.sha256 && !tls_changed(current) {
            // Back to the content being served: any earlier error is moot.
            self.set_error(None);
            return Outcome::Unchanged(current.version);
        }
        let background = matches!(trigger, "watch" | "poll");
        let known_bad = self
            .failed_sha
            .lock()
            .ok()
            .is_some_and(|f| f.as_deref() == Some(sha.as_str()));
        if background && known_bad {
            // Already reported; the file has not changed since.
            return Outcome::Unchanged(current.version);
        }
        let mut config = match crate::config::parse(&text, &self.path) {
            Ok(c) => c,
            Err(e) => {
                if let Ok(mut f) = self.failed_sha.lock() {
                    *f = Some(sha);
                }
                return failed(e.to_string(), e.line, e.column);
            }
        };
        if config.listen != current.config.listen
            || config.admin_listen != current.config.admin_listen
        {
            tracing::warn!(
                listen = %config.listen, admin = %config.admin_listen,
                "`listen` and `admin.listen` changes need a restart; still serving on the old addresses"
            );
            config.listen = current.config.listen;
            config.admin_listen = current.config.admin_listen;
        }
        let version = current.version + 1;
        let changes = crate::plan::plan(&current.config, &config, &[]).summary();
        match Snapshot::build(config, sha, version, Some(current), &self.on_transition) {
            Ok(next) => {
                self.state.install(next);
                tracing::info!(trigger, version, %changes, "what the reload changed");
                Outcome::Applied(version)
            }
            Err(e) => failed(e.to_string(), None, None),
        }
    }
}

/// Whether a certificate file changed on disk (a rotation): the served
/// certificate or key, or an upstream's trusted CA.
fn tls_changed(current: &Snapshot) -> bool {
    let served = match (&current.config.tls, &current.tls) {
        (Some(files), Some(tls)) => {
            crate::tls::fingerprint(files).map_or(true, |f| f != tls.fingerprint)
        }
        _ => false,
    };
    served
        || current
            .upstreams
            .iter()
            .any(|u| crate::upstream::ca_changed(u))
}

/// Keeps the file watcher alive; dropping it stops watching.
pub struct ConfigWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// An edit applies once the directory has been quiet this long...
const QUIET: Duration = Duration::from_millis(200);
/// ...or this long after the first event, if edits keep coming.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Debounce file events: one reload per burst, after [`QUIET`], but at
/// least one every [`MAX_WAIT`] while events keep coming (a debounce that
/// restarts on every event would never fire under a steady stream).
async fn debounce(
    mut events: tokio::sync::mpsc::Receiver<()>,
    reload: tokio::sync::mpsc::Sender<&'static str>,
) {
    while events.recv().await.is_some() {
        let due = tokio::time::Instant::now() + MAX_WAIT;
        loop {
            let quiet = (tokio::time::Instant::now() + QUIET).min(due);
            tokio::select! {
                more = events.recv() => match more {
                    Some(()) if tokio::time::Instant::now() < due => continue,
                    Some(()) => break,
                    None => return,
                },
                () = tokio::time::sleep_until(quiet) => break,
            }
        }
        // A full channel already holds a pending reload: coalesce.
        let _ = reload.try_send("watch");
    }
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Start every reload trigger but the admin endpoint: the directory watch,
/// SIGHUP, and a periodic hash check every `poll`.
pub fn watch(reloader: Arc<Reloader>, poll: Duration) -> ConfigWatch {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(1);
    let dir = reloader
        .path()
        .parent()
        .map(Path::to_path_buf)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let (ev_tx, ev_rx) = tokio::sync::mpsc::channel::<()>(1);
    // Reading the file ourselves emits Access events: reacting would loop.
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !matches!(e.kind, EventKind::Access(_))) {
            // A full channel already holds an event of this burst.
            let _ = ev_tx.try_send(());
        }
    })
    .and_then(|mut w| {
        notify::Watcher::watch(&mut w, &dir, RecursiveMode::NonRecursive).map(|()| w)
    });
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; relying on SIGHUP, POST /-/reload and the periodic check");
            None
        }
    };
    let mut tasks = vec![tokio::spawn(debounce(ev_rx, tx.clone()))];
    let r = Arc::clone(&reloader);
    tasks.push(tokio::spawn(async move {
        while let Some(trigger) = rx.recv().await {
            r.reload(trigger).await;
            if trigger == "watch" {
                // Settle: an editor's temp-write + rename can land in one
                // debounce window around the read; look once more.
                tokio::time::sleep(Duration::from_millis(250)).await;
                r.reload(trigger).await;
            }
        }
    }));
    let poll_tx = tx.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.tick().await;
        loop {
            tick.tick().await;
            let _ = poll_tx.try_send("poll");
        }
    }));
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tasks.push(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = tx.send("sighup").await;
            }
        }));
    }
    ConfigWatch {
        _watcher: watcher,
        tasks,
    }
}
