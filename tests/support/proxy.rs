//! A strangler proxy in its own runtime thread, serving a YAML config
//! written to a temp dir, on port-0 listeners.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub struct ProxyHandle {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl ProxyHandle {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }
    /// Replace the config file in place.
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(&self.config_path, yaml).expect("write config");
    }
    /// `POST /-/reload` on the admin API.
    pub async fn reload(&self) -> super::Resp {
        super::send("POST", &self.admin_url("/-/reload"), &[], "").await
    }
    /// Ask for a graceful shutdown and wait for the proxy to finish draining.
    pub fn shutdown_and_wait(mut self) -> Result<(), String> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.thread.take().map_or(Ok(()), |t| {
            t.join()
                .unwrap_or_else(|_| Err("proxy thread panicked".into()))
        })
    }
    /// Start shutting down without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Start a proxy from `yaml` (its `listen`/`admin.listen` are ignored: the
/// harness binds port 0). The file lives in a fresh temp dir.
pub fn spawn_proxy(yaml: &str) -> ProxyHandle {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("routes.yaml");
    std::fs::write(&config_path, yaml).expect("write config");
    spawn_proxy_at(dir, config_path)
}

/// Start a proxy from an existing config file (e.g. a ConfigMap layout).
pub fn spawn_proxy_at(dir: tempfile::TempDir, config_path: PathBuf) -> ProxyHandle {
    let (config, sha) =
        strangler::app::load(&config_path).unwrap_or_else(|e| panic!("invalid test config: {e}"));
    let (addr_tx, addr_rx) = mpsc::channel();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let path = config_path.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let addrs = (
                proxy.local_addr().map_err(|e| e.to_string())?,
                admin.local_addr().map_err(|e| e.to_string())?,
            );
            let _ = addr_tx.send(addrs);
            let listeners = strangler::app::Listeners {
                proxy,
                admin: Some(admin),
            };
            strangler::app::serve(path, config, sha, listeners, async move {
                let _ = shutdown_rx.await;
            })
            .await
            .map_err(|e| e.to_string())
        })
    });
    let (addr, admin) = addr_rx.recv().expect("proxy failed to start");
    ProxyHandle {
        addr,
        admin,
        dir,
        config_path,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    }
}

/// A config with one catch-all route to `upstream_url`, plus `extra` YAML at the top level.
pub fn simple_config(upstream_url: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nupstreams:\n  app: {{ url: {upstream_url} }}\nroutes:\n  - name: all\n    match: {{ path_prefix: / }}\n    upstream: app\n"
    )
}
