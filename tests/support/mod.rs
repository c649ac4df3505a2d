//! Test harness: a real proxy, real upstreams and a real client, all on
//! `127.0.0.1` port 0. The vocabulary:
//!
//! - [`spawn_proxy`]`(yaml)` → [`ProxyHandle`] (`url(path)`, `admin_url(path)`, `write_config`)
//! - [`Upstream::echo`]`()` and friends → a purpose-built upstream ([`upstream`])
//! - [`client`]: `get`, `send`, `raw` (bytes on a socket)
//! - [`spawn_binary`]`(|port, admin| yaml, Logs::Json)` → the real binary ([`binary`])
//! - [`eventually`]: poll a condition with a deadline, never a bare sleep
#![allow(dead_code)]

pub mod binary;
pub mod browser;
pub mod client;
pub mod dynamic;
pub mod fleet;
pub mod grpc;
pub mod h2c;
pub mod proxy;
pub mod tls;
pub mod upstream;
pub mod ws;

#[allow(unused_imports)]
pub use binary::*;
#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use h2c::*;
#[allow(unused_imports)]
pub use proxy::*;
#[allow(unused_imports)]
pub use upstream::*;
#[allow(unused_imports)]
pub use ws::*;

use std::time::{Duration, Instant};

/// Poll `cond` every 20 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Generous deadline for things that should take milliseconds (noisy 2-core CI).
pub const PATIENCE: Duration = Duration::from_secs(15);
