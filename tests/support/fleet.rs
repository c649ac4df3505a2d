//! A fleet of real `strangler` processes watching ONE config directory,
//! laid out as the kubelet mounts a ConfigMap: `..<timestamp>/routes.yaml`,
//! `..data -> ..<timestamp>`, `routes.yaml -> ..data/routes.yaml`.
//!
//! - [`Fleet::start`]`(yaml, n)` → n replicas; [`Fleet::swap`]`(yaml)`: the kubelet's update
//! - [`config`]`(upstreams, routes)`: a routes.yaml every replica can serve
//! - [`get_failover`]: one GET on a fresh connection, moving to the next
//!   replica while nothing answers (refused, or closed without a byte)
//!
//! Every replica reads the same file, and the binary has no per-process
//! override of `listen`, `admin.listen` or `shadow.log`. So the file says
//! `127.0.0.1:0` (each process binds its own free ports, found here through
//! /proc) and `shadow.log: /proc/self/cwd/shadow-diffs.jsonl` (each process
//! runs in a directory of its own). On Kubernetes the pod's own network
//! namespace and its own emptyDir do this.
//!
//! Used by `tests/fleet.rs`, declared in `support/mod.rs`.

use std::collections::HashSet;
use std::os::unix::fs::symlink;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{eventually, get, status_of, try_send, PATIENCE};

pub struct Replica {
    pub child: Child,
    /// Its working directory: its shadow log and its stderr (`stderr.log`).
    pub cwd: tempfile::TempDir,
    pub port: u16,
    pub admin: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }
    pub async fn config(&self) -> serde_json::Value {
        get(&self.admin_url("/-/config")).await.json()
    }
}

/// The loopback ports `pid` listens on: its socket inodes, looked up in
/// /proc/net/tcp (state 0A is LISTEN).
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten();
    let inodes: HashSet<String> = (fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()))
        .filter_map(|l| {
            Some(
                l.to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .into(),
            )
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    (table.lines().skip(1))
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&"0A") || !inodes.contains(*f.get(9)?) {
                return None;
            }
            u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()
        })
        .collect()
}

/// The mounted ConfigMap and the replicas watching it.
pub struct Fleet {
    pub replicas: Vec<Replica>,
    dir: tempfile::TempDir,
    stamp: u32,
}

impl Fleet {
    pub async fn start(yaml: &str, n: usize) -> Fleet {
        let (replicas, dir) = (Vec::new(), tempfile::tempdir().expect("tempdir"));
        let mut fleet = Fleet {
            replicas,
            dir,
            stamp: 0,
        };
        let ts = fleet.write_version(yaml);
        symlink(&ts, fleet.dir.path().join("..data")).expect("..data");
        symlink("..data/routes.yaml", fleet.dir.path().join("routes.yaml")).expect("link");
        for _ in 0..n {
            let r = fleet.spawn().await;
            fleet.replicas.push(r);
        }
        fleet
    }

    /// `..2026_12_05_01_00_00.00000000N/routes.yaml`; returns the dir name.
    fn write_version(&mut self, yaml: &str) -> String {
        self.stamp += 1;
        let ts = format!("..2026_12_05_01_00_00.{:09}", self.stamp);
        std::fs::create_dir(self.dir.path().join(&ts)).expect("timestamped dir");
        std::fs::write(self.dir.path().join(&ts).join("routes.yaml"), yaml).expect("write");
        ts
    }

    /// The kubelet's atomic update: a new timestamped dir, a `..data_tmp`
    /// symlink renamed over `..data`, then the old dir removed.
    pub fn swap(&mut self, yaml: &str) -> Instant {
        let d = self.dir.path().to_path_buf();
        let old = std::fs::read_link(d.join("..data")).expect("..data");
        let ts = self.write_version(yaml);
        symlink(&ts, d.join("..data_tmp")).expect("..data_tmp");
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("rename");
        let at = Instant::now();
        std::fs::remove_dir_all(d.join(old)).expect("old version");
        at
    }

    pub async fn spawn(&self) -> Replica {
        let cwd = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(cwd.path().join("stderr.log")).expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_strangler"))
            .current_dir(cwd.path())
            .env("RUST_LOG", "info")
            .args(["run", "--config"])
            .arg(self.dir.path().join("routes.yaml"))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn strangler");
        let mut ports = Vec::new();
        eventually(PATIENCE, "the replica to listen on two ports", || {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(cwd.path().join("stderr.log"));
                panic!("strangler exited ({status}): {}", log.unwrap_or_default());
            }
            ports = listening_ports(child.id());
            std::future::ready(ports.len() == 2)
        })
        .await;
        let (port, admin) = (0, 0);
        let mut r = Replica {
            child,
            cwd,
            port,
            admin,
        };
        // The admin API answers /-/config with its version and hash; the proxy would route it.
        for (i, p) in ports.iter().enumerate() {
            let reply = try_send("GET", &format!("http://127.0.0.1:{p}/-/config"), &[], "").await;
            let json = reply
                .ok()
                .and_then(|r| serde_json::from_slice(&r.body).ok());
            if json.is_some_and(|j: serde_json::Value| {
                j["version"].is_u64() && j["sha256"].is_string()
            }) {
                (r.admin, r.port) = (*p, ports[1 - i]);
            }
        }
        assert!(r.admin != 0, "no admin API among {ports:?}");
        eventually(PATIENCE, "the replica to be ready", || async {
            try_send("GET", &r.admin_url("/-/ready"), &[], "")
                .await
                .is_ok_and(|x| x.status == 200)
        })
        .await;
        r
    }
}

pub fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A routes.yaml every replica can serve: `routes` under the given upstreams.
pub fn config(upstreams: &[(&str, String)], routes: &str) -> String {
    let mut y = String::from(
        "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\n\
         shadow: { log: /proc/self/cwd/shadow-diffs.jsonl }\nupstreams:\n",
    );
    for (name, url) in upstreams {
        y.push_str(&format!("  {name}: {{ url: {url} }}\n"));
    }
    y + "routes:\n" + routes
}

/// A route `all` sending everything to `target`.
pub fn catch_all(target: &str) -> String {
    format!("  - name: all\n    match: {{ path_prefix: / }}\n    upstream: {target}\n")
}

/// Poll every replica at once until its config's hash is `sha`; print each one's time.
pub async fn wait_all_applied(fleet: &Fleet, sha: &str, since: Instant) {
    let waits = fleet.replicas.iter().enumerate().map(|(i, r)| async move {
        eventually(PATIENCE, &format!("replica {i} to apply {sha}"), || async {
            r.config().await["sha256"] == sha
        })
        .await;
        eprintln!("replica {i}: applied in {:?}", since.elapsed());
    });
    futures_util::future::join_all(waits).await;
}

#[derive(Debug)]
pub enum Attempt {
    /// Nothing listens: the replica is gone (a client tries another).
    Refused,
    /// Connected, then closed with not one byte back: never read (queued when
    /// the listener closed); the caller checks that no upstream saw it.
    Unanswered,
    Answered(u16),
    /// A 5xx, or a response cut short: a lost request.
    Broken(String),
}

/// One GET on a fresh connection, read to the end.
pub async fn attempt(port: u16, path: &str, id: &str) -> Attempt {
    let mut s = match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Attempt::Refused,
        Err(e) => return Attempt::Broken(format!("connect: {e}")),
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: fleet\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return Attempt::Unanswered;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // The test upstreams answer with a Content-Length: the whole body is that long.
    let length = (head.to_ascii_lowercase().lines()).find_map(|l| {
        l.strip_prefix("content-length:")?
            .trim()
            .parse::<usize>()
            .ok()
    });
    match (read, status_of(&text)) {
        _ if buf.is_empty() => Attempt::Unanswered,
        (Ok(Ok(_)), s @ 200..=499) if length == Some(body.len()) => Attempt::Answered(s),
        (Ok(Ok(_)), _) => Attempt::Broken(text),
        (Ok(Err(e)), _) => Attempt::Broken(format!("{e} after {} bytes", buf.len())),
        (Err(_), _) => Attempt::Broken("no end within 30 s".into()),
    }
}

/// Attempts that no replica answered: refused, and closed unanswered (by id).
#[derive(Default)]
pub struct Tally {
    pub refused: usize,
    pub unanswered: Vec<String>,
}

/// GET `path` from replica `first` on, moving to the next while nothing
/// answers; the replica that answered 200, or the failure.
pub async fn get_failover(
    ports: &[u16],
    first: usize,
    path: &str,
    t: &Mutex<Tally>,
) -> Result<usize, String> {
    for n in 0..2 * ports.len() {
        let i = (first + n) % ports.len();
        let id = format!("{}-try{n}", path.replace('/', "_"));
        match attempt(ports[i], path, &id).await {
            Attempt::Answered(200) => return Ok(i),
            Attempt::Answered(s) => return Err(format!("{path}: status {s}")),
            Attempt::Refused => t.lock().expect("lock").refused += 1,
            Attempt::Unanswered => t.lock().expect("lock").unanswered.push(id),
            Attempt::Broken(what) => return Err(format!("{path} on replica {i}: {what}")),
        }
    }
    Err(format!("{path}: no replica answered"))
}
