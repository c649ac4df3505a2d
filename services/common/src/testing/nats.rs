//! A `nats-server -js` of the test's own: on a free port, with a store directory that
//! outlives a restart, stopped by pid — so a test can cause a broker outage and end it.
//!
//! The binary is `$NATS_SERVER_BIN`, else `nats-server` on `PATH` or in `/usr/sbin`,
//! `/usr/local/bin`, `/usr/bin` (Debian's package installs `/usr/sbin/nats-server`). Without
//! one, [`NatsServer::start`] prints `SKIPPED: nats-server not installed` and returns `None`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::{dead_addr, eventually};

/// How long a server may take to accept connections.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running (or stopped) nats-server; killed and its directory removed on drop.
#[derive(Debug)]
pub struct NatsServer {
    bin: PathBuf,
    addr: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

/// Where the nats-server binary is, if anywhere.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

impl NatsServer {
    /// Starts a server with JetStream on a free port; `None` when nats-server is not
    /// installed. Panics when it is installed but does not come up.
    pub async fn start() -> Option<NatsServer> {
        let Some(bin) = find_binary() else {
            eprintln!("SKIPPED: nats-server not installed (set NATS_SERVER_BIN or install it)");
            return None;
        };
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "strangler-nats-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("store"))
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let mut server = NatsServer {
            bin,
            addr: dead_addr().await,
            dir,
            child: None,
        };
        server.restart().await;
        Some(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// Kills the server (SIGKILL, by pid) and waits for it to exit: a broker outage.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill().await {
                panic!("cannot kill nats-server: {e}");
            }
        }
    }

    /// Starts the server again on the same port and store directory, and waits until it
    /// accepts connections.
    pub async fn restart(&mut self) {
        self.stop().await;
        let log = std::fs::File::create(self.dir.join("server.log"))
            .unwrap_or_else(|e| panic!("cannot create the server log: {e}"));
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.addr.port().to_string())
            .arg("-sd")
            .arg(self.store_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let addr = self.addr;
        let dir = self.dir.clone();
        eventually(
            &format!("nats-server on {addr} (log: {})", dir.display()),
            READY_DEADLINE,
            || async move { TcpStream::connect(addr).await.ok().map(drop) },
        )
        .await;
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
