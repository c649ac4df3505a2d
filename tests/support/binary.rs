//! The `strangler` binary as a user runs it: `strangler [--log-format json]
//! run --config routes.yaml` in a temp dir, on free loopback ports, ready
//! when `/-/ready` says so (started again on new ports if one was taken
//! before it bound it). Killed on drop unless the test ended it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};

use super::{try_send, PATIENCE};

pub struct Binary {
    pub port: u16,
    pub admin: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A free loopback port (bound, then released for the binary to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Its log on stderr: dropped, or piped (read with [`Binary::stop`]) as
/// JSON lines or as text, as on a pipe.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    Quiet,
    Json,
    Text,
}

/// [`simple_config`](super::simple_config) on the binary's two ports: a
/// `config` for [`spawn_binary`].
pub fn simple_on(upstream_url: &str, port: u16, admin: u16) -> String {
    super::simple_config(upstream_url).replace(
        "listen: 127.0.0.1:0\n",
        &format!("listen: 127.0.0.1:{port}\nadmin: {{ listen: 127.0.0.1:{admin} }}\n"),
    )
}

/// `config(port, admin)` is the routes.yaml.
pub async fn spawn_binary(config: impl Fn(u16, u16) -> String, logs: Logs) -> Binary {
    let dir = tempfile::tempdir().expect("tempdir");
    spawn_binary_in(dir, config, logs).await
}

/// Tries at taking a pair of free ports before the harness gives up.
const ATTEMPTS: usize = 3;

/// As [`spawn_binary`], in a dir the test prepared (a FIFO, certificates).
///
/// A port released by [`free_port`] can be taken by another test's
/// outgoing connection before the binary binds it; the binary then exits
/// with a bind error. That child is spawned again on new ports, up to
/// [`ATTEMPTS`] times; any other early exit fails the test with its log.
pub async fn spawn_binary_in(
    mut dir: tempfile::TempDir,
    config: impl Fn(u16, u16) -> String,
    logs: Logs,
) -> Binary {
    for attempt in 1..=ATTEMPTS {
        let (port, admin) = (free_port(), free_port());
        std::fs::write(dir.path().join("routes.yaml"), config(port, admin)).expect("config");
        let mut b = Binary {
            port,
            admin,
            child: Some(spawn_child(&dir, logs)),
            dir,
        };
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let ready = try_send("GET", &b.admin_url("/-/ready"), &[], "").await;
            if ready.is_ok_and(|r| r.status == 200) {
                return b;
            }
            let child = b.child.as_mut().expect("running");
            if let Ok(Some(status)) = child.try_wait() {
                let log = read_log(child, &b.dir);
                let taken = log.contains("Address already in use") || log.contains("AddrInUse");
                assert!(
                    taken && attempt < ATTEMPTS,
                    "strangler exited before ready ({status}) on ports {port}/{admin}: {log}"
                );
                b.child = None;
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out after {PATIENCE:?} waiting for: the proxy to be ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        dir = std::mem::replace(&mut b.dir, tempfile::tempdir().expect("tempdir"));
    }
    unreachable!("the last attempt returns or fails")
}

fn spawn_child(dir: &tempfile::TempDir, logs: Logs) -> Child {
    let mut cmd = match nofile(dir) {
        // Started under a limit on open files, as a shell or systemd
        // would leave it (`-Sn 1024`: soft only; `-n N`: soft and hard).
        Some(args) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("ulimit {args} && exec \"$0\" \"$@\"")])
                .arg(env!("CARGO_BIN_EXE_strangler"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_strangler")),
    };
    match logs {
        // To a file when quiet (nothing reads it, so a pipe could fill
        // up), so that an early exit can still say why.
        Logs::Quiet => cmd.stderr(std::fs::File::create(quiet_log(dir)).expect("log")),
        Logs::Text => cmd.stderr(Stdio::piped()),
        Logs::Json => cmd.args(["--log-format", "json"]).stderr(Stdio::piped()),
    };
    cmd.env("RUST_LOG", "info").env_remove("NO_COLOR");
    cmd.args(["run", "--config"])
        .arg(dir.path().join("routes.yaml"))
        .spawn()
        .expect("spawn strangler")
}

/// A test asks for a limit on open files by writing `ulimit`'s arguments
/// (`-Sn 256`, `-n 200`) to `nofile` in the binary's dir before
/// [`spawn_binary_in`].
fn nofile(dir: &tempfile::TempDir) -> Option<String> {
    let args = std::fs::read_to_string(dir.path().join("nofile")).ok()?;
    Some(args.trim().to_string())
}

fn quiet_log(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("stderr.log")
}

/// The whole log of a child that has exited.
fn read_log(child: &mut Child, dir: &tempfile::TempDir) -> String {
    let mut log = std::fs::read_to_string(quiet_log(dir)).unwrap_or_default();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut log);
    }
    log
}

impl Binary {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Send a signal by name (`TERM`, `STOP`, `CONT`).
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().map_or(0, Child::id);
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// Wait for it to exit (after [`Binary::sigterm`]): its status and the
    /// lines of its log (none when quiet).
    pub async fn stop(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("running");
        tokio::task::spawn_blocking(move || {
            let lines = child.stderr.take().map_or_else(Vec::new, |e| {
                BufReader::new(e).lines().map_while(Result::ok).collect()
            });
            (child.wait().expect("wait"), lines)
        })
        .await
        .expect("join")
    }
}

/// A JSON log as values: every line must be one (JSON mode writes JSON
/// lines only: no banner, no text).
pub fn json_lines(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect()
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
