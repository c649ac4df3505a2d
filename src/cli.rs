//! The subcommands behind `main`: `run`, `up` (the demo), `check`, `report`.
//! Exit codes: 0 ok, 1 invalid configuration or input, 2 usage, 3 runtime.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::app::{self, Listeners, RunError};
use crate::config::Config;

const EXIT_INVALID: u8 = 1;
const EXIT_RUNTIME: u8 = 3;

/// `strangler run` (and `up` with `demo`; `hints`: print the demo's curl hints).
pub fn run(path: PathBuf, demo: bool, hints: bool) -> ExitCode {
    let (config, sha) = match app::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    crate::nofile::raise();
    // One worker: a current-thread runtime does the same work without the
    // work-stealing scheduler's cross-thread bookkeeping.
    let mut rt = match config.workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match rt.block_on(run_async(path, config, sha, demo, hints)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// How many connections the kernel may complete and queue for `accept`
/// while the proxy is not running (a CPU-throttled container, a pause):
/// past it, new clients' SYNs are dropped and they wait a second or more
/// for a retransmit. std's and mio's default is 128; Linux caps this at
/// `net.core.somaxconn` (4096 since 5.4).
const BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr, what: &'static str) -> Result<tokio::net::TcpListener, RunError> {
    let listen = || {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // As std and mio do: a restarted proxy rebinds at once.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    listen().map_err(|source| RunError::Bind { addr, what, source })
}

async fn run_async(
    path: PathBuf,
    config: Config,
    sha: String,
    demo: bool,
    hints: bool,
) -> Result<(), RunError> {
    if demo {
        start_demo(&config).await.map_err(RunError::Demo)?;
    }
    let proxy = bind(config.listen, "the proxy")?;
    let admin = bind(config.admin_listen, "the admin API")?;
    tracing::info!(listen = %config.listen, admin = %config.admin_listen, config = %path.display(), "strangler is serving");
    #[cfg(feature = "demo")]
    if demo && hints {
        crate::demo::print_hints(&config);
    }
    #[cfg(not(feature = "demo"))]
    let _ = hints;
    app::serve(
        path,
        config,
        sha,
        Listeners {
            proxy,
            admin: Some(admin),
        },
        shutdown_signal(),
    )
    .await
}

#[cfg(feature = "demo")]
async fn start_demo(config: &Config) -> Result<(), String> {
    crate::demo::start_services(config).await
}

/// A proxy built without the demo (`--no-default-features`) has none to start.
#[cfg(not(feature = "demo"))]
async fn start_demo(_: &Config) -> Result<(), String> {
    Err(
        "this build has no demo (it was built without the `demo` feature); use `strangler run`"
            .into(),
    )
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; Ctrl-C will not drain");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

/// `strangler plan OLD NEW`: what the edit changes (exit 1 when either
/// file is invalid; the new one's error is what `check` would say).
pub fn plan(old: &Path, new: &Path, paths: &[String], log: Option<&Path>) -> ExitCode {
    let load = |p: &Path| {
        crate::config::load(p).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        })
    };
    let (old, new) = match (load(old), load(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut requests = Vec::new();
    for p in paths {
        let parsed = p.split_once(' ').and_then(|(m, path)| {
            let m = http::Method::from_bytes(m.as_bytes()).ok()?;
            path.starts_with('/').then(|| (m, path.to_string()))
        });
        match parsed {
            Some(r) => requests.push(r),
            None => {
                eprintln!("error: `--path {p}` is not a request; write it like `--path \"GET /orders/7\"`");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    if let Some(log) = log {
        let Ok(file) = std::fs::File::open(log) else {
            eprintln!("error: cannot open {}", log.display());
            return ExitCode::from(EXIT_INVALID);
        };
        let read = crate::shadow::stream::read_log(std::io::BufReader::new(file), None);
        for r in read.records {
            let Ok(m) = http::Method::from_bytes(r.method.as_bytes()) else {
                continue;
            };
            let request = (m, r.path.to_string());
            if !requests.contains(&request) && requests.len() < paths.len() + 20 {
                requests.push(request);
            }
        }
    }
    print!("{}", crate::plan::plan(&old, &new, &requests).render());
    ExitCode::SUCCESS
}

/// A reader that counts the bytes read (the report's progress).
struct Counting(std::fs::File, Arc<AtomicU64>);

impl std::io::Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `1 route`, `2 routes`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `strangler check`: validate, summarise, warn about unreachable routes.
pub fn check(path: &Path) -> ExitCode {
    let config = match crate::config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    print!("{}", summary(&config));
    let warnings = unreachable_warnings(&config);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{}: ok ({}, {}, {})",
        path.display(),
        plural(config.routes.len(), "route"),
        plural(config.upstreams.len(), "upstream"),
        plural(warnings.len(), "warning")
    );
    ExitCode::SUCCESS
}

/// One line per route: its match and its destination.
pub fn summary(config: &Config) -> String {
    let mut out = format!(
        "listen {}  admin {}\nupstreams:\n",
        config.listen, config.admin_listen
    );
    for (name, u) in &config.upstreams {
        out.push_str(&format!("  {name:<12} {}\n", u.url.raw));
    }
    out.push_str("routes (first match wins):\n");
    for (i, r) in config.routes.iter().enumerate() {
        out.push_str(&format!(
            "  {:>2}. {:<18} {}\n",
            i + 1,
            r.name,
            crate::plan::describe(r)
        ));
    }
    out
}

pub fn unreachable_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (j, later) in config.routes.iter().enumerate() {
        if let Some(earlier) = config.routes[..j]
            .iter()
            .find(|e| crate::routing::eclipses(e, later))
        {
            out.push(format!(
                "route `{}` is unreachable: route `{}` above it matches every request it would; move it above `{}` or narrow `{}`",
                later.name, earlier.name, earlier.name, earlier.name
            ));
        }
    }
    out
}

/// Each shadowed route's `shadow.ready`, from a routes.yaml.
fn ready_rules(
    config: &Path,
) -> Result<std::collections::BTreeMap<String, crate::shadow::verdict::ReadyRule>, String> {
    let c = crate::config::load(config).map_err(|e| e.to_string())?;
    Ok((c.routes.iter())
        .filter_map(|r| {
            let s = r.shadow.as_ref()?;
            let rule = crate::shadow::verdict::ReadyRule {
                min_match: s.ready.min_match.0,
                min_compared: s.ready.min_compared.0,
            };
            Some((r.name.clone(), rule))
        })
        .collect())
}

/// `strangler report`: merge shadow logs, print the table, optionally write HTML;
/// with `config`, each route is judged by its `shadow.ready`.
pub fn report(
    logs: &[PathBuf],
    html: Option<&Path>,
    route: Option<&str>,
    config: Option<&Path>,
) -> ExitCode {
    use crate::shadow::table::render_table;
    let rules = match config.map(ready_rules).transpose() {
        Ok(rules) => rules.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let logs: Vec<PathBuf> = if logs.is_empty() {
        vec![PathBuf::from("shadow-diffs.jsonl")]
    } else {
        logs.to_vec()
    };
    let read = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    let mut total = 0;
    for path in &logs {
        match std::fs::File::open(path) {
            Ok(f) => {
                total += f.metadata().map_or(0, |m| m.len());
                let counted = Counting(f, Arc::clone(&read));
                readers.push(std::io::BufReader::with_capacity(256 * 1024, counted));
            }
            Err(e) => {
                eprintln!("error: cannot open {}: {e}", path.display());
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    // Drawn only on a terminal (indicatif hides it otherwise).
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let streamed = crate::shadow::stream::report_judged(readers, route, rules, || {
        bar.set_position(read.load(Ordering::Relaxed));
    });
    bar.finish_and_clear();
    for (i, path) in logs.iter().enumerate() {
        let corrupt = streamed.corrupt_lines.get(i).copied().unwrap_or(0);
        if corrupt > 0 {
            eprintln!(
                "warning: {}: skipped {corrupt} corrupt or truncated lines",
                path.display()
            );
        }
        if let Some(Some(e)) = streamed.io_errors.get(i) {
            eprintln!("warning: {}: read error: {e}", path.display());
        }
    }
    let files = logs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>();
    if streamed.routes.is_empty() {
        eprintln!(
            "error: no shadow-log record in {}; `strangler report` reads the JSON lines a shadowed route writes to `shadow.log`",
            files.join(", ")
        );
        return ExitCode::from(EXIT_INVALID);
    }
    if let Some(name) = route.filter(|r| !streamed.routes.contains(*r)) {
        let known = streamed
            .routes
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "error: no record of route `{name}` in {}; the logs hold: {known}",
            files.join(", ")
        );
        return ExitCode::from(EXIT_INVALID);
    }
    let report = streamed.report;
    print!("{}", render_table(&report));
    if let Some(out) = html {
        let now = crate::shadow::record::format_ts(std::time::SystemTime::now());
        if let Err(e) = std::fs::write(out, crate::shadow::html::render_html(&report, &now, &files))
        {
            eprintln!("error: cannot write {}: {e}", out.display());
            return ExitCode::from(EXIT_RUNTIME);
        }
        eprintln!("wrote {}", out.display());
    }
    ExitCode::SUCCESS
}
