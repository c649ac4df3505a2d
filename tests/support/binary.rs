//! The `strangler` binary as a user runs it: `strangler [--log-format json]
//! run --config routes.yaml` in a temp dir, on free loopback ports, ready
//! when `/-/ready` says so. Killed on drop unless the test ended it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};

use super::{eventually, try_send, PATIENCE};

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

/// `config(port, admin)` is the routes.yaml.
pub async fn spawn_binary(config: impl FnOnce(u16, u16) -> String, logs: Logs) -> Binary {
    let dir = tempfile::tempdir().expect("tempdir");
    spawn_binary_in(dir, config, logs).await
}

/// As [`spawn_binary`], in a dir the test prepared (a FIFO, certificates).
pub async fn spawn_binary_in(
    dir: tempfile::TempDir,
    config: impl FnOnce(u16, u16) -> String,
    logs: Logs,
) -> Binary {
    let (port, admin) = (free_port(), free_port());
    std::fs::write(dir.path().join("routes.yaml"), config(port, admin)).expect("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strangler"));
    match logs {
        Logs::Quiet => cmd.stderr(Stdio::null()),
        Logs::Json => cmd.args(["--log-format", "json"]).stderr(Stdio::piped()),
        Logs::Text => cmd.stderr(Stdio::piped()),
    };
    cmd.env("RUST_LOG", "info").env_remove("NO_COLOR");
    let child = cmd
        .args(["run", "--config"])
        .arg(dir.path().join("routes.yaml"))
        .spawn()
        .expect("spawn strangler");
    let b = Binary {
        port,
        admin,
        dir,
        child: Some(child),
    };
    eventually(PATIENCE, "the proxy to be ready", || async {
        try_send("GET", &b.admin_url("/-/ready"), &[], "")
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
    b
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

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.as_ref().map_or(0, Child::id);
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
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
